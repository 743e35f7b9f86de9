"""`fpack build`: snapshot the sources, plan, prepare dependencies, run the target's builder.

The steps that touch the world are called in order here; each is small and lives in its module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from fpack import plan as planning
from fpack.artifact import Artifact
from fpack.config import Project
from fpack.deps import engine
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache, default_root
from fpack.errors import UsageError
from fpack.outputs import Outputs
from fpack.platforms import Arch, Target
from fpack.report import Reporter
from fpack.sources import default_include, runtime_snapshot, snapshot
from fpack.targets import TargetBuilder, aws

TARGET_BUILDERS: Final[dict[Target, TargetBuilder]] = {"aws": aws}


def make_plan(project: Project, target: Target, *, out: Path, only: Sequence[str] = (),
              arch: Arch | None = None) -> planning.BuildPlan:
    include = project.include if project.include is not None else default_include(project.root)
    exclude = list(project.exclude)
    out_abs = (project.root / out).resolve() if not out.is_absolute() else out
    if out_abs.is_relative_to(project.root):
        exclude.append(out_abs.relative_to(project.root).as_posix() + "/**")
    files = snapshot(project.root, include, exclude)
    return planning.plan(project, target, files, runtime_snapshot(), out=out, only=only, arch=arch)


def build(project: Project, target: Target, *, out: Path, reporter: Reporter,
          only: Sequence[str] = (), arch: Arch | None = None,
          refresh: bool = False) -> list[Artifact]:
    builder = TARGET_BUILDERS.get(target)
    if builder is None:
        raise UsageError(f"--target {target}: not available in this version of fpack; "
                         f"available: {', '.join(TARGET_BUILDERS)}")
    bp = make_plan(project, target, out=out, only=only, arch=arch)
    spec = dep_spec.read(project.dependencies, project.config_path)
    cache = Cache(Path(os.environ.get("FPACK_CACHE_DIR") or default_root()))
    deps = engine.prepare(spec, bp.platform, cache, reporter, refresh=refresh)
    with Outputs(bp.out_dir) as outputs:
        artifacts = builder.build(bp, deps, outputs, reporter)
        for artifact in artifacts:
            manifest = artifact.path.with_name(artifact.path.stem + ".manifest.json")
            outputs.text(manifest, artifact.manifest_json(project.root))
    return artifacts
