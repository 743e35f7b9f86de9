"""Writing artifacts into dist/: all or nothing, and nothing at all when nothing changed.

Every output of a build is first written to a temporary file beside its destination; only when the
whole build has succeeded are they renamed into place, so an interrupted or failed build leaves the
previous artifacts intact. A small state file remembers the input key each artifact was made from,
so an artifact whose inputs did not change is neither rebuilt nor rewritten (its mtime stays put).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from fpack.archive import ZipWriter

STATE: Final = ".fpack-state.json"


@dataclass(frozen=True, kw_only=True)
class Written:
    path: Path
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Outputs:
    """A transaction over one output directory (dist/<target>)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._staged: list[tuple[Path, Path]] = []
        self._state: dict[str, dict[str, str | int]] = {}
        self._new_state: dict[str, dict[str, str | int]] = {}
        try:
            self._state = json.loads((directory / STATE).read_text())
        except (OSError, ValueError):
            self._state = {}

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def fresh(self, dest: Path, key: str) -> Written | None:
        """The artifact at `dest` if it was made from `key` and has not been touched since."""
        entry = self._state.get(dest.name)
        try:
            st = dest.stat()
        except OSError:
            return None
        if (
            entry
            and entry["key"] == key
            and entry["size"] == st.st_size
            and entry["mtime_ns"] == st.st_mtime_ns
        ):
            self._new_state[dest.name] = entry
            return Written(path=dest, sha256=str(entry["sha256"]), size=st.st_size)
        return None

    def _temp(self, dest: Path) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        self._staged.append((tmp, dest))
        return tmp

    def zip(self, writer: ZipWriter, dest: Path, key: str) -> Written:
        tmp = self._temp(dest)
        writer.write_file(tmp)
        written = Written(path=dest, sha256=sha256_file(tmp), size=tmp.stat().st_size)
        self._new_state[dest.name] = {"key": key, "sha256": written.sha256, "size": written.size}
        return written

    def text(self, dest: Path, text: str) -> None:
        """Stage a small text file, unless the same text is already there."""
        try:
            if dest.read_text(encoding="utf-8") == text:
                return
        except OSError:
            pass
        self._temp(dest).write_text(text, encoding="utf-8")

    def commit(self) -> None:
        for tmp, dest in self._staged:
            os.replace(tmp, dest)
            if dest.name in self._new_state:
                self._new_state[dest.name]["mtime_ns"] = dest.stat().st_mtime_ns
        self._staged.clear()
        merged = {**self._state, **self._new_state}
        if merged != self._state:
            tmp = self.directory / f".{STATE}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
            os.replace(tmp, self.directory / STATE)

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()
