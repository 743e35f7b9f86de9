"""FP5xx: a lock is up to date with the dependency spec it was made from, decided offline.

- uv.lock (the spec is a uv.lock, or a pyproject.toml with one beside it): the lock records the
  project's requirements as it last saw them (`requires-dist` of the project's own entry, and the
  top-level `requires-python`). They must equal pyproject.toml's `dependencies`,
  `optional-dependencies` and `requires-python`. Compared by name, extras, version specifier and
  extra; not by other environment markers (uv rewrites them: `python_version` becomes
  `python_full_version`) nor by URL or source. Dependency groups are not compared: never packaged.
- requirements.txt compiled from requirements.in (the pip-tools and `uv pip compile` convention:
  `X.in` beside `X.txt`): every requirement of the .in is pinned in the .txt at a version its
  specifier allows.
- poetry.lock, pdm.lock, Pipfile.lock and pylock.toml (FP503): as each tool decides it, from the
  hash of the project file the lock records (Poetry's content-hash, PDM's content_hash,
  Pipfile.lock's _meta hash), or, where the lock records none (pylock.toml), from the project's
  requirements against the lock's versions: deps/lockfiles.py says how, per format.
- A plain requirements file has no lock of its own: fpack's resolution of it is cached by the
  file's content, so it is resolved again whenever the file changes and cannot be stale.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from fpack.checks import Problem
from fpack.deps import lockfiles
from fpack.deps.spec import DependencySpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_EXTRA: Final = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
# A requirement as compared: (name, extras, specifier, the extra it belongs to or "").
Key = tuple[str, tuple[str, ...], str, str]


def check(spec: DependencySpec) -> list[Problem]:
    if spec.path is None:
        return []
    if (kind := lockfiles.kind_of(spec.path)) is not None:
        return _other_lock(kind, spec.path)
    if spec.kind in ("uvlock", "pyproject"):
        lock, pyproject = spec.path.with_name("uv.lock"), spec.path.with_name("pyproject.toml")
        return _uv_lock(lock, pyproject) if lock.is_file() and pyproject.is_file() else []
    problems = []
    for name, _ in spec.files:
        compiled = Path(name)
        source = compiled.with_suffix(".in")
        if compiled.suffix == ".txt" and source.is_file():
            problems += _compiled(source, compiled)
    return problems


def _uv_lock(lock: Path, pyproject: Path) -> list[Problem]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    locked = tomllib.loads(lock.read_text(encoding="utf-8"))
    name = canonicalize_name(str(project.get("name", "")))
    entry = next((p for p in locked.get("package", [])
                  if canonicalize_name(p.get("name", "")) == name and _is_root(p)), None)
    if entry is None:
        return [_stale(pyproject, 1, f'uv.lock has no entry for project "{name}"')]
    wanted = _project_keys(project)
    recorded = {_lock_key(r) for r in entry.get("metadata", {}).get("requires-dist", [])}
    changes = [f"added {_show(k)}" for k in sorted(wanted.keys() - recorded)]
    changes += [f"removed {_show(k)}" for k in sorted(recorded - wanted.keys())]
    python = project.get("requires-python")
    if python and SpecifierSet(python) != SpecifierSet(locked.get("requires-python", "")):
        changes.append(f'requires-python = "{python}"')
    if not changes:
        return []
    first = next((wanted[k] for k in sorted(wanted.keys() - recorded)), None)
    line = _line_of(pyproject, first) if first else 1
    return [_stale(pyproject, line, "; ".join(changes[:5]))]


def _other_lock(kind: lockfiles.LockKind, lock: Path) -> list[Problem]:
    """FP503 when another tool's lock is out of date with its project file."""
    why = lockfiles.stale(kind, lock)
    if why is None:
        return []
    project = lockfiles.project_of(kind, lock)
    return [Problem(path=project, line=1, code="FP503", message=(
        f"{lock.name} is out of date with {project.name} ({why}); run "
        f"`{lockfiles.refresh_command(kind, lock)}`"))]


def _stale(pyproject: Path, line: int, details: str) -> Problem:
    return Problem(path=pyproject, line=line, code="FP501", message=(
        f"uv.lock is out of date with pyproject.toml ({details}); run `uv lock`"))


def _is_root(entry: dict[str, Any]) -> bool:
    source = entry.get("source", {})
    return "." in (source.get("virtual"), source.get("editable"))


def _project_keys(project: dict[str, Any]) -> dict[Key, str]:
    """pyproject's requirements by comparison key, each with the text the user wrote."""
    out = {_key(Requirement(text), ""): text for text in project.get("dependencies", [])}
    for extra, texts in project.get("optional-dependencies", {}).items():
        out |= {_key(Requirement(t), canonicalize_name(extra)): t for t in texts}
    return out


def _key(req: Requirement, extra: str) -> Key:
    return (canonicalize_name(req.name), tuple(sorted(req.extras)), str(req.specifier), extra)


def _lock_key(entry: dict[str, Any]) -> Key:
    m = _EXTRA.search(str(entry.get("marker", "")))
    return (canonicalize_name(entry["name"]), tuple(sorted(entry.get("extras", []))),
            str(SpecifierSet(entry.get("specifier", ""))), canonicalize_name(m.group(1)) if m
            else "")


def _show(key: Key) -> str:
    name, extras, specifier, extra = key
    shown = name + (f"[{','.join(extras)}]" if extras else "") + specifier
    return f"{shown} (extra {extra})" if extra else shown


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((i for i, line in enumerate(lines, start=1) if text in line), 1)


def _compiled(source: Path, compiled: Path) -> list[Problem]:
    """FP502 for every requirement of `source` (.in) that `compiled` (.txt) does not satisfy."""
    pins = {canonicalize_name(r.name): r for _, r in _requirements(compiled.read_text("utf-8"))}
    problems = []
    for line, req in _requirements(source.read_text(encoding="utf-8")):
        pin = pins.get(canonicalize_name(req.name))
        version = _pinned(pin) if pin else None
        if pin is None and req.marker is None:
            why = f"{req.name} is not pinned in {compiled.name}"
        elif version is not None and not req.specifier.contains(version, prereleases=True):
            why = f"{compiled.name} pins {req.name}=={version}, outside {req}"
        else:
            continue
        problems.append(Problem(path=source, line=line, code="FP502", message=(
            f"{compiled.name} is out of date with {source.name}: {why}; run `uv pip compile "
            f"{source.name} -o {compiled.name}` (or pip-compile)")))
    return problems


def _requirements(text: str) -> Iterable[tuple[int, Requirement]]:
    """(line, requirement) of a requirements file, skipping options, comments and hash lines."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            yield number, Requirement(line)
        except InvalidRequirement:
            continue  # a URL or path line uv understands and packaging does not: not comparable


def _pinned(req: Requirement) -> str | None:
    exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
    return exact[0] if exact else None
