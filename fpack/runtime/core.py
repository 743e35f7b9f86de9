"""Helpers shared by the platform adapters: names of triggers, timestamps, content types, cookies,
calling an http handler safely, and describing an unexpected event in an error message.

Standard library only, like all of fpack.runtime. Nothing here knows one platform's event shapes;
that knowledge lives in aws.py and cloudevents.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Callable, Literal

from fpack.runtime.api import Request, Response

Trigger = Literal["http", "storage", "queue", "schedule"]
TRIGGERS: tuple[str, ...] = ("http", "storage", "queue", "schedule")

# One logger for the whole runtime. Lambda's runtime and functions-framework route the logging
# module to their log streams (a multi-line traceback stays one log entry there); elsewhere the
# records fall through to logging.lastResort, i.e. stderr.
LOG = logging.getLogger("fpack")

ERROR_BODY = {"error": "internal server error"}


class EventShapeError(ValueError):
    """The platform delivered an event that the configured trigger cannot read."""


def check_choice(where: str, name: str, value: str, allowed: Iterable[str]) -> None:
    """Raise ValueError naming where, what and the allowed values, when value is not allowed."""
    choices = tuple(allowed)
    if value not in choices:
        expected = ", ".join(f'"{c}"' for c in choices)
        raise ValueError(f'{where}: {name} "{value}" is not supported: expected one of {expected}')


# RFC 3339 as the clouds write it: "2020-09-29T11:32:00Z", "...00.123456789Z", "...+02:00".
# datetime.fromisoformat only reads "Z" and nanoseconds from Python 3.11 on.
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))"
)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (sub-microsecond digits dropped)."""
    match = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise EventShapeError(f'fpack: expected an RFC 3339 timestamp, got "{text}"')
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        offset = -offset if match.group(9) == "-" else offset
    local = datetime(year, month, day, hour, minute, second, micros, timezone(offset))
    return local.astimezone(timezone.utc)


# Media types sent as text although they are not text/*; everything else is sent base64-encoded
# where the platform needs that (API Gateway, Function URLs).
_TEXT_MEDIA = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/x-ndjson",
        "image/svg+xml",
    }
)


def is_text(content_type: str | None) -> bool:
    """True when a body of this Content-Type is UTF-8 text that may travel unencoded."""
    if not content_type:
        return False
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    textual = media.startswith("text/") or media in _TEXT_MEDIA or media.endswith(("+json", "+xml"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    return textual and all(c in ("utf-8", "utf8", "us-ascii") for c in charsets)


def parse_cookies(header_values: Iterable[str]) -> dict[str, str]:
    """Cookie header values ("a=1; b=2") as a dict; the first of repeated names wins."""
    cookies: dict[str, str] = {}
    for header in header_values:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if not sep or not name:
                continue
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies.setdefault(name.strip(), value)
    return cookies


def call_http(func: Callable[[Request], object], request: Request) -> Response:
    """Run an http handler. Any exception is logged with its traceback and becomes a generic 500:
    the traceback goes to the log, never to the client."""
    try:
        return Response.from_value(func(request))
    except Exception:
        method, path = request.method, request.path
        LOG.exception("fpack: the http handler failed on %s %s; replying 500", method, path)
        return Response.json(ERROR_BODY, status=500)


_KEYS_SHOWN = 8
_AWS_SOURCES = {
    "aws:s3": "an S3 notification",
    "aws:sqs": "an SQS batch",
    "aws:sns": "an SNS notification",
    "aws:dynamodb": "a DynamoDB stream batch",
    "aws:kinesis": "a Kinesis batch",
}


def describe(event: object) -> str:
    """A short, safe description of an event for error messages (never its payload)."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        kind = _AWS_SOURCES.get(str(source), "a batch of records")
        return f'{kind} (Records[0].eventSource "{source}")'
    if "detail-type" in event:
        return f'an EventBridge event (detail-type "{event["detail-type"]}")'
    if "httpMethod" in event:
        return "an API Gateway REST API request"
    if isinstance(event.get("requestContext"), dict) and "http" in event["requestContext"]:
        return "an HTTP API or Function URL request"
    keys = sorted(str(k) for k in event)
    shown = ", ".join(f'"{k}"' for k in keys[:_KEYS_SHOWN])
    shown += ", ..." if len(keys) > _KEYS_SHOWN else ""
    return f"an object with keys [{shown}]" if keys else "an empty object"
