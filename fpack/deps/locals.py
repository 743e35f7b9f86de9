"""The local libraries a dependency set names, found from its files alone (no resolver).

A monorepo's functions share in-house libraries by path: a path requirement in a requirements file
(`../../libs/common`, `-e ../../libs/common`, `common @ file:../../libs/common`), a
`[tool.uv.sources]` entry (`{ path = ... }` or `{ workspace = true }`), a Poetry path dependency
(`{ path = ..., develop = true }`), or a workspace member in a uv.lock. Each such library is built
into a wheel like any source (deps/resolution.py) and installed; this module only finds them, and
the libraries they name in turn, so that:
- a path that does not exist, or libraries that depend on each other in a cycle, stop the build
  with an error naming the file and the entry, before uv prints its own;
- `--changed-since` knows, without resolving anything, which functions a changed library affects.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fpack.deps import workspace
from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_INCLUDE: Final = re.compile(r"^\s*(?:-r|--requirement)(?:\s+|=)(\S+)")
_EDITABLE: Final = re.compile(r"^\s*(?:-e|--editable)(?:\s+|=)(\S+)")
_AT: Final = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*@\s*(\S+)")


@dataclass(frozen=True)
class Reference:
    """One local library named by one file: where it was named, and where it is."""

    path: Path  # the library's directory, resolved
    source: Path  # the file that names it
    entry: str  # how that file names it, for messages


def libraries(spec: Path | None, member: str | None = None) -> tuple[Path, ...]:
    """Every local library directory the spec at `spec` needs, directly or through other
    libraries, in discovery order; raises ConfigError for a missing path or a cycle."""
    if spec is None:
        return ()
    found: dict[Path, None] = {}
    for ref in _direct(spec, member):
        _visit(ref, found, stack=())
    return tuple(found)


def _visit(ref: Reference, found: dict[Path, None], stack: tuple[Reference, ...]) -> None:
    if not ref.path.is_dir():
        raise ConfigError(
            f"{ref.source}: {ref.entry}: no such directory {ref.path}",
            hint=f"correct the path (relative to {ref.source.parent}) or create the library",
        )
    if any(r.path == ref.path for r in stack):
        cycle = [r for r in stack[next(i for i, r in enumerate(stack) if r.path == ref.path):]]
        names = " -> ".join(_name(r.path) for r in (*cycle, ref))
        raise ConfigError(
            f"{ref.source}: {ref.entry}: local libraries depend on each other in a cycle: "
            f"{names}",
            hint="a library cannot need itself: move what both need into a third library",
        )
    if ref.path in found:
        return
    pyproject = ref.path / "pyproject.toml"
    nested = _pyproject(pyproject) if pyproject.is_file() else ()
    for inner in nested:
        _visit(inner, found, (*stack, ref))
    found[ref.path] = None


def _name(path: Path) -> str:
    return path.name


def _direct(spec: Path, member: str | None) -> list[Reference]:
    if spec.name == "uv.lock":
        return _lock(spec, member)
    if spec.name == "pyproject.toml":
        return _pyproject(spec)
    return _requirements(spec, base=spec.parent, seen=set())


def _requirements(path: Path, *, base: Path, seen: set[Path]) -> list[Reference]:
    """Path requirements of a requirements file and those it includes (`-r`). uv, run in the
    spec's directory, reads relative paths against it: so does this."""
    path = Path(os.path.abspath(path))  # noqa: PTH100 - no syscall per part, unlike resolve()
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    out: list[Reference] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if m := _INCLUDE.match(line):
            out += _requirements(path.parent / m.group(1), base=base, seen=seen)
            continue
        target = None
        if (m := _EDITABLE.match(line)) or (m := _AT.match(line)):
            target = m.group(1)
        elif line.startswith((".", "/", "file:")):
            target = line.split()[0]
        if target is None:
            continue
        local = _local_path(target, base)
        if local is not None:
            out.append(Reference(path=local, source=path, entry=line))
    return out


def _local_path(target: str, base: Path) -> Path | None:
    """The directory a requirement's target names, if it is a local path (not a URL, not an
    archive or wheel file)."""
    if target.startswith("file:"):
        target = target.removeprefix("file://").removeprefix("file:")
    elif "://" in target or target.startswith("git+"):
        return None
    target = target.split("#", 1)[0]
    if target.endswith((".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")):
        return None
    path = Path(target)
    return Path(os.path.abspath(path if path.is_absolute() else base / path))  # noqa: PTH100


