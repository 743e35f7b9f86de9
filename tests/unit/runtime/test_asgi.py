"""The ASGI bridge, driven by tiny hand-written ASGI apps (no framework: these run anywhere)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fpack.runtime.api import Headers, Query, Request, Response
from fpack.runtime.asgi import AsgiBridge, LifespanError, http_scope, mount
from fpack.runtime.aws import lambda_handler
from fpack.runtime.web import split_path

from .support import load_event
from .test_gcp import FakeFlaskRequest

Scope = dict[str, Any]
ERROR_BODY = '{"error":"internal server error"}'


class Recorder:
    """An ASGI app that answers with JSON describing what it saw, and speaks the lifespan."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        self.scopes.append(scope)
        message = await receive()
        text = message["body"].decode(errors="replace")
        body = json.dumps({"path": scope["path"], "root_path": scope["root_path"], "body": text,
                           "state": scope["state"]})
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"),
                                (b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2")]})
        await send({"type": "http.response.body", "body": body.encode()})

    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.lifespan.append(message["type"])
            if message["type"] == "lifespan.startup":
                scope["state"]["db"] = "connected"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture
def bridges() -> Iterator[list[AsgiBridge]]:
    """Bridges made by a test; their loops are stopped afterwards."""
    made: list[AsgiBridge] = []
    yield made
    for bridge in made:
        bridge.shutdown()


def make(bridges: list[AsgiBridge], app: Any, base_path: str = "") -> AsgiBridge:
    bridge = AsgiBridge(app, base_path=base_path)
    bridges.append(bridge)
    return bridge


def test_scope_of_a_rest_api_request_under_its_stage() -> None:
    event = load_event("aws", "apigw_v1")
    request = Request(method="POST", path="/hello/world",
                      query=Query([("tag", "x"), ("q", "a b&c")]),
                      headers=Headers(event["multiValueHeaders"]), body=b"{}")
    scope = http_scope(request, "/prod", "", {"db": 1})
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/prod/hello/world",
        "raw_path": b"/prod/hello/world",
        "query_string": b"tag=x&q=a%20b%26c",
        "root_path": "/prod",
        "headers": [(name.lower().encode(), value.encode())
                    for name, values in event["multiValueHeaders"].items() for value in values],
        "client": ("203.0.113.7", 0),
        "server": ("abcdef1234.execute-api.us-east-1.amazonaws.com", 443),
        "state": {"db": 1},
        "extensions": {},
    }


def test_scope_encodes_a_unicode_path_and_header_and_reads_the_host_port() -> None:
    request = Request(method="GET", path="/café/a b",
                      headers=Headers([("Host", "localhost:8080"), ("X-Name", "Zoë ✓"),
                                       ("X-Forwarded-Proto", "http")]))
    scope = http_scope(request, "", "", {})
    assert scope["path"] == "/café/a b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b"
    assert scope["headers"][1] == (b"x-name", "Zoë ✓".encode())  # not latin-1: sent as UTF-8
    assert scope["scheme"] == "http"
    assert (scope["server"], scope["client"]) == (("localhost", 8080), None)


@pytest.mark.parametrize(
    ("path", "prefix", "base", "expected"),
    [
        ("/v1/items", "", "/v1", ("/v1", "/items")),
        ("/v1", "", "v1/", ("/v1", "/")),
        ("/v10/items", "", "/v1", ("", "/v10/items")),  # a longer segment is not under /v1
        ("/health", "/prod", "/v1", ("/prod", "/health")),
        ("/items", "/prod", "", ("/prod", "/items")),
    ],
)
def test_split_path(path: str, prefix: str, base: str, expected: tuple[str, str]) -> None:
    assert split_path(path, prefix, base) == expected


def test_lifespan_starts_once_before_the_first_request_and_shares_its_state(
        bridges: list[AsgiBridge]) -> None:
    app = Recorder()
    bridge = make(bridges, app)
    assert app.lifespan == []  # nothing runs at import time (before a fork, say)
    first = bridge(Request(method="POST", path="/a", body=b"one"))
    second = bridge(Request(method="POST", path="/b", body=b"two"))
    assert app.lifespan == ["lifespan.startup"]
    assert json.loads(first.body) == {"path": "/a", "root_path": "", "body": "one",
                                      "state": {"db": "connected"}}
    assert json.loads(second.body)["body"] == "two"
    assert first.status == 201 and first.headers.getall("set-cookie") == ["a=1; Path=/", "b=2"]
    bridge.shutdown()
    assert app.lifespan == ["lifespan.startup", "lifespan.shutdown"]


def test_startup_failure_is_raised_and_retried_on_the_next_request(
        bridges: list[AsgiBridge]) -> None:
    attempts: list[int] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        attempts.append(1)
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    bridge = make(bridges, app)
    for _ in range(2):
        with pytest.raises(LifespanError) as info:
            bridge(Request(method="GET", path="/"))
        assert str(info.value) == ("fpack: the ASGI app's lifespan startup failed: "
                                   "database unreachable")
    assert len(attempts) == 2


def test_an_app_without_lifespan_is_served_and_the_reason_logged(
        bridges: list[AsgiBridge], caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    with caplog.at_level(logging.INFO, logger="fpack"):
        response = make(bridges, app)(Request(method="GET", path="/"))
    assert response == Response(204)
    assert caplog.messages == ["fpack: the ASGI app does not take part in the lifespan protocol "
                               "(ValueError: unsupported scope lifespan); serving it without"]


def test_streamed_body_is_collected_while_the_app_listens_for_a_disconnect(
        bridges: list[AsgiBridge]) -> None:
    import asyncio

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        # Like Starlette's StreamingResponse: stream, and stop if the client disconnects.
        disconnected = asyncio.ensure_future(receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await asyncio.sleep(0)
            assert not disconnected.done()
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        assert await disconnected == {"type": "http.disconnect"}

    response = make(bridges, app)(Request(method="GET", path="/"))
    assert response.body == b"one two three"


def _failing_app(after_response: bool) -> Any:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if after_response:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})
        raise RuntimeError("boom")

    return app


