"""The WSGI bridge, driven by tiny hand-written WSGI apps (no framework: these run anywhere)."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from fpack.runtime.api import Headers, Query, Request, Response
from fpack.runtime.appserver import gunicorn_options
from fpack.runtime.aws import lambda_handler
from fpack.runtime.gcp import http_handler
from fpack.runtime.wsgi import WsgiBridge, environ, mount

from .support import load_event
from .test_gcp import FakeFlaskRequest

ERROR_BODY = '{"error":"internal server error"}'


def test_environ_of_a_rest_api_request_under_its_stage() -> None:
    event = load_event("aws", "apigw_v1")
    request = Request(method="POST", path="/hello/world", query=Query([("q", "a b&c")]),
                      headers=Headers(event["multiValueHeaders"]), body=b'{"a": 1}')
    env = environ(request, "/prod", "")
    body = env.pop("wsgi.input").read()
    assert env == {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/prod",
        "PATH_INFO": "/hello/world",
        "QUERY_STRING": "q=a%20b%26c",
        "SERVER_NAME": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": "8",
        "CONTENT_TYPE": "application/json",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_ACCEPT": "application/json",
        "HTTP_COOKIE": "sid=abc123; theme=dark",
        "HTTP_HOST": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "HTTP_USER_AGENT": "curl/8.5.0",
        "HTTP_X_AMZN_TRACE_ID": "Root=1-65f1c2a1-0a1b2c3d4e5f60718293a4b5",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_PORT": "443",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_TAG": "a,b",  # repeated headers joined, as a server joins them
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    assert body == b'{"a": 1}'


def test_environ_strings_are_bytes_as_latin1_and_underscored_headers_are_dropped() -> None:
    request = Request(method="GET", path="/v1/café", headers=Headers(
        [("X-Name", "Zoë ✓"), ("X_Forwarded_For", "10.0.0.1"), ("Cookie", "a=1"),
         ("Cookie", "b=2")]))
    env = environ(request, "", "/v1")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/v1", "/café".encode().decode("latin-1"))
    assert env["HTTP_X_NAME"].encode("latin-1").decode() == "Zoë ✓"
    assert "HTTP_X_FORWARDED_FOR" not in env and "REMOTE_ADDR" not in env
    assert env["HTTP_COOKIE"] == "a=1; b=2"


class Closing:
    """A response iterable with close(), recording that it was called."""

    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks, self.fail, self.closed = chunks, fail, False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.fail:
            raise RuntimeError("broken stream")

    def close(self) -> None:
        self.closed = True


def test_write_and_iterable_are_joined_and_close_is_called() -> None:
    body = Closing([b"two ", b"", b"three"])

    def app(env: dict[str, Any], start_response: Any) -> Closing:
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"),
                                          ("Set-Cookie", "b=2")])
        write(b"one ")
        return body

    response = WsgiBridge(app)(Request(method="GET", path="/"))
    assert response == Response(200, Headers([("Content-Type", "text/plain"),
                                              ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]),
                                b"one two three")
    assert body.closed


def test_an_error_page_may_replace_headers_with_exc_info() -> None:
    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("503 Service Unavailable", [("Retry-After", "1")], sys.exc_info())
        return [b"later"]

    response = WsgiBridge(app)(Request(method="GET", path="/"))
    assert response == Response(503, Headers([("Retry-After", "1")]), b"later")


def _no_start(env: dict[str, Any], start_response: Any) -> list[bytes]:
    return [b"forgot"]


def _twice(env: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    start_response("200 OK", [])
    return []


def _raises(env: dict[str, Any], start_response: Any) -> list[bytes]:
    raise ValueError("boom")


@pytest.mark.parametrize(("app", "error"), [
    (_no_start, "RuntimeError: the WSGI app returned without calling start_response"),
    (_twice, "RuntimeError: start_response called twice without exc_info"),
    (_raises, "ValueError: boom"),
])
def test_app_failures_are_a_generic_500_with_the_traceback_logged(
        app: Any, error: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="fpack"):
        response = WsgiBridge(app)(Request(method="DELETE", path="/x"))
    assert (response.status, response.body.decode()) == (500, ERROR_BODY)
    assert caplog.messages == ["fpack: the WSGI app failed on DELETE /x; replying 500"]
    assert error in caplog.text


def test_close_is_called_when_iteration_fails() -> None:
    body = Closing([b"a"], fail=True)

    def app(env: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [])
        return body

    assert WsgiBridge(app)(Request(method="GET", path="/")).status == 500
    assert body.closed


def redirecting(env: dict[str, Any], start_response: Any) -> list[bytes]:
    """Redirects to a URL built from SCRIPT_NAME, as Flask's url_for does; sends a PNG."""
    if env["PATH_INFO"] == "/go":
        start_response("302 Found", [("Location", env["SCRIPT_NAME"] + "/done")])
        return []
    start_response("200 OK", [("Content-Type", "image/png"), ("Set-Cookie", "a=1"),
                              ("Set-Cookie", "b=2")])
    return [b"\x89PNG\xff", env["wsgi.input"].read()]


