"""Deployers: one module per target, each satisfying `Deployer`, listed in DEPLOYERS.

A deployer reads the build manifests (design.md's contract) and the cloud's current state through
a typed adapter (fpack/cloud), plans with frozen data, then applies the plan, or only renders it
for --dry-run. Nothing here imports a cloud SDK at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from fpack.deploy import aws, gcp, registry
from fpack.deploy.models import Manifest, Outcome, read_manifest

if TYPE_CHECKING:
    from fpack.config import Project
    from fpack.platforms import Target
    from fpack.report import Reporter


class Deployer(Protocol):
    def deploy(self, project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
               reporter: Reporter) -> Outcome: ...


DEPLOYERS: Final[dict[Target, Deployer]] = {"aws": aws, "gcp": gcp, "docker": registry}


def run(project: Project, target: Target, *, out: Path, reporter: Reporter,
        only: Sequence[str] = (), dry_run: bool = False) -> Outcome:
    """Build what is stale (the build skips what is fresh), then deploy it."""
    from fpack import build  # noqa: PLC0415 - the build machinery is heavy; deploy pays for it

    artifacts = build.build(project, target, out=out, reporter=reporter, only=only)
    manifests = [read_manifest(a.manifest(project.root), project.root) for a in artifacts]
    return DEPLOYERS[target].deploy(project, manifests, dry_run=dry_run, reporter=reporter)
