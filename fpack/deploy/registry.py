"""`fpack deploy --target docker`: push each function's image to its repository, print digests.

An image whose tag already points, in the registry, at a digest the engine recorded for this image
is left alone (so a repeat deploy pushes nothing). An ECR repository (`<account>.dkr.ecr.<region>
.amazonaws.com/...`) is created when missing and logged into with a token from ECR's API. With
`[targets.docker] flavor = "lambda"` and a `[targets.aws] role`, the pushed images are then
deployed to Lambda as PackageType=Image functions by digest, through the aws deployer. With
`[targets.docker] cloud_run = {...}`, each http image then runs as a Cloud Run service pinned to
its digest (fpack/deploy/cloud_run.py), whose orphans --prune deletes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from fpack.cloud.registry_client import RegistryClient
from fpack.config import Project
from fpack.deploy.models import Change, Deployment, Orphans, Outcome
from fpack.errors import ConfigError, UsageError
from fpack.manifest import DockerImage, Manifest
from fpack.report import Reporter

ECR_HOST: Final = re.compile(r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True, kw_only=True)
class Push:
    function: str
    reference: str  # repository:tag
    image_id: str
    pushed: str | None  # the digest already in the registry for this image, if any

    @property
    def repository(self) -> str:
        return self.reference.rpartition(":")[0]

    def change(self) -> Change:
        if self.pushed is not None:
            return Change(resource=f"image {self.reference}", action="unchanged",
                          detail=self.pushed)
        return Change(resource=f"image {self.reference}", action="create", detail="push")


def deploy(project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
           reporter: Reporter, orphans: Orphans = "ignore", registry: RegistryClient | None = None,
           aws_deploy: bool = True) -> Outcome:
    """Push, then deploy: to Cloud Run (cloud_run) or Lambda (lambda flavor). `orphans` applies
    to Cloud Run services only: a registry holds tags, not functions, so no image is removed."""
    images = [m for m in manifests if isinstance(m, DockerImage)]
    registry = registry or RegistryClient()
    auth = _ecr_auth(project, images, dry_run=dry_run)
    pushes = [plan_push(m, registry, auth.get(_host(m))) for m in images]
    done = []
    for push in pushes:
        digest = push.pushed
        if digest is None and not dry_run:
            reporter.step(f"pushing {push.reference}")
            digest = registry.push(push.reference, auth.get(_host_of(push.reference)))
        done.append(Deployment(
            function=push.function, target="docker",
            name=f"{push.repository}@{digest}" if digest else push.reference,
            action="unchanged" if push.pushed else "create", digest=digest,
            changes=() if push.pushed else (push.change(),)))
    outcome = Outcome(dry_run=dry_run, changes=tuple(p.change() for p in pushes),
                      deployments=tuple(done))
    if project.docker.cloud_run is not None:
        return _to_cloud_run(project, images, outcome, reporter, orphans)
    if aws_deploy and project.docker.flavor == "lambda" and project.aws.role:
        return _to_lambda(project, images, outcome, reporter)
    return outcome


def _refs(images: Sequence[DockerImage], pushed: Outcome) -> dict[str, str]:
    """Each image as it is to run: pinned by digest once pushed (in a dry run, an image not yet
    pushed has only its tag)."""
    refs = {m.function: m.image or "" for m in images}
    refs.update({d.function: d.name for d in pushed.deployments if d.digest})
    return refs


def _to_cloud_run(project: Project, images: Sequence[DockerImage], pushed: Outcome,
                  reporter: Reporter, orphans: Orphans) -> Outcome:
    from fpack.deploy import cloud_run  # noqa: PLC0415 - only cloud_run needs google-cloud-run

    services = cloud_run.deploy(project, images, _refs(images, pushed), dry_run=pushed.dry_run,
                                reporter=reporter, orphans=orphans)
    return Outcome(dry_run=pushed.dry_run, changes=pushed.changes + services.changes,
                   deployments=pushed.deployments + services.deployments)


def plan_push(m: DockerImage, registry: RegistryClient, auth: Mapping[str, str] | None) -> Push:
    """Whether the image must be pushed: not when its tag already has one of its digests."""
    if not m.image or not m.image_id:
        raise ConfigError(f"the docker manifest of {m.function} has no image",
                          hint="run fpack build --target docker")
    repository = m.image.rpartition(":")[0]
    known = {d.partition("@")[2] for d in registry.local_digests(m.image_id)
             if d.partition("@")[0] == repository}
    remote = registry.remote_digest(m.image, auth) if known else None
    return Push(function=m.function, reference=m.image, image_id=m.image_id,
                pushed=remote if remote in known else None)


def _host(m: DockerImage) -> str:
    return _host_of(m.image or "")


def _host_of(reference: str) -> str:
    first = reference.split("/", 1)[0]
    return first if "." in first or ":" in first or first == "localhost" else "docker.io"


def _ecr_auth(project: Project, images: Sequence[DockerImage], *,
              dry_run: bool) -> dict[str, dict[str, str]]:
    """Registry credentials for the ECR hosts among the images (repositories created if missing)."""
    hosts = {_host(m) for m in images if ECR_HOST.match(_host(m))}
    if not hosts or dry_run:
        return {}
    from fpack.cloud.aws_client import AwsClient  # noqa: PLC0415

    auth: dict[str, dict[str, str]] = {}
    for host in hosts:
        match = ECR_HOST.match(host)
        assert match is not None
        aws = AwsClient.connect(match.group(1))
        for m in images:
            if _host(m) == host:
                aws.ecr_repository((m.image or "").split("/", 1)[1].rpartition(":")[0])
        user, password = aws.ecr_login()
        auth[host] = {"username": user, "password": password}
    return auth


def _to_lambda(project: Project, images: Sequence[DockerImage], pushed: Outcome,
               reporter: Reporter) -> Outcome:
    from fpack.deploy import aws  # noqa: PLC0415 - only the lambda flavor needs it

    if project.aws.snap_start:
        raise UsageError(
            f"{project.config_path}: [targets.aws] snap_start = true: Lambda SnapStart works on "
            'zip packages only, and [targets.docker] flavor = "lambda" deploys container images',
            hint="deploy the zips with fpack deploy --target aws, or remove snap_start to "
            "deploy the images")
    uris = {d.function: d.name for d in pushed.deployments if d.digest}
    if pushed.dry_run:  # nothing pushed yet: plan against the tags
        uris = {m.function: m.image or "" for m in images}
    fns = aws.deploy(project, images, dry_run=pushed.dry_run, reporter=reporter, images=uris)
    return Outcome(dry_run=pushed.dry_run, changes=pushed.changes + fns.changes,
                   deployments=pushed.deployments + fns.deployments)
