"""Deployers: one module per target, each satisfying `Deployer`, listed in DEPLOYERS.

A deployer reads the build manifests (design.md's contract) and the cloud's current state through
a typed adapter (fpack/cloud), plans with frozen data, then applies the plan, or only renders it
for --dry-run. Nothing here imports a cloud SDK at import time.

Functions removed from fpack.toml: a whole-project deploy to aws or gcp (`PRUNING`), or to docker
with `[targets.docker] cloud_run` (its Cloud Run services), also finds the ones fpack deployed for
this project (by their ownership tag or label) and keeps them, naming them in the plan, or with
--prune deletes them. A --function deploy does not look for them, and the docker target without
cloud_run refuses --prune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from fpack.deploy import aws, gcp, registry
from fpack.deploy.models import Orphans, Outcome
from fpack.errors import UsageError
from fpack.manifest import DockerImage, Manifest, render
from fpack.outputs import Outputs

if TYPE_CHECKING:
    from fpack.config import Project
    from fpack.inputs import BuildInputs
    from fpack.platforms import Target
    from fpack.report import Reporter


class Deployer(Protocol):
    def deploy(self, project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
               reporter: Reporter, orphans: Orphans) -> Outcome: ...


DEPLOYERS: Final[dict[Target, Deployer]] = {"aws": aws, "gcp": gcp, "docker": registry}
# The targets whose deployers find (and with --prune delete) functions fpack.toml no longer names.
PRUNING: Final[tuple[Target, ...]] = ("aws", "gcp")


def run(project: Project, target: Target, *, inputs: BuildInputs, out: Path, reporter: Reporter,
        only: Sequence[str] = (), dry_run: bool = False, prune: bool = False) -> Outcome:
    """Build what is stale (the build skips what is fresh), then deploy it."""
    from fpack import build  # noqa: PLC0415 - the build machinery is heavy; deploy pays for it

    orphans = orphan_policy(target, only=only, prune=prune,
                            cloud_run=project.docker.cloud_run is not None)
    manifests = [b.manifest for b in build.build(project, target, inputs=inputs, out=out,
                                                 reporter=reporter, only=only)]
    outcome = DEPLOYERS[target].deploy(project, manifests, dry_run=dry_run, reporter=reporter,
                                       orphans=orphans)
    if target == "docker" and not dry_run:
        record_digests(project, manifests, outcome)
    return outcome


def orphan_policy(target: Target, *, only: Sequence[str], prune: bool,
                  cloud_run: bool = False) -> Orphans:
    """What the deploy does about functions gone from fpack.toml; --prune where it cannot apply
    is a usage error rather than a silent no-op. `cloud_run`: [targets.docker] cloud_run is set,
    so the docker target has services to prune."""
    if prune and target not in PRUNING and not (target == "docker" and cloud_run):
        raise UsageError(f"--prune works with --target {' or '.join(PRUNING)}, not {target}: "
                         "the docker target pushes images and deletes nothing (its lambda "
                         "flavor included) unless [targets.docker] cloud_run is set",
                         hint="drop --prune, or deploy with --target aws or --target gcp")
    if prune and only:
        raise UsageError("--prune needs the whole project, to know which functions fpack.toml "
                         "no longer names; it cannot be used with --function",
                         hint="drop --function to prune, or --prune to deploy only some functions")
    if only:
        return "ignore"  # functions left out of a --function deploy are not orphans
    return "delete" if prune else "keep"


def record_digests(project: Project, manifests: Sequence[Manifest], outcome: Outcome) -> None:
    """Write each pushed image's registry digest into its manifest, so that what runs elsewhere
    (a Kubernetes manifest, a Cloud Run deploy) can pin the exact image by digest."""
    pushed = {d.function: d.digest for d in outcome.deployments
              if d.target == "docker" and d.digest}
    stale = [replace(m, digest=pushed[m.function]) for m in manifests
             if isinstance(m, DockerImage) and m.function in pushed
             and m.digest != pushed[m.function]]
    if stale:
        with Outputs(stale[0].manifest_path.parent) as outputs:
            for m in stale:
                outputs.text(m.manifest_path, render(m, project.root))
