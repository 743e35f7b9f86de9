"""The Cloud Run half of `fpack deploy --target docker` (`[targets.docker] cloud_run = {...}`):
after the images are pushed, one Cloud Run service per http function, pinned to its pushed digest.

Per function: `cloud_run_plan.spec` (pure) → the live service and its IAM policy read through
RunClient → `cloud_run_plan.plan` (pure) → create, update or leave alone, then grant or revoke
public access. --dry-run shows the same plan (against the image's tag when it has not been pushed
yet). A whole-project deploy also lists the services fpack made for this project (by label) that
no http function names: kept and named, or with --prune deleted once every create and update
succeeded. Functions with another trigger are pushed but get no service: Cloud Run services here
answer http, and events reach fpack's images on Cloud Functions (`--target gcp`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from fpack.cloud.run_client import RunClient, endpoint_for
from fpack.config import CloudRun, Project
from fpack.deploy.cloud_run_plan import (
    OrphanStep,
    ServiceLive,
    ServicePlan,
    ServiceSpec,
    orphans,
    plan,
    spec,
)
from fpack.deploy.gcp_prune import LABEL_PROJECT, label
from fpack.deploy.models import Deployment, Orphans, Outcome, Secrets
from fpack.errors import DeployError
from fpack.manifest import DockerImage
from fpack.report import Reporter


def deploy(project: Project, images: Sequence[DockerImage], refs: Mapping[str, str], *,
           dry_run: bool, reporter: Reporter, orphans: Orphans = "ignore",
           client: RunClient | None = None) -> Outcome:
    """`refs`: each function's image as it is to run, `repository@digest` once pushed."""
    cloud_run = project.docker.cloud_run
    assert cloud_run is not None, "the docker deployer calls this only with cloud_run set"
    specs = []
    for m in images:
        fn = project.functions[m.function]
        if fn.trigger != "http":
            reporter.warn(f'{m.function}: trigger = "{fn.trigger}": only http functions become '
                          "Cloud Run services; its image is pushed, and no service is made")
            continue
        specs.append(spec(project, cloud_run, fn, refs[m.function]))
    run = client or RunClient.connect(endpoint_for(cloud_run.api_endpoint, os.environ),
                                      secrets=Secrets.of(s.config.env for s in specs))
    found = _look_for_orphans(run, project, cloud_run=cloud_run, specs=specs, policy=orphans,
                              reporter=reporter)
    plans = []
    for s in specs:
        reporter.step(f"reading service {s.service_id}")
        plans.append(plan(s, read_live(run, s)))
    done = tuple(_result(p, None) if dry_run else apply(run, p, reporter) for p in plans)
    if not dry_run:  # only once every create and update has succeeded
        for step in found:
            if step.delete:
                reporter.step(step.change().line())
                run.delete(step.orphan.name)
    return Outcome(dry_run=dry_run,
                   changes=tuple(c for p in plans for c in p.changes())
                   + tuple(step.change() for step in found),
                   deployments=done + tuple(step.result() for step in found))


def read_live(run: RunClient, s: ServiceSpec) -> ServiceLive:
    service = run.get(s.name)
    return ServiceLive(service=service, public=service is not None and run.is_public(s.name))


def apply(run: RunClient, p: ServicePlan, reporter: Reporter) -> Deployment:
    """The service (a new revision when it changed), then who may invoke it."""
    step, s = p.service, p.service.spec
    live = step.live
    if step.action != "unchanged":
        reporter.step(step.change().line())
        if step.action == "create":
            live = run.create(s.parent, s.service_id, s.config)
        else:
            assert live is not None, "an update is planned against a live service"
            live = run.update(live, s.config)
    if p.access is not None:
        reporter.step(p.access.change().line())
        run.set_public(s.name, p.access.public)
    return _result(p, live.url if live else None)


def _look_for_orphans(run: RunClient, project: Project, *, cloud_run: CloudRun,
                      specs: Sequence[ServiceSpec], policy: Orphans,
                      reporter: Reporter) -> tuple[OrphanStep, ...]:
    """Without --prune, looking is a courtesy: an identity that may not list services
    (run.services.list) still deploys, with a warning."""
    if policy == "ignore":
        return ()
    reporter.step(f"looking for Cloud Run services labelled {LABEL_PROJECT}="
                  f"{label(project.name)} that fpack.toml no longer names")
    try:
        found = run.labeled(cloud_run.parent, LABEL_PROJECT, label(project.name))
    except DeployError as e:
        if policy == "delete":
            raise
        reporter.warn(f"{e.message}: services for functions removed from fpack.toml were not "
                      "looked for")
        return ()
    return tuple(OrphanStep(orphan=o, delete=policy == "delete")
                 for o in orphans(project, {s.name for s in specs}, found))


def _result(p: ServicePlan, url: str | None) -> Deployment:
    s = p.service.spec
    digest = s.config.image.partition("@")[2] or None
    return Deployment(function=s.function, target="cloud-run", name=s.name, action=p.action,
                      url=url or (p.service.live.url if p.service.live else None),
                      digest=digest,
                      changes=tuple(c for c in p.changes() if c.action != "unchanged"))
