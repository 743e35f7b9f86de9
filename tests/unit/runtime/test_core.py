"""Shared runtime helpers: timestamps, content types, cookies, error descriptions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fpack.runtime.core import (
    EventShapeError,
    check_choice,
    describe,
    is_text,
    parse_cookies,
    parse_time,
)

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-13T15:00:00Z", datetime(2024, 3, 13, 15, 0, 0, tzinfo=UTC)),
        ("2024-03-13T15:00:00.5Z", datetime(2024, 3, 13, 15, 0, 0, 500000, tzinfo=UTC)),
        ("2024-03-13T15:00:00.123456789Z", datetime(2024, 3, 13, 15, 0, 0, 123456, tzinfo=UTC)),
        ("2024-03-13T17:30:00+02:30", datetime(2024, 3, 13, 15, 0, 0, tzinfo=UTC)),
        ("2024-03-13t10:00:00-05:00", datetime(2024, 3, 13, 15, 0, 0, tzinfo=UTC)),
        ("2024-03-13 15:00:00+0000", datetime(2024, 3, 13, 15, 0, 0, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_rfc3339_as_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-03-13T15:00:00", "yesterday", ""])
def test_parse_time_refuses_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(EventShapeError) as info:
        parse_time(text)
    assert str(info.value) == f'fpack: expected an RFC 3339 timestamp, got "{text}"'


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain; charset=utf-8", True),
        ("text/html", True),
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/problem+json", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("application/x-www-form-urlencoded", True),
        ("text/plain; charset=latin-1", False),
        ("application/octet-stream", False),
        ("image/png", False),
        ("", False),
        (None, False),
    ],
)
def test_is_text(content_type: str | None, text: bool) -> None:
    assert is_text(content_type) is text


def test_parse_cookies() -> None:
    cookies = parse_cookies(['sid=abc; theme="dark"; flag; =x', "sid=second; lang=fr"])
    assert cookies == {"sid": "abc", "theme": "dark", "lang": "fr"}


def test_check_choice_names_where_what_and_the_choices() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        check_choice("fpack.runtime.aws", "trigger", "cron", ("http", "schedule"))
    assert str(info.value) == (
        'fpack.runtime.aws: trigger "cron" is not supported: expected one of "http", "schedule"'
    )


@pytest.mark.parametrize(
    ("event", "description"),
    [
        (
            {"Records": [{"eventSource": "aws:s3"}]},
            'an S3 notification (Records[0].eventSource "aws:s3")',
        ),
        (
            {"Records": [{"eventSource": "aws:sqs"}]},
            'an SQS batch (Records[0].eventSource "aws:sqs")',
        ),
        (
            {"Records": [{"EventSource": "aws:sns"}]},
            'an SNS notification (Records[0].eventSource "aws:sns")',
        ),
        (
            {"Records": [{"eventSource": "aws:mq"}]},
            'a batch of records (Records[0].eventSource "aws:mq")',
        ),
        ({"detail-type": "Object Created"}, 'an EventBridge event (detail-type "Object Created")'),
        ({"httpMethod": "GET"}, "an API Gateway REST API request"),
        ({"requestContext": {"http": {}}}, "an HTTP API or Function URL request"),
        ({"b": 1, "a": 2}, 'an object with keys ["a", "b"]'),
        (
            {str(i): i for i in range(10)},
            'an object with keys ["0", "1", "2", "3", "4", "5", "6", "7", ...]',
        ),
        ({}, "an empty object"),
        ([1], "a list"),
        ("text", "a str"),
        (None, "a NoneType"),
    ],
)
def test_describe_names_the_event_without_its_payload(event: object, description: str) -> None:
    assert describe(event) == description
