"""uv workspaces: which member a function's directory is, and whether the lock still fits it.

A workspace is a directory whose pyproject.toml has `[tool.uv.workspace]` and one `uv.lock` for
all its members. A function whose `dir` is a member gets that member's dependency set from the
workspace's lock (`uv export --package MEMBER`): exactly the locked versions, its workspace
dependencies (shared libraries) included, built as wheels like any source (deps/resolution.py).

Decided offline, from the TOML files alone: a member missing from the lock, or a lock whose record
of the member's requirements differs from its pyproject.toml, is an error that names the files and
says to run `uv lock` (the same comparison `fpack check` reports as FP501).
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK: Final = "uv.lock"
_EXTRA: Final = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
# A requirement as compared: (name, extras, specifier, the extra it belongs to or "").
Key = tuple[str, tuple[str, ...], str, str]


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def canonical(name: str) -> str:
    """PEP 503's normal form (packaging's canonicalize_name, without importing packaging)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def root_of(directory: Path, stop: Path) -> Path | None:
    """The workspace root above `directory` (up to `stop`, the project root): the nearest
    directory with a uv.lock and a pyproject.toml declaring [tool.uv.workspace]."""
    for parent in directory.parents:
        if not parent.is_relative_to(stop):
            return None
        pyproject = parent / "pyproject.toml"
        if (parent / LOCK).is_file() and pyproject.is_file() and \
                "workspace" in _toml(pyproject).get("tool", {}).get("uv", {}):
            return parent
    return None


def member_of(pyproject: Path, stop: Path) -> tuple[Path, str] | None:
    """(the workspace's uv.lock, the member's package name) when `pyproject` is a member of a
    locked uv workspace at or below `stop`; None when it is a project of its own."""
    directory = pyproject.parent.resolve()
    root = root_of(directory, stop)
    if root is None:
        return None
    rel = directory.relative_to(root).as_posix()
    settings = _toml(root / "pyproject.toml")["tool"]["uv"]["workspace"]
    members, excluded = settings.get("members", []), settings.get("exclude", [])
    if not _matches(rel, members) or _matches(rel, excluded):
        return None
    name = str(_toml(pyproject).get("project", {}).get("name", ""))
    lock = root / LOCK
    entry = lock_entry(_toml(lock), rel)
    if entry is None:
        raise ConfigError(
            f"{lock}: the workspace member {rel} (package \"{name}\") is not in the lock",
            hint=f"run `uv lock` in {root} to add it",
        )
    changes = stale(_toml(pyproject).get("project", {}), entry, _toml(lock))
    if changes:
        raise ConfigError(
            f"{lock} is out of date with {pyproject} ({'; '.join(changes[:5])})",
            hint=f"run `uv lock` in {root}, then build again",
        )
    return lock, canonical(name or str(entry.get("name", "")))


def _matches(rel: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p.strip("/")) for p in patterns)


def lock_entry(locked: dict[str, Any], rel: str) -> dict[str, Any] | None:
    """The lock's package whose source is the project directory `rel` (relative to the lock)."""
    for package in locked.get("package", []):
        source = package.get("source", {})
        paths = (source.get("virtual"), source.get("editable"), source.get("directory"))
        if any(p is not None and Path(p).as_posix() == rel for p in paths):
            return dict(package)
    return None


def stale(project: dict[str, Any], entry: dict[str, Any], locked: dict[str, Any]) -> list[str]:
    """How pyproject's [project] requirements differ from what the lock recorded of them:
    compared by name, extras, version specifier and extra; not by other environment markers (uv
    rewrites them) nor by source. [] when the lock is up to date."""
    from packaging.requirements import Requirement  # noqa: PLC0415 - only when there is a lock
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415

    def key(text: str, extra: str) -> Key:
        req = Requirement(text)
        return (canonical(req.name), tuple(sorted(req.extras)), str(req.specifier), extra)

    def recorded(e: dict[str, Any]) -> Key:
        m = _EXTRA.search(str(e.get("marker", "")))
        return (canonical(e["name"]), tuple(sorted(e.get("extras", []))),
                str(SpecifierSet(e.get("specifier", ""))), canonical(m.group(1)) if m else "")

    wanted = {key(t, "") for t in project.get("dependencies", [])}
    for extra, texts in project.get("optional-dependencies", {}).items():
        wanted |= {key(t, canonical(extra)) for t in texts}
    have = {recorded(r) for r in entry.get("metadata", {}).get("requires-dist", [])}
    changes = [f"added {show(k)}" for k in sorted(wanted - have)]
    changes += [f"removed {show(k)}" for k in sorted(have - wanted)]
    python = project.get("requires-python")
    source = entry.get("source", {})
    root = "." in (source.get("virtual"), source.get("editable"))  # members share the root's
    if python and root and SpecifierSet(python) != SpecifierSet(locked.get("requires-python", "")):
        changes.append(f'requires-python = "{python}"')
    return changes


def show(key: Key) -> str:
    name, extras, specifier, extra = key
    shown = name + (f"[{','.join(extras)}]" if extras else "") + specifier
    return f"{shown} (extra {extra})" if extra else shown
