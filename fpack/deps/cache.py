"""The content-addressed cache: resolutions, installed dependency trees and dependency archives.

Layout under the cache root (`fpack.stamp.cache_root`: FPACK_CACHE_DIR, else
$XDG_CACHE_HOME/fpack, else ~/.cache/fpack):
    locks/<key>.lock          flock'd while an entry is being made, so concurrent builds wait
    resolve/<key>.toml        a pylock.toml: the exact wheels for one spec on one platform
    trees/<key>/ + <key>.ok   an installed tree; valid only when its marker exists (written last)
    built/<key>/ + <key>.ok   a wheel built from source in a container, with build.json beside it
    archives/<key>.zip        the tree as a deterministic zip, spliced into artifacts raw
    members/<key>.zip         one distribution's files compressed, spliced into archives raw
    pycs/<key>/ + <key>.ok    one distribution's bytecode for one Python version (compile = true)
    shared-cache.json         the last build's counts against the shared cache (deps/remote.py)
    stamps/<key>.json         what a finished build read, for the nothing-changed fast path
Every entry is written to a temporary name in the same directory and renamed into place: a killed
build leaves garbage at worst (temporary names, cleaned by `fpack cache clean` and `gc`), never a
bad entry. Using an entry touches it (`use`): its newest mtime is its last use, which `gc` reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MARKER: Final = ".ok"
KINDS: Final = ("resolve", "trees", "archives", "members", "pycs", "wheels", "built", "rendered")
_GARBAGE_AGE: Final = 3600.0  # seconds: a temporary name older than this belongs to no build


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One cache entry as `gc` sees it: its files, the lock its makers take, its last use."""

    kind: str
    key: str
    paths: tuple[Path, ...]  # the marker (or the file that is its own marker) first
    lock: str | None  # the name handed to `Cache.lock` by whoever makes it
    used: float  # the newest mtime among its paths
    size: int


@dataclass(frozen=True, kw_only=True)
class Collected:
    """What one `gc` did: entries removed, bytes freed, bytes kept."""

    removed: int
    freed: int
    kept: int  # bytes left in the entries gc knows


