"""`fpack invoke` and `fpack serve` on every target: the same portable function, built as an aws
zip, a gcp bundle and a docker image, answers the same request the same way."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration import lab

pytestmark = pytest.mark.lab

LAB = lab.IMAGES[(3, 11)]


@pytest.fixture(scope="module")
def project(example_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example on Python 3.11 for every target, every image setting pointed at the lab."""
    dest = tmp_path_factory.mktemp("invoke") / "photos"
    shutil.copytree(example_project, dest)
    toml = (dest / "fpack.toml").read_text()
    toml = toml[:toml.index("[targets.aws]")] + (
        f'[targets.aws]\nruntime = "python3.11"\nlayer = true\nbase_image = "{LAB}"\n'
        f'[targets.gcp]\nruntime = "python311"\nbase_image = "{LAB}"\n'
        f'[targets.docker]\npython = "3.11"\nbase_image = "{LAB}"\n'
        'repository = "fpack-test/photos-invoke"\n')
    (dest / "fpack.toml").write_text(toml)
    for target in ("aws", "gcp", "docker"):
        lab.build(project=dest, target=target)
    return dest


def invoke(project: Path, *args: str) -> tuple[int, Any]:
    proc = lab.fpack(project, "invoke", *args, check=False)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_the_same_request_gets_the_same_answer_on_every_target(project: Path,
                                                               tmp_path: Path) -> None:
    event = tmp_path / "resize.json"
    event.write_text(json.dumps({"method": "POST", "path": "/resize?x=1",
                                 "headers": {"Content-Type": "application/json"},
                                 "body": json.dumps({"width": 1024, "height": 512})}))
    answers = {t: invoke(project, "hello", "--target", t, "--event", str(event))
               for t in ("aws", "gcp", "docker")}
    assert answers["aws"] == answers["gcp"] == answers["docker"] == (0, {
        "status": 200, "headers": {"content-type": "application/json"},
        "body": {"thumbnail": [128, 64], "keep_ratio": True}})


def test_event_functions_run_from_the_packaged_samples(project: Path) -> None:
    assert invoke(project, "thumbnail", "--target", "aws", "--sample", "s3") == \
        (0, {"result": None})
    # functions-framework acknowledges a CloudEvent with 200 "OK", fpack's server with 204
    for target, status in (("gcp", 200), ("docker", 204)):
        code, answer = invoke(project, "thumbnail", "--target", target, "--sample", "storage")
        assert (code, answer["status"]) == (0, status), target
    code, answer = invoke(project, "consume", "--target", "aws")  # the sqs sample: 2 bad messages
    assert code == 0 and len(answer["result"]["batchItemFailures"]) == 2
    # the sns sample's message is a valid order: the same handler takes it from a topic
    assert invoke(project, "consume", "--target", "aws", "--sample", "sns") == \
        (0, {"result": None})
    code, answer = invoke(project, "consume", "--target", "docker", "--sample", "pubsub")
    assert code == 1 and answer == {"error": {"errorType": "HTTP 500", "errorMessage": (
        "{'error': 'internal server error'}")}}


def test_a_handler_that_cannot_import_is_reported_as_lambda_reports_it(project: Path,
                                                                       tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    # Broken in the source: invoke builds what is stale first, so the artifact has it too.
    images = broken / "example/images.py"
    images.write_text(images.read_text() + "\nimport os\nos.nope  # noqa\n")
    code, answer = invoke(broken, "tick", "--target", "aws")
    assert code == 1 and answer["error"]["errorType"] == "AttributeError", answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, bytes]:
    for _ in range(600):  # until the container listens; bounded, and no timing assertion
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection.request("GET", path)
                reply = connection.getresponse()
                return reply.status, reply.read()
        finally:
            connection.close()
        time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


@pytest.mark.parametrize("target", ["aws", "docker", "gcp"])
def test_serve_answers_on_localhost_and_cleans_up(project: Path, target: str) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fpack", "serve", "hello", "--target", target, "--port", str(port)],
        cwd=project, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        status, body = _get(port, "/photos?name=served")
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert status == 200, err.decode()
    assert json.loads(body)["hello"] == "served"
    running = [c for c in lab.client().containers.list()
               if any(p and p[0].get("HostPort") == str(port)
                      for p in (c.attrs["NetworkSettings"]["Ports"] or {}).values())]
    assert running == []  # the container was stopped and removed
