"""`fpack build`: read the inputs once, plan, prepare dependencies, plan the artifacts, execute.

    inputs (environment) + source snapshot      read once, here and in fpack.inputs
      -> plan.plan                              pure: functions, entry points, platform, paths
      -> engine.prepare                         the dependencies for the platform (cached)
      -> targets.<t>.plan_artifacts             pure but for what it must look up first
      -> executor.run, through Outputs          or, with --dry-run, only `status`
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpack import executor, parallel, secrets
from fpack import plan as planning
from fpack.config import Project
from fpack.deps import engine, framework
from fpack.deps import locals as local_libraries
from fpack.deps import settings as dep_settings
from fpack.deps import spec as dep_spec
from fpack.errors import FpackError, UsageError
from fpack.executor import Built
from fpack.inputs import BuildInputs
from fpack.layout import ArtifactPlan, ZipPlan
from fpack.manifest import render
from fpack.outputs import Outputs
from fpack.platforms import Arch, Target
from fpack.report import Reporter
from fpack.sources import project_files, runtime_snapshot
from fpack.targets import TargetBuilder

# Each target's module (fpack/targets/), imported when that target is built: a build imports one.
TARGET_BUILDERS: Final[dict[str, str]] = {"aws": "fpack.targets.aws",
                                          "docker": "fpack.targets.docker",
                                          "gcp": "fpack.targets.gcp"}


@dataclass(frozen=True, kw_only=True)
class Planned:
    """One artifact of a --dry-run: its plan and why it would be rebuilt (() when fresh)."""

    plan: ArtifactPlan
    reasons: tuple[str, ...]
    zipped: int | None  # the zip's size before bytecode; None for an image
    unpacked: int


def make_plans(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
               only: Sequence[str] = (), arch: Arch | None = None,
               ) -> tuple[planning.BuildPlan, ...]:
    """One BuildPlan per group of functions (a directory and a dependency spec; fpack/plan.py),
    each over a snapshot of its directory; the layer of each dependency set named for it."""
    out = out if out.is_absolute() else project.root / out
    groups = planning.groups(project, only)
    specs = [planning.group_spec(project, g) for g in groups]
    # Counted over the whole project: a layer's name must not depend on --function.
    sets = len({planning.group_spec(project, g).key() for g in planning.groups(project)}) if only \
        else len({s.key() for s in specs})
    runtime = runtime_snapshot()
    plans = []
    for group, spec in zip(groups, specs, strict=True):
        # A missing library or a cycle stops here, with the file and entry, not in uv's words.
        local_libraries.libraries(group.dependencies, group.member)
        root = project.root / group.dir if group.dir else project.root
        files = project_files(root, group.include, group.exclude, out)
        secrets.refuse(files, project.check.allow)  # the same findings `fpack check` reports
        plans.append(planning.plan(project, target, files, runtime, inputs=inputs, out=out,
                                   only=only, arch=arch, group=group, spec=spec,
                                   layer_name=planning.layer_name(project, spec.key(), sets)))
    return tuple(plans)


def make_plan(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
              only: Sequence[str] = (), arch: Arch | None = None) -> planning.BuildPlan:
    """The plan of a project whose functions are all packaged from one place."""
    [bp] = make_plans(project, target, inputs=inputs, out=out, only=only, arch=arch)
    return bp


def plan_artifacts(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
                   reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
                   refresh: bool = False, jobs: int | None = None) -> tuple[ArtifactPlan, ...]:
    """Every artifact of `target`: the dependencies of each distinct set prepared once (in
    parallel, `jobs` at a time), then each group's artifacts planned against its set. A layer
    shared by several groups is planned once."""
    module = TARGET_BUILDERS.get(target)
    if module is None:
        raise UsageError(f"--target {target}: not available in this version of fpack; "
                         f"available: {', '.join(TARGET_BUILDERS)}")
    builder: TargetBuilder = importlib.import_module(module)
    bps = make_plans(project, target, inputs=inputs, out=out, only=only, arch=arch)
    specs: dict[str, dep_spec.DependencySpec] = {}
    users: dict[str, list[str]] = {}
    keys = []
    for bp in bps:
        assert bp.spec is not None
        spec = bp.spec
        if target == "gcp":  # functions-framework is resolved with the project's dependencies
            spec = framework.with_framework(spec, project.config_path, inputs.cache)
        key = f"{spec.key()}\0{bp.platform.key()}"
        specs.setdefault(key, spec)
        users.setdefault(key, []).extend(fp.function.name for fp in bp.functions)
        keys.append(key)
    settings = dep_settings.settings_for(project, target)

    def prepare(key: str) -> engine.Dependencies:
        bp = bps[keys.index(key)]
        try:
            return engine.prepare(specs[key], bp.platform, inputs, reporter, refresh=refresh,
                                  settings=settings, zipped=target != "gcp")
        except FpackError as e:
            raise _for_functions(e, users[key], len(bps) > 1) from e

    prepared = parallel.map_all(prepare, list(specs), jobs=jobs or parallel.default_jobs())
    plans: dict[Path, ArtifactPlan] = {}
    for bp, key in zip(bps, keys, strict=True):
        for p in builder.plan_artifacts(bp, prepared[key], reporter):
            plans.setdefault(p.path, p)  # a layer shared by several groups: once
    return tuple(plans.values())


def _for_functions(e: FpackError, names: Sequence[str], several: bool) -> FpackError:
    """The error of one dependency set, naming the functions that use it (in a monorepo the
    set alone, `requirements.txt`, does not say which service is broken)."""
    if not several:
        return e
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return type(e)(f"{'function' if len(names) == 1 else 'functions'} {shown}: {e.message}",
                   hint=e.hint)


def build(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
          reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
          refresh: bool = False, sbom: bool = False, jobs: int | None = None) -> list[Built]:
    plans = plan_artifacts(project, target, inputs=inputs, out=out, reporter=reporter,
                           only=only, arch=arch, refresh=refresh, jobs=jobs)
    with Outputs(out / target) as outputs:
        built = executor.run(plans, outputs, reporter, epoch=inputs.epoch,
                             jobs=jobs or parallel.default_jobs())
        if not only:
            outputs.complete()
        for b in built:
            outputs.text(b.manifest.manifest_path, render(b.manifest, project.root))
            if sbom:  # CycloneDX, beside the artifact: exactly the packages inside it
                from fpack.deps import sbom as sbom_document  # noqa: PLC0415 - with --sbom only

                outputs.text(sbom_document.path_for(b.manifest),
                             sbom_document.render(b.manifest, epoch=inputs.epoch))
    return built


def dry_run(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
            reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
            refresh: bool = False, jobs: int | None = None) -> list[Planned]:
    """What `build` would do, writing nothing to `out` (the cache may learn a resolution)."""
    plans = plan_artifacts(project, target, inputs=inputs, out=out, reporter=reporter,
                           only=only, arch=arch, refresh=refresh, jobs=jobs)
    outputs = Outputs(out / target)
    return [_planned(p, outputs, inputs.epoch) for p in plans]


def _planned(p: ArtifactPlan, outputs: Outputs, epoch: int) -> Planned:
    if isinstance(p, ZipPlan):
        reasons = outputs.reasons(p.path, p.key, p.inputs)
        writer = executor.writer_for(p, epoch=epoch)
        return Planned(plan=p, reasons=reasons, zipped=writer.compressed_size(),
                       unpacked=writer.unpacked_size)
    from fpack import container  # noqa: PLC0415 - an image is fresh when its tag exists

    reasons = outputs.reasons(p.path, p.key, p.inputs)
    if container.image_info(container.client(), p.manifest.tags[0]) is not None:
        reasons = ()
    elif not reasons:
        reasons = (f"image {p.manifest.tags[0]} is not in the Docker engine",)
    return Planned(plan=p, reasons=reasons, zipped=None, unpacked=p.manifest.unpacked_size)


def entries(p: ArtifactPlan) -> list[dict[str, object]]:
    """What a --dry-run --json lists of an artifact: each member's name, mode and size (a
    spliced archive's members too); for an image, the build context's own files."""
    from fpack.archive import read_entries  # noqa: PLC0415

    files = p.files if isinstance(p, ZipPlan) else p.context
    out: list[dict[str, object]] = [{"name": f.name, "mode": f"{f.mode:o}", "size": len(f.data)}
                                    for f in files]
    for s in p.splices if isinstance(p, ZipPlan) else ():
        out += [{"name": e.name, "mode": f"{e.mode:o}", "size": e.size}
                for e in read_entries(s.archive, s.prefix)]
    return sorted(out, key=lambda e: str(e["name"]))
