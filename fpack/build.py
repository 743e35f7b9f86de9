"""`fpack build`: read the inputs once, plan, prepare dependencies, plan the artifacts, execute.

    inputs (environment) + source snapshot      read once, here and in fpack.inputs
      -> plan.plan                              pure: functions, entry points, platform, paths
      -> engine.prepare                         the dependencies for the platform (cached)
      -> targets.<t>.plan_artifacts             pure but for what it must look up first
      -> executor.run, through Outputs          or, with --dry-run, only `status`
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpack import executor, secrets
from fpack import plan as planning
from fpack.config import Project
from fpack.deps import engine, framework
from fpack.deps import sbom as sbom_document
from fpack.deps import spec as dep_spec
from fpack.errors import UsageError
from fpack.executor import Built
from fpack.inputs import BuildInputs
from fpack.layout import ArtifactPlan, ZipPlan
from fpack.manifest import render
from fpack.outputs import Outputs
from fpack.platforms import Arch, Target
from fpack.report import Reporter
from fpack.sources import project_files, runtime_snapshot
from fpack.targets import TargetBuilder, aws, docker, gcp

TARGET_BUILDERS: Final[dict[Target, TargetBuilder]] = {"aws": aws, "docker": docker,
                                                       "gcp": gcp}


@dataclass(frozen=True, kw_only=True)
class Planned:
    """One artifact of a --dry-run: its plan and why it would be rebuilt (() when fresh)."""

    plan: ArtifactPlan
    reasons: tuple[str, ...]
    zipped: int | None  # the zip's size before bytecode; None for an image
    unpacked: int


def make_plan(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
              only: Sequence[str] = (), arch: Arch | None = None) -> planning.BuildPlan:
    files = project_files(project.root, project.include, project.exclude, out)
    secrets.refuse(files, project.check.allow)  # the same findings `fpack check` reports
    return planning.plan(project, target, files, runtime_snapshot(), inputs=inputs, out=out,
                         only=only, arch=arch)


def plan_artifacts(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
                   reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
                   refresh: bool = False) -> tuple[ArtifactPlan, ...]:
    builder = TARGET_BUILDERS.get(target)
    if builder is None:
        raise UsageError(f"--target {target}: not available in this version of fpack; "
                         f"available: {', '.join(TARGET_BUILDERS)}")
    bp = make_plan(project, target, inputs=inputs, out=out, only=only, arch=arch)
    spec = dep_spec.read(project.dependencies, project.config_path)
    if target == "gcp":  # functions-framework is resolved with the project's dependencies
        spec = framework.with_framework(spec, project.config_path, inputs.cache)
    deps = engine.prepare(spec, bp.platform, inputs, reporter, refresh=refresh,
                          settings=engine.settings_for(project, target),
                          zipped=target != "gcp")
    return builder.plan_artifacts(bp, deps, reporter)


def build(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
          reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
          refresh: bool = False, sbom: bool = False) -> list[Built]:
    plans = plan_artifacts(project, target, inputs=inputs, out=out, reporter=reporter,
                           only=only, arch=arch, refresh=refresh)
    with Outputs(out / target) as outputs:
        built = executor.run(plans, outputs, reporter, epoch=inputs.epoch)
        for b in built:
            outputs.text(b.manifest.manifest_path, render(b.manifest, project.root))
            if sbom:  # CycloneDX, beside the artifact: exactly the packages inside it
                outputs.text(sbom_document.path_for(b.manifest),
                             sbom_document.render(b.manifest, epoch=inputs.epoch))
    return built


def dry_run(project: Project, target: Target, *, inputs: BuildInputs, out: Path,
            reporter: Reporter, only: Sequence[str] = (), arch: Arch | None = None,
            refresh: bool = False) -> list[Planned]:
    """What `build` would do, writing nothing to `out` (the cache may learn a resolution)."""
    plans = plan_artifacts(project, target, inputs=inputs, out=out, reporter=reporter,
                           only=only, arch=arch, refresh=refresh)
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