@dataclass(frozen=True)
class Cache:
    """The cache directory and the layout of its entries (see the module's docstring)."""

    root: Path

    def file(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def tree(self, key: str) -> Path | None:
        """An installed tree, if it was completed (its marker exists) and still looks whole."""
        return self.entry("trees", key)

    def entry(self, kind: str, key: str) -> Path | None:
        """A directory entry of `kind`, if it was completed: its marker is written last."""
        path = self.root / kind / key
        if (self.root / kind / f"{key}{MARKER}").is_file() and path.is_dir():
            return path
        return None

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on `key` across processes (builds in parallel share a cache)."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{key}.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def try_lock(self, key: str) -> Iterator[bool]:
        """`lock(key)` if no one holds it, without waiting: yields whether it was taken."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{key}.lock").open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @staticmethod
    def use(*paths: Path) -> None:
        """Record that a build used these entries' files now (their mtime: `gc` reads it)."""
        for path in paths:
            with contextlib.suppress(OSError):
                os.utime(path)

    def write_file(self, kind: str, key: str, suffix: str, data: bytes) -> Path:
        dest = self.file(kind, key, suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{dest.name}.part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def new_tree(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A scratch directory that becomes tree `key` if the block completes, else vanishes."""
        return self.new_entry("trees", key)

    @contextlib.contextmanager
    def new_entry(self, kind: str, key: str) -> Iterator[Path]:
        """A scratch directory that becomes entry `key` of `kind` if the block completes.

        Callers hold `lock(...)` for the key: the rename and the marker are not one atomic step,
        and a reader trusts a directory only once its marker exists.
        """
        base = self.root / kind
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".tmp-{os.getpid()}-{threading.get_ident()}-{key}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
            marker = base / f"{key}{MARKER}"
            marker.unlink(missing_ok=True)  # an entry being replaced is invalid from here on
            final = base / key
            shutil.rmtree(final, ignore_errors=True)  # an entry without its marker is garbage
            tmp.rename(final)
            marker_tmp = base / f".tmp-{os.getpid()}-{threading.get_ident()}-{key}{MARKER}"
            marker_tmp.write_text("ok\n")
            os.replace(marker_tmp, marker)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def size(self) -> dict[str, int]:
        """Bytes used per kind of entry."""
        out: dict[str, int] = {}
        for kind in KINDS:
            base = self.root / kind
            out[kind] = (
                sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
                if base.is_dir()
                else 0
            )
        return out

    def clean(self) -> None:
        for kind in (*KINDS, "locks", "stamps"):
            shutil.rmtree(self.root / kind, ignore_errors=True)

    def entries(self) -> list[Entry]:
        """Every entry of every kind, with its last use and size."""
        out: list[Entry] = []
        for kind in KINDS:
            base = self.root / kind
            if not base.is_dir():
                continue
            groups: dict[str, list[Path]] = {}
            for path in base.iterdir():
                if path.name.startswith(".tmp-") or path.name.startswith("."):
                    continue
                key, lock = _identify(kind, path)
                groups.setdefault(f"{lock or ''}\0{key}", []).append(path)
            for ident, paths in groups.items():
                lock, key = ident.split("\0", 1)
                paths.sort(key=_marker_first)
                out.append(Entry(kind=kind, key=key, paths=tuple(paths), lock=lock or None,
                                 used=max(_mtime(p) for p in paths),
                                 size=sum(_bytes(p) for p in paths)))
        return out

    def gc(self, *, older_than: float | None = None, max_size: int | None = None,
           protect_since: float | None = None, now: float | None = None) -> Collected:
        """Remove the entries no build used in the last `older_than` seconds, then, while the
        cache holds more than `max_size` bytes, the least recently used others; never one used
        since `protect_since` (the running build's own), nor one whose lock a build holds.
        Temporary names older than an hour (a killed build's) go too."""
        now = time.time() if now is None else now
        removed = freed = 0
        entries = sorted(self.entries(), key=lambda e: e.used)
        total = sum(e.size for e in entries)
        for entry in entries:
            stale = older_than is not None and entry.used < now - older_than
            over = max_size is not None and total > max_size
            if not (stale or over):
                continue
            if protect_since is not None and entry.used >= protect_since:
                continue
            if self._remove(entry):
                removed += 1
                freed += entry.size
                total -= entry.size
        self._sweep_garbage(now)
        return Collected(removed=removed, freed=freed, kept=total)

    def _remove(self, entry: Entry) -> bool:
        """Delete `entry` under its lock, marker first, unless it was used since it was seen."""
        with (self.try_lock(entry.lock) if entry.lock else contextlib.nullcontext(True)) as got:
            if not got:
                return False
            if max((_mtime(p) for p in entry.paths), default=0.0) > entry.used:
                return False  # a build used it meanwhile
            for path in entry.paths:
                _delete(path)
        return True

    def _sweep_garbage(self, now: float) -> None:
        for kind in KINDS:
            base = self.root / kind
            for path in base.glob(".tmp-*") if base.is_dir() else ():
                if _mtime(path) < now - _GARBAGE_AGE:
                    _delete(path)


def _identify(kind: str, path: Path) -> tuple[str, str | None]:
    """(key, lock name) of a file or directory of `kind`: the names the engine makes them by."""
    name = path.name
    match kind:
        case "resolve" if name.startswith("pylock."):
            key = name.removeprefix("pylock.").removesuffix(".toml").removesuffix(".local.json")
            return key, f"resolve-{key}"
        case "trees":
            key = name.removesuffix(MARKER).removesuffix(".json")
            return key, f"tree-{key}"
        case "built":
            key = name.removesuffix(MARKER)
            return key, f"wheel-{key}"
        case "pycs":
            key = name.removesuffix(MARKER)
            return key, f"pycs-{key}"
        case "archives":
            key = name.removesuffix(".zip")
            return key, f"archive-{key}"
        case _:  # uv's version, derived requirements, fpack check's locks, downloaded wheels
            return name, None


def _marker_first(path: Path) -> tuple[int, str]:
    """Markers (and a lock file, the marker of a resolution) are deleted before what they vouch
    for: a reader never trusts an entry whose marker is gone."""
    name = path.name
    first = name.endswith((MARKER, ".toml", ".zip")) and not path.is_dir()
    return (0 if first else 1, name)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _bytes(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(_bytes_of(p) for p in path.rglob("*"))
    return _bytes_of(path)


def _bytes_of(path: Path) -> int:
    try:
        return path.lstat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def total_size(entries: Iterable[Entry]) -> int:
    return sum(e.size for e in entries)