def test_app_failure_is_a_generic_500_with_the_traceback_logged(
        bridges: list[AsgiBridge], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="fpack"):
        response = make(bridges, _failing_app(False))(Request(method="GET", path="/x"))
    assert (response.status, response.body.decode()) == (500, ERROR_BODY)
    assert caplog.messages == ["fpack: the ASGI app failed on GET /x; replying 500"]
    assert "RuntimeError: boom" in caplog.text


def test_failure_after_a_complete_response_keeps_the_response(
        bridges: list[AsgiBridge]) -> None:
    response = make(bridges, _failing_app(True))(Request(method="GET", path="/x"))
    assert (response.status, response.body) == (200, b"done")


def test_incomplete_or_out_of_order_responses_are_500(bridges: list[AsgiBridge]) -> None:
    async def no_end(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"x", "more_body": True})

    async def body_first(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.body", "body": b"x"})

    for app in (no_end, body_first):
        assert make(bridges, app)(Request(method="GET", path="/")).status == 500


def test_concurrent_callers_share_one_loop(bridges: list[AsgiBridge]) -> None:
    import asyncio

    both = threading.Barrier(2)
    arrived: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived.append(scope["path"])
        while len(arrived) < 2:  # each request waits for the other: only one loop serves both
            await asyncio.sleep(0.001)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    bridge = make(bridges, app)
    results: dict[str, bytes] = {}

    def call(path: str) -> None:
        both.wait()
        results[path] = bridge(Request(method="GET", path=path)).body

    threads = [threading.Thread(target=call, args=(p,)) for p in ("/1", "/2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"/1": b"/1", "/2": b"/2"}


def _bridge_of(handler: Any) -> AsgiBridge:
    """The bridge inside an adapter's handler (its closure), to stop its loop after the test."""
    return next(c.cell_contents for c in handler.__closure__
                if isinstance(c.cell_contents, AsgiBridge))


def _lambda(app: Any, bridges: list[AsgiBridge], base_path: str = "") -> Any:
    handler = lambda_handler(app, trigger="http", style="asgi", base_path=base_path)
    bridges.append(_bridge_of(handler))
    return handler


def test_lambda_v1_under_a_stage_with_binary_body_and_cookies(bridges: list[AsgiBridge]) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"image/png"), (b"x-root", scope["root_path"].encode()),
            (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]})
        await send({"type": "http.response.body", "body": png})

    result = _lambda(app, bridges)(load_event("aws", "apigw_v1"), None)
    assert base64.b64decode(result["body"]) == png and result["isBase64Encoded"] is True
    assert result["multiValueHeaders"]["set-cookie"] == ["a=1", "b=2"]
    assert result["headers"]["x-root"] == "/prod"


def test_lambda_v2_stage_and_custom_domain_base_path(bridges: list[AsgiBridge]) -> None:
    app = Recorder()
    handler = _lambda(app, bridges, base_path="/api")
    result = handler(load_event("aws", "apigw_v2"), None)
    assert result["cookies"] == ["a=1; Path=/", "b=2"] and "set-cookie" not in result["headers"]
    assert (app.scopes[0]["path"], app.scopes[0]["root_path"]) == ("/dev/hello/world", "/dev")
    assert app.scopes[0]["query_string"] == b"lang=fr&tag=x&tag=y&q=a%20b%26c"
    assert (b"cookie", b"sid=abc123; theme=dark") in app.scopes[0]["headers"]
    url = load_event("aws", "function_url")
    url["rawPath"] = "/api/items"
    handler(url, None)
    assert (app.scopes[1]["path"], app.scopes[1]["root_path"]) == ("/api/items", "/api")


def test_lambda_asgi_style_serves_http_only() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        lambda_handler(Recorder(), trigger="queue", style="asgi")
    assert str(info.value) == ('fpack.runtime.aws: style "asgi" serves http requests: expected '
                               'trigger "http", got "queue"')


def test_gcp_http_handler_drives_an_asgi_app(bridges: list[AsgiBridge]) -> None:
    from fpack.runtime.gcp import http_handler

    app = Recorder()
    handle = http_handler(app, style="asgi")
    bridges.append(_bridge_of(handle))
    headers_in = [("Host", "fn-abc.a.run.app"), ("X-Forwarded-Proto", "https")]
    body, status, headers = handle(
        FakeFlaskRequest("PUT", "/items/7", [("q", "1")], headers_in, b"payload"))
    assert status == 201 and ("set-cookie", "b=2") in headers
    assert json.loads(body)["body"] == "payload"
    assert app.scopes[0]["server"] == ("fn-abc.a.run.app", 443)
    assert app.scopes[0]["query_string"] == b"q=1"


def test_mount_sets_root_path_for_requests_under_the_base_path(
        bridges: list[AsgiBridge]) -> None:
    app = Recorder()
    bridge = make(bridges, mount(app, "/v1/"))
    bridge(Request(method="GET", path="/v1/items"))
    bridge(Request(method="GET", path="/health"))
    assert [(s["path"], s["root_path"]) for s in app.scopes] == [("/v1/items", "/v1"),
                                                                 ("/health", "")]
    assert app.lifespan == ["lifespan.startup"]  # the lifespan passes through the mount
