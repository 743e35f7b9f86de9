"""Local runs without Docker: event conversion, answers in one shape, and the Runtime API emulator
spoken to over loopback HTTP exactly as awslambdaric speaks to it."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from fpack import config
from fpack.errors import ContainerError, UsageError
from fpack.guest import lambda_rapi
from fpack.local import events as local_events
from fpack.local import invoke
from fpack.local.serve import check_port, http_response
from fpack.manifest import from_json
from fpack.runtime.api import Headers, Request, Response
from fpack.runtime.aws import lambda_handler
from fpack.runtime.cloudevents import from_http
from tests.events import SAMPLE_OF
from tests.events import load as event

# --- samples and conversions ---------------------------------------------------------------------

def test_every_sample_parses_and_is_of_the_kind_its_name_says() -> None:
    kinds = {"http": "http-request", "apigw-v1": "apigw-v1", "apigw-v2": "apigw-v2",
             "function-url": "apigw-v2", "s3": "s3", "s3-delete": "s3", "sqs": "sqs",
             "eventbridge": "eventbridge", "gcs": "cloudevent", "gcs-delete": "cloudevent",
             "pubsub": "cloudevent", "scheduler": "cloudevent", "sns": "sns",
             "kinesis": "kinesis", "dynamodb": "dynamodb"}
    assert set(kinds) == set(local_events.SAMPLES)
    for name, kind in kinds.items():
        family = local_events.SAMPLES[name] or "http"
        assert local_events.kind_of(local_events.sample(name, family)) == kind, name


def test_the_tests_input_events_are_packaged_samples_of_their_own_family() -> None:
    # tests/events keeps no copies: each golden input is read from the sample fpack ships
    assert len(set(SAMPLE_OF.values())) == len(SAMPLE_OF)
    for (platform, name), sample in SAMPLE_OF.items():
        assert local_events.SAMPLES[sample] in (None, "lambda" if platform == "aws" else "http")
        assert event(platform, name) == local_events.sample(sample, "http" if platform == "gcp"
                                                            else "lambda"), name


def test_a_trigger_name_picks_the_families_usual_event() -> None:
    assert local_events.kind_of(local_events.sample("storage", "lambda")) == "s3"
    assert local_events.kind_of(local_events.sample("storage", "http")) == "cloudevent"
    assert local_events.sample("http", "lambda") == local_events.sample("http", "http")


def test_a_sample_of_the_other_family_names_the_right_one() -> None:
    with pytest.raises(UsageError) as info:
        local_events.sample("s3", "http")
    assert str(info.value) == ("--sample s3: a lambda event, for an aws zip or a lambda image; "
                               "this artifact takes http events (e.g. --sample gcs)")
    with pytest.raises(UsageError) as info:
        local_events.sample("nope", "http")
    assert str(info.value).startswith("--sample nope: no such sample; expected one of http, ")


def test_an_http_request_becomes_the_event_the_portable_runtime_reads_back() -> None:
    request = {"method": "post", "path": "/items/7?tag=a&tag=b&q=x%20y",
               "headers": {"Content-Type": "application/json", "Cookie": "a=1; b=2"},
               "body": '{"n": 1}'}
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return Response.json({"ok": True}, status=201)

    result = lambda_handler(handler, trigger="http", style="portable")(
        local_events.http_to_apigw_v2(request), None)
    req = seen[0]
    assert (req.method, req.path, req.query.getall("tag")) == ("POST", "/items/7", ["a", "b"])
    assert req.query.get("q") == "x y" and req.json() == {"n": 1}
    assert req.headers.get("content-type") == "application/json"
    assert req.cookies == {"a": "1", "b": "2"}
    reply = local_events.lambda_reply({"ok": True, "result": result}, "http")
    assert (reply.status, reply.body, reply.headers["content-type"]) == \
        (201, {"ok": True}, "application/json")


def test_api_gateway_events_become_the_request_they_stood_for() -> None:
    v2 = local_events.apigw_to_http(event("aws", "apigw_v2"))
    assert v2["method"] == "POST"
    assert v2["path"] == "/hello/world?lang=fr&tag=x&tag=y&q=a%20b%26c"  # the stage is dropped
    assert v2["headers"]["cookie"] == "sid=abc123; theme=dark"
    v1 = local_events.apigw_to_http(event("aws", "apigw_v1"))
    assert v1["method"] == event("aws", "apigw_v1")["httpMethod"]
    assert "host" not in {k.lower() for k in v1["headers"]}


def test_a_cloudevent_is_sent_in_binary_mode_and_read_back_whole() -> None:
    structured = event("gcp", "storage_finalized")
    request = local_events.for_http(structured, "storage")
    assert request["method"] == "POST"
    assert request["headers"]["ce-type"] == "google.cloud.storage.object.v1.finalized"
    assert request["headers"]["content-type"] == "application/json"
    headers = Headers(list(request["headers"].items()))
    attributes, data = from_http(headers, request["body"].encode())
    assert attributes["id"] == structured["id"] and attributes["subject"] == structured["subject"]
    assert json.loads(data) == structured["data"]  # type: ignore[arg-type]


def test_events_that_cannot_cross_families_are_usage_errors() -> None:
    with pytest.raises(UsageError) as info:
        local_events.for_http(event("aws", "s3_put"), "storage")
    assert str(info.value) == ("a s3 event cannot be sent to an http server; use an HTTP request "
                               "or a CloudEvent, e.g. --sample gcs")
    with pytest.raises(UsageError) as info:
        local_events.for_lambda(event("gcp", "pubsub_message"), "queue")
    assert str(info.value) == ("a CloudEvent cannot be delivered to Lambda; use a Lambda event, "
                               "e.g. --sample sqs")


def test_the_same_answer_reads_the_same_from_lambda_and_from_http() -> None:
    body = '{"hello":"fpack"}'
    from_lambda = local_events.lambda_reply({"ok": True, "result": {
        "statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body,
        "isBase64Encoded": False, "cookies": []}}, "http")
    from_http_server = local_events.http_reply({"ok": True, "status": 200, "headers": [
        ["content-type", "application/json"], ["content-length", "17"],
        ["date", "Mon, 01 Jan 2024 00:00:00 GMT"], ["server", "fpack"]], "body": body}, "http")
    assert from_lambda.to_json() == from_http_server.to_json() == {
        "status": 200, "headers": {"content-type": "application/json"}, "body": {"hello": "fpack"}}


def test_binary_bodies_and_failures_in_replies() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    reply = local_events.lambda_reply({"ok": True, "result": {
        "statusCode": 200, "headers": {"content-type": "image/png"}, "body": png,
        "isBase64Encoded": True}}, "http")
    assert reply.body == {"base64": png}
    failed = local_events.http_reply({"ok": True, "status": 500, "headers": [], "body": ""},
                                     "storage")
    assert not failed.ok and failed.to_json() == {"error": {"errorType": "HTTP 500",
                                                            "errorMessage": "None"}}
    error = {"errorType": "ValueError", "errorMessage": "bad"}
    assert local_events.lambda_reply({"ok": False, "error": error}, "queue").to_json() == \
        {"error": error}
    assert local_events.lambda_reply({"ok": True, "result": None}, "storage").to_json() == \
        {"result": None}


# --- the Runtime API ----------------------------------------------------------------------------

class Client:
    """What awslambdaric does, over one keep-alive connection."""

    def __init__(self, server: Any) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1],
                                                     timeout=10)

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        data = None if body is None else json.dumps(body).encode()
        self.connection.request(method, lambda_rapi.PREFIX + path, body=data,
                                headers=headers or {})
        reply = self.connection.getresponse()
        return reply.status, reply.headers, reply.read()


@pytest.fixture
def api() -> Any:
    server = lambda_rapi.start_api("resize", 5.0, "127.0.0.1", 0)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(api: Any) -> Any:
    c = Client(api)
    yield c
    c.connection.close()


def test_next_response_round_trip(api: Any, client: Client) -> None:
    invocation = lambda_rapi.Invocation(b'{"n": 2}', 30)
    lambda_rapi.api_of(api).submit(invocation)
    status, headers, body = client.call("GET", "/invocation/next")
    assert status == 200 and json.loads(body) == {"n": 2}
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    assert request_id == invocation.id
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:resize")
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) == invocation.deadline_ms
    status, _, _ = client.call("POST", f"/invocation/{request_id}/response", {"n": 4})
    assert status == 202
    assert lambda_rapi.wait(invocation, 5) == {"ok": True, "result": {"n": 4}}
    status, _, _ = client.call("POST", f"/invocation/{request_id}/response", {"n": 5})
    assert status == 400  # a request id answers once


def test_an_error_is_reported_with_its_type(api: Any, client: Client) -> None:
    invocation = lambda_rapi.Invocation(b"{}", 30)
    lambda_rapi.api_of(api).submit(invocation)
    _, headers, _ = client.call("GET", "/invocation/next")
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
    client.call("POST", f"/invocation/{headers['Lambda-Runtime-Aws-Request-Id']}/error", error,
                {"Lambda-Runtime-Function-Error-Type": "Runtime.Unhandled"})
    assert lambda_rapi.wait(invocation, 5) == {"ok": False, "kind": "invoke", "error": error}


def test_an_init_error_fails_what_is_waiting(api: Any, client: Client) -> None:
    invocation = lambda_rapi.Invocation(b"{}", 30)
    lambda_rapi.api_of(api).submit(invocation)
    client.call("POST", "/init/error", {"errorMessage": "No module named 'app'",
                                             "errorType": "Runtime.ImportModuleError"})
    outcome = lambda_rapi.wait(invocation, 5)
    assert outcome["kind"] == "init" and outcome["error"]["errorType"] == \
        "Runtime.ImportModuleError"


def test_no_answer_in_time_is_lambdas_timeout() -> None:
    invocation = lambda_rapi.Invocation(b"{}", 0.01)
    assert lambda_rapi.wait(invocation, 0.01) == {"ok": False, "kind": "timeout", "error": {
        "errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 0.01 seconds"}}


def test_the_bootstrap_context_reads_the_invocation_headers(monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    context = lambda_rapi.Context({"Lambda-Runtime-Aws-Request-Id": "r-1",
                                   "Lambda-Runtime-Deadline-Ms": "0"}, "app.handler")
    assert context.aws_request_id == "r-1" and context.memory_limit_in_mb == "512"
    assert context.get_remaining_time_in_millis() == 0


def test_the_bootstrap_runs_a_handler_against_the_api(api: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "boot_app.py").write_text(
        "def handler(event, context):\n"
        "    if event.get('fail'):\n        raise KeyError('missing')\n"
        "    return {'twice': event['n'] * 2, 'id': context.aws_request_id}\n")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", f"127.0.0.1:{api.server_address[1]}")
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    state = lambda_rapi.api_of(api)
    good, bad = lambda_rapi.Invocation(b'{"n": 21}', 30), lambda_rapi.Invocation(b'{"fail": 1}', 30)
    state.submit(good)
    state.submit(bad)
    threading.Thread(target=lambda_rapi.bootstrap, args=("boot_app.handler",), daemon=True).start()
    assert lambda_rapi.wait(good, 5) == {"ok": True, "result": {"twice": 42, "id": good.id}}
    failed = lambda_rapi.wait(bad, 5)
    assert failed["error"]["errorType"] == "KeyError"
    assert failed["error"]["errorMessage"] == "'missing'"


# --- the host side ------------------------------------------------------------------------------

def test_lambda_results_become_http_responses_as_api_gateway_makes_them() -> None:
    assert http_response({"ok": True, "result": {
        "statusCode": 201, "headers": {"X-A": "1"}, "cookies": ["s=1"],
        "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}}) == \
        (201, [("X-A", "1"), ("Set-Cookie", "s=1")], b"\x00\x01")
    assert http_response({"ok": True, "result": {"a": 1}}) == \
        (200, [("Content-Type", "application/json")], b'{"a": 1}')
    assert http_response({"ok": False, "error": {"errorType": "E"}})[0] == 502


def test_the_outcome_line_is_found_among_the_logs() -> None:
    out = 'starting\nFPACK-RESULT {"ok": true, "result": 3}\n'
    outcome, logs = invoke.parse_outcome(out, "warning\n", 0, "img")
    assert outcome == {"ok": True, "result": 3}
    assert logs == "starting\nwarning"
    with pytest.raises(ContainerError) as info:
        invoke.parse_outcome("", "python3: not found\n", 127, "img")
    assert str(info.value).startswith("img: the local run ended (exit status 127) without a "
                                      "result:\npython3: not found")


def test_invoking_what_was_not_built_says_how_to_build_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def hello(request):\n    return {}\n")
    (tmp_path / "fpack.toml").write_text('[functions.hello]\nhandler = "app:hello"\n')
    project = config.load(tmp_path / "fpack.toml")
    with pytest.raises(UsageError) as info:
        invoke.load_manifest(project, "aws", "hello", tmp_path / "dist")
    assert str(info.value) == (
        f"{tmp_path}/dist/aws/hello.manifest.json: no such file: function hello was not built "
        "for aws\n  hint: run `fpack build --target aws --function hello` first")
    with pytest.raises(UsageError):
        invoke.load_manifest(project, "aws", "nope", tmp_path / "dist")
    image = {"function": "hello", "kind": "image", "runtime": "python3.12", "image": "r/h:1",
             "image_id": "sha256:1", "base_image": "python:3.12-slim", "flavor": "lambda"}
    bundle = {"function": "hello", "target": "gcp", "runtime": "python312", "path": "h.zip",
              "signature_type": "http"}
    assert invoke.family("docker", from_json(image, tmp_path)) == "lambda"
    assert invoke.family("gcp", from_json(bundle, tmp_path)) == invoke.family(
        "docker", from_json({**image, "flavor": "http"}, tmp_path)) == "http"


def test_serve_refuses_a_busy_port_before_starting_anything() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError) as info:
            check_port(port)
    assert str(info.value).startswith(f"--port {port}: 127.0.0.1:{port} is already in use")
    assert "--port N" in (info.value.hint or "")
    check_port(port)  # free again once closed