def _toml(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
        return _parsed(path, st.st_mtime_ns, st.st_size)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it as TOML: {e}") from e


@functools.lru_cache(maxsize=512)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    """A library's pyproject.toml, parsed once per build however many functions share it
    (keyed by its stat, so an edit is seen). Callers only read it."""
    del mtime_ns, size
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _pyproject(path: Path) -> list[Reference]:
    """[tool.uv.sources] path and workspace sources, Poetry path dependencies and
    `name @ file:` requirements of a pyproject.toml, relative to its directory."""
    data = _toml(path)
    base = path.parent
    out: list[Reference] = []
    tool = data.get("tool", {})
    wanted = {workspace.canonical(_req_name(r)) for r in data.get("project", {}).get(
        "dependencies", [])}
    for name, source in tool.get("uv", {}).get("sources", {}).items():
        for s in source if isinstance(source, list) else [source]:
            if not isinstance(s, dict):
                continue
            if "path" in s:
                entry = f'[tool.uv.sources] {name} = {{ path = "{s["path"]}" }}'
                out.append(Reference(path=(base / s["path"]).resolve(), source=path,
                                     entry=entry))
            elif s.get("workspace") and workspace.canonical(name) in wanted | {""}:
                out.append(_member(path, name))
    poetry = tool.get("poetry", {}).get("dependencies", {})
    for name, value in poetry.items():
        if isinstance(value, dict) and "path" in value:
            out.append(Reference(path=(base / value["path"]).resolve(), source=path,
                                 entry=f'[tool.poetry.dependencies] {name} = '
                                       f'{{ path = "{value["path"]}" }}'))
    for text in data.get("project", {}).get("dependencies", []):
        if (m := _AT.match(text)) and (local := _local_path(m.group(1), base)) is not None:
            out.append(Reference(path=local, source=path, entry=f'"{text}"'))  # noqa: PERF401
    return out


def _req_name(text: str) -> str:
    return re.split(r"[\s\[<>=!~;@(]", text.strip(), maxsplit=1)[0]


def _member(pyproject: Path, name: str) -> Reference:
    """The directory of workspace member `name`, for `{ workspace = true }` in `pyproject`."""
    entry = f"[tool.uv.sources] {name} = {{ workspace = true }}"
    root = _workspace_root(pyproject.parent)
    if root is None:
        raise ConfigError(f"{pyproject}: {entry}: no uv workspace ([tool.uv.workspace] in a "
                          "pyproject.toml) above this project",
                          hint="declare the workspace in the repository's root pyproject.toml")
    settings = _toml(root / "pyproject.toml")["tool"]["uv"]["workspace"]
    for pattern in settings.get("members", []):
        for candidate in sorted(root.glob(pattern)):
            project = candidate / "pyproject.toml"
            if project.is_file() and workspace.canonical(str(_toml(project).get(
                    "project", {}).get("name", ""))) == workspace.canonical(name):
                return Reference(path=candidate.resolve(), source=pyproject, entry=entry)
    raise ConfigError(f"{pyproject}: {entry}: the workspace at {root} has no member named "
                      f'"{name}"', hint="add the library to [tool.uv.workspace] members, or "
                      "correct the name")


def _workspace_root(directory: Path) -> Path | None:
    for parent in (directory, *directory.parents):
        pyproject = parent / "pyproject.toml"
        if pyproject.is_file() and "workspace" in _toml(pyproject).get("tool", {}).get("uv", {}):
            return parent
    return None


def _lock(lock: Path, member: str | None) -> list[Reference]:
    """The local packages a uv.lock's member (or root project) depends on, through the lock's
    graph: those whose source is a directory (editable or not) in the workspace."""
    data = _toml(lock)
    packages = {workspace.canonical(p["name"]): p for p in data.get("package", [])}
    start = packages.get(workspace.canonical(member)) if member else \
        workspace.lock_entry(data, ".")
    if start is None:
        return []
    out: list[Reference] = []
    seen: set[str] = set()
    todo = [workspace.canonical(d["name"]) for d in start.get("dependencies", [])]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in packages:
            continue
        seen.add(name)
        package = packages[name]
        source = package.get("source", {})
        where = source.get("editable") or source.get("directory")
        if where is not None:
            out.append(Reference(path=(lock.parent / where).resolve(), source=lock,
                                 entry=f'package "{name}"'))
        todo += [workspace.canonical(d["name"]) for d in package.get("dependencies", [])]
    return out