def test_lambda_v1_redirect_stays_under_the_stage() -> None:
    handler = lambda_handler(redirecting, trigger="http", style="wsgi")
    event = load_event("aws", "apigw_v1")
    event["path"], event["requestContext"]["path"] = "/go", "/prod/go"
    result = handler(event, None)
    assert (result["statusCode"], result["headers"]["Location"]) == (302, "/prod/done")


def test_lambda_v2_binary_body_and_cookies() -> None:
    handler = lambda_handler(redirecting, trigger="http", style="wsgi")
    result = handler(load_event("aws", "apigw_v2"), None)
    assert result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]) == b"\x89PNG\xff\x00\x01\x02\x03\xff"
    assert result["cookies"] == ["a=1", "b=2"] and result["headers"] == {
        "Content-Type": "image/png"}


def test_lambda_custom_domain_base_path_becomes_script_name() -> None:
    handler = lambda_handler(redirecting, trigger="http", style="wsgi", base_path="/shop")
    event = load_event("aws", "function_url")
    event["rawPath"] = "/shop/go"
    assert handler(event, None)["headers"]["Location"] == "/shop/done"


def test_gcp_http_handler_drives_a_wsgi_app() -> None:
    handle = http_handler(redirecting, style="wsgi")
    body, status, headers = handle(FakeFlaskRequest("POST", "/img", [], [], b"!"))
    assert (body, status) == (b"\x89PNG\xff!", 200)
    assert headers == [("Content-Type", "image/png"), ("Set-Cookie", "a=1"),
                       ("Set-Cookie", "b=2")]


def test_gcp_http_handler_refuses_an_unknown_style() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        http_handler(redirecting, style="lambda")
    assert str(info.value) == ('fpack.runtime.gcp: style "lambda" is not supported: expected '
                               'one of "portable", "asgi", "wsgi"')


def test_mount_moves_the_base_path_to_script_name() -> None:
    seen: list[tuple[str, str]] = []

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((env["SCRIPT_NAME"], env["PATH_INFO"]))
        start_response("204 No Content", [])
        return []

    mounted = mount(app, "/v1")
    for path in ("/v1/items", "/v1", "/v10", "/health"):
        mounted({"SCRIPT_NAME": "", "PATH_INFO": path}, lambda s, h, e=None: None)
    assert seen == [("/v1", "/items"), ("/v1", "/"), ("", "/v10"), ("", "/health")]
    assert mount(app, "/") is app


def test_gunicorn_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert gunicorn_options("::", 8080) == {
        "bind": ["[::]:8080"], "workers": 3, "threads": 8, "timeout": 0, "accesslog": "-",
        "forwarded_allow_ips": "*", "control_socket_disable": True}
