"""`fpack deploy --target gcp` against a fake of the Cloud Functions v2 REST API on loopback.

The fake records every request: the tests assert the bytes uploaded, the runtime, the entry point,
the event trigger, a schedule's topic and Cloud Scheduler job, and that a repeat deploy with nothing
changed sends no create and no patch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import deploy, fpack
from tests.e2e.gcp_fake import FakeCloudFunctions, serve

pytestmark = pytest.mark.e2e
PARENT = "projects/photos-demo/locations/us-central1"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudFunctions]:
    fake = FakeCloudFunctions()
    server = serve(fake)
    monkeypatch.setenv("FPACK_GCP_API_ENDPOINT", f"http://127.0.0.1:{fake.port}")
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(example: Path) -> Path:
    toml = example / "fpack.toml"
    toml.write_text(toml.read_text().replace('trigger = "queue"\n',
                                             'trigger = "queue"\ntopic = "orders"\n'))
    return example


def test_first_deploy_uploads_and_creates(fake: FakeCloudFunctions, project: Path) -> None:
    result = deploy(project, "gcp", "--function", "hello", "--function", "consume",
                    "--function", "thumbnail")

    assert {d["function"]: d["action"] for d in result["deployments"]} == {
        "hello": "create", "consume": "create", "thumbnail": "create"}
    creates = {r.query["functionId"][0]: r for r in fake.calls("POST", "/functions")}
    assert sorted(creates) == ["photos-consume", "photos-hello", "photos-thumbnail"]
    for r in creates.values():
        assert r.path == f"/v2/{PARENT}/functions"
    uploaded = {r.path: r for r in fake.calls("PUT")}
    assert all(r.headers["content-type"] == "application/zip" for r in uploaded.values())
    bundle = (project / "dist/gcp/hello.zip").read_bytes()
    hello = creates["photos-hello"].json()
    source = hello["buildConfig"]["source"]["storageSource"]
    assert fake.uploads[f"/upload/{source['object'].removesuffix('.zip')}"] == bundle
    assert hello["buildConfig"]["runtime"] == "python312"
    assert hello["buildConfig"]["entryPoint"] == "hello"
    assert hello["buildConfig"]["environmentVariables"]["FPACK_BUNDLE_SHA256"] == \
        hashlib.sha256(bundle).hexdigest()
    assert hello["serviceConfig"]["availableMemory"] == "256M"
    assert hello["serviceConfig"]["timeoutSeconds"] == 10
    assert "eventTrigger" not in hello
    assert creates["photos-consume"].json()["eventTrigger"] == {
        "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
        "triggerRegion": "us-central1", "pubsubTopic": "projects/photos-demo/topics/orders"}
    thumb = creates["photos-thumbnail"].json()
    assert thumb["eventTrigger"]["eventFilters"] == [{"attribute": "bucket",
                                                     "value": "photos-uploads"}]
    assert thumb["serviceConfig"]["environmentVariables"]["API_TOKEN"] == "s3cr3t-t0ken-value"
    url = next(d["url"] for d in result["deployments"] if d["function"] == "hello")
    assert url == "https://photos-hello-fake.a.run.app"


def test_repeat_deploy_sends_no_create_or_patch(fake: FakeCloudFunctions, project: Path) -> None:
    deploy(project, "gcp", "--function", "hello")
    sent = len(fake.requests)

    again = deploy(project, "gcp", "--function", "hello")

    later = fake.requests[sent:]
    assert [(r.method, r.path) for r in later] == [("GET", f"/v2/{PARENT}/functions/photos-hello")]
    assert again["deployments"][0]["action"] == "unchanged"


def test_changes_patch_only_what_differs(fake: FakeCloudFunctions, project: Path) -> None:
    deploy(project, "gcp", "--function", "hello")
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace("memory = 256", "memory = 1024", 1))
    sent = len(fake.requests)

    deploy(project, "gcp", "--function", "hello")  # settings only: no upload

    assert not [r for r in fake.requests[sent:] if r.method in ("PUT", "POST")]
    (patch,) = fake.calls("PATCH")
    assert patch.query["updateMask"] == ["serviceConfig.availableMemory"]
    assert patch.json()["serviceConfig"]["availableMemory"] == "1024M"

    api = project / "example" / "api.py"
    api.write_text(api.read_text() + "\nCHANGED = True\n")
    sent = len(fake.requests)
    deploy(project, "gcp", "--function", "hello")  # code: a new bundle, uploaded and patched in
    assert len([r for r in fake.requests[sent:] if r.method == "PUT"]) == 1
    last = fake.calls("PATCH")[-1]
    assert set(last.query["updateMask"][0].split(",")) == {
        "buildConfig.source", "buildConfig.environmentVariables"}


def test_plain_http_endpoint_off_loopback_is_refused(project: Path) -> None:
    proc = fpack(project, "deploy", "--target", "gcp", "--dry-run", "--function", "hello",
                 check=False,
                 env={"FPACK_GCP_API_ENDPOINT": "http://functions.example.com"})
    assert proc.returncode == 2
    assert 'api_endpoint = "http://functions.example.com": plain http is allowed only on ' \
        "loopback" in proc.stderr


def test_a_schedule_function_gets_its_topic_and_scheduler_job(fake: FakeCloudFunctions,
                                                             project: Path) -> None:
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace('trigger = "schedule"\n',
                                             'trigger = "schedule"\ntopic = "ticks"\n'))
    topic, job_name = "projects/photos-demo/topics/ticks", f"{PARENT}/jobs/photos-tick"

    plan = deploy(project, "gcp", "--function", "tick", "--dry-run")["plan"]

    assert plan == ["create  topic projects/photos-demo/topics/ticks",
                    "create  function photos-tick",
                    "create  scheduler job photos-tick  (*/5 * * * *)"]
    assert {r.method for r in fake.requests} == {"GET"}

    deploy(project, "gcp", "--function", "tick")

    writes = [(r.method, r.path) for r in fake.requests if r.method != "GET"]
    assert writes.index(("PUT", f"/v1/{topic}")) < writes.index(("POST", f"/v2/{PARENT}/functions"))
    assert writes[-1] == ("POST", f"/v1/{PARENT}/jobs")
    assert fake.functions[f"{PARENT}/functions/photos-tick"]["eventTrigger"]["pubsubTopic"] == topic
    job = fake.jobs[job_name]
    assert (job["schedule"], job["timeZone"]) == ("*/5 * * * *", "Etc/UTC")
    assert job["pubsubTarget"]["topicName"] == topic
    assert json.loads(base64.b64decode(job["pubsubTarget"]["data"])) == {
        "fpack": "schedule", "function": "tick"}
    assert "fpack" in job["description"]

    sent = len(fake.requests)
    again = deploy(project, "gcp", "--function", "tick")
    assert {r.method for r in fake.requests[sent:]} == {"GET"}
    assert again["deployments"][0]["action"] == "unchanged"

    toml.write_text(toml.read_text().replace("rate(5 minutes)", "cron(0/15 8-17 ? * 2-6 *)"))
    changed = deploy(project, "gcp", "--function", "tick")
    (patch,) = fake.calls("PATCH")
    assert patch.path == f"/v1/{job_name}"
    assert patch.query["updateMask"] == ["schedule"]
    assert fake.jobs[job_name]["schedule"] == "*/15 8-17 * * 1-5"
    assert changed["deployments"][0]["changes"] == ["update  scheduler job photos-tick  (schedule)"]


def test_a_removed_function_is_kept_and_named_then_deleted_with_prune(
        fake: FakeCloudFunctions, project: Path) -> None:
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace('trigger = "schedule"\n',
                                             'trigger = "schedule"\ntopic = "ticks"\n'))
    # A function with the project's prefix that fpack did not deploy: no fpack labels.
    manual = f"{PARENT}/functions/photos-manual"
    fake.functions[manual] = {"name": manual, "labels": {"team": "photos"}, "state": "ACTIVE",
                              "buildConfig": {"runtime": "python312", "entryPoint": "main"},
                              "serviceConfig": {}}
    deploy(project, "gcp")
    tick, job = f"{PARENT}/functions/photos-tick", f"{PARENT}/jobs/photos-tick"
    assert fake.functions[tick]["labels"] == {"fpack-project": "photos",
                                              "fpack-function": "tick"}
    text = toml.read_text()
    toml.write_text(text[:text.index("[functions.tick]")] + text[text.index("[targets.aws]"):])

    kept = deploy(project, "gcp")

    assert tick in fake.functions and job in fake.jobs
    assert "keep    function photos-tick  (not in fpack.toml; --prune deletes it)" in kept["plan"]
    listed = [r.query["filter"] for r in fake.calls("GET", f"{PARENT}/functions")]
    assert listed == [['labels.fpack-project="photos"']] * 2  # one per whole-project deploy
    sent = len(fake.requests)

    dry = deploy(project, "gcp", "--prune", "--dry-run")

    assert dry["plan"][-2:] == ["delete  scheduler job photos-tick", "delete  function photos-tick"]
    assert {r.method for r in fake.requests[sent:]} == {"GET"}

    pruned = deploy(project, "gcp", "--prune")

    writes = [(r.method, r.path) for r in fake.requests[sent:] if r.method != "GET"]
    assert writes == [("DELETE", f"/v1/{job}"), ("DELETE", f"/v2/{tick}")]
    assert [(d["name"], d["action"]) for d in pruned["deployments"] if d["action"] == "delete"] \
        == [(tick, "delete")]
    assert tick not in fake.functions and job not in fake.jobs
    assert "projects/photos-demo/topics/ticks" in fake.topics  # may be shared: left alone
    assert manual in fake.functions
    assert sorted(fake.functions) == sorted(f"{PARENT}/functions/photos-{fn}" for fn in (
        "consume", "hello", "manual", "thumbnail"))


def test_a_function_deployed_without_labels_gets_them_once(fake: FakeCloudFunctions,
                                                          project: Path) -> None:
    deploy(project, "gcp", "--function", "hello")
    hello = f"{PARENT}/functions/photos-hello"
    fake.functions[hello]["labels"] = {"team": "photos"}  # as deployed before fpack labelled

    deploy(project, "gcp", "--function", "hello")

    (patch,) = fake.calls("PATCH")
    assert patch.query["updateMask"] == ["labels"]
    assert fake.functions[hello]["labels"] == {"team": "photos", "fpack-project": "photos",
                                               "fpack-function": "hello"}
    sent = len(fake.requests)
    deploy(project, "gcp", "--function", "hello")
    assert {r.method for r in fake.requests[sent:]} == {"GET"}


def test_concurrency_and_warm_set_the_instance_counts_and_are_removed_with_them(
        fake: FakeCloudFunctions, project: Path) -> None:
    toml = project / "fpack.toml"
    original = toml.read_text()
    toml.write_text(original.replace("url = true\n", "url = true\nconcurrency = 5\nwarm = 2\n", 1))
    hello = f"{PARENT}/functions/photos-hello"

    deploy(project, "gcp", "--function", "hello")

    (create,) = fake.calls("POST", "/functions")
    assert create.json()["serviceConfig"]["maxInstanceCount"] == 5
    assert create.json()["serviceConfig"]["minInstanceCount"] == 2
    toml.write_text(original)

    plan = deploy(project, "gcp", "--function", "hello", "--dry-run")["plan"]

    assert plan == ["update  function photos-hello  (max instances, min instances)"]
    deploy(project, "gcp", "--function", "hello")
    (patch,) = fake.calls("PATCH")
    assert set(patch.query["updateMask"][0].split(",")) == {
        "serviceConfig.maxInstanceCount", "serviceConfig.minInstanceCount"}
    service = fake.functions[hello]["serviceConfig"]
    assert "maxInstanceCount" not in service and "minInstanceCount" not in service
    # Google reports its default max instance count for a function that sets none: left alone.
    service["maxInstanceCount"] = 100
    sent = len(fake.requests)
    assert deploy(project, "gcp", "--function", "hello")["deployments"][0]["action"] == \
        "unchanged"
    assert {r.method for r in fake.requests[sent:]} == {"GET"}
