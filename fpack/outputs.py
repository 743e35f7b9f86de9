"""Writing artifacts into dist/: all or nothing, and nothing at all when nothing changed.

Every output of a build is first written to a temporary file beside its destination; only when the
whole build has succeeded are they renamed into place, so an interrupted or failed build leaves the
previous artifacts intact. A small state file remembers the input key each artifact was made from,
so an artifact whose inputs did not change is neither rebuilt nor rewritten (its mtime stays put),
and what that key covered (each file's digest, each package's version, each setting), so that
`--dry-run` can say why an artifact would be rebuilt: which file, package or setting changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from fpack.archive import ZipWriter

STATE: Final = ".fpack-state.json"
_MAX_REASONS: Final = 6


@dataclass(frozen=True, kw_only=True)
class Written:
    """A file written into dist/: where, its sha256 and size."""

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
        self._state: dict[str, dict[str, Any]] = {}
        self._new_state: dict[str, dict[str, Any]] = {}
        # Artifacts are written by parallel workers; the staging list and state are shared.
        self._mutex = threading.Lock()
        self._complete = False
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
        entry = self._unchanged(dest, key)
        if entry is None:
            return None
        with self._mutex:
            self._new_state[dest.name] = entry
        return Written(path=dest, sha256=str(entry["sha256"]), size=int(entry["size"]))

    def _unchanged(self, dest: Path, key: str) -> dict[str, Any] | None:
        entry = self._state.get(dest.name)
        if entry and entry.get("image"):  # the image is fresh by its tag, checked elsewhere
            return entry if entry["key"] == key else None
        try:
            st = dest.stat()
        except OSError:
            return None
        if entry and entry["key"] == key and entry.get("size") == st.st_size \
                and entry.get("mtime_ns") == st.st_mtime_ns:
            return entry
        return None

    def reasons(self, dest: Path, key: str, inputs: Mapping[str, str]) -> tuple[str, ...]:
        """Why the artifact at `dest` would be rebuilt from `key`; () when it is up to date."""
        if self._unchanged(dest, key) is not None:
            return ()
        entry = self._state.get(dest.name)
        if not dest.exists():
            return ("not built yet",) if entry is None else (f"{dest.name} is missing",)
        if entry is None:
            return ("not built by fpack into this directory",)
        if entry["key"] == key:
            return (f"{dest.name} was modified since it was built",)
        return changed_inputs(entry.get("inputs"), inputs)

    def _temp(self, dest: Path) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with self._mutex:
            self._staged.append((tmp, dest))
        return tmp

    def zip(self, writer: ZipWriter, dest: Path, key: str,
            inputs: Mapping[str, str] | None = None) -> Written:
        tmp = self._temp(dest)
        writer.write_file(tmp)
        written = Written(path=dest, sha256=sha256_file(tmp), size=tmp.stat().st_size)
        with self._mutex:
            self._new_state[dest.name] = {"key": key, "sha256": written.sha256,
                                          "size": written.size, "inputs": dict(inputs or {})}
        return written

    def record(self, dest: Path, key: str, inputs: Mapping[str, str]) -> None:
        """Remember what an artifact that lives elsewhere (an image) was made from; its file in
        this directory (the manifest) is written with `text`."""
        entry = self._state.get(dest.name)
        if entry is not None and entry.get("key") == key:
            self._new_state[dest.name] = entry
            return
        self._new_state[dest.name] = {"key": key, "inputs": dict(inputs), "image": True}

    def text(self, dest: Path, text: str) -> None:
        """Stage a small text file, unless the same text is already there."""
        try:
            if dest.read_text(encoding="utf-8") == text:
                return
        except OSError:
            pass
        self._temp(dest).write_text(text, encoding="utf-8")

    def complete(self) -> None:
        """This build made every artifact of the directory (no --function): at commit, what an
        earlier build made and this one did not (a function removed from fpack.toml, the layer of
        a set that changed) is removed with its manifest and SBOM, so that dist/ holds exactly
        the artifacts of fpack.toml (a `dist/aws/*.zip` glob in Terraform sees no stale one)."""
        self._complete = True

    def _remove_others(self) -> dict[str, dict[str, Any]]:
        gone = {name: e for name, e in self._state.items() if name not in self._new_state}
        for name in gone:
            stem = name.removesuffix(".manifest.json") if name.endswith(".manifest.json") \
                else name.rsplit(".", 1)[0]
            for leftover in (name, f"{stem}.manifest.json", f"{stem}.cdx.json"):
                path = self.directory / leftover
                if path.name != STATE and path.is_file() and not path.is_symlink():
                    path.unlink()
        return {name: e for name, e in self._state.items() if name not in gone}

    def commit(self) -> None:
        for tmp, dest in self._staged:
            os.replace(tmp, dest)
            entry = self._new_state.get(dest.name)
            if entry is not None and not entry.get("image"):
                entry["mtime_ns"] = dest.stat().st_mtime_ns
        self._staged.clear()
        kept = self._remove_others() if self._complete else self._state
        merged = {**kept, **self._new_state}
        if merged != self._state:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{STATE}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
            os.replace(tmp, self.directory / STATE)

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()


def changed_inputs(old: Mapping[str, str] | None, new: Mapping[str, str]) -> tuple[str, ...]:
    """What differs between the inputs an artifact was made from and today's, in words:
    `app.py changed`, `package numpy 1.26.4 -> 2.0.0`, `setting compile false -> true`."""
    if not old:
        return ("built by an older fpack (no record of its inputs)",)
    out: list[str] = []
    for name in sorted({*old, *new}, key=_reason_order):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        what = name.removeprefix("file ")
        if before is None:
            out.append(f"{what} added" if name != "dependencies" else "dependencies added")
        elif after is None:
            out.append(f"{what} removed")
        elif name.startswith("file ") or name in ("dependencies", "base image"):
            out.append(f"{what} changed")
        else:
            out.append(f"{what} {before} -> {after}")
    if any(r.startswith("package ") for r in out):  # the set's key moved with its packages
        out = [r for r in out if r != "dependencies changed"]
    if not out:
        return ("fpack's format changed",)
    if len(out) > _MAX_REASONS:
        out[_MAX_REASONS - 1:] = [f"and {len(out) - _MAX_REASONS + 1} more"]
    return tuple(out)


def _reason_order(name: str) -> tuple[int, str]:
    """Files first, then packages, then settings: the order a user looks for a cause in."""
    rank = 0 if name.startswith("file ") else 1 if name.startswith("package ") else 2
    return rank, name
