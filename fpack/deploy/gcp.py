"""`fpack deploy --target gcp`: Cloud Functions (2nd gen) from the gcp bundles.

Per function: `spec` (pure, from fpack.toml and the manifest) → the live function read through
GcpClient → `plan_function` (pure) → create, update or leave alone. The bundle's sha256 is recorded
in the build environment (FPACK_BUNDLE_SHA256, read back on the next deploy): an unchanged bundle
is neither uploaded nor rebuilt, and a function whose bundle and settings all match is not touched.
Settings that differ without a new bundle are patched with an update mask naming only them.

Triggers: storage → `google.cloud.storage.object.v1.finalized` on `bucket`; queue and schedule →
`google.cloud.pubsub.topic.v1.messagePublished` on `topic` (a schedule is a Cloud Scheduler job
publishing to that topic; creating the job is Cloud Scheduler's API and is left to the user).
Function IDs are `<project>-<function>`, lower case.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from fpack.cloud.gcp_client import FunctionConfig, GcpClient, LiveFunction, Trigger, endpoint_for
from fpack.config import Project
from fpack.deploy.models import Change, Deployment, Manifest, Outcome, Secrets, env_changes
from fpack.errors import ConfigError
from fpack.report import Reporter

SHA_ENV: Final = "FPACK_BUNDLE_SHA256"
STORAGE_EVENT: Final = "google.cloud.storage.object.v1.finalized"
PUBSUB_EVENT: Final = "google.cloud.pubsub.topic.v1.messagePublished"
# Field name in a plan line -> the update mask path that changes it.
MASKS: Final = {
    "source": "build_config.source", "runtime": "build_config.runtime",
    "entry point": "build_config.entry_point",
    "build environment": "build_config.environment_variables",
    "memory": "service_config.available_memory", "timeout": "service_config.timeout_seconds",
    "environment": "service_config.environment_variables",
    "max instances": "service_config.max_instance_count", "trigger": "event_trigger",
}


@dataclass(frozen=True, kw_only=True)
class GcpSpec:
    function: str
    parent: str  # projects/P/locations/R
    function_id: str
    manifest: Manifest
    config: FunctionConfig

    @property
    def name(self) -> str:
        return f"{self.parent}/functions/{self.function_id}"


@dataclass(frozen=True, kw_only=True)
class GcpStep:
    spec: GcpSpec
    action: Literal["create", "update", "unchanged"]
    fields: tuple[str, ...] = ()  # what differs; "source" means a new bundle is uploaded

    def change(self) -> Change:
        return Change(resource=f"function {self.spec.function_id}", action=self.action,
                      detail=", ".join(self.fields))

    @property
    def upload(self) -> bool:
        return self.action == "create" or "source" in self.fields

    def mask(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(MASKS[f.split(":")[0]] for f in self.fields))


def deploy(project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
           reporter: Reporter, client: GcpClient | None = None) -> Outcome:
    specs = [spec(project, m) for m in manifests if m.kind == "function"]
    secrets = Secrets.of(s.config.env for s in specs)
    gcp = client or GcpClient.connect(endpoint_for(project.gcp.api_endpoint, os.environ),
                                      secrets=secrets)
    steps = []
    for s in specs:
        reporter.step(f"reading function {s.function_id}")
        live = gcp.get(s.name)
        steps.append((plan_function(s, live), live))
    done = tuple(_result(step, live) if dry_run else apply(gcp, step, live, reporter)
                 for step, live in steps)
    return Outcome(dry_run=dry_run, changes=tuple(step.change() for step, _ in steps),
                   deployments=done)


def spec(project: Project, m: Manifest) -> GcpSpec:
    """What Cloud Functions should have for one bundle (pure)."""
    where = f"{project.config_path}: [targets.gcp]"
    if not project.gcp.project or not project.gcp.region:
        raise ConfigError(f'{where}: deploy needs "project" and "region", e.g. '
                          'project = "my-project", region = "us-central1"')
    fn = project.functions[m.function]
    parent = f"projects/{project.gcp.project}/locations/{project.gcp.region}"
    config = FunctionConfig(
        runtime=m.runtime, entry_point=m.handler or fn.name,
        build_env={**m.build_env, SHA_ENV: m.sha256}, memory=f"{fn.memory}M",
        timeout=fn.timeout, env=dict(fn.env), max_instances=fn.max_instances,
        trigger=_trigger(project, m.function),
    )
    function_id = f"{project.name}-{fn.name}".lower().replace("_", "-")[:63]
    return GcpSpec(function=fn.name, parent=parent, function_id=function_id, manifest=m,
                   config=config)


def _trigger(project: Project, name: str) -> Trigger | None:
    fn = project.functions[name]
    region = project.gcp.region or ""
    if fn.trigger == "storage" and fn.bucket:
        return Trigger(event_type=STORAGE_EVENT, region=region, bucket=fn.bucket)
    if fn.trigger in ("queue", "schedule") and fn.topic:
        topic = fn.topic if fn.topic.startswith("projects/") else \
            f"projects/{project.gcp.project}/topics/{fn.topic}"
        return Trigger(event_type=PUBSUB_EVENT, region=region, pubsub_topic=topic)
    if fn.trigger != "http":
        key = "bucket" if fn.trigger == "storage" else "topic"
        raise ConfigError(f'{project.config_path}: [functions.{name}]: trigger = "{fn.trigger}" '
                          f'needs "{key}" to deploy to Cloud Functions, e.g. {key} = "photos"')
    return None


def plan_function(s: GcpSpec, live: LiveFunction | None) -> GcpStep:
    """Create, update (which fields) or leave alone (pure)."""
    if live is None:
        return GcpStep(spec=s, action="create")
    want, have = s.config, live.config
    fields = [name for name, a, b in (
        ("source", want.build_env.get(SHA_ENV), have.build_env.get(SHA_ENV)),
        ("runtime", want.runtime, have.runtime),
        ("entry point", want.entry_point, have.entry_point),
        ("memory", want.memory, have.memory), ("timeout", want.timeout, have.timeout),
        ("max instances", want.max_instances, have.max_instances),
        ("trigger", want.trigger, have.trigger),
    ) if a != b]
    other_build = {k: v for k, v in want.build_env.items() if k != SHA_ENV}
    if other_build != {k: v for k, v in have.build_env.items() if k != SHA_ENV}:
        fields.append("build environment")
    if env := env_changes(want.env, have.env):
        fields.append("environment: " + " ".join(env))
    if fields and "build environment" not in fields and "source" in fields:
        fields.append("build environment")  # the recorded sha256 lives there
    return GcpStep(spec=s, action="update" if fields else "unchanged", fields=tuple(fields))


def apply(gcp: GcpClient, step: GcpStep, live: LiveFunction | None,
          reporter: Reporter) -> Deployment:
    s = step.spec
    if step.action == "unchanged":
        return _result(step, live)
    reporter.step(step.change().line())
    assert s.manifest.path is not None
    source = gcp.upload(s.parent, s.manifest.path) if step.upload else None
    if step.action == "create":
        assert source is not None
        done = gcp.create(s.parent, s.function_id, s.config, source)
    else:
        done = gcp.update(s.name, s.config, source, step.mask())
    return _result(step, done)


def _result(step: GcpStep, live: LiveFunction | None) -> Deployment:
    return Deployment(function=step.spec.function, target="gcp", name=step.spec.name,
                      action=step.action, url=live.url if live else None,
                      digest=step.spec.manifest.sha256,
                      changes=() if step.action == "unchanged" else (step.change(),))
