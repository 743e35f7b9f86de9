"""`fpack deploy --target gcp`: Cloud Functions (2nd gen) from the gcp bundles.

Per function: `spec` (pure, from fpack.toml and the manifest) → the live function read through
GcpClient → `plan_function` (pure) → create, update or leave alone. The bundle's sha256 is recorded
in the build environment (FPACK_BUNDLE_SHA256, read back on the next deploy): an unchanged bundle
is neither uploaded nor rebuilt, and a function whose bundle and settings all match is not touched.
Settings that differ without a new bundle are patched with an update mask naming only them.

Triggers: storage → `google.cloud.storage.object.v1.finalized` on `bucket`; queue and schedule →
`google.cloud.pubsub.topic.v1.messagePublished` on `topic`. Function IDs are `<project>-<function>`,
lower case.

A schedule function also gets what fires it, planned with the function and shown by --dry-run: its
`topic`, created before the function when missing (the trigger needs it), and, after the function,
a Cloud Scheduler job with the function's ID in the function's region that publishes a small JSON
message to the topic on `schedule` (converted to unix-cron by fpack.schedules, in Etc/UTC). The
runtime makes a ScheduleEvent of that message's publishTime. A job that matches is not touched; one
that differs is patched with an update mask naming only what differs; a paused job stays paused.
Plans are pure (`plan`); only `read_live` and `apply` call the APIs, through GcpClient and
SchedulerClient.

Ownership: every function is labelled `fpack-project` and `fpack-function` (sanitised as function
IDs are), on create or, when a label is missing, by a patch of `labels` that keeps the others. A
whole-project deploy lists the functions labelled with this project; those fpack.toml no longer
names are orphans, kept and named in the plan or with --prune deleted after every create and
update (gcp_prune.py). A function without the label is never touched.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from fpack.cloud.gcp_client import (
    DEFAULT_MAX_INSTANCES,
    FunctionConfig,
    GcpClient,
    LiveFunction,
    Trigger,
    endpoint_for,
    instances_differ,
)
from fpack.cloud.gcp_scheduler import Job, SchedulerClient
from fpack.config import Function, Project
from fpack.deploy.gcp_prune import (
    JOB_MARK,
    LABEL_FUNCTION,
    LABEL_PROJECT,
    OrphanStep,
    function_id,
    label,
    look_for_orphans,
    parent_of,
    prune,
    with_job,
)
from fpack.deploy.models import (
    Change,
    Deployment,
    Orphans,
    Outcome,
    Secrets,
    env_changes,
)
from fpack.errors import ConfigError
from fpack.manifest import GcpBundle, Manifest
from fpack.report import Reporter
from fpack.schedules import unix_cron

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
    "max instances": "service_config.max_instance_count",
    "min instances": "service_config.min_instance_count", "trigger": "event_trigger",
    "labels": "labels",
}
SCHEDULE_TIME_ZONE: Final = "Etc/UTC"  # rate() and EventBridge cron() are UTC
# Field name in a job's plan line -> the Cloud Scheduler update mask path that changes it.
JOB_MASKS: Final = {"schedule": "schedule", "time zone": "timeZone", "topic": "pubsubTarget",
                    "data": "pubsubTarget", "description": "description"}
Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """The Cloud Scheduler job that fires a schedule function."""

    parent: str  # projects/P/locations/R
    job_id: str
    job: Job

    @property
    def name(self) -> str:
        return f"{self.parent}/jobs/{self.job_id}"


@dataclass(frozen=True, kw_only=True)
class GcpSpec:
    function: str
    parent: str  # projects/P/locations/R
    function_id: str
    manifest: GcpBundle
    config: FunctionConfig
    job: JobSpec | None = None  # schedule functions only

    @property
    def name(self) -> str:
        return f"{self.parent}/functions/{self.function_id}"


@dataclass(frozen=True, kw_only=True)
class GcpLive:
    """What Google has for one function: read before planning."""

    function: LiveFunction | None
    topic_exists: bool = True  # the schedule's topic (True when there is no schedule)
    job: Job | None = None


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


@dataclass(frozen=True, kw_only=True)
class JobStep:
    spec: JobSpec
    action: Action
    fields: tuple[str, ...] = ()  # what differs, by name

    def change(self) -> Change:
        detail = self.spec.job.schedule if self.action == "create" else ", ".join(self.fields)
        return Change(resource=f"scheduler job {self.spec.job_id}", action=self.action,
                      detail=detail)

    def mask(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(JOB_MASKS[f] for f in self.fields))


@dataclass(frozen=True, kw_only=True)
class GcpPlan:
    """One function's steps, in the order they are applied: its topic, itself, its job."""

    function: GcpStep
    topic: str | None = None  # a schedule's topic to create first
    job: JobStep | None = None

    def changes(self) -> tuple[Change, ...]:
        topic = _topic_change(self.topic) if self.topic else None
        job = self.job.change() if self.job else None
        return tuple(c for c in (topic, self.function.change(), job) if c is not None)

    @property
    def action(self) -> Action:
        if self.function.action == "create":
            return "create"
        return "update" if any(c.action != "unchanged" for c in self.changes()) else "unchanged"


