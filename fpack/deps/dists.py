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
"""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Dist:
    name: str  # its dist-info directory, e.g. "numpy-2.2.6.dist-info"
    files: tuple[str, ...]  # tree-relative POSIX paths, sorted
    key: str  # sha256 over every file's path, size and content digest


@dataclass(frozen=True, kw_only=True)
class Parts:
    dists: tuple[Dist, ...]
    loose: tuple[str, ...]  # files no distribution owns


def split(tree: Path) -> Parts:
    """The distributions of `tree` and the files none of them owns."""
    every = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*")
                   if p.is_file() and not p.is_symlink())
    present = set(every)
    owned: dict[str, str] = {}  # file -> its dist-info directory
    digests: dict[str, tuple[int, str]] = {}  # file -> (size, digest) as RECORD states them
    for record in sorted(tree.glob("*.dist-info/RECORD")):
        info = record.parent.name
        owned[f"{info}/RECORD"] = info
        with record.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
            for row in csv.reader(f):
                path = _inside(row[0]) if row else None
                if path is None or path not in present:
                    continue
                owned[path] = info
                if len(row) >= 3 and row[1].startswith("sha256=") and row[2].isdigit():
                    digests[path] = (int(row[2]), row[1].removeprefix("sha256="))
    for path in every:
        if path not in owned and (source := source_of(path)) in owned:
            owned[path] = owned[source]
    members: dict[str, list[str]] = {}
    for path in every:
        if path in owned:
            members.setdefault(owned[path], []).append(path)
    dists = tuple(Dist(name=info, files=tuple(files), key=_key(tree, files, digests))
                  for info, files in sorted(members.items()))
    return Parts(dists=dists, loose=tuple(p for p in every if p not in owned))


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


def _key(tree: Path, files: list[str], stated: dict[str, tuple[int, str]]) -> str:
    h = hashlib.sha256(b"dist-1\0")
    for rel in files:
        st = (tree / rel).stat()
        size, executable = st.st_size, bool(st.st_mode & 0o111)  # a zip keeps the x bit
        said = stated.get(rel)
        if said is not None and said[0] == size:
            digest = said[1]
        else:
            digest = base64.urlsafe_b64encode(
                hashlib.sha256((tree / rel).read_bytes()).digest()).rstrip(b"=").decode()
        h.update(f"{rel}\0{size}\0{executable:d}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
