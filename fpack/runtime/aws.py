"""AWS Lambda adapter: turns Lambda events into portable objects and results back into what the
invoking service expects.

Standard library only. Event shapes, as documented by AWS:
- API Gateway REST API (payload 1.0):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
- HTTP API (payload 2.0) and Function URLs (same shape):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
  https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
- S3: https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
- SQS (with ReportBatchItemFailures):
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
- SNS (trigger "queue" too: a topic's message is a Message):
  https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html
- Kinesis and DynamoDB Streams (trigger "stream", aws only): aws_streams.py
- EventBridge schedules: https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html
Styles "asgi" and "wsgi" drive a web app through the bridges of web.py on the same http events,
with the stage ("/prod") as the app's root_path / SCRIPT_NAME, so the URLs it makes are the
client's.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, unquote_plus

from fpack.runtime.api import (
    Headers,
    Message,
    Query,
    Record,
    Request,
    Response,
    ScheduleEvent,
    StorageEvent,
    StorageKind,
)
from fpack.runtime.core import (
    LOG,
    TRIGGERS,
    EventShapeError,
    call_http,
    check_choice,
    describe,
    is_text,
    parse_cookies,
    parse_time,
)
from fpack.runtime.web import WEB_STYLES, HttpApp, bridge

Event = dict[str, Any]
LambdaHandler = Callable[[Event, object], object]
STYLES = ("portable", "lambda", *WEB_STYLES)
# The portable triggers, plus "stream": only Lambda has stream sources (Kinesis, DynamoDB).
AWS_TRIGGERS = (*TRIGGERS, "stream")


def lambda_handler(
    func: Callable[..., object], *, trigger: str, style: str, base_path: str = ""
) -> LambdaHandler:
    """The function Lambda calls: func adapted to trigger (style "portable"), func itself
    (style "lambda": an existing (event, context) handler), or an ASGI/WSGI app driven by http
    events (styles "asgi", "wsgi"; base_path: the prefix of a custom domain's API mapping)."""
    check_choice("fpack.runtime.aws", "style", style, STYLES)
    check_choice("fpack.runtime.aws", "trigger", trigger, AWS_TRIGGERS)
    if style == "lambda":
        return func
    if style in WEB_STYLES:
        return _web_handler(bridge(style, func, base_path=base_path), trigger, style)
    adapt = _ADAPTERS[trigger]

    def handler(event: Event, context: object) -> object:
        return adapt(func, event)

    return functools.wraps(func)(handler)


def _web_handler(app: HttpApp, trigger: str, style: str) -> LambdaHandler:
    if trigger != "http":
        raise ValueError(f'fpack.runtime.aws: style "{style}" serves http requests: expected '
                         f'trigger "http", got "{trigger}"')

    def handler(event: Event, context: object) -> object:
        return _reply(app, event)

    return handler


# --- http -------------------------------------------------------------------------------------


def _http(func: Callable[[Request], object], event: Event) -> Event:
    return _reply(lambda request, prefix: call_http(func, request), event)


def _reply(app: HttpApp, event: Event) -> Event:
    """app's answer to an http event; app is also told the path prefix the event removed."""
    if _http_version(event) == "2.0":
        prefix = _stage_prefix(event.get("rawPath") or "/", event["requestContext"])
        return _response_v2(app(_request_v2(event), unquote(prefix)))
    return _response_v1(app(_request_v1(event), _v1_prefix(event)))


def _http_version(event: object) -> str:
    if isinstance(event, dict):
        context = event.get("requestContext")
        if event.get("version") == "2.0" and isinstance(context, dict) and "http" in context:
            return "2.0"
        if "httpMethod" in event:
            return "1.0"
    raise _shape_error("http", "an API Gateway (REST or HTTP API) or Function URL request", event)


# Paths are given percent-decoded, as Flask and the Docker server give them ("/a%20b" → "/a b").


def _request_v1(event: Event) -> Request:
    headers = Headers(event.get("multiValueHeaders") or event.get("headers") or {})
    query = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    return Request(
        method=str(event["httpMethod"]).upper(),
        path=unquote(event.get("path") or "/"),
        query=Query(query or {}),
        headers=headers,
        body=_body(event),
        cookies=parse_cookies(headers.getall("cookie")),
        path_params=dict(event.get("pathParameters") or {}),
        raw=event,
    )


def _request_v2(event: Event) -> Request:
    context = event["requestContext"]
    pairs = list((event.get("headers") or {}).items())
    cookies = [str(c) for c in event.get("cookies") or ()]
    if cookies:
        # Payload 2.0 moves the Cookie header into "cookies"; put it back for header readers.
        pairs.append(("cookie", "; ".join(cookies)))
    return Request(
        method=str(context["http"]["method"]).upper(),
        path=unquote(_strip_stage(event.get("rawPath") or "/", context)),
        query=Query(parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True)),
        headers=Headers(pairs),
        body=_body(event),
        cookies=parse_cookies(cookies),
        path_params=dict(event.get("pathParameters") or {}),
        raw=event,
    )


