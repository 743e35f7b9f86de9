"""A snapshot of the project's source files: the one step of planning that reads the disk.

`snapshot()` walks the project once and records, for every file that would be packaged, its path
relative to the project root, its normalised mode, its bytes and their sha256. Everything after it
(plans, cache keys, checks, the artifacts themselves) is computed from that snapshot, so a build
never reads a file twice, and the bytes packaged are the bytes hashed even when a file changes
during the build.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

from fpack.archive import normal_mode

# Never packaged, whatever `include` says: VCS data, environments, caches, build output and tests.
# Secrets files (.env, keys) are not silently dropped here: an included one stops the build and
# fails `fpack check` (fpack/secrets.py), so the user decides: exclude it, or allow it.
DEFAULT_EXCLUDE: Final = (
    ".git/**", ".hg/**", ".svn/**", ".venv/**", "venv/**", "env/**", "**/__pycache__/**",
    "**/*.pyc", "dist/**", "build/**", ".fpack/**", "**/node_modules/**",
    "**/.mypy_cache/**", "**/.pytest_cache/**", "**/.ruff_cache/**", "**/*.egg-info/**",
    "**/tests/**", "**/test/**", "**/conftest.py", ".DS_Store", "**/.DS_Store",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """One project file a build packages, as the snapshot read it."""

    path: str  # POSIX path relative to the project root: the name inside the artifact
    abspath: Path
    mode: int  # normalised: 0o644 or 0o755
    size: int
    sha256: str
    data: bytes = field(repr=False, compare=False)  # the bytes hashed, and the bytes packaged


@lru_cache(maxsize=256)
def glob_source(pattern: str) -> str:
    """The regex source of a glob where `**` spans directories and `*` stays within one;
    `dir` means `dir/**`. A string, not a compiled pattern: a list of globs is compiled once,
    as one regex (`_any_of`), and compiling each part as well cost as much again."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + "(?:/.*)?$"


def matches(path: str, patterns: Iterable[str]) -> bool:
    return _any_of(tuple(patterns)).match(path) is not None


@lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a whole pattern list: a monorepo's snapshot matches thousands of names
    against the same twenty exclusions."""
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{glob_source(p.strip('/'))})" for p in patterns))


def default_include(root: Path) -> tuple[str, ...]:
    """Top-level modules and packages: what `import` can reach from the project root."""
    packages = [
        f"{entry.name}/**"
        for entry in sorted(os.scandir(root), key=lambda e: e.name)
        if entry.is_dir() and (Path(entry.path) / "__init__.py").is_file()
    ]
    return ("*.py", *packages)


def project_files(root: Path, include: Iterable[str] | None, exclude: Iterable[str],
                  out: Path) -> tuple[SourceFile, ...]:
    """What a build of the project at `root` packages: `include` (default: its top-level modules
    and packages) minus `exclude` and the output directory `out` (absolute or relative to root)."""
    excluded = list(exclude)
    out_abs = out if out.is_absolute() else (root / out).resolve()
    if out_abs.is_relative_to(root):
        excluded.append(out_abs.relative_to(root).as_posix() + "/**")
    return snapshot(root, default_include(root) if include is None else include, excluded)


def snapshot(root: Path, include: Iterable[str], exclude: Iterable[str]) -> tuple[SourceFile, ...]:
    """Every file under `root` matched by `include` and by none of `exclude`, sorted by path."""
    include = tuple(include)
    exclude = (*DEFAULT_EXCLUDE, *exclude)
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        # Prune excluded directories early: never walk .git or a virtualenv.
        dirnames[:] = sorted(d for d in dirnames if not matches(f"{prefix}{d}/", exclude))
        for name in sorted(filenames):
            rel = prefix + name
            if matches(rel, include) and not matches(rel, exclude):
                files.append(_record(Path(dirpath) / name, rel))
    return tuple(sorted(files, key=lambda f: f.path))


def _record(path: Path, rel: str) -> SourceFile:
    st = path.stat()
    data = path.read_bytes()
    return SourceFile(
        path=rel,
        abspath=path,
        mode=normal_mode(st.st_mode),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def digest(files: Iterable[SourceFile]) -> str:
    """A key over (path, mode, content) of every file, in order: renames and chmods count."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\0{f.mode:o}\0{f.sha256}\n".encode())
    return h.hexdigest()


def runtime_snapshot() -> tuple[SourceFile, ...]:
    """fpack's portable runtime as it is vendored into every artifact: `fpack/__init__.py` and
    the standard-library-only `fpack/runtime` package, nothing else of fpack."""
    package = Path(__file__).resolve().parent
    runtime = [
        _record(path, "fpack/" + path.relative_to(package).as_posix())
        for path in sorted((package / "runtime").rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    return (_record(package / "__init__.py", "fpack/__init__.py"), *runtime)
