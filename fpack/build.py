"""`fpack build`: snapshot the sources, plan, prepare dependencies, run the target's builder.

The steps that touch the world are called in order here; each is small and lives in its module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from fpack import plan as planning
from fpack import secrets
from fpack.artifact import Artifact
from fpack.config import Project
from fpack.deps import engine, framework
from fpack.deps import sbom as sbom_document
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache, default_root
from fpack.errors import UsageError
from fpack.outputs import Outputs
from fpack.platforms import Arch, Target
from fpack.report import Reporter
from fpack.sources import project_files, runtime_snapshot
from fpack.targets import TargetBuilder, aws, docker, gcp

TARGET_BUILDERS: Final[dict[Target, TargetBuilder]] = {"aws": aws, "docker": docker,
                                                       "gcp": gcp}


def make_plan(project: Project, target: Target, *, out: Path, only: Sequence[str] = (),
              arch: Arch | None = None) -> planning.BuildPlan:
    files = project_files(project.root, project.include, project.exclude, out)
    secrets.refuse(files, project.check.allow)  # the same findings `fpack check` reports
    return planning.plan(project, target, files, runtime_snapshot(), out=out, only=only, arch=arch)


def build(project: Project, target: Target, *, out: Path, reporter: Reporter,
          only: Sequence[str] = (), arch: Arch | None = None,
          refresh: bool = False, sbom: bool = False) -> list[Artifact]:
    builder = TARGET_BUILDERS.get(target)
    if builder is None:
        raise UsageError(f"--target {target}: not available in this version of fpack; "
                         f"available: {', '.join(TARGET_BUILDERS)}")
    bp = make_plan(project, target, out=out, only=only, arch=arch)
    spec = dep_spec.read(project.dependencies, project.config_path)
    cache = Cache(Path(os.environ.get("FPACK_CACHE_DIR") or default_root()))
    if target == "gcp":  # functions-framework is resolved with the project's dependencies
        spec = framework.with_framework(spec, project.config_path, cache)
    deps = engine.prepare(spec, bp.platform, cache, reporter, refresh=refresh,
                          settings=engine.settings_for(project, target),
                          zipped=target != "gcp")
    with Outputs(bp.out_dir) as outputs:
        artifacts = builder.build(bp, deps, outputs, reporter)
        for artifact in artifacts:
            outputs.text(artifact.manifest_path(), artifact.manifest_json(project.root))
            if sbom:  # CycloneDX, beside the artifact: exactly the packages inside it
                outputs.text(sbom_document.path_for(artifact), sbom_document.render(artifact))
    return artifacts
