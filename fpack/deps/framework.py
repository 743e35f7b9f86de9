"""The dependencies a Cloud Functions bundle is resolved with: the project's, plus
functions-framework, which Google's buildpack needs to serve the function.

One light module, so that `fpack build --target gcp` and `fpack check` resolve the very same spec
(and so share one cached resolution) without the check importing the gcp target's templates.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Final

from fpack.deps import spec as dep_spec
from fpack.deps import uv
from fpack.deps.cache import Cache
from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FRAMEWORK: Final = "functions-framework"
# What is resolved with the project's dependencies for the bundle.
FRAMEWORK_REQUIREMENTS: Final = (FRAMEWORK,)


def with_framework(spec: dep_spec.DependencySpec, config_path: Path,
                   cache: Cache) -> dep_spec.DependencySpec:
    """`spec` with functions-framework added, as one requirements file in the cache: the framework
    is resolved together with the project's dependencies, for the same platform, so its version
    is pinned and audited like theirs."""
    lines = (*_spec_lines(spec, config_path, cache), *FRAMEWORK_REQUIREMENTS)
    text = "# fpack: the project's dependencies and functions-framework, resolved together\n"
    text += "".join(f"{line}\n" for line in lines)
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    path = cache.file("resolve", f"gcp-requirements.{key}", ".txt")
    if not path.is_file():
        cache.write_file("resolve", f"gcp-requirements.{key}", ".txt", text.encode())
    shown = f"{spec.name} + " if spec.path else ""
    return replace(dep_spec.read(path, config_path), label=f"{shown}functions-framework",
                   base=spec.directory)


def _spec_lines(spec: dep_spec.DependencySpec, config_path: Path,
                cache: Cache) -> tuple[str, ...]:
    match spec.kind:
        case "none":
            return ()
        case "requirements":
            assert spec.path is not None
            return (f"-r {spec.path.resolve()}",)
        case "pyproject":
            assert spec.path is not None
            return _pyproject_dependencies(spec.path, config_path)
        case "uvlock":
            assert spec.path is not None
            return _without_hashes(uv.export_uvlock(spec.path, spec.member))
        case "poetry" | "pdm" | "pylock" | "pipfile":
            assert spec.path is not None
            requirements, constraints = uv.derived(spec)
            assert requirements is not None
            return (*_without_hashes(requirements), *_constraints_file(constraints, cache))


def _constraints_file(constraints: str, cache: Cache) -> tuple[str, ...]:
    """A `-c` line for a poetry.lock's pins, kept beside the derived spec in the cache."""
    if not constraints:
        return ()
    key = hashlib.sha256(constraints.encode()).hexdigest()[:32]
    path = cache.file("resolve", f"constraints.{key}", ".txt")
    if not path.is_file():
        cache.write_file("resolve", f"constraints.{key}", ".txt", constraints.encode())
    return (f"-c {path}",)


def _without_hashes(requirements: str) -> tuple[str, ...]:
    """The requirement lines of an exported uv.lock (or another tool's lock's pins), without their
    `--hash` options: hashes on
    some lines would put the whole file in hash-checking mode, and functions-framework has none
    there. The wheels chosen are checked against the index's hashes all the same."""
    logical = requirements.replace("\\\n", " ")
    lines = []
    for line in logical.splitlines():
        text = " ".join(w for w in line.split("#", 1)[0].split() if not w.startswith("--hash"))
        if text:
            lines.append(text)
    return tuple(lines)


def _pyproject_dependencies(path: Path, config_path: Path) -> tuple[str, ...]:
    project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    if "dependencies" in project.get("dynamic", []):
        raise ConfigError(
            f'{path}: [project] dynamic = ["dependencies"]: the gcp target needs them listed, to '
            "resolve them together with functions-framework",
            hint=f"list them in [project] dependencies, or point `dependencies` in {config_path} "
            "at a requirements.txt",
        )
    return tuple(str(d) for d in project.get("dependencies", []))
