"""The portable API: Headers, Query, Request, Response and the event dataclasses."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

import fpack
from fpack.runtime.api import Headers, Message, Query, Request, Response, ScheduleEvent


def test_fpack_reexports_the_portable_api() -> None:
    assert fpack.Request is Request
    assert fpack.Response is Response
    assert fpack.__version__ == "0.1.0"
    assert sorted(fpack.__all__) == sorted(
        [
            "Headers",
            "Message",
            "Query",
            "Record",
            "Request",
            "Response",
            "ScheduleEvent",
            "StorageEvent",
            "__version__",
        ]
    )


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = Headers([("Content-Type", "text/plain"), ("X-Tag", "a"), ("x-tag", "b")])
    assert headers["content-type"] == "text/plain"
    assert headers.get("X-TAG") == "a"
    assert headers.getall("x-Tag") == ["a", "b"]
    assert headers.getall("missing") == []
    assert headers.get("missing") is None
    assert headers.get("missing", "default") == "default"
    assert "CONTENT-TYPE" in headers
    assert 42 not in headers
    assert headers.items() == [("Content-Type", "text/plain"), ("X-Tag", "a"), ("x-tag", "b")]
    assert headers.keys() == ["Content-Type", "X-Tag"]
    assert list(headers) == ["Content-Type", "X-Tag"]
    assert len(headers) == 2
    assert dict(headers) == {"Content-Type": "text/plain", "X-Tag": "a"}


def test_headers_accept_a_mapping_of_strings_or_lists() -> None:
    headers = Headers({"Accept": "text/html", "X-Tag": ["a", "b"]})
    assert headers.items() == [("Accept", "text/html"), ("X-Tag", "a"), ("X-Tag", "b")]
    assert Headers(headers) == headers
    assert Headers({"accept": "text/html"}) == Headers({"ACCEPT": "text/html"})
    assert Headers() != Query()


def test_headers_missing_key_raises_key_error() -> None:
    with pytest.raises(KeyError, match="x-missing"):
        Headers()["x-missing"]


def test_query_is_case_sensitive_with_first_value_get() -> None:
    query = Query([("tag", "x"), ("tag", "y"), ("Tag", "z")])
    assert query.get("tag") == "x"
    assert query["Tag"] == "z"
    assert query.getall("tag") == ["x", "y"]
    assert query.get("TAG") is None
    assert repr(Query([("a", "1")])) == "Query([('a', '1')])"


def test_request_text_uses_the_declared_charset() -> None:
    headers = Headers({"Content-Type": "text/plain; charset=latin-1"})
    request = Request(method="POST", path="/", headers=headers, body="café".encode("latin-1"))
    assert request.text == "café"
    assert Request(method="POST", path="/", body="café".encode()).text == "café"


def test_request_json_parses_the_body() -> None:
    request = Request(method="POST", path="/", body=b'{"a": [1, 2]}')
    assert request.json() == {"a": [1, 2]}
    with pytest.raises(ValueError, match="Expecting value"):
        Request(method="POST", path="/", body=b"nope").json()


def test_request_is_frozen_and_raw_is_not_compared() -> None:
    first = Request(method="GET", path="/", raw={"a": 1})
    assert first == Request(method="GET", path="/", raw={"b": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.path = "/other"  # type: ignore[misc]


def test_response_json() -> None:
    response = Response.json({"hello": "wörld"}, status=201, headers={"X-A": "1"}, cookies=["a=1"])
    assert response.status == 201
    assert response.body == '{"hello":"wörld"}'.encode()
    assert response.headers.items() == [("X-A", "1"), ("Content-Type", "application/json")]
    assert response.header_items() == [
        ("X-A", "1"),
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
    ]


def test_response_keeps_an_explicit_content_type() -> None:
    response = Response.json([1], headers={"content-type": "application/problem+json"})
    assert response.headers.items() == [("content-type", "application/problem+json")]


def test_response_text_and_html() -> None:
    assert Response.text("hi").headers["Content-Type"] == "text/plain; charset=utf-8"
    html = Response.text("<p>", content_type="text/html; charset=utf-8")
    assert (html.body, html.headers["content-type"]) == (b"<p>", "text/html; charset=utf-8")


def test_response_redirect() -> None:
    response = Response.redirect("/login", status=303)
    assert (response.status, response.headers.items(), response.body) == (
        303,
        [("Location", "/login")],
        b"",
    )


@pytest.mark.parametrize(
    ("value", "status", "content_type", "body"),
    [
        ({"a": 1}, 200, "application/json", b'{"a":1}'),
        ([1, "x"], 200, "application/json", b'[1,"x"]'),
        ("héllo", 200, "text/plain; charset=utf-8", "héllo".encode()),
        (b"\x00\xff", 200, "application/octet-stream", b"\x00\xff"),
        (bytearray(b"ab"), 200, "application/octet-stream", b"ab"),
        (None, 204, None, b""),
    ],
)
def test_response_from_handler_return_values(
    value: object, status: int, content_type: str | None, body: bytes
) -> None:
    response = Response.from_value(value)
    assert (response.status, response.headers.get("content-type"), response.body) == (
        status,
        content_type,
        body,
    )


def test_response_from_a_response_is_itself() -> None:
    response = Response(status=418)
    assert Response.from_value(response) is response


def test_response_from_an_unsupported_value() -> None:
    with pytest.raises(TypeError) as info:
        Response.from_value(42)
    assert str(info.value) == (
        "an http handler must return fpack.Response, dict, list, str, bytes or None, got int"
    )


def test_response_constructor_is_lenient_in_and_strict_out() -> None:
    response = Response(200, {"X-A": "1"}, bytearray(b"x"), ["a=1"])  # type: ignore[arg-type]
    assert response.headers == Headers({"x-a": "1"})
    assert response.body == b"x"
    assert response.cookies == ("a=1",)


@pytest.mark.parametrize("status", [99, 600, True, "200"])
def test_response_rejects_a_bad_status(status: object) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        Response(status=status)  # type: ignore[arg-type]
    assert str(info.value) == f"Response.status must be an int from 100 to 599, got {status!r}"


def test_response_rejects_a_str_body() -> None:
    with pytest.raises(TypeError) as info:
        Response(body="text")  # type: ignore[arg-type]
    assert str(info.value) == "Response.body must be bytes, got str"


def test_message_text_and_json() -> None:
    message = Message(id="1", data=b'{"n": 1}')
    assert (message.text, message.json(), message.attributes) == ('{"n": 1}', {"n": 1}, {})


def test_schedule_event_holds_an_aware_time() -> None:
    when = datetime(2024, 3, 13, 15, 0, tzinfo=timezone.utc)
    assert ScheduleEvent(time=when).time.tzinfo is timezone.utc