def deploy(project: Project, manifests: Sequence[Manifest], *, dry_run: bool,
           reporter: Reporter, client: GcpClient | None = None,
           scheduler: SchedulerClient | None = None, orphans: Orphans = "ignore") -> Outcome:
    specs = [spec(project, m) for m in manifests if isinstance(m, GcpBundle)]
    secrets = Secrets.of(s.config.env for s in specs)
    endpoint = endpoint_for(project.gcp.api_endpoint, os.environ)
    gcp = client or GcpClient.connect(endpoint, secrets=secrets)
    found = look_for_orphans(gcp, project, orphans, reporter)
    if scheduler is None and (any(s.job for s in specs) or (found and orphans == "delete")):
        scheduler = SchedulerClient.connect(endpoint, secrets=secrets)
    plans = []
    for s in specs:
        reporter.step(f"reading function {s.function_id}")
        live = read_live(gcp, scheduler, s)
        plans.append((plan(s, live), live))
    pruned = tuple(OrphanStep(orphan=with_job(scheduler, o) if orphans == "delete" else o,
                              delete=orphans == "delete") for o in found)
    done = tuple(_result(p, live.function) if dry_run else apply(gcp, scheduler, p, live, reporter)
                 for p, live in plans)
    if not dry_run:  # only once every create and update has succeeded
        for step in pruned:
            prune(gcp, scheduler, step, reporter)
    return Outcome(dry_run=dry_run, changes=tuple(c for p, _ in plans for c in p.changes())
                   + tuple(c for step in pruned for c in step.changes()),
                   deployments=done + tuple(step.result() for step in pruned))


def read_live(gcp: GcpClient, scheduler: SchedulerClient | None, s: GcpSpec) -> GcpLive:
    """The function, and for a schedule its topic's existence and its job."""
    function = gcp.get(s.name)
    if s.job is None:
        return GcpLive(function=function)
    assert scheduler is not None, "deploy connects a SchedulerClient for schedule functions"
    return GcpLive(function=function, topic_exists=scheduler.topic_exists(s.job.job.topic),
                   job=scheduler.get_job(s.job.name))


def spec(project: Project, m: GcpBundle) -> GcpSpec:
    """What Cloud Functions should have for one bundle (pure)."""
    fn = project.functions[m.function]
    parent = parent_of(project)
    config = FunctionConfig(
        runtime=m.runtime, entry_point=m.handler or fn.name,
        build_env={**m.build_env, SHA_ENV: m.sha256}, memory=f"{fn.memory}M",
        timeout=fn.timeout, env=dict(fn.env), max_instances=max_instances(fn),
        min_instances=fn.warm,
        trigger=_trigger(project, m.function),
        labels={LABEL_PROJECT: label(project.name), LABEL_FUNCTION: label(fn.name)},
    )
    fid = function_id(project.name, fn.name)
    return GcpSpec(function=fn.name, parent=parent, function_id=fid, manifest=m,
                   config=config, job=_job(project, fn, parent, fid, config.trigger))


def max_instances(fn: Function) -> int | None:
    """`concurrency` is the portable key; `max_instances` says the same on gcp (never both)."""
    return fn.concurrency if fn.concurrency is not None else fn.max_instances


def _job(project: Project, fn: Function, parent: str, function_id: str,
         trigger: Trigger | None) -> JobSpec | None:
    """The Cloud Scheduler job that publishes to a schedule function's topic (pure)."""
    if fn.trigger != "schedule":
        return None
    where = f"{project.config_path}: [functions.{fn.name}]"
    if not fn.schedule:
        raise ConfigError(f'{where}: trigger = "schedule" needs "schedule" to deploy to Cloud '
                          'Functions, e.g. schedule = "rate(5 minutes)"')
    assert trigger is not None, "_trigger raises for a schedule without a topic"
    assert trigger.pubsub_topic is not None
    # Pub/Sub refuses an empty message; the runtime reads only publishTime, so this is for people
    # reading the topic (or event.raw).
    data = json.dumps({"fpack": "schedule", "function": fn.name}, separators=(",", ":"))
    job = Job(schedule=unix_cron(fn.schedule, where=where), time_zone=SCHEDULE_TIME_ZONE,
              topic=trigger.pubsub_topic, data=base64.b64encode(data.encode()).decode(),
              description=f"{JOB_MARK}runs the {fn.name} function of {project.name} "
                          f"(Cloud Function {function_id})")
    return JobSpec(parent=parent, job_id=function_id, job=job)


