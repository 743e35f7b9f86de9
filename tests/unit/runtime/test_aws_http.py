"""AWS Lambda http adapter: API Gateway REST (1.0), HTTP API (2.0) and Function URL events."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from fpack.runtime.api import Headers, Query, Request, Response
from fpack.runtime.aws import lambda_handler
from fpack.runtime.core import EventShapeError

from .support import load_event

ERROR_BODY = '{"error":"internal server error"}'


def capture(response: object = None) -> tuple[list[Request], Any]:
    """A portable http handler that records its requests and returns response."""
    seen: list[Request] = []

    def handler(request: Request) -> object:
        seen.append(request)
        return response

    return seen, lambda_handler(handler, trigger="http", style="portable")


# Golden pairs: event sample → the Request the handler sees.
GOLDEN: dict[str, Request] = {
    "apigw_v1": Request(
        method="POST",
        path="/hello/world",
        query=Query([("lang", "fr"), ("tag", "x"), ("tag", "y")]),
        headers=Headers(load_event("aws", "apigw_v1")["multiValueHeaders"]),
        body=b'{"greeting": "bonjour"}',
        cookies={"sid": "abc123", "theme": "dark"},
        path_params={"name": "world"},
    ),
    "apigw_v2": Request(
        method="POST",
        path="/hello/world",  # "/dev" (the stage) removed
        query=Query([("lang", "fr"), ("tag", "x"), ("tag", "y"), ("q", "a b&c")]),
        headers=Headers(
            [
                *load_event("aws", "apigw_v2")["headers"].items(),
                ("cookie", "sid=abc123; theme=dark"),
            ]
        ),
        body=b"\x00\x01\x02\x03\xff",
        cookies={"sid": "abc123", "theme": "dark"},
        path_params={"name": "world"},
    ),
    "function_url": Request(
        method="GET",
        path="/items",
        query=Query([("limit", "10"), ("empty", "")]),
        headers=Headers(load_event("aws", "function_url")["headers"]),
        body=b"",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_event_becomes_the_golden_request(name: str) -> None:
    seen, handler = capture()
    event = load_event("aws", name)
    handler(event, None)
    assert seen == [GOLDEN[name]]
    assert seen[0].raw is event


def test_v1_headers_and_query_keep_repeats() -> None:
    seen, handler = capture()
    handler(load_event("aws", "apigw_v1"), None)
    request = seen[0]
    assert request.headers.getall("x-tag") == ["a", "b"]
    assert request.query.get("tag") == "x"
    assert request.query.getall("tag") == ["x", "y"]
    assert request.json() == {"greeting": "bonjour"}


def test_v1_without_multi_value_fields_reads_the_single_ones() -> None:
    seen, handler = capture()
    event = {
        "httpMethod": "get",
        "path": "/p",
        "headers": {"Accept": "*/*"},
        "multiValueHeaders": None,
        "queryStringParameters": {"a": "1"},
        "multiValueQueryStringParameters": None,
        "body": None,
    }
    handler(event, None)
    assert seen == [
        Request(
            method="GET", path="/p", query=Query({"a": "1"}), headers=Headers({"Accept": "*/*"})
        )
    ]


def test_v2_headers_are_comma_joined_as_received() -> None:
    seen, handler = capture()
    handler(load_event("aws", "apigw_v2"), None)
    assert seen[0].headers.getall("x-tag") == ["a,b"]
    assert seen[0].headers["Cookie"] == "sid=abc123; theme=dark"


def test_v1_response_shape() -> None:
    response = Response.json(
        {"ok": True},
        status=201,
        headers=[("X-Tag", "a"), ("x-tag", "b")],
        cookies=["sid=1; HttpOnly", "theme=dark"],
    )
    _, handler = capture(response)
    assert handler(load_event("aws", "apigw_v1"), None) == {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {
            "X-Tag": ["a", "b"],
            "Content-Type": ["application/json"],
            "Set-Cookie": ["sid=1; HttpOnly", "theme=dark"],
        },
        "body": '{"ok":true}',
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize("name", ["apigw_v2", "function_url"])
def test_v2_response_shape(name: str) -> None:
    response = Response.text(
        "héllo",
        headers=[("X-Tag", "a"), ("x-tag", "b"), ("Set-Cookie", "a=1")],
        cookies=["sid=1; HttpOnly"],
    )
    _, handler = capture(response)
    assert handler(load_event("aws", name), None) == {
        "statusCode": 200,
        "headers": {"X-Tag": "a,b", "Content-Type": "text/plain; charset=utf-8"},
        "cookies": ["a=1", "sid=1; HttpOnly"],
        "body": "héllo",
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize("name", ["apigw_v1", "apigw_v2", "function_url"])
def test_binary_bodies_are_base64(name: str) -> None:
    _, handler = capture(b"\x89PNG\x00\xff")
    result = handler(load_event("aws", name), None)
    assert result["isBase64Encoded"] is True
    assert base64.b64decode(result["body"]) == b"\x89PNG\x00\xff"


def test_text_type_that_is_not_utf8_is_sent_base64() -> None:
    response = Response(200, Headers({"Content-Type": "text/plain"}), b"caf\xe9")
    _, handler = capture(response)
    result = handler(load_event("aws", "apigw_v2"), None)
    assert (result["body"], result["isBase64Encoded"]) == ("Y2Fm6Q==", True)


@pytest.mark.parametrize("name", ["apigw_v1", "function_url"])
def test_none_is_204_with_an_empty_body(name: str) -> None:
    _, handler = capture(None)
    result = handler(load_event("aws", name), None)
    assert (result["statusCode"], result["body"], result["isBase64Encoded"]) == (204, "", False)


@pytest.mark.parametrize("name", ["apigw_v1", "apigw_v2"])
def test_handler_exception_is_a_generic_500_and_a_logged_traceback(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Request) -> object:
        raise RuntimeError("db password is hunter2")

    handler = lambda_handler(broken, trigger="http", style="portable")
    with caplog.at_level(logging.ERROR, logger="fpack"):
        result: Any = handler(load_event("aws", name), None)
    assert result["statusCode"] == 500
    assert result["body"] == ERROR_BODY
    assert "hunter2" not in json.dumps(result)
    assert caplog.messages == ["fpack: the http handler failed on POST /hello/world; replying 500"]
    assert "Traceback" in caplog.text
    assert "RuntimeError: db password is hunter2" in caplog.text


def test_unsupported_return_value_is_a_500() -> None:
    _, handler = capture(object())
    result = handler(load_event("aws", "function_url"), None)
    assert (result["statusCode"], result["body"]) == (500, ERROR_BODY)


@pytest.mark.parametrize(
    ("event", "got"),
    [
        (load_event("aws", "sqs"), 'an SQS batch (Records[0].eventSource "aws:sqs")'),
        ({"version": "2.0"}, 'an object with keys ["version"]'),
        ([], "a list"),
    ],
)
def test_wrong_event_for_http_is_a_clear_error(event: object, got: str) -> None:
    _, handler = capture()
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == (
        'fpack: trigger "http" expected an API Gateway (REST or HTTP API) or Function URL '
        f"request, got {got}"
    )


def test_bad_base64_body_is_a_clear_error() -> None:
    _, handler = capture()
    event = load_event("aws", "apigw_v2")
    event["body"] = "not base64!"
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == "fpack: the request body is marked base64 but is not"


def test_default_stage_and_foreign_prefix_are_kept() -> None:
    seen, handler = capture()
    event = load_event("aws", "apigw_v2")
    event["rawPath"] = "/devices/1"  # starts with "/dev" but not with "/dev/"
    handler(event, None)
    event["rawPath"] = "/dev"
    handler(event, None)
    event["rawPath"] = "/dev/caf%C3%A9%20menu"
    handler(event, None)
    assert [r.path for r in seen] == ["/devices/1", "/", "/café menu"]


def test_lambda_style_is_the_function_itself() -> None:
    def existing(event: dict[str, Any], context: object) -> object:
        return {"statusCode": 200}

    assert lambda_handler(existing, trigger="http", style="lambda") is existing


def test_portable_handler_keeps_the_function_name() -> None:
    def hello(request: Request) -> object:
        return None

    assert lambda_handler(hello, trigger="http", style="portable").__name__ == "hello"


@pytest.mark.parametrize(
    ("trigger", "style", "message"),
    [
        (
            "http",
            "django",
            'fpack.runtime.aws: style "django" is not supported: expected one of '
            '"portable", "lambda", "asgi", "wsgi"',
        ),
        (
            "cron",
            "portable",
            'fpack.runtime.aws: trigger "cron" is not supported: expected one of '
            '"http", "storage", "queue", "schedule", "stream"',
        ),
    ],
)
def test_unknown_trigger_or_style(trigger: str, style: str, message: str) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        lambda_handler(lambda r: None, trigger=trigger, style=style)
    assert str(info.value) == message