def _strip_stage(path: str, context: Event) -> str:
    # An HTTP API with a named stage puts "/<stage>" in front of rawPath; routes (and the same
    # function on other platforms) see the path without it.
    prefix = _stage_prefix(path, context)
    return (path[len(prefix) :] or "/") if prefix else path


def _stage_prefix(path: str, context: Event) -> str:
    stage = context.get("stage")
    if not stage or stage == "$default":
        return ""
    prefix = f"/{stage}"
    return prefix if path == prefix or path.startswith(prefix + "/") else ""


def _v1_prefix(event: Event) -> str:
    # A REST API gives the path below the stage in "path" and the path the client asked for in
    # requestContext.path ("/prod/hello/world"): what comes before is the stage, or nothing on a
    # custom domain (whose base path mapping may stay in "path": see base_path).
    full = (event.get("requestContext") or {}).get("path")
    path = event.get("path") or "/"
    if isinstance(full, str) and len(full) > len(path) and full.endswith(path):
        return unquote(full[: len(full) - len(path)]).rstrip("/")
    return ""


def _body(event: Event) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise EventShapeError("fpack: the request body is marked base64 but is not") from e


def _encoded_body(response: Response) -> tuple[str, bool]:
    if not response.body:
        return "", False
    if is_text(response.headers.get("content-type")):
        try:
            return response.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # declared as text but is not UTF-8: send the bytes unchanged, base64-encoded
    return base64.b64encode(response.body).decode("ascii"), True


