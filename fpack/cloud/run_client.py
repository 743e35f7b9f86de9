"""A typed adapter over google-cloud-run (Cloud Run Admin API v2, REST transport) for the Cloud Run
half of `fpack deploy --target docker`.

The SDK is imported lazily, in `connect`. Credentials follow GcpClient's rule
(`anonymous_if_loopback`, shared): Application Default Credentials, or anonymous ones for a
plain-http endpoint on loopback only (a local emulator, the tests' fake). The endpoint is
`[targets.docker] cloud_run.api_endpoint`, else FPACK_CLOUD_RUN_API_ENDPOINT, else Google's.
Transient errors are retried and long-running operations polled with the injected `sleep`;
every message is scrubbed of secrets.

An update is a read-modify-write of the live service: fpack sets only the fields it owns (image,
port, memory, timeout, plain environment variables, instance counts, its labels) on the service it
read, so what someone set by hand (a service account, a VPC connector, a secret mounted as an
environment variable) survives, and the read's etag makes a concurrent change fail, not vanish.
- Services: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fpack.cloud.google_api import GoogleApi, Sleep, sdk_client
from fpack.cloud.safety import Secrets

ENV_ENDPOINT: Final = "FPACK_CLOUD_RUN_API_ENDPOINT"
INVOKER: Final = "roles/run.invoker"
PUBLIC: Final = "allUsers"
HINT: Final = ("enable the API (gcloud services enable run.googleapis.com) and let the deploying "
               "account manage services (roles/run.admin) and act as their runtime service "
               "account (roles/iam.serviceAccountUser)")


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """What fpack sets on a Cloud Run service, and reads back to compare."""

    image: str  # repository/name@sha256:… (a tag only in a dry run before the first push)
    port: int = 8080  # the container port; Cloud Run sets $PORT to it
    memory: str = "256Mi"
    timeout: int = 30  # seconds
    env: Mapping[str, str] = field(default_factory=dict)  # plain values only
    max_instances: int | None = None
    min_instances: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LiveService:
    name: str  # projects/P/locations/R/services/ID
    config: ServiceConfig
    url: str | None
    raw: Any = field(default=None, compare=False, repr=False)  # the SDK's Service, for updates


def endpoint_for(configured: str | None, environ: Mapping[str, str]) -> str | None:
    return configured or environ.get(ENV_ENDPOINT) or None


class RunClient(GoogleApi):
    PRODUCT = "Cloud Run"
    DENIED_HINT = HINT

    @classmethod
    def connect(cls, endpoint: str | None, *, secrets: Secrets | None = None,
                sleep: Sleep = time.sleep) -> RunClient:
        from google.cloud import run_v2  # noqa: PLC0415 - heavy; only deploy pays for it

        sdk = sdk_client(run_v2.ServicesClient, endpoint, "[targets.docker] cloud_run.api_endpoint")
        return cls(sdk, sleep=sleep, secrets=secrets)

    def get(self, name: str) -> LiveService | None:
        got = self.find(f"get {name}", self.sdk.get_service, request={"name": name})
        return None if got is None else live_of(got)

    def labeled(self, parent: str, key: str, value: str) -> list[LiveService]:
        """The services under `parent` whose label `key` is `value`. The v2 API lists without a
        filter, so the labels are checked here."""
        found = self.call(f"list services in {parent}",
                          lambda: list(self.sdk.list_services(request={"parent": parent})))
        return [live_of(s) for s in found if s.labels.get(key) == value]

    def create(self, parent: str, service_id: str, config: ServiceConfig) -> LiveService:
        from google.cloud import run_v2  # noqa: PLC0415

        service = run_v2.Service(labels=dict(config.labels),
                                 template=run_v2.RevisionTemplate(containers=[run_v2.Container()]))
        _set(service, config)
        op = self.call(f"create {service_id}", self.sdk.create_service,
                       request={"parent": parent, "service": service, "service_id": service_id})
        return live_of(self.finish(f"create {service_id}", op))

    def update(self, live: LiveService, config: ServiceConfig) -> LiveService:
        """Set fpack's fields on the service as read (others are kept); labels are merged."""
        from google.cloud import run_v2  # noqa: PLC0415

        service = run_v2.Service.deserialize(run_v2.Service.serialize(live.raw))  # a copy
        _set(service, config)
        op = self.call(f"update {live.name}", self.sdk.update_service,
                       request={"service": service})
        return live_of(self.finish(f"update {live.name}", op))

    def delete(self, name: str) -> None:
        """Delete a service and wait for it; one already gone counts as done."""
        self.remove(f"delete {name}", self.sdk.delete_service, request={"name": name})

    def is_public(self, name: str) -> bool:
        """Whether allUsers may invoke the service (roles/run.invoker)."""
        policy = self.call(f"get the IAM policy of {name}", self.sdk.get_iam_policy,
                           request={"resource": name})
        return any(b.role == INVOKER and PUBLIC in b.members for b in policy.bindings)

    def set_public(self, name: str, public: bool) -> None:
        """Grant or revoke roles/run.invoker for allUsers, keeping every other binding; the
        policy's etag makes a concurrent change fail rather than be overwritten."""
        policy = self.call(f"get the IAM policy of {name}", self.sdk.get_iam_policy,
                           request={"resource": name})
        binding = next((b for b in policy.bindings if b.role == INVOKER), None)
        if public and binding is None:
            binding = policy.bindings.add(role=INVOKER)
        if public and binding is not None and PUBLIC not in binding.members:
            binding.members.append(PUBLIC)
        if not public and binding is not None and PUBLIC in binding.members:
            binding.members.remove(PUBLIC)
            if not binding.members:
                policy.bindings.remove(binding)
        self.call(f"set the IAM policy of {name}", self.sdk.set_iam_policy,
                  request={"resource": name, "policy": policy})



def _set(service: Any, c: ServiceConfig) -> None:
    """fpack's fields on an SDK Service (in place)."""
    from google.cloud import run_v2  # noqa: PLC0415

    service.labels.update(c.labels)
    t = service.template
    t.revision = ""  # a revision named by hand would collide: let Cloud Run name the new one
    t.timeout = {"seconds": c.timeout}
    # 0 is proto3's "unset": Cloud Run's default again, which is what removing the key means.
    t.scaling.max_instance_count = c.max_instances or 0
    t.scaling.min_instance_count = c.min_instances or 0
    if not t.containers:
        t.containers.append(run_v2.Container())
    container = t.containers[0]
    container.image = c.image
    container.ports = [run_v2.ContainerPort(name="http1", container_port=c.port)]
    # Secrets referenced by hand (value_source) are kept, unless fpack.toml sets that name.
    kept = [e for e in container.env if e.value_source and e.name not in c.env]
    container.env = [*kept, *(run_v2.EnvVar(name=k, value=v) for k, v in sorted(c.env.items()))]
    container.resources.limits["memory"] = c.memory


def live_of(s: Any) -> LiveService:
    """An SDK Service as the fields fpack compares."""
    t = s.template
    container = t.containers[0] if t.containers else None
    ports = list(container.ports) if container else []
    config = ServiceConfig(
        image=container.image if container else "",
        port=ports[0].container_port if ports else 8080,
        memory=container.resources.limits.get("memory", "") if container else "",
        timeout=int(t.timeout.total_seconds()) if t.timeout else 0,
        env={e.name: e.value for e in container.env if not e.value_source} if container else {},
        max_instances=t.scaling.max_instance_count or None,
        min_instances=t.scaling.min_instance_count or None,
        labels=dict(s.labels),
    )
    return LiveService(name=s.name, config=config, url=s.uri or None, raw=s)
