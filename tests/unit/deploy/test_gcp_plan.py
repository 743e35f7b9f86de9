"""The Cloud Functions deploy plan as data: spec from fpack.toml and a manifest, live state in;
for a schedule function, also its topic and Cloud Scheduler job."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from fpack import config
from fpack.cloud.gcp_client import LiveFunction, Trigger
from fpack.deploy import gcp, gcp_prune
from fpack.deploy.models import read_manifest
from fpack.errors import ConfigError
from fpack.manifest import GcpBundle
from fpack.runtime.api import ScheduleEvent
from fpack.runtime.cloudevents import to_portable

TOML = """
[project]
name = "photos"

[functions.consume]
handler = "app:consume"
trigger = "queue"
topic = "orders"
memory = 512
max_instances = 3
env = { DB_PASSWORD = "hunter22" }

[targets.gcp]
project = "demo"
region = "europe-west1"
"""
MANIFEST = {"function": "consume", "target": "gcp", "kind": "function", "runtime": "python312",
            "arch": "x86_64", "handler": "consume", "path": "dist/gcp/consume.zip",
            "signature_type": "cloudevent", "sha256": "ab" * 32, "size": 100,
            "build_env": {"GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"}}


def bundle(data: dict[str, Any], root: Path) -> GcpBundle:
    """The manifest as deploy reads it: a gcp function manifest is a Cloud Functions bundle."""
    m = read_manifest(data, root)
    assert isinstance(m, GcpBundle)
    return m


@pytest.fixture
def spec(tmp_path: Path) -> gcp.GcpSpec:
    (tmp_path / "fpack.toml").write_text(TOML)
    project = config.load(tmp_path / "fpack.toml")
    return gcp.spec(project, bundle(MANIFEST, tmp_path))


def test_spec_carries_runtime_entry_point_vendor_env_and_trigger(spec: gcp.GcpSpec) -> None:
    assert spec.name == "projects/demo/locations/europe-west1/functions/photos-consume"
    c = spec.config
    assert (c.runtime, c.entry_point, c.memory, c.max_instances) == ("python312", "consume",
                                                                      "512M", 3)
    assert c.build_env == {"GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels",
                           "FPACK_BUNDLE_SHA256": "ab" * 32}
    assert c.trigger == Trigger(event_type="google.cloud.pubsub.topic.v1.messagePublished",
                                region="europe-west1",
                                pubsub_topic="projects/demo/topics/orders")


def test_create_unchanged_and_update_masks(spec: gcp.GcpSpec) -> None:
    assert gcp.plan_function(spec, None).action == "create"
    live = LiveFunction(name=spec.name, config=spec.config, url=None, state="ACTIVE")
    assert gcp.plan_function(spec, live).action == "unchanged"

    older = replace(spec.config, build_env={**spec.config.build_env, "FPACK_BUNDLE_SHA256": "0"},
                    env={"DB_PASSWORD": "old"})
    step = gcp.plan_function(spec, replace(live, config=older))
    assert step.change().line() == ("update  function photos-consume  "
                                    "(source, environment: DB_PASSWORD, build environment)")
    assert step.upload
    assert step.mask() == ("build_config.source", "service_config.environment_variables",
                           "build_config.environment_variables")


def test_a_pubsub_function_without_topic_cannot_be_deployed(tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text(TOML.replace('topic = "orders"\n', ""))
    project = config.load(tmp_path / "fpack.toml")
    with pytest.raises(ConfigError) as info:
        gcp.spec(project, bundle(MANIFEST, tmp_path))
    assert str(info.value) == (
        f'{tmp_path / "fpack.toml"}: [functions.consume]: trigger = "queue" needs "topic" to '
        'deploy to Cloud Functions, e.g. topic = "photos"')


def test_an_sns_topic_is_refused_for_cloud_functions(tmp_path: Path) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:orders"
    (tmp_path / "fpack.toml").write_text(TOML.replace('topic = "orders"', f'topic = "{arn}"'))
    project = config.load(tmp_path / "fpack.toml")
    with pytest.raises(ConfigError) as info:
        gcp.spec(project, bundle(MANIFEST, tmp_path))
    assert str(info.value) == (
        f'{tmp_path / "fpack.toml"}: [functions.consume] topic = "{arn}": an SNS topic ARN, '
        "which only the aws target subscribes to; Cloud Functions needs a Pub/Sub topic, e.g. "
        'topic = "orders" or "projects/P/topics/orders"\n'
        "  hint: deploy this function with --target aws, or name a Pub/Sub topic")


SCHEDULE_TOML = TOML + """
[functions.tick]
handler = "app:tick"
trigger = "schedule"
topic = "ticks"
schedule = "cron(0/15 8-17 ? * MON-FRI *)"
"""
TICK = {**MANIFEST, "function": "tick", "handler": "tick", "path": "dist/gcp/tick.zip"}


def schedule_spec(tmp_path: Path, toml: str = SCHEDULE_TOML) -> gcp.GcpSpec:
    (tmp_path / "fpack.toml").write_text(toml)
    project = config.load(tmp_path / "fpack.toml")
    return gcp.spec(project, bundle(TICK, tmp_path))


def test_a_schedule_function_carries_its_job(tmp_path: Path) -> None:
    s = schedule_spec(tmp_path)
    assert s.job is not None
    assert s.job.name == "projects/demo/locations/europe-west1/jobs/photos-tick"
    job = s.job.job
    assert (job.schedule, job.time_zone, job.topic) == (
        "*/15 8-17 * * MON-FRI", "Etc/UTC", "projects/demo/topics/ticks")
    assert job.description == "fpack: runs the tick function of photos (Cloud Function photos-tick)"
    assert json.loads(base64.b64decode(job.data)) == {"fpack": "schedule", "function": "tick"}


def test_the_published_job_data_reaches_the_handler_as_a_schedule_event(tmp_path: Path) -> None:
    job = schedule_spec(tmp_path).job
    assert job is not None
    # What Eventarc delivers for the message Cloud Scheduler publishes (cloudevents.py's source).
    data = {"subscription": "projects/demo/subscriptions/eventarc-tick",
            "message": {"data": job.job.data, "messageId": "42",
                        "publishTime": "2025-03-04T08:15:00.123Z"}}
    attributes = {"specversion": "1.0", "id": "42", "type": gcp.PUBSUB_EVENT,
                  "source": f"//pubsub.googleapis.com/{job.job.topic}"}
    event = to_portable("schedule", attributes, json.dumps(data), raw=None)
    assert event == ScheduleEvent(time=datetime(2025, 3, 4, 8, 15, 0, 123000, tzinfo=timezone.utc))


def test_a_first_deploy_creates_the_topic_then_the_function_then_the_job(tmp_path: Path) -> None:
    plan = gcp.plan(schedule_spec(tmp_path), gcp.GcpLive(function=None, topic_exists=False))
    assert [c.line() for c in plan.changes()] == [
        "create  topic projects/demo/topics/ticks", "create  function photos-tick",
        "create  scheduler job photos-tick  (*/15 8-17 * * MON-FRI)"]
    assert plan.action == "create"


def test_a_matching_job_is_left_alone_and_a_differing_one_patched(tmp_path: Path) -> None:
    s = schedule_spec(tmp_path)
    assert s.job is not None
    function = LiveFunction(name=s.name, config=s.config, url=None, state="ACTIVE")
    same = gcp.plan(s, gcp.GcpLive(function=function, job=s.job.job))
    assert [c.action for c in same.changes()] == ["unchanged", "unchanged"]
    assert same.action == "unchanged"

    older = replace(s.job.job, schedule="*/5 * * * *", topic="projects/demo/topics/old",
                    data="e30=")
    changed = gcp.plan(s, gcp.GcpLive(function=function, job=older))
    assert changed.job is not None
    assert changed.job.change().line() == (
        "update  scheduler job photos-tick  (schedule, topic, data)")
    assert changed.job.mask() == ("schedule", "pubsubTarget")
    assert changed.action == "update"
    assert gcp.plan_job(s.job, replace(s.job.job, time_zone="Europe/Paris")).mask() == ("timeZone",)


def test_only_schedule_functions_get_a_job(spec: gcp.GcpSpec) -> None:
    assert spec.job is None
    assert gcp.plan(spec, gcp.GcpLive(function=None)).changes() == (
        gcp.plan_function(spec, None).change(),)


def test_a_schedule_function_without_schedule_cannot_be_deployed(tmp_path: Path) -> None:
    toml = SCHEDULE_TOML.replace('schedule = "cron(0/15 8-17 ? * MON-FRI *)"\n', "")
    with pytest.raises(ConfigError) as info:
        schedule_spec(tmp_path, toml)
    assert str(info.value) == (
        f'{tmp_path / "fpack.toml"}: [functions.tick]: trigger = "schedule" needs "schedule" to '
        'deploy to Cloud Functions, e.g. schedule = "rate(5 minutes)"')


def test_a_schedule_unix_cron_cannot_say_is_a_config_error(tmp_path: Path) -> None:
    toml = SCHEDULE_TOML.replace("cron(0/15 8-17 ? * MON-FRI *)", "cron(0 12 L * ? *)")
    with pytest.raises(ConfigError) as info:
        schedule_spec(tmp_path, toml)
    assert str(info.value).startswith(
        f'{tmp_path / "fpack.toml"}: [functions.tick] schedule = "cron(0 12 L * ? *)": the day of '
        'month "L" uses L, W or #')


# --- ownership labels, and functions fpack.toml no longer names -----------------------------------


def test_a_function_is_labelled_with_its_project_and_name(spec: gcp.GcpSpec) -> None:
    assert spec.config.labels == {"fpack-project": "photos", "fpack-function": "consume"}
    assert gcp_prune.label("My_Project") == "my-project"
    assert gcp_prune.function_id("Photos", "Make_Thumb") == "photos-make-thumb"


def test_a_missing_label_is_patched_and_present_ones_are_not(spec: gcp.GcpSpec) -> None:
    extra = replace(spec.config, labels={**spec.config.labels, "team": "x"})
    live = LiveFunction(name=spec.name, config=extra, url=None, state="ACTIVE")
    assert gcp.plan_function(spec, live).action == "unchanged"
    bare = LiveFunction(name=spec.name, config=replace(spec.config, labels={"team": "x"}),
                        url=None, state="ACTIVE")
    step = gcp.plan_function(spec, bare)
    assert (step.fields, step.mask()) == (("labels",), ("labels",))


def _live(name: str, **labels: str) -> LiveFunction:
    return LiveFunction(name=f"projects/demo/locations/r/functions/{name}",
                        config=gcp.FunctionConfig(runtime="python312", entry_point="x",
                                                  labels=labels),
                        url=None, state="ACTIVE")


def test_only_a_function_labelled_with_the_project_is_an_orphan() -> None:
    found = [_live("photos-tick", **{"fpack-project": "photos", "fpack-function": "tick"}),
             _live("photos-manual", team="photos"),
             _live("photos-hello", **{"fpack-project": "photos", "fpack-function": "hello"}),
             _live("photos-x", **{"fpack-project": "photos-x"})]
    wanted = {"projects/demo/locations/r/functions/photos-hello"}
    assert gcp_prune.orphans("photos", wanted, found) == (gcp_prune.GcpOrphan(
        function="tick", name="projects/demo/locations/r/functions/photos-tick"),)


def test_an_orphan_is_kept_or_deleted_with_its_job() -> None:
    orphan = gcp_prune.GcpOrphan(function="tick",
                                 name="projects/demo/locations/r/functions/photos-tick")
    assert [c.line() for c in gcp_prune.OrphanStep(orphan=orphan, delete=False).changes()] == [
        "keep    function photos-tick  (not in fpack.toml; --prune deletes it)"]
    with_job = replace(orphan, job="projects/demo/locations/r/jobs/photos-tick")
    step = gcp_prune.OrphanStep(orphan=with_job, delete=True)
    assert [c.line() for c in step.changes()] == ["delete  scheduler job photos-tick",
                                                  "delete  function photos-tick"]
    assert step.result().action == "delete"