def _grouped(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in items:
        key = spelling.setdefault(name.lower(), name)
        grouped.setdefault(key, []).append(value)
    return grouped


def _response_v1(response: Response) -> Event:
    # multiValueHeaders carries every value (Set-Cookie included); "headers" repeats the
    # single-valued ones for tools that read only it. API Gateway merges the two without repeats.
    multi = _grouped(response.header_items())
    body, is_base64 = _encoded_body(response)
    return {
        "statusCode": response.status,
        "headers": {name: values[0] for name, values in multi.items() if len(values) == 1},
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _response_v2(response: Response) -> Event:
    # Payload 2.0 has one string per header (repeats comma-joined, as HTTP allows) and a
    # separate "cookies" list, because Set-Cookie values cannot be comma-joined.
    multi = _grouped(response.headers.items())
    cookies = [v for n, vs in multi.items() if n.lower() == "set-cookie" for v in vs]
    body, is_base64 = _encoded_body(response)
    return {
        "statusCode": response.status,
        "headers": {n: ",".join(vs) for n, vs in multi.items() if n.lower() != "set-cookie"},
        "cookies": [*cookies, *response.cookies],
        "body": body,
        "isBase64Encoded": is_base64,
    }


# --- storage, queue, schedule, stream ---------------------------------------------------------

# eventName prefix → kind. ObjectRestore, Replication, tagging and ACL events are not storage
# changes a function is told about, so they are refused by name.
_S3_KINDS: tuple[tuple[str, StorageKind], ...] = (
    ("ObjectCreated:", "created"),
    ("ObjectRemoved:", "deleted"),
    ("LifecycleExpiration:Delete", "deleted"),
)


def _storage(func: Callable[[StorageEvent], object], event: Event) -> None:
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        LOG.info("fpack: ignoring the s3:TestEvent S3 sends when notifications are set up")
        return
    records = _records(event, "aws:s3", "storage", 'an S3 notification (eventSource "aws:s3")')
    for storage_event in [_storage_event(r) for r in records]:
        func(storage_event)


def _storage_event(record: Event) -> StorageEvent:
    name = str(record.get("eventName"))
    kind = next((k for prefix, k in _S3_KINDS if name.startswith(prefix)), None)
    if kind is None:
        raise EventShapeError(
            'fpack: trigger "storage" reads S3 ObjectCreated:* and ObjectRemoved:* records, '
            f'got eventName "{name}"'
        )
    s3 = record["s3"]
    size = s3["object"].get("size")
    return StorageEvent(
        bucket=s3["bucket"]["name"],
        # S3 form-encodes keys in notifications: "a+b%2Fc.txt" is the key "a b/c.txt".
        key=unquote_plus(s3["object"]["key"]),
        size=None if size is None else int(size),
        kind=kind,
        raw=record,
    )


_QUEUE_EXPECTED = 'an SQS batch (eventSource "aws:sqs") or an SNS notification (EventSource ' \
    '"aws:sns")'


def _queue(func: Callable[[Message], object], event: Event) -> Event | None:
    if _sns_source(event):
        _sns(func, event)
        return None  # nothing to report: SNS retries a failed invocation as a whole
    records = _records(event, "aws:sqs", "queue", _QUEUE_EXPECTED)
    messages = [_message(r) for r in records]
    # A FIFO queue must not see a later message succeed after an earlier one failed: on the
    # first failure, the rest of the batch is reported failed unprocessed, to be retried in order.
    fifo = str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    failed: list[str] = []
    for message in messages:
        if failed and fifo:
            failed.append(message.id)
            continue
        try:
            func(message)
        except Exception:  # noqa: BLE001  # whatever it is, this message failed: report it
            LOG.exception("fpack: the queue handler failed on SQS message %s", message.id)
            failed.append(message.id)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


def _message(record: Event) -> Message:
    attributes = {
        str(name): str(value["stringValue"])
        for name, value in (record.get("messageAttributes") or {}).items()
        if isinstance(value, dict) and value.get("stringValue") is not None
    }
    body = record.get("body") or ""
    return Message(
        id=record["messageId"], data=body.encode("utf-8"), attributes=attributes, raw=record
    )


def _sns_source(event: object) -> bool:
    # SNS spells it "EventSource" where SQS, S3 and the streams write "eventSource".
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and isinstance(records[0], dict) \
        and records[0].get("EventSource") == "aws:sns"


def _sns(func: Callable[[Message], object], event: Event) -> None:
    # SNS invokes the function asynchronously, one message per event: a handler exception
    # propagates so that Lambda retries the invocation (then its on-failure destination, if any).
    records = event["Records"]
    if not all(isinstance(r, dict) and r.get("EventSource") == "aws:sns"
               and isinstance(r.get("Sns"), dict) for r in records):
        raise _shape_error("queue", _QUEUE_EXPECTED, event)
    for message in [_sns_message(r) for r in records]:
        func(message)


def _sns_message(record: Event) -> Message:
    sns = record["Sns"]
    # String, Number and String.Array values are strings; Binary ones (base64) are not
    # attributes a Message carries, as for SQS.
    attributes = {
        str(name): str(value["Value"])
        for name, value in (sns.get("MessageAttributes") or {}).items()
        if isinstance(value, dict) and value.get("Type") != "Binary"
        and value.get("Value") is not None
    }
    body = sns.get("Message") or ""
    return Message(id=str(sns["MessageId"]), data=str(body).encode("utf-8"),
                   attributes=attributes, raw=record)


def _stream(func: Callable[[Record], object], event: Event) -> Event:
    from fpack.runtime import aws_streams  # noqa: PLC0415  # only stream functions load it

    return aws_streams.handle(func, event)


def _schedule(func: Callable[[ScheduleEvent], object], event: Event) -> None:
    if not (isinstance(event, dict) and event.get("detail-type") == "Scheduled Event"):
        raise _shape_error("schedule", 'an EventBridge "Scheduled Event"', event)
    func(ScheduleEvent(time=parse_time(event.get("time", "")), raw=event))


def _records(event: object, source: str, trigger: str, expected: str) -> list[Event]:
    records = event.get("Records") if isinstance(event, dict) else None
    if (
        not isinstance(records, list)
        or not records
        or not all(isinstance(r, dict) and r.get("eventSource") == source for r in records)
    ):
        raise _shape_error(trigger, expected, event)
    return records


def _shape_error(trigger: str, expected: str, event: object) -> EventShapeError:
    return EventShapeError(f'fpack: trigger "{trigger}" expected {expected}, got {describe(event)}')


_ADAPTERS: dict[str, Callable[[Any, Event], object]] = {
    "http": _http,
    "storage": _storage,
    "queue": _queue,
    "schedule": _schedule,
    "stream": _stream,
}
