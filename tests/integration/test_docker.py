"""`fpack build --target docker` images, run as their platforms run them: the http image behind
real HTTP requests and CloudEvents, the lambda image through fpack's Lambda Runtime API.

The images are built from the lab's Debian images (set as base_image, as a user would point at a
mirror), with the example project's compiled dependencies (numpy, Pillow, pydantic-core).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fpack.guest import lambda_rapi
from tests.integration import lab

pytestmark = pytest.mark.lab


def docker_project(base: Path, dest: Path, *, flavor: str = "http",
                   image: str = lab.IMAGES[(3, 11)],
                   repository: str = "fpack-test/photos") -> Path:
    shutil.copytree(base, dest)
    toml = (dest / "fpack.toml").read_text()
    start = toml.index("[targets.docker]")
    toml = toml[:start] + (f'[targets.docker]\nflavor = "{flavor}"\npython = "3.11"\n'
                           f'base_image = "{image}"\nrepository = "{repository}"\n')
    (dest / "fpack.toml").write_text(toml)
    return dest


@pytest.fixture(scope="module")
def http_build(example_project: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> tuple[Path, dict[str, dict[str, Any]]]:
    project = docker_project(example_project, tmp_path_factory.mktemp("http") / "photos",
                             repository="fpack-test/photos-http")
    return project, {m["function"]: m for m in lab.build(project, "docker")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(image: str) -> Iterator[tuple[Any, int]]:
    """The image's own command, its $PORT published on loopback only; removed afterwards."""
    port = _free_port()
    ctr = lab.client().containers.run(image, detach=True,
                                      ports={"8080/tcp": ("127.0.0.1", port)})
    try:
        for _ in range(200):  # ready when it answers: no timing assertion, just a bounded wait
            with contextlib.suppress(OSError, http.client.HTTPException):
                request(port, "GET", "/")
                break
            time.sleep(0.05)
        yield ctr, port
    finally:
        ctr.remove(force=True)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def test_manifests_name_images_built_from_the_configured_base(
        http_build: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    _, manifests = http_build
    assert set(manifests) == {"hello", "thumbnail", "consume", "tick"}
    hello = manifests["hello"]
    assert hello["kind"] == "image" and "path" not in hello
    assert hello["image"].startswith("fpack-test/photos-http/hello:")
    assert hello["tags"] == [hello["image"], "fpack-test/photos-http/hello:latest"]
    assert hello["base_image"] == lab.IMAGES[(3, 11)] and hello["arch"] == "x86_64"
    attrs = lab.client().images.get(hello["image"]).attrs
    assert attrs["Id"] == hello["image_id"] and attrs["Config"]["User"] == "65532:65532"
    assert {"pydantic-core", "pillow", "numpy"} <= {p["name"] for p in hello["packages"]}


def test_http_image_serves_requests_as_a_non_root_user(
        http_build: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    image = http_build[1]["hello"]["image"]
    with serving(image) as (ctr, port):
        status, headers, body = request(port, "GET", "/items?name=docker",
                                        headers={"User-Agent": "lab"})
        assert status == 200 and headers["content-type"] == "application/json"
        assert json.loads(body) == {"hello": "docker", "path": "/items", "agent": "lab"}
        status, _, body = request(port, "POST", "/", json.dumps({"width": 1024, "height": 512})
                                  .encode(), {"Content-Type": "application/json"})
        assert (status, json.loads(body)) == (200, {"thumbnail": [128, 64], "keep_ratio": True})
        assert ctr.exec_run(["python3", "-c", "import os; print(os.getuid())"]).output == \
            b"65532\n"
        logs = ctr.logs().decode()
    access = [line for line in logs.splitlines() if '"GET /items' in line or '"POST /' in line]
    assert len(access) == 2  # one line per request


def test_http_image_takes_cloudevents_in_binary_and_structured_mode(
        http_build: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    gcs = lab.event("gcp", "storage_finalized")
    binary = {f"ce-{k}": v for k, v in gcs.items() if k not in ("data", "datacontenttype")}
    with serving(http_build[1]["thumbnail"]["image"]) as (ctr, port):
        status, _, _ = request(port, "POST", "/", json.dumps(gcs["data"]).encode(),
                               {**binary, "Content-Type": "application/json"})
        assert status == 204
        listing = ctr.exec_run(["ls", "/tmp/photos"]).output.decode()
        assert "incoming_holiday photos_café (1).jpg.png" in listing  # drawn by Pillow
    pubsub = lab.event("gcp", "pubsub_message")
    order = json.dumps({"id": 7, "photos": ["a.jpg", "b.jpg"]}).encode()
    pubsub["data"]["message"]["data"] = base64.b64encode(order).decode()
    with serving(http_build[1]["consume"]["image"]) as (ctr, port):
        status, _, _ = request(port, "POST", "/", json.dumps(pubsub).encode(),
                               {"Content-Type": "application/cloudevents+json"})
        assert status == 204
        orders = ctr.exec_run(["cat", "/tmp/photos/orders.jsonl"]).output
        assert orders == b'{"id": 7, "count": 2}\n'
        pubsub["data"]["message"]["data"] = base64.b64encode(b"not json").decode()
        status, _, _ = request(port, "POST", "/", json.dumps(pubsub).encode(),
                               {"Content-Type": "application/cloudevents+json"})
        assert status == 500  # the handler failed: the sender retries


def test_sigterm_stops_the_http_container_gracefully(
        http_build: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    with serving(http_build[1]["hello"]["image"]) as (ctr, port):
        assert request(port, "GET", "/")[0] == 200
        ctr.kill(signal="SIGTERM")
        status = ctr.wait(timeout=60)
        logs = ctr.logs().decode()
    # Exit 0 is the server's own graceful return; a container killed after its grace is 137.
    assert status["StatusCode"] == 0
    assert "SIGTERM received" in logs and "server stopped" in logs


def test_a_handler_only_change_rebuilds_only_the_last_layer(
        http_build: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    project, manifests = http_build
    before = lab.client().images.get(manifests["hello"]["image_id"]).attrs["RootFS"]["Layers"]
    again = lab.fpack(project, "build", "--target", "docker", "--function", "hello")
    assert "building image" not in again.stderr  # nothing changed: the tagged image is reused
    api = project / "example" / "api.py"
    api.write_text(api.read_text().replace('"hello": name', '"hi": name'))
    edited = {m["function"]: m for m in lab.build(project, "docker", "--function", "hello")}
    after = lab.client().images.get(edited["hello"]["image_id"]).attrs["RootFS"]["Layers"]
    assert edited["hello"]["image_id"] != manifests["hello"]["image_id"]
    assert len(after) == len(before)
    assert after[:-1] == before[:-1]  # base, dependencies and runtime layers reused
    assert after[-1] != before[-1]
    with serving(edited["hello"]["image"]) as (_, port):
        assert json.loads(request(port, "GET", "/?name=x")[2])["hi"] == "x"


def _runtime_api_run(image: str, handler: str, event: Any, workdir: Path,
                     after: str = "") -> tuple[dict[str, Any], str]:
    """Invoke the image's awslambdaric through lambda_rapi, as Lambda's service would."""
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    shutil.copy(Path(lambda_rapi.__file__), workdir / "lambda_rapi.py")
    (workdir / "event.json").write_text(json.dumps(event))
    for f in workdir.iterdir():
        f.chmod(0o644)
    script = ("python3 /run/lambda_rapi.py invoke --event /run/event.json --function-name t -- "
              f"python3 -m awslambdaric {handler}{after}")
    out = lab.client().containers.run(
        image, ["-c", script], entrypoint=["sh"], remove=True, network_mode="none",
        read_only=True, tmpfs={"/tmp": "rw,mode=1777"}, stdout=True, stderr=False,
        volumes={str(workdir): {"bind": "/run", "mode": "ro"}}).decode()
    line = next(x for x in out.splitlines() if x.startswith(lambda_rapi.RESULT_MARK))
    return json.loads(line[len(lambda_rapi.RESULT_MARK):]), out


def test_lambda_image_answers_runtime_api_invocations(example_project: Path,
                                                     tmp_path: Path) -> None:
    project = docker_project(example_project, tmp_path / "photos", flavor="lambda",
                             repository="fpack-test/photos-lambda")
    manifests = {m["function"]: m for m in lab.build(
        project, "docker", "--function", "hello", "--function", "thumbnail")}
    hello = manifests["hello"]
    assert hello["handler"] == "fpack_entry.hello" and hello["flavor"] == "lambda"
    config = lab.client().images.get(hello["image"]).attrs["Config"]
    assert config["Entrypoint"] == ["python3", "-m", "awslambdaric"]
    assert config["Cmd"] == ["fpack_entry.hello"]
    v2 = lab.event("aws", "apigw_v2")
    v2["body"] = base64.b64encode(b'{"width": 1024, "height": 512}').decode()
    outcome, _ = _runtime_api_run(hello["image"], "fpack_entry.hello", v2, tmp_path / "h")
    assert outcome["ok"] and outcome["result"]["statusCode"] == 200
    assert json.loads(outcome["result"]["body"]) == {"thumbnail": [128, 64], "keep_ratio": True}
    outcome, out = _runtime_api_run(manifests["thumbnail"]["image"], "fpack_entry.thumbnail",
                                    lab.event("aws", "s3_put"), tmp_path / "t",
                                    after="; ls /tmp/photos")
    assert outcome == {"ok": True, "result": None}
    assert "incoming_holiday photos_café (1).jpg.png" in out  # Pillow ran in the image


def test_arm64_image_is_recorded_arm64_and_runs_under_qemu(example_project: Path,
                                                          tmp_path: Path) -> None:
    project = docker_project(example_project, tmp_path / "photos",
                             image=lab.ARM64_IMAGES[(3, 11)], repository="fpack-test/photos-arm")
    manifests = lab.build(project, "docker", "--function", "hello", "--arch", "arm64")
    hello = manifests[0]
    assert hello["arch"] == "arm64"
    attrs = lab.client().images.get(hello["image_id"]).attrs
    assert attrs["Architecture"] == "arm64"
    proc = lab.fpack(project, "invoke", "hello", "--target", "docker", "--sample", "http")
    assert json.loads(proc.stdout)["body"] == {"hello": "fpack", "path": "/items",
                                               "agent": "fpack-invoke"}


CHECK_PYCS = """
import importlib.util, pathlib, sys
sys.dont_write_bytecode = True
for module in ("/app/app.py", "/opt/fpack/runtime/fpack/runtime/api.py"):
    pyc = pathlib.Path(importlib.util.cache_from_source(module))
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    print(pyc.name, "unchecked-hash" if flags == 1 else f"flags={flags}")
"""


def test_compile_true_ships_unchecked_hash_pycs_in_the_image(tmp_path: Path) -> None:
    """compile = true: the function's modules and the runtime are compiled by the image's Python
    as unchecked-hash pycs (the image runs as a user who could not write them), and it serves."""
    (tmp_path / "app.py").write_text(
        "import fpack\n\n\ndef hello(request: fpack.Request) -> dict:\n"
        "    return {'compiled': True}\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "pyc"\npython = "3.11"\n\n[functions.hello]\nhandler = "app:hello"\n'
        f'\n[targets.docker]\nbase_image = "{lab.IMAGES[(3, 11)]}"\n'
        f'build_image = "{lab.IMAGES[(3, 11)]}"\nrepository = "fpack-test/pyc"\ncompile = true\n')
    (manifest,) = lab.build(tmp_path, "docker")
    with serving(manifest["image"]) as (ctr, port):
        status, _, body = request(port, "GET", "/")
        assert (status, json.loads(body)) == (200, {"compiled": True})
        found = ctr.exec_run(["python3", "-c", CHECK_PYCS]).output.decode().split()
    assert found == ["app.cpython-311.pyc", "unchecked-hash", "api.cpython-311.pyc",
                     "unchecked-hash"]
