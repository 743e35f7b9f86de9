"""An installed tree as its distributions: each one's files and a key for their content.

Two caches stand on this: compressed archive members (`members`) and compiled bytecode
(`bytecode`), both kept per distribution, so that a dependency set that differs from an earlier
one by one package compresses and compiles that package alone.

A distribution's files are those its `*.dist-info/RECORD` lists (tree-relative, nothing that
climbs out), plus the bytecode of its modules (`pkg/__pycache__/mod.cpython-311.pyc` belongs to
whoever owns `pkg/mod.py`), which no RECORD lists when fpack compiled it. Its key covers every
file's path, size and sha256: RECORD's own digest where RECORD gives one and the size agrees, the
file's bytes otherwise (RECORD itself, INSTALLER, bytecode, anything slimming rewrote without
saying). The files no RECORD claims are the tree's `loose` files: always processed afresh.

`clean` makes a tree as uv installed it one that says nothing of the machine it was installed on.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import posixpath
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# Console scripts carry the build host's interpreter path in their shebang: useless on the target
# and a source of irreproducibility. Byte code is compiled for the target separately, or not at all.
_DROP_DIRS: Final = ("bin",)
# uv's lock on its --target directory: an empty file that belongs to no package.
_DROP_FILES: Final = (".lock",)


@dataclass(frozen=True, kw_only=True)
class Dist:
    """One installed distribution: its dist-info, its files, their digest."""

    name: str  # its dist-info directory, e.g. "numpy-2.2.6.dist-info"
    files: tuple[str, ...]  # tree-relative POSIX paths, sorted
    key: str  # sha256 over every file's path, size and content digest


@dataclass(frozen=True, kw_only=True)
class Parts:
    """A tree split into its distributions and the files none of them owns."""

    dists: tuple[Dist, ...]
    loose: tuple[str, ...]  # files no distribution owns


def split(tree: Path) -> Parts:
    """The distributions of `tree` and the files none of them owns."""
    stats, owned, digests = _owners(tree)
    members: dict[str, list[str]] = {}
    for path in sorted(stats):
        if path in owned:
            members.setdefault(owned[path], []).append(path)
    dists = tuple(Dist(name=info, files=tuple(files), key=_key(tree, files, stats, digests))
                  for info, files in sorted(members.items()))
    return Parts(dists=dists, loose=tuple(p for p in sorted(stats) if p not in owned))


def recorded(tree: Path, info: str) -> tuple[str, ...]:
    """The files the RECORD of `tree`'s distribution `info` (its dist-info directory) lists,
    tree-relative, RECORD itself among them: in a tree `clean` made, exactly what the
    distribution ships but its bytecode. Read without walking the tree (deps/reuse.py links
    these files while uv installs)."""
    out = [f"{info}/RECORD"]  # whether or not it lists itself
    with (tree / info / "RECORD").open(newline="", encoding="utf-8",
                                       errors="surrogateescape") as f:
        for row in csv.reader(f):
            path = _inside(row[0]) if row and row[0].strip() else None
            if path is not None:
                out.append(path)
    return tuple(sorted(set(out)))


def record_sizes(tree: Path) -> tuple[int, dict[str, int]]:
    """(bytes of every file in `tree`, dist-info directory -> bytes of the files its RECORD
    lists), from one walk."""
    stats = dict(_walk(str(tree), ""))
    sizes: dict[str, int] = {}
    for record in tree.glob("*.dist-info/RECORD"):
        listed: set[str] = set()
        with record.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
            for row in csv.reader(f):
                path = _inside(row[0]) if row else None
                if path is not None and path in stats:
                    listed.add(path)
        sizes[record.parent.name] = sum(stats[p].st_size for p in listed)
    return sum(st.st_size for st in stats.values()), sizes


def _owners(tree: Path) -> tuple[dict[str, os.stat_result], dict[str, str],
                                 dict[str, tuple[int, str]]]:
    """(every file's stat, file -> the dist-info directory owning it, file -> (size, digest) as
    its RECORD states them)."""
    stats = dict(_walk(str(tree), ""))  # one scandir walk: this runs on trees of 10,000 files
    owned: dict[str, str] = {}
    digests: dict[str, tuple[int, str]] = {}
    for record in sorted(tree.glob("*.dist-info/RECORD")):
        info = record.parent.name
        owned[f"{info}/RECORD"] = info
        with record.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
            for row in csv.reader(f):
                path = _inside(row[0]) if row else None
                if path is None or path not in stats:
                    continue
                owned[path] = info
                if len(row) >= 3 and row[1].startswith("sha256=") and row[2].isdigit():
                    digests[path] = (int(row[2]), row[1].removeprefix("sha256="))
    for path in sorted(stats):
        if path not in owned and (source := source_of(path)) in owned:
            owned[path] = owned[source]
    return stats, owned, digests


def files(tree: Path) -> list[str]:
    """Every regular file of `tree`, tree-relative and sorted."""
    return sorted(rel for rel, _ in _walk(str(tree), ""))


def link(source: Path, dest: Path, rels: Iterable[str]) -> None:
    """Each of `rels` (tree-relative) hard-linked from `source` into `dest`, copied where the
    filesystem refuses a link. Safe because a finished cache entry is never written again:
    every later step replaces files (a new inode) or writes new ones; a RECORD, which a derived
    tree may rewrite in place, is copied. A file `dest` already has stays (a namespace
    package's shared `__init__.py`, placed by another distribution)."""
    made: set[str] = set()  # directories made in `dest`: thousands of files, few directories
    for rel in rels:
        target = f"{dest}/{rel}"
        parent = os.path.dirname(target)  # noqa: PTH120 - strings: this runs once per file
        if parent not in made:
            os.makedirs(parent, exist_ok=True)  # noqa: PTH103
            made.add(parent)
        if os.path.lexists(target):
            continue
        if not rel.endswith(".dist-info/RECORD"):
            try:
                os.link(f"{source}/{rel}", target)
                continue
            except OSError:
                pass
        shutil.copy2(f"{source}/{rel}", target)


def _walk(top: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    """(tree-relative path, stat) of every regular file below `top`; symlinks are skipped."""
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                yield f"{prefix}{entry.name}", entry.stat(follow_symlinks=False)


def source_of(path: str) -> str | None:
    """The module a bytecode file was compiled from: `a/__pycache__/m.cpython-311.pyc` ->
    `a/m.py`; None for anything else."""
    parent, name = posixpath.split(path)
    if posixpath.basename(parent) != "__pycache__" or not name.endswith(".pyc"):
        return None
    return posixpath.join(posixpath.dirname(parent), name.split(".", 1)[0] + ".py")


def _inside(recorded: str) -> str | None:
    path = posixpath.normpath(recorded)
    if path.startswith(("../", "/")) or path in ("..", "."):
        return None
    return path


def _key(tree: Path, files: list[str], stats: dict[str, os.stat_result],
         stated: dict[str, tuple[int, str]]) -> str:
    h = hashlib.sha256(b"dist-1\0")
    for rel in files:
        st = stats[rel]
        size, executable = st.st_size, bool(st.st_mode & 0o111)  # a zip keeps the x bit
        said = stated.get(rel)
        if said is not None and said[0] == size:
            digest = said[1]
        else:
            digest = base64.urlsafe_b64encode(
                hashlib.sha256((tree / rel).read_bytes()).digest()).rstrip(b"=").decode()
        h.update(f"{rel}\0{size}\0{executable:d}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def clean(tree: Path) -> None:
    """Drop what would carry the build machine into the artifact, then make every RECORD list
    exactly what is shipped: a RECORD line for a dropped file still holds its hash (a console
    script's hash covers the host's interpreter path), so the bytes would differ per machine."""
    for name in _DROP_DIRS:
        shutil.rmtree(tree / name, ignore_errors=True)
    for name in _DROP_FILES:
        (tree / name).unlink(missing_ok=True)
    for cache_dir in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache_dir, ignore_errors=True)
    for info in tree.glob("*.dist-info"):
        _scrub_dist_info(info)
        prune_record(tree, info / "RECORD")


def _scrub_dist_info(info: Path) -> None:
    """Drop installer records that describe the build machine: uv's cache stamp (a timestamp)
    and a direct_url.json naming a local file (a wheel in fpack's cache, a path on this
    machine). Either would make the artifact differ between machines. `prune_record` then
    drops their RECORD lines."""
    (info / "uv_cache.json").unlink(missing_ok=True)
    direct = info / "direct_url.json"
    if direct.is_file() and '"file://' in direct.read_text(encoding="utf-8"):
        direct.unlink()


def prune_record(tree: Path, record: Path) -> None:
    """Remove the RECORD lines of files the tree does not ship, keeping every other line byte
    for byte: the lines left keep the hashes and sizes the installer wrote, which depend only
    on the wheels."""
    if not record.is_file():
        return
    lines = record.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if _ships(tree, line)]
    if len(kept) != len(lines):
        # A new file, never a write into this one: a tree's files may be links (uv's cache,
        # an earlier tree), and RECORD must not change anywhere else.
        tmp = record.with_name(f".{record.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_bytes(b"".join(kept))
            os.replace(tmp, record)
        finally:
            tmp.unlink(missing_ok=True)


def _ships(tree: Path, line: bytes) -> bool:
    """Whether a RECORD line names a file in `tree` (a line naming nothing is kept as it is).
    RECORD paths are relative to site-packages, the tree's root, in whatever form the installer
    wrote them (`bin/x`, `../../bin/x`, an absolute path): normalised here without following
    links, anything that climbs out of the tree is not shipped."""
    row = next(csv.reader([line.decode("utf-8", "surrogateescape")]), [])
    if not row or not row[0].strip():
        return True
    path = posixpath.normpath(row[0])
    if posixpath.isabs(path) or path == ".." or path.startswith("../"):
        return False
    return (tree / path).is_file()
