"""Pure planning: Project x target x source snapshot -> BuildPlan (frozen data, no I/O).

The first half of planning a build: which functions, their entry points and handler checks, the
platform the dependencies must fit, where outputs land. The second half, once the dependencies are
prepared, is each target's `plan` (fpack/targets): the artifacts' entries, keys and manifests as
`fpack.layout` data. `executor` writes those; `check` and `--dry-run` only render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack.config import Function, Project, style_fits, trigger_fits
from fpack.deps import keys, tags
from fpack.deps.spec import read as read_spec
from fpack.errors import ConfigError, UsageError
from fpack.inputs import BuildInputs
from fpack.platforms import RUNTIMES, Arch, Platform, Target

if TYPE_CHECKING:
    from fpack.config import AwsTarget, DockerTarget, GcpTarget
    from fpack.deps.engine import Dependencies
    from fpack.deps.spec import DependencySpec
    from fpack.sources import SourceFile

# The generated entry module of each target. gcp's is not main.py, the name Cloud Functions loads
# by default, but always fpack_entry.py, named to Google's build by GOOGLE_FUNCTION_SOURCE (the
# manifest's build_env, which deploy sets): a project's own main.py (FastAPI's and Flask's
# convention) then ships as it is. Always, not only when a main.py is there: one name that never
# clashes keeps every bundle's layout, and what its deploy must set, the same whatever the
# project's files are, where a name chosen per build would change when a main.py came or went.
ENTRY_MODULE: Final[dict[Target, str]] = {
    "aws": "fpack_entry",
    "gcp": "fpack_entry",
    "docker": "fpack_entry",
}


@dataclass(frozen=True, kw_only=True)
class FunctionPlan:
    """One function's part of a build: its entry point and where its artifact goes."""

    function: Function
    handler_setting: str  # what the cloud is told: Lambda Handler, GCF entry point, image CMD
    entry_module: str
    entry_attr: str  # the entry module's attribute: the function name as a Python identifier
    artifact: Path
    manifest: Path


@dataclass(frozen=True, kw_only=True)
class Group:
    """Functions packaged from one directory with one dependency spec: in a monorepo, usually
    one per `dir`; without `dir`, the project. Each group is one BuildPlan."""

    dir: str  # relative to the project root; "" for the root
    include: tuple[str, ...] | None  # None: the directory's top-level modules and packages
    exclude: tuple[str, ...]
    dependencies: Path | None
    member: str | None  # the uv workspace member whose set `dependencies` (a uv.lock) gives
    functions: tuple[Function, ...]

    @property
    def label(self) -> str:
        return self.dir or "."


def patterns(project: Project, fn: Function) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """The include (None: the directory's default) and exclude globs of `fn`'s files: its own
    for a function with a `dir`; the project's, with its own added, for one without."""
    include = fn.include if fn.include is not None else (project.include if not fn.dir else None)
    exclude = fn.exclude if fn.dir else (*project.exclude, *fn.exclude)
    return include, exclude


def groups(project: Project, only: Sequence[str] = ()) -> tuple[Group, ...]:
    """The selected functions (all, or `only`) by where their files and dependencies come
    from, in fpack.toml's order."""
    found: dict[tuple[object, ...], list[Function]] = {}
    for fn in _selected(project, only):
        include, exclude = patterns(project, fn)
        key = (fn.dir, include, exclude, fn.dependencies, fn.member)
        found.setdefault(key, []).append(fn)
    return tuple(Group(dir=str(k[0]), include=k[1], exclude=k[2],  # type: ignore[arg-type]
                       dependencies=k[3], member=k[4],  # type: ignore[arg-type]
                       functions=tuple(fns)) for k, fns in found.items())


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    """One group's build for one target: what is packaged, for which platform, where to."""

    project: Project
    target: Target
    platform: Platform
    out_dir: Path
    sources: tuple[SourceFile, ...]
    runtime: tuple[SourceFile, ...]
    functions: tuple[FunctionPlan, ...]
    layer: Path | None  # the dependency layer zip (aws layer mode), else None
    inputs: BuildInputs  # what the build takes from the environment, read once
    group: Group | None = None  # where the sources came from (None: the whole project)
    spec: DependencySpec | None = None  # the group's dependency spec, read once


def group_spec(project: Project, group: Group) -> DependencySpec:
    """The dependency spec of `group`, labelled as messages name it."""
    spec = read_spec(group.dependencies, project.config_path, group.member)
    if spec.path is None or not group.dir:
        return spec
    # Messages name the set by where it is in the repository: requirements.txt is everywhere.
    shown = _relative(spec.path, project.root)
    return replace(spec, label=f"{shown} (member {spec.member})" if spec.member else shown)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def platform_for(project: Project, target: Target) -> Platform:
    match target:
        case "aws":
            name, arch = project.aws.runtime, project.aws.arch
        case "gcp":
            name, arch = project.gcp.runtime, "x86_64"
        case "docker":
            name, arch = project.docker.runtime, project.docker.arch
    return Platform(runtime=RUNTIMES[target][name], arch=arch)


