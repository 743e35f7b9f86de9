"""`fpack deploy --target docker` with `[targets.docker] cloud_run`: the images pushed to Debian's
docker-registry on loopback, then one Cloud Run service per http function through a fake of the
Cloud Run Admin API v2 (cloud_run_fake.py), which records every request.

Asserted from the fake's state: the service runs the pushed digest with fpack.toml's settings, a
repeat deploy writes nothing (and so makes no revision), a changed env is one update, removed
scaling keys are cleared, and --prune deletes only the services fpack labelled for this project.
Then the image itself is pulled by that digest and run as Cloud Run runs it: the service's
environment, and $PORT set (here to a port other than the image's default) for it to listen on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.cloud_run_fake import FakeCloudRun, serve
from tests.e2e.conftest import deploy, fpack, free_port
from tests.e2e.test_registry_push import LAB_IMAGE, _get, registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e
PARENT = "projects/tiny-demo/locations/europe-west1"
HELLO = f"{PARENT}/services/tiny-hello"
HANDLER = '''import os

import fpack


def hello(request: fpack.Request) -> fpack.Response:
    return fpack.Response.json({"hello": request.query.get("name", "world"),
                                "greeting": os.environ.get("GREETING", "")})


def consume(message: fpack.Message) -> None:
    pass
'''
TOML = f'''[project]
name = "tiny"
python = "3.11"

[functions.hello]
handler = "app:hello"
memory = 512
timeout = 20
url = true
concurrency = 4
warm = 1
env = {{ GREETING = "hi", API_TOKEN = "s3cr3t-t0ken-value" }}

[functions.consume]
handler = "app:consume"
trigger = "queue"

[targets.docker]
base_image = "{LAB_IMAGE}"
repository = "REGISTRY/tiny"
cloud_run = {{ project = "tiny-demo", region = "europe-west1" }}
'''


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudRun]:
    fake = FakeCloudRun()
    server = serve(fake)
    monkeypatch.setenv("FPACK_CLOUD_RUN_API_ENDPOINT", f"http://127.0.0.1:{fake.port}")
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path: Path, registry: str) -> Path:  # noqa: F811 - the imported fixture
    (tmp_path / "app.py").write_text(HANDLER)
    (tmp_path / "fpack.toml").write_text(TOML.replace("REGISTRY", registry))
    return tmp_path


def _container(service: dict[str, Any]) -> dict[str, Any]:
    (container,) = service["template"]["containers"]
    return dict(container)


def test_first_deploy_creates_the_service_on_the_pushed_digest(fake: FakeCloudRun,
                                                               project: Path,
                                                               registry: str) -> None:  # noqa: F811
    result = deploy(project, "docker")

    by = {(d["target"], d["function"]): d for d in result["deployments"]}
    digest = by[("docker", "hello")]["digest"]
    assert digest.startswith("sha256:")
    service = fake.services[HELLO]
    container = _container(service)
    assert container["image"] == f"{registry}/tiny/hello@{digest}"
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "API_TOKEN": "s3cr3t-t0ken-value", "GREETING": "hi"}
    assert service["template"]["timeout"] == "20s"
    assert service["template"]["scaling"] == {"maxInstanceCount": 4, "minInstanceCount": 1}
    assert service["labels"] == {"fpack-project": "tiny", "fpack-function": "hello",
                                 "fpack-target": "docker"}
    assert fake.public(HELLO)  # url = true: allUsers may invoke it
    assert sorted(fake.services) == [HELLO]  # a queue function is pushed, not served
    run = by[("cloud-run", "hello")]
    assert (run["action"], run["url"], run["digest"]) == (
        "create", "https://tiny-hello-fake.a.run.app", digest)
    assert fake.revisions == {HELLO: 1}


def test_a_repeat_sends_no_write_and_a_changed_env_one_update(fake: FakeCloudRun,
                                                             project: Path) -> None:
    deploy(project, "docker")
    sent = len(fake.requests)

    again = deploy(project, "docker")

    assert fake.writes(sent) == []
    assert {d["action"] for d in again["deployments"]} == {"unchanged"}
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace('GREETING = "hi"', 'GREETING = "hello"'))
    sent = len(fake.requests)

    changed = deploy(project, "docker")

    assert fake.writes(sent) == [("PATCH", f"/v2/{HELLO}")]
    assert {e["name"]: e["value"] for e in _container(fake.services[HELLO])["env"]}["GREETING"] \
        == "hello"
    assert fake.revisions == {HELLO: 2}
    (run,) = [d for d in changed["deployments"] if d["target"] == "cloud-run"]
    # The http image bakes its env in too (templates/Dockerfile.http.j2): a new digest, the same
    # one update.
    assert run["changes"] == ["update  service tiny-hello  (image, environment: GREETING)"]
    assert _container(fake.services[HELLO])["image"].endswith(run["digest"])


def test_removed_scaling_and_url_are_removed(fake: FakeCloudRun, project: Path) -> None:
    deploy(project, "docker")
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace("url = true\nconcurrency = 4\nwarm = 1\n", ""))

    plan = deploy(project, "docker", "--dry-run")["plan"]

    assert "update  service tiny-hello  (max instances, min instances)" in plan
    assert "delete  invoker allUsers on service tiny-hello  (url = true removed)" in plan
    deploy(project, "docker")
    assert fake.services[HELLO]["template"].get("scaling", {}) == {}  # Cloud Run's defaults
    assert not fake.public(HELLO)


def test_prune_deletes_only_the_services_fpack_labelled(fake: FakeCloudRun,
                                                       project: Path) -> None:
    fake.add(f"{PARENT}/services/tiny-manual", {"labels": {"team": "tiny"}, "template": {}})
    # What Cloud Functions runs for a function `fpack deploy --target gcp` made: fpack's project
    # label, but not the docker target's.
    fake.add(f"{PARENT}/services/tiny-fn", {"labels": {
        "fpack-project": "tiny", "fpack-function": "fn", "goog-managed-by": "cloudfunctions"},
        "template": {}})
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace("[functions.consume]", "[functions.old]\n"
                                             'handler = "app:hello"\n\n[functions.consume]'))
    deploy(project, "docker")
    old = f"{PARENT}/services/tiny-old"
    assert old in fake.services
    text = toml.read_text()
    toml.write_text(text[:text.index("[functions.old]")] + text[text.index("[functions.consume]"):])

    kept = deploy(project, "docker")

    assert "keep    service tiny-old  (not in fpack.toml; --prune deletes it)" in kept["plan"]
    assert old in fake.services
    sent = len(fake.requests)
    assert deploy(project, "docker", "--prune", "--dry-run")["plan"][-1] == \
        "delete  service tiny-old"
    assert fake.writes(sent) == []

    pruned = deploy(project, "docker", "--prune")

    assert fake.writes(sent) == [("DELETE", f"/v2/{old}")]
    assert [(d["name"], d["action"]) for d in pruned["deployments"] if d["action"] == "delete"] \
        == [(old, "delete")]
    assert sorted(fake.services) == [f"{PARENT}/services/tiny-{s}" for s in ("fn", "hello",
                                                                            "manual")]


def test_a_cloud_functions_service_of_the_same_name_is_not_taken_over(fake: FakeCloudRun,
                                                                     project: Path) -> None:
    fake.add(HELLO, {"labels": {"goog-managed-by": "cloudfunctions"}, "template": {}})

    proc = fpack(project, "deploy", "--target", "docker", check=False)

    assert proc.returncode == 1, proc.stderr
    assert f"Cloud Run service {HELLO} exists and is managed by cloudfunctions" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert fake.writes() == []


def test_plain_http_endpoint_off_loopback_is_refused(project: Path) -> None:
    proc = fpack(project, "deploy", "--target", "docker", "--dry-run", check=False,
                 env={"FPACK_CLOUD_RUN_API_ENDPOINT": "http://run.example.com"})
    assert proc.returncode == 2
    assert '[targets.docker] cloud_run.api_endpoint = "http://run.example.com": plain http is ' \
        "allowed only on loopback" in proc.stderr


def test_the_service_image_answers_on_port_as_cloud_run_calls_it(fake: FakeCloudRun,
                                                                 project: Path) -> None:
    """Pulled by the service's digest (local tags removed first) and run with the service's
    environment and $PORT, which Cloud Run sets to the container port: here 9090, not the
    image's default 8080, so only an image that listens on $PORT answers."""
    deploy(project, "docker")
    container = _container(fake.services[HELLO])
    reference = container["image"]
    c = docker.from_env()
    for tag in c.images.get(reference).tags:
        c.images.remove(tag)
    c.images.pull(reference)
    env = {e["name"]: e["value"] for e in container["env"]} | {"PORT": "9090"}
    port = free_port()
    ctr = c.containers.run(reference, detach=True, environment=env,
                           ports={"9090/tcp": ("127.0.0.1", port)})
    try:
        assert _get(f"http://127.0.0.1:{port}/?name=run") == {"hello": "run",
                                                              "greeting": "hi"}
    finally:
        ctr.remove(force=True)
        c.images.remove(reference, force=True)
