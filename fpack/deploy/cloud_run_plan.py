"""Pure planning for Cloud Run services: fpack.toml and a pushed image → the service it should be;
that and what Cloud Run has → create, update (which fields) or leave alone. No I/O.

One service per http function, `<project>-<function>` (lower case, as Cloud Functions IDs are),
running the image pinned by the digest the push returned, on the container port the image serves
($PORT, which Cloud Run sets to that port). Cloud Run makes a new revision whenever the service's
template changes, so fpack updates a service only when a field it owns differs: a repeat deploy
with nothing changed makes no revision. Public access (`url = true`) is the service's IAM policy:
roles/run.invoker for allUsers, granted when asked and revoked when no longer asked.

Ownership: services are labelled `fpack-project`, `fpack-function` and `fpack-target = docker`.
The target label tells them from the Cloud Run services behind Cloud Functions 2nd gen (which may
carry a function's labels, and which `fpack deploy --target gcp` names the same way): only a
service with all three is ever an orphan, and a live service that belongs to something else (a
Cloud Function, another fpack target) is refused rather than taken over.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from fpack.cloud.gcp_client import DEFAULT_MAX_INSTANCES, instances_differ
from fpack.cloud.run_client import LiveService, ServiceConfig
from fpack.config import CloudRun, Function, Project
from fpack.deploy.gcp_prune import LABEL_FUNCTION, LABEL_PROJECT, function_id, label
from fpack.deploy.models import Change, Deployment, env_changes
from fpack.errors import ConfigError, DeployError

LABEL_TARGET: Final = "fpack-target"
TARGET: Final = "docker"
MANAGED_BY: Final = "goog-managed-by"  # set by Google on the services it runs for Cloud Functions
PORT: Final = 8080  # the http image's $PORT default (templates/Dockerfile.http.j2)
# Set by Cloud Run in every container; a revision that sets one is refused.
RESERVED_ENV: Final = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """What Cloud Run should have for one http function."""

    function: str
    parent: str  # projects/P/locations/R
    service_id: str
    config: ServiceConfig
    public: bool

    @property
    def name(self) -> str:
        return f"{self.parent}/services/{self.service_id}"


@dataclass(frozen=True, kw_only=True)
class ServiceLive:
    """What Cloud Run has for one service: read before planning."""

    service: LiveService | None
    public: bool = False


@dataclass(frozen=True, kw_only=True)
class ServiceStep:
    spec: ServiceSpec
    action: Action
    fields: tuple[str, ...] = ()  # what differs, by name
    live: LiveService | None = None  # what an update starts from

    def change(self) -> Change:
        image = self.spec.config.image
        if "@" not in image:  # a dry run before the first push knows only the tag
            image += ", pinned to its digest once pushed"
        detail = image if self.action == "create" else ", ".join(self.fields)
        return Change(resource=f"service {self.spec.service_id}", action=self.action,
                      detail=detail)

    @property
    def revision(self) -> bool:
        """Whether the step makes a new revision (labels alone are the service's, not one)."""
        return self.action == "create" or any(f != "labels" for f in self.fields)


@dataclass(frozen=True, kw_only=True)
class AccessStep:
    """Grant (public) or revoke roles/run.invoker for allUsers."""

    spec: ServiceSpec
    public: bool

    def change(self) -> Change:
        return Change(resource=f"invoker allUsers on service {self.spec.service_id}",
                      action="create" if self.public else "delete",
                      detail="public" if self.public else "url = true removed")


@dataclass(frozen=True, kw_only=True)
class ServicePlan:
    service: ServiceStep
    access: AccessStep | None = None

    def changes(self) -> tuple[Change, ...]:
        return (self.service.change(), *((self.access.change(),) if self.access else ()))

    @property
    def action(self) -> Action:
        if self.service.action == "create":
            return "create"
        return "update" if self.service.action == "update" or self.access else "unchanged"


@dataclass(frozen=True, kw_only=True)
class ServiceOrphan:
    """A service fpack made for this project that no http function of fpack.toml names."""

    function: str  # its fpack-function label
    name: str  # projects/P/locations/R/services/ID
    gone: bool  # the function is not in fpack.toml at all (else it is no longer http)

    @property
    def service_id(self) -> str:
        return self.name.rsplit("/", 1)[1]


@dataclass(frozen=True, kw_only=True)
class OrphanStep:
    orphan: ServiceOrphan
    delete: bool

    def change(self) -> Change:
        why = "not in fpack.toml" if self.orphan.gone else "no longer an http function"
        return Change(resource=f"service {self.orphan.service_id}",
                      action="delete" if self.delete else "keep",
                      detail="" if self.delete else f"{why}; --prune deletes it")

    def result(self) -> Deployment:
        return Deployment(function=self.orphan.function, target="cloud-run",
                          name=self.orphan.name, action="delete" if self.delete else "keep",
                          changes=(self.change(),))


def ownership(project: Project, fn: str) -> dict[str, str]:
    return {LABEL_PROJECT: label(project.name), LABEL_FUNCTION: label(fn), LABEL_TARGET: TARGET}


def spec(project: Project, cloud_run: CloudRun, fn: Function, image: str) -> ServiceSpec:
    """The service for one http function running `image` (pure)."""
    if reserved := sorted(k for k in fn.env if k in RESERVED_ENV):
        raise ConfigError(f"{project.config_path}: [functions.{fn.name}] env sets "
                          f"{', '.join(reserved)}: Cloud Run sets it in every container "
                          f"(PORT is the container port, {PORT}); remove it from env")
    config = ServiceConfig(image=image, port=PORT, memory=f"{fn.memory}Mi", timeout=fn.timeout,
                           env=dict(fn.env), max_instances=_max_instances(fn),
                           min_instances=fn.warm, labels=ownership(project, fn.name))
    return ServiceSpec(function=fn.name, parent=cloud_run.parent,
                       service_id=function_id(project.name, fn.name), config=config,
                       public=fn.url)


def _max_instances(fn: Function) -> int | None:
    return fn.concurrency if fn.concurrency is not None else fn.max_instances


def plan(s: ServiceSpec, live: ServiceLive) -> ServicePlan:
    """Create, update what differs, or leave alone; then grant or revoke public access (pure)."""
    if live.service is None:
        access = AccessStep(spec=s, public=True) if s.public else None
        return ServicePlan(service=ServiceStep(spec=s, action="create"), access=access)
    _refuse_foreign(s, live.service)
    want, have = s.config, live.service.config
    fields = [name for name, a, b in (
        ("image", want.image, have.image), ("port", want.port, have.port),
        ("memory", want.memory, have.memory), ("timeout", want.timeout, have.timeout),
    ) if a != b]
    if instances_differ(want.max_instances, have.max_instances, DEFAULT_MAX_INSTANCES):
        fields.append("max instances")
    if instances_differ(want.min_instances, have.min_instances):
        fields.append("min instances")
    if env := env_changes(want.env, have.env):
        fields.append("environment: " + " ".join(env))
    if any(have.labels.get(k) != v for k, v in want.labels.items()):
        fields.append("labels")
    step = ServiceStep(spec=s, action="update" if fields else "unchanged", fields=tuple(fields),
                       live=live.service)
    access = AccessStep(spec=s, public=s.public) if s.public != live.public else None
    return ServicePlan(service=step, access=access)


def _refuse_foreign(s: ServiceSpec, have: LiveService) -> None:
    """A service of this name that something else runs is not fpack's to replace."""
    if owner := _owner(have.config.labels, s.config.labels[LABEL_PROJECT]):
        raise DeployError(f"Cloud Run service {s.name} exists and is managed by {owner}: fpack "
                          f"will not replace it with the {s.function} image",
                          hint="deploy the docker target to another project or region (a Cloud "
                          "Function's service has the function's name), or delete that service")


def _owner(labels: Mapping[str, str], project_label: str) -> str | None:
    """Who else runs a service, from its labels; None when it is this project's (or unlabelled,
    made by hand: fpack labels it and takes it over, as the gcp deployer does a function)."""
    if managed := labels.get(MANAGED_BY):
        return managed
    if LABEL_PROJECT not in labels:
        return None
    if labels.get(LABEL_TARGET) != TARGET:
        return f"fpack deploy --target {labels.get(LABEL_TARGET, 'gcp')}"
    if labels[LABEL_PROJECT] != project_label:
        return f"the fpack project {labels[LABEL_PROJECT]}"
    return None


def orphans(project: Project, wanted: Collection[str],
            found: Sequence[LiveService]) -> tuple[ServiceOrphan, ...]:
    """The services labelled as fpack's docker services of this project that no http function
    names (pure)."""
    mine = {LABEL_PROJECT: label(project.name), LABEL_TARGET: TARGET}
    names = {label(fn) for fn in project.functions}
    return tuple(
        ServiceOrphan(function=f.config.labels.get(LABEL_FUNCTION, ""), name=f.name,
                      gone=f.config.labels.get(LABEL_FUNCTION) not in names)
        for f in sorted(found, key=lambda f: f.name)
        if all(f.config.labels.get(k) == v for k, v in mine.items()) and f.name not in wanted)