def plan(
    project: Project,
    target: Target,
    sources: tuple[SourceFile, ...],
    runtime: tuple[SourceFile, ...],
    *,
    inputs: BuildInputs,
    out: Path,
    only: Sequence[str] = (),
    arch: Arch | None = None,
    group: Group | None = None,
    layer_name: str | None = None,
    spec: DependencySpec | None = None,
) -> BuildPlan:
    """Decide every artifact of `target` (of `group`'s functions, when given: `sources` are then
    its directory's); raises ConfigError for what cannot be built, DependencyError for a wheel
    `spec` names that cannot run on the platform (the one read here: the spec's own files, for
    its direct wheel requirements, fpack/deps/tags.py). `layer_name`: the layer zip's
    name in aws layer mode (one per dependency set), default `<project>-deps`."""
    platform = platform_for(project, target)
    if arch is not None:
        platform = Platform(runtime=platform.runtime, arch=arch)
    out_dir = out / target
    chosen = [fn for fn in group.functions if not only or fn.name in only] if group \
        else _selected(project, only)
    functions = tuple(_function_plan(project, fn, target, sources, out_dir) for fn in chosen)
    if spec is not None:  # a wheel the spec names that cannot run there: before uv runs
        tags.refuse(spec, platform, target, project.root)
    layer = out_dir / f"{layer_name or project.name + '-deps'}.zip" \
        if target == "aws" and project.aws.layer else None
    return BuildPlan(
        project=project,
        target=target,
        platform=platform,
        out_dir=out_dir,
        sources=sources,
        runtime=runtime,
        functions=functions,
        layer=layer,
        inputs=inputs,
        group=group,
        spec=spec,
    )


def bytecode_image(bp: BuildPlan, table: AwsTarget | GcpTarget | DockerTarget) -> str:
    """Where `compile = true` runs when the target's Python is not on this machine."""
    return keys.build_image(bp.platform, table.build_image, bp.inputs.build_image)


def setting_inputs(bp: BuildPlan, **settings: bool) -> dict[str, str]:
    """The timestamp, the runtime and the target's settings as inputs of an artifact, for the
    reasons of a rebuild (`setting compile false -> true`)."""
    return {"SOURCE_DATE_EPOCH": bp.inputs.epoch_setting or "(unset)",
            "runtime": bp.platform.label,
            **{f"setting {k}": str(v).lower() for k, v in settings.items()}}


def package_inputs(deps: Dependencies) -> dict[str, str]:
    """The dependency set as inputs of an artifact, for the reasons of a rebuild."""
    return {"dependencies": deps.key,
            **{f"package {p.name}": p.version for p in deps.packages}}


def layer_name(project: Project, set_key: str, sets: int) -> str:
    """A dependency layer's name: `<project>-deps` while the project has one dependency set;
    with several, one layer per set, named after the set's content (stable while it is
    unchanged, so an unchanged set is never republished)."""
    return f"{project.name}-deps" if sets <= 1 else f"{project.name}-deps-{set_key[:10]}"


def _selected(project: Project, only: Sequence[str]) -> list[Function]:
    for name in only:
        if name not in project.functions:
            known = ", ".join(project.functions)
            raise UsageError(
                f"--function {name}: no such function in {project.config_path}; defined: {known}"
            )
    return [fn for name, fn in project.functions.items() if not only or name in only]


def _function_plan(
    project: Project, fn: Function, target: Target, sources: tuple[SourceFile, ...], out_dir: Path
) -> FunctionPlan:
    where = f"{project.config_path}: [functions.{fn.name}]"
    flavor = project.docker.flavor if target == "docker" else None
    if not style_fits(fn.style, target, flavor):
        raise ConfigError(
            f'{where} style = "{fn.style}" cannot run on target "{target}"'
            + (f' (flavor "{flavor}")' if flavor else ""),
            hint='use style = "portable" to run everywhere, or build only for the targets this '
            "style supports",
        )
    if not trigger_fits(fn.trigger, target, flavor):
        raise ConfigError(
            f'{where} trigger = "{fn.trigger}" has no source on target "{target}"'
            + (f' (flavor "{flavor}")' if flavor else ""),
            hint='build it with --target aws (docker: flavor = "lambda")')
    _check_handler(where, fn, sources)
    entry = ENTRY_MODULE[target]
    attr = fn.name.replace("-", "_")
    return FunctionPlan(
        function=fn,
        handler_setting=_handler_setting(target, flavor, fn, f"{entry}.{attr}", attr),
        entry_module=entry,
        entry_attr=attr,
        artifact=out_dir / f"{fn.name}.zip",
        manifest=out_dir / f"{fn.name}.manifest.json",
    )


def _handler_setting(
    target: Target, flavor: str | None, fn: Function, dotted: str, attr: str
) -> str:
    """Lambda's Handler (module.attr), GCF's entry point (attr), or what the http image's server
    is told (the user's module:attr: the portable server needs no generated entry module)."""
    if target == "gcp":
        return attr
    if target == "docker" and flavor == "http":
        return fn.handler
    return dotted


def _check_handler(where: str, fn: Function, sources: tuple[SourceFile, ...]) -> None:
    # Imported here: deps/ahead.py reads the groups and platforms before anything else is
    # imported, and starts uv on them; the handler checks come later, meanwhile.
    from fpack import handlers  # noqa: PLC0415

    found = handlers.find(fn.module, fn.attr, sources)
    if isinstance(found, handlers.HandlerProblem):
        at = f" ({found.path}:{found.line})" if found.path else ""
        raise ConfigError(f'{where} handler = "{fn.handler}": {found.message}{at}')
    problem = handlers.signature_problem(found, fn.attr, style=fn.style, trigger=fn.trigger)
    if problem is not None:
        raise ConfigError(f'{where} handler = "{fn.handler}": {found.path}:{found.line}: {problem}')
