"""What the project asks for: the dependency file and every file that decides its meaning.

A requirements file may pull in others (`-r`, `-c`); all of them are part of the cache key, so an
edit to an included file re-resolves. pyproject.toml and uv.lock are handed to uv as they are.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from fpack.errors import ConfigError

SpecKind = Literal["requirements", "pyproject", "uvlock", "none"]
_INCLUDE: Final = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s+|=)(\S+)")


@dataclass(frozen=True, kw_only=True)
class DependencySpec:
    kind: SpecKind
    path: Path | None
    files: tuple[tuple[str, str], ...]  # (path, sha256) of every file that decides the resolution

    def key(self) -> str:
        h = hashlib.sha256(self.kind.encode())
        for name, digest in self.files:
            h.update(f"\0{name}\0{digest}".encode())
        return h.hexdigest()


def kind_of(path: Path) -> SpecKind:
    if path.name == "uv.lock":
        return "uvlock"
    if path.name == "pyproject.toml":
        return "pyproject"
    return "requirements"


def read(path: Path | None, config_path: Path) -> DependencySpec:
    """The spec at `path` (None: the project has no dependencies)."""
    if path is None:
        return DependencySpec(kind="none", path=None, files=())
    kind = kind_of(path)
    if kind == "uvlock":
        # uv export reads the lock together with the project's pyproject.toml.
        files = [path, path.with_name("pyproject.toml")]
    elif kind == "requirements":
        files = _requirement_files(path, config_path, seen=set())
    else:
        files = [path]
    return DependencySpec(
        kind=kind,
        path=path,
        files=tuple((str(f), hashlib.sha256(_read(f, config_path)).hexdigest()) for f in files),
    )


def _read(path: Path, config_path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(
            f"{config_path}: [project] dependencies: cannot read {path}: {e.strerror}",
            hint="point `dependencies` at a readable requirements.txt, pyproject.toml or uv.lock",
        ) from e


def _requirement_files(path: Path, config_path: Path, seen: set[Path]) -> list[Path]:
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    try:
        text = _read(path, config_path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text; save the requirements file as UTF-8") from e
    found = [path]
    for line in text.splitlines():
        m = _INCLUDE.match(line)
        if m:
            found += _requirement_files(path.parent / m.group(1), config_path, seen)
    return found
