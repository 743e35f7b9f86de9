"""The Docker image's HTTP server, exercised with real requests on a loopback ephemeral port."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fpack.runtime import server as server_module
from fpack.runtime.api import Message, Request, Response, StorageEvent
from fpack.runtime.server import Server, load, main, make_server, run

from .support import load_event

Reply = tuple[int, list[tuple[str, str]], bytes]
ERROR_BODY = b'{"error":"internal server error"}'
POLL = 0.02  # serve_forever's poll interval: how soon shutdown() is noticed


@contextlib.contextmanager
def serving(func: Callable[..., object], trigger: str = "http") -> Iterator[Server]:
    """A server on 127.0.0.1:<free port>, stopped (and its request threads joined) on exit."""
    server = make_server(func, trigger=trigger, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close_idle()
        server.server_close()
        thread.join(10)


def port_of(server: Server) -> int:
    return int(server.server_address[1])


def fetch(
    server: Server,
    method: str,
    target: str,
    body: Any = None,  # whatever http.client accepts
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {}, **kwargs)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def header(reply: Reply, name: str) -> list[str]:
    return [value for key, value in reply[1] if key.lower() == name.lower()]


def test_http_request_and_response(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[Request] = []

    def hello(request: Request) -> Response:
        seen.append(request)
        return Response.json({"hello": request.query.get("name")}, cookies=["a=1", "b=2"])

    with serving(hello) as server:
        reply = fetch(
            server,
            "GET",
            "/hello%20there?name=world&tag=x&tag=y",
            headers={"Cookie": "sid=abc; theme=dark", "X-Tag": "t"},
        )
    assert reply[0] == 200
    assert reply[2] == b'{"hello":"world"}'
    assert header(reply, "Content-Type") == ["application/json"]
    assert header(reply, "Content-Length") == ["17"]
    assert header(reply, "Set-Cookie") == ["a=1", "b=2"]
    assert header(reply, "Server") == ["fpack"]
    request = seen[0]
    assert (request.method, request.path, request.body) == ("GET", "/hello there", b"")
    assert request.query.getall("tag") == ["x", "y"]
    assert request.headers["x-tag"] == "t"
    assert request.cookies == {"sid": "abc", "theme": "dark"}
    access = capsys.readouterr().err.splitlines()
    assert len(access) == 1
    pattern = r'127\.0\.0\.1 "GET /hello%20there\?name=world&tag=x&tag=y HTTP/1\.1" 200 17 [\d.]+ms'
    assert re.fullmatch(pattern, access[0])


def test_post_body_plain_and_chunked() -> None:
    def echo(request: Request) -> bytes:
        return request.body

    with serving(echo) as server:
        plain = fetch(server, "POST", "/", body=b"\x00\x01binary")
        chunked = fetch(server, "POST", "/", body=iter([b"ab", b"", b"cd"]), encode_chunked=True)
    assert plain[2] == b"\x00\x01binary"
    assert header(plain, "Content-Type") == ["application/octet-stream"]
    assert chunked[2] == b"abcd"


def test_head_sends_headers_only_and_none_is_204() -> None:
    def handler(request: Request) -> object:
        return None if request.path == "/empty" else "some text"

    with serving(handler) as server:
        head = fetch(server, "HEAD", "/")
        empty = fetch(server, "DELETE", "/empty")
    assert (head[0], head[2], header(head, "Content-Length")) == (200, b"", ["9"])
    assert (empty[0], empty[2], header(empty, "Content-Length")) == (204, b"", [])


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    clients: list[object] = []

    def handler(request: Request) -> str:
        clients.append(request.raw.client_address)  # raw: the request handler
        return request.path

    with serving(handler) as server:
        connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
        try:
            bodies = []
            for path in ("/one", "/two"):
                connection.request("GET", path)
                bodies.append(connection.getresponse().read())
        finally:
            connection.close()
    assert bodies == [b"/one", b"/two"]
    assert len(clients) == 2
    assert clients[0] == clients[1]  # same client address and port: one connection


def test_handler_failure_is_a_generic_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> object:
        raise RuntimeError("password=hunter2")

    with caplog.at_level(logging.ERROR, logger="fpack"), serving(broken) as server:
        reply = fetch(server, "GET", "/x")
    assert (reply[0], reply[2]) == (500, ERROR_BODY)
    assert caplog.messages == ["fpack: the http handler failed on GET /x; replying 500"]
    assert "RuntimeError: password=hunter2" in caplog.text


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"Content-Length": "abc"}, 400, b'{"error":"invalid Content-Length"}'),
        ({"Content-Length": "99"}, 413, b'{"error":"request body too large"}'),
        ({"Transfer-Encoding": "chunked"}, 400, b'{"error":"invalid chunked encoding"}'),
    ],
)
def test_bad_bodies_are_refused(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], status: int, body: bytes
) -> None:
    monkeypatch.setattr(server_module, "MAX_BODY", 10)
    with (
        serving(lambda request: "unreached") as server,
        socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock,
    ):
        lines = ["POST / HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\nzz\r\n").encode())
        reply = sock.makefile("rb").read()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close" in head
    assert payload == body


def test_binary_cloudevent_reaches_a_queue_function() -> None:
    seen: list[Message] = []
    envelope = load_event("gcp", "pubsub_message")
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": envelope["id"],
        "ce-source": envelope["source"],
        "ce-type": envelope["type"],
        "ce-time": envelope["time"],
    }
    with serving(seen.append, trigger="queue") as server:
        reply = fetch(server, "POST", "/", body=json.dumps(envelope["data"]), headers=headers)
    assert (reply[0], reply[2]) == (204, b"")
    assert seen == [
        Message(
            id="11223344556677", data=b'{"order": 1}', attributes={"kind": "order", "priority": "5"}
        )
    ]
    assert seen[0].raw["type"] == "google.cloud.pubsub.topic.v1.messagePublished"


def test_structured_cloudevent_reaches_a_storage_function() -> None:
    seen: list[StorageEvent] = []
    body = json.dumps(load_event("gcp", "storage_finalized"))
    headers = {"Content-Type": "application/cloudevents+json"}
    with serving(seen.append, trigger="storage") as server:
        reply = fetch(server, "POST", "/", body=body, headers=headers)
    assert reply[0] == 204
    assert seen == [
        StorageEvent(
            bucket="photos-uploads",
            key="incoming/holiday photos/café (1).jpg",
            size=1024,
            kind="created",
        )
    ]


def test_wrong_event_is_a_400_with_the_reason() -> None:
    seen: list[object] = []
    body = json.dumps(load_event("gcp", "pubsub_message"))
    headers = {"Content-Type": "application/cloudevents+json"}
    with serving(seen.append, trigger="storage") as server:
        wrong = fetch(server, "POST", "/", body=body, headers=headers)
        plain = fetch(server, "POST", "/", body=b"hello")
    assert wrong[0] == 400
    assert json.loads(wrong[2]) == {
        "error": 'fpack: trigger "storage" expected a Cloud Storage CloudEvent (type '
        '"google.cloud.storage.object.v1.finalized" or "google.cloud.storage.object.v1.deleted"), '
        'got a CloudEvent of type "google.cloud.pubsub.topic.v1.messagePublished"'
    }
    assert plain[0] == 400
    assert json.loads(plain[2]) == {
        "error": "fpack: expected a CloudEvent: ce-* headers (binary mode) or "
        "Content-Type application/cloudevents+json (structured mode)"
    }
    assert seen == []


def test_event_handler_failure_is_a_500_so_the_sender_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: object) -> None:
        raise ValueError("nope")

    body = json.dumps(load_event("gcp", "scheduler_pubsub"))
    headers = {"Content-Type": "application/cloudevents+json"}
    with caplog.at_level(logging.ERROR, logger="fpack"), serving(broken, "schedule") as server:
        reply = fetch(server, "POST", "/", body=body, headers=headers)
    assert (reply[0], reply[2]) == (500, ERROR_BODY)
    assert caplog.messages == [
        "fpack: the schedule handler failed on CloudEvent 99887766554433 "
        '(type "google.cloud.pubsub.topic.v1.messagePublished"); replying 500'
    ]


def test_event_server_answers_health_checks_and_refuses_other_methods() -> None:
    with serving(print, trigger="queue") as server:
        health = fetch(server, "GET", "/")
        put = fetch(server, "PUT", "/", body=b"{}")
    assert (health[0], health[2]) == (200, b'{"status":"ok"}')
    assert (put[0], put[2], header(put, "Allow")) == (
        405,
        b'{"error":"method not allowed"}',
        ["GET, HEAD, POST"],
    )


def test_stop_finishes_in_flight_requests_and_closes_idle_connections() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(request: Request) -> str:
        if request.path == "/slow":
            entered.set()
            release.wait(10)
        return "done"

    server = make_server(slow, trigger="http", host="127.0.0.1", port=0)
    loop = threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True)
    loop.start()
    idle = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    idle.request("GET", "/fast")
    assert idle.getresponse().read() == b"done"  # now an idle keep-alive connection
    replies: list[Reply] = []
    client = threading.Thread(target=lambda: replies.append(fetch(server, "GET", "/slow")))
    client.start()
    assert entered.wait(10)

    def stop() -> None:
        server.shutdown()
        server.close_idle()
        server.server_close()

    stopper = threading.Thread(target=stop)
    stopper.start()
    while not server.stopping:  # wait until the stop has begun, then let the request finish
        threading.Event().wait(0.01)
    release.set()
    stopper.join(10)
    client.join(10)
    loop.join(10)
    assert not stopper.is_alive()
    assert [(r[0], r[2], header(r, "Connection")) for r in replies] == [(200, b"done", ["close"])]
    idle.request("GET", "/fast")  # the request is sent into a socket the server has closed
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        idle.getresponse()
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port_of(server)), timeout=10).close()


def test_sigterm_stops_the_server_and_run_returns() -> None:
    server = make_server(lambda request: "hi", trigger="http", host="127.0.0.1", port=0)
    before = signal.getsignal(signal.SIGTERM)
    replies: list[Reply] = []

    def client() -> None:
        try:
            replies.append(fetch(server, "GET", "/"))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client)
    thread.start()
    run(server)  # returns once SIGTERM has stopped it
    thread.join(10)
    assert [(r[0], r[2]) for r in replies] == [(200, b"hi")]
    assert signal.getsignal(signal.SIGTERM) is before


def test_unsupported_style_or_trigger() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        make_server(print, trigger="http", style="lambda", port=0)
    assert str(info.value) == (
        'fpack.runtime.server: style "lambda" is not supported: expected one of "portable"'
    )


def test_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        make_server(print, trigger="http")
    assert str(info.value) == 'fpack.runtime.server: PORT "eighty" is not a port number'


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "fpack_user_mod.py").write_text(
        "VALUE = 1\n\ndef hello(request):\n    return 'hi'\n"
    )
    (tmp_path / "fpack_user_broken.py").write_text("import fpack_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fpack_user_mod"


def test_load_resolves_module_attribute(user_module: str) -> None:
    func = load(f"{user_module}:hello")
    assert func(None) == "hi"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "fpack_user_mod",
            'handler "fpack_user_mod": expected "module:attribute", e.g. "app.main:handler"',
        ),
        (
            "fpack_user_mod:missing",
            'handler "fpack_user_mod:missing": fpack_user_mod has no attribute "missing"; '
            "it defines: VALUE, hello",
        ),
        ("fpack_user_mod:VALUE", 'handler "fpack_user_mod:VALUE": int is not callable'),
        (
            "fpack_no_such_mod:f",
            'handler "fpack_no_such_mod:f": no module named "fpack_no_such_mod"',
        ),
    ],
)
def test_main_refuses_a_bad_handler_with_exit_2(
    user_module: str, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([spec]) == 2
    assert capsys.readouterr().err == f"fpack.runtime.server: {message}\n"


def test_a_missing_dependency_of_the_user_module_keeps_its_traceback(user_module: str) -> None:
    with pytest.raises(ModuleNotFoundError, match="fpack_no_such_dependency"):
        load("fpack_user_broken:f")