def _trigger(project: Project, name: str) -> Trigger | None:
    fn = project.functions[name]
    region = project.gcp.region or ""
    if fn.trigger == "storage" and fn.bucket:
        return Trigger(event_type=STORAGE_EVENT, region=region, bucket=fn.bucket)
    if fn.trigger in ("queue", "schedule") and fn.topic:
        if fn.topic.startswith("arn:"):  # an SNS topic (the aws wiring): not a Pub/Sub topic
            raise ConfigError(
                f'{project.config_path}: [functions.{name}] topic = "{fn.topic}": an SNS topic '
                "ARN, which only the aws target subscribes to; Cloud Functions needs a Pub/Sub "
                'topic, e.g. topic = "orders" or "projects/P/topics/orders"',
                hint="deploy this function with --target aws, or name a Pub/Sub topic")
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
        ("trigger", want.trigger, have.trigger),
    ) if a != b]
    if instances_differ(want.max_instances, have.max_instances, DEFAULT_MAX_INSTANCES):
        fields.append("max instances")
    if instances_differ(want.min_instances, have.min_instances):
        fields.append("min instances")
    other_build = {k: v for k, v in want.build_env.items() if k != SHA_ENV}
    if other_build != {k: v for k, v in have.build_env.items() if k != SHA_ENV}:
        fields.append("build environment")
    if env := env_changes(want.env, have.env):
        fields.append("environment: " + " ".join(env))
    if any(have.labels.get(k) != v for k, v in want.labels.items()):
        fields.append("labels")  # ownership: a function deployed before fpack labelled
    if fields and "build environment" not in fields and "source" in fields:
        fields.append("build environment")  # the recorded sha256 lives there
    return GcpStep(spec=s, action="update" if fields else "unchanged", fields=tuple(fields))


def plan(s: GcpSpec, live: GcpLive) -> GcpPlan:
    """The function's steps, and a schedule's topic and job (pure)."""
    if s.job is None:
        return GcpPlan(function=plan_function(s, live.function))
    return GcpPlan(function=plan_function(s, live.function),
                   topic=None if live.topic_exists else s.job.job.topic,
                   job=plan_job(s.job, live.job))


def plan_job(want: JobSpec, have: Job | None) -> JobStep:
    """Create the job, patch what differs, or leave it alone (pure)."""
    if have is None:
        return JobStep(spec=want, action="create")
    job = want.job
    fields = tuple(name for name, a, b in (
        ("schedule", job.schedule, have.schedule), ("time zone", job.time_zone, have.time_zone),
        ("topic", job.topic, have.topic), ("data", job.data, have.data),
        ("description", job.description, have.description),
    ) if a != b)
    return JobStep(spec=want, action="update" if fields else "unchanged", fields=fields)


def apply(gcp: GcpClient, scheduler: SchedulerClient | None, p: GcpPlan, live: GcpLive,
          reporter: Reporter) -> Deployment:
    """The topic first (the trigger needs it), then the function, then the job that fires it."""
    if p.topic is not None:
        assert scheduler is not None
        reporter.step(_topic_change(p.topic).line())
        scheduler.create_topic(p.topic)
    function = apply_function(gcp, p.function, live.function, reporter)
    if p.job is not None and p.job.action != "unchanged":
        assert scheduler is not None
        reporter.step(p.job.change().line())
        spec = p.job.spec
        if p.job.action == "create":
            scheduler.create_job(spec.parent, spec.job_id, spec.job)
        else:
            scheduler.update_job(spec.name, spec.job, p.job.mask())
    return _result(p, function)


def apply_function(gcp: GcpClient, step: GcpStep, live: LiveFunction | None,
                   reporter: Reporter) -> LiveFunction | None:
    s = step.spec
    if step.action == "unchanged":
        return live
    reporter.step(step.change().line())
    source = gcp.upload(s.parent, s.manifest.path) if step.upload else None
    if step.action == "create":
        assert source is not None
        done = gcp.create(s.parent, s.function_id, s.config, source)
    else:
        # The mask's "labels" replaces them all: keep those set by others.
        labels = {**(live.config.labels if live else {}), **s.config.labels}
        done = gcp.update(s.name, replace(s.config, labels=labels), source, step.mask())
    return done


def _topic_change(topic: str) -> Change:
    return Change(resource=f"topic {topic}", action="create")


def _result(p: GcpPlan, live: LiveFunction | None) -> Deployment:
    s = p.function.spec
    return Deployment(function=s.function, target="gcp", name=s.name, action=p.action,
                      url=live.url if live else None, digest=s.manifest.sha256,
                      changes=tuple(c for c in p.changes() if c.action != "unchanged"))
