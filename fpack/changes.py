"""`--changed-since REF`: which functions' inputs changed since a git ref, decided without
resolving, installing or packaging anything (a CI job for one service must not pay for all).

A function's inputs are: the files of its directory that a build would package (its `dir`, or
the project's include set), its dependency spec and every file that spec reads, the local
libraries the spec names (and those they name: fpack/deps/locals.py), and its part of fpack.toml
([project], [targets], [check] and its own [functions.NAME] table). What git reports as changed
is the union of the commits since REF, the index and the working tree, and untracked files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from fpack import plan as planning
from fpack.config import Function, Project
from fpack.deps import locals as local_libraries
from fpack.deps import spec as dep_spec
from fpack.errors import UsageError
from fpack.proc import Result, run
from fpack.sources import DEFAULT_EXCLUDE, default_include, matches

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TIMEOUT: Final = 60  # seconds: git on a large repository, never unbounded
_SHARED_TABLES: Final = ("project", "targets", "check")


def changed_files(root: Path, ref: str) -> frozenset[Path]:
    """Absolute paths that differ between `ref` and the working tree, untracked ones included."""
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    if _run(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise UsageError(f"--changed-since {ref}: not a commit in the repository at {top}",
                         hint="name a branch, tag or commit that exists here (in CI, fetch it "
                         "first: `git fetch origin main --depth=50`)")
    names = _git(root, "diff", "--name-only", "--no-renames", "-z", ref, "--").split("\0")
    names += _git(root, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return frozenset((top / n).resolve() for n in names if n)


def old_config(project: Project, ref: str) -> dict[str, Any] | None:
    """fpack.toml as it was at `ref`; None when it did not exist or did not parse."""
    top = Path(_git(project.root, "rev-parse", "--show-toplevel").strip())
    rel = project.config_path.resolve().relative_to(top).as_posix()
    shown = _run(project.root, "show", f"{ref}:{rel}")
    if shown.returncode != 0:
        return None
    try:
        return tomllib.loads(shown.stdout)
    except tomllib.TOMLDecodeError:
        return None


def changed_functions(project: Project, ref: str) -> tuple[str, ...]:
    """The functions of `project` whose inputs changed since `ref`, in fpack.toml's order."""
    changed = changed_files(project.root, ref)
    before = old_config(project, ref)
    now = tomllib.loads(project.config_path.read_text(encoding="utf-8"))
    shared = before is None or any(before.get(t) != now.get(t) for t in _SHARED_TABLES)
    out = []
    for fn in project.functions.values():
        table_changed = before is None or \
            before.get("functions", {}).get(fn.name) != now.get("functions", {}).get(fn.name)
        if shared or table_changed or any(p in changed for p in inputs_of(project, fn, changed)):
            out.append(fn.name)
    return tuple(out)


def inputs_of(project: Project, fn: Function, changed: Iterable[Path]) -> list[Path]:
    """Those of `changed` that are inputs of `fn`."""
    root = (project.root / fn.dir) if fn.dir else project.root
    include, own_exclude = planning.patterns(project, fn)  # the build's, exactly
    include = include if include is not None else default_include(root)
    exclude = (*DEFAULT_EXCLUDE, *own_exclude)
    others = [project.root / f.dir for f in project.functions.values()
              if f.dir and f.dir != fn.dir]
    spec = dep_spec.read(fn.dependencies, project.config_path, fn.member)
    deps = {Path(name).resolve() for name, _ in spec.files}
    libraries = local_libraries.libraries(fn.dependencies, fn.member)
    hits = []
    for path in changed:
        if path in deps or any(path.is_relative_to(lib) for lib in libraries):
            hits.append(path)
        elif path.is_relative_to(root) and not any(path.is_relative_to(o) for o in others
                                                   if o != root and o.is_relative_to(root)):
            rel = path.relative_to(root).as_posix()
            if matches(rel, include) and not matches(rel, exclude):
                hits.append(path)
    return hits


def _run(root: Path, *args: str) -> Result:
    try:
        return run(["git", *args], cwd=root, timeout=_TIMEOUT)
    except FileNotFoundError as e:
        raise UsageError("--changed-since needs git, which is not on PATH",
                         hint="install git, or build without --changed-since") from e
    except subprocess.TimeoutExpired as e:
        raise UsageError(f"git {' '.join(args)} took over {_TIMEOUT} s in {root}") from e


def _git(root: Path, *args: str) -> str:
    result = _run(root, *args)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["(no message)"])[0]
        raise UsageError(f"--changed-since: {root} is not in a git repository ({first})",
                         hint="run fpack from a git checkout, or build without --changed-since")
    return result.stdout
