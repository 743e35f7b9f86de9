"""The content-addressed cache: resolutions, installed dependency trees and dependency archives.

Layout under the cache root (`fpack.inputs.cache_root`: FPACK_CACHE_DIR, else
$XDG_CACHE_HOME/fpack, else ~/.cache/fpack):
    locks/<key>.lock          flock'd while an entry is being made, so concurrent builds wait
    resolve/<key>.toml        a pylock.toml: the exact wheels for one spec on one platform
    trees/<key>/ + <key>.ok   an installed tree; valid only when its marker exists (written last)
    built/<key>/ + <key>.ok   a wheel built from source in a container, with build.json beside it
    archives/<key>.zip        the tree as a deterministic zip, spliced into artifacts raw
Every entry is written to a temporary name in the same directory and renamed into place: a killed
build leaves garbage at worst (temporary names, cleaned by `fpack cache clean`), never a bad entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MARKER: Final = ".ok"


@dataclass(frozen=True)
class Cache:
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
        for kind in ("resolve", "trees", "archives", "wheels", "built"):
            base = self.root / kind
            out[kind] = (
                sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
                if base.is_dir()
                else 0
            )
        return out

    def clean(self) -> None:
        for kind in ("resolve", "trees", "archives", "wheels", "built", "locks"):
            shutil.rmtree(self.root / kind, ignore_errors=True)
