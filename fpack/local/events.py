"""Events for local runs: the samples fpack ships, and the conversions between the two families of
delivery, so that one event file can drive the same function on every target. Pure: no I/O but
reading the packaged samples.

Lambda (aws zips, lambda images) takes Lambda events: API Gateway v1/v2 and Function URL requests,
S3, SQS, SNS, EventBridge, Kinesis and DynamoDB Streams. HTTP (http images, Cloud Functions
bundles) takes HTTP requests: for the http trigger the request itself, for the event triggers a
CloudEvent in binary mode
(https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md).
An HTTP request file (`{"method", "path", "headers", "body"}`, the `http` sample) and the API
Gateway events convert both ways; storage, queue, schedule and stream events stay in their family
(an S3 record has no faithful Cloud Storage CloudEvent, a stream batch no http form at all): a
mismatch is a usage error naming the sample.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from fpack.errors import UsageError

Family = Literal["lambda", "http"]
SAMPLES_DIR: Final = Path(__file__).resolve().parent / "samples"
# name -> the family it belongs to (None: either); the files are in fpack/local/samples/<name>.json.
SAMPLES: Final[dict[str, Family | None]] = {
    "http": None, "apigw-v1": None, "apigw-v2": None, "function-url": None,
    "s3": "lambda", "s3-delete": "lambda", "sqs": "lambda", "eventbridge": "lambda",
    "sns": "lambda", "kinesis": "lambda", "dynamodb": "lambda",
    "gcs": "http", "gcs-delete": "http", "pubsub": "http", "scheduler": "http",
}  # fmt: skip
# What `--sample TRIGGER` (or no event at all) means on each family. The http request converts
# to either family, so one function gets the same request on every target by default.
DEFAULT_SAMPLES: Final[dict[Family, dict[str, str]]] = {
    "lambda": {"http": "http", "storage": "s3", "queue": "sqs", "schedule": "eventbridge",
               "stream": "kinesis"},
    "http": {"http": "http", "storage": "gcs", "queue": "pubsub", "schedule": "scheduler"},
}
# Headers the HTTP server or the platform adds: not part of the function's answer.
TRANSPORT_HEADERS: Final = frozenset(
    {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"})
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/javascript")


def sample(name: str, family: Family) -> Any:
    """The sample called `name` (a sample name, or a trigger name meaning its usual event)."""
    name = DEFAULT_SAMPLES[family].get(name, name)
    if name not in SAMPLES:
        known = ", ".join([*DEFAULT_SAMPLES[family], *SAMPLES])
        raise UsageError(f"--sample {name}: no such sample; expected one of {known}")
    wanted = SAMPLES[name]
    if wanted is not None and wanted != family:
        other = "an aws zip or a lambda image" if wanted == "lambda" else \
            "an http image or a gcp bundle"
        raise UsageError(f"--sample {name}: a {wanted} event, for {other}; this artifact takes "
                         f"{family} events (e.g. --sample {_same_trigger(name, family)})")
    return json.loads((SAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _same_trigger(name: str, family: Family) -> str:
    other: Family = "http" if family == "lambda" else "lambda"
    trigger = next((t for t, s in DEFAULT_SAMPLES[other].items() if s == name),
                   _ALSO_FOR.get(name, "http"))
    return DEFAULT_SAMPLES[family].get(trigger, "http")  # stream: no http event stands for it


# The trigger a sample serves when it is not that trigger's default sample.
_ALSO_FOR: Final = {"sns": "queue", "dynamodb": "stream", "s3-delete": "storage",
                    "gcs-delete": "storage"}


def kind_of(event: Any) -> str:
    """What an event file holds: http-request, apigw-v1, apigw-v2, cloudevent, s3, sqs, sns,
    kinesis, dynamodb, eventbridge, or unknown."""
    if not isinstance(event, dict):
        return "unknown"
    tests = (("cloudevent", "specversion" in event),
             ("apigw-v2", event.get("version") == "2.0" and "rawPath" in event),
             ("apigw-v1", "httpMethod" in event and "requestContext" in event),
             ("http-request", "method" in event and "path" in event),
             ("eventbridge", "detail-type" in event))
    kind = next((name for name, hit in tests if hit), None)
    if kind is not None:
        return kind
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        # SNS spells the key "EventSource"; the others "eventSource".
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return {"aws:s3": "s3", "aws:sqs": "sqs", "aws:sns": "sns", "aws:kinesis": "kinesis",
                "aws:dynamodb": "dynamodb"}.get(str(source), "unknown")
    return "unknown"


def for_lambda(event: Any, trigger: str) -> Any:
    """The event as Lambda would deliver it to the function."""
    kind = kind_of(event)
    if kind == "http-request":
        return http_to_apigw_v2(event)
    if kind == "cloudevent":
        raise UsageError(f"a CloudEvent cannot be delivered to Lambda; use a Lambda event, e.g. "
                         f"--sample {DEFAULT_SAMPLES['lambda'].get(trigger, 'http')}")
    return event


def for_http(event: Any, trigger: str) -> dict[str, Any]:
    """The HTTP request that delivers the event to an http server."""
    kind = kind_of(event)
    if kind == "http-request":
        return dict(event)
    if kind in ("apigw-v1", "apigw-v2"):
        return apigw_to_http(event)
    if kind == "cloudevent":
        return cloudevent_request(event)
    raise UsageError(f"a {kind} event cannot be sent to an http server; use an HTTP request or a "
                     f"CloudEvent, e.g. --sample {DEFAULT_SAMPLES['http'].get(trigger, 'http')}")


def http_to_apigw_v2(request: dict[str, Any]) -> dict[str, Any]:
    """An HTTP request as the API Gateway HTTP API (payload 2.0) event Lambda receives."""
    path, _, query = str(request.get("path", "/")).partition("?")
    headers = {k.lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    body, encoded = _body_of(request)
    method = str(request.get("method", "GET")).upper()
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers, "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": "local", "routeKey": "$default", "stage": "$default"},
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if cookies:
        event["cookies"] = cookies
    if body:
        event["body"] = body
    return event


def _body_of(request: dict[str, Any]) -> tuple[str, bool]:
    if "bodyBase64" in request:
        return str(request["bodyBase64"]), True
    body = request.get("body") or ""
    return (body if isinstance(body, str) else json.dumps(body)), False


def apigw_to_http(event: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway (v1 or v2) or Function URL event as the HTTP request it stood for."""
    if event.get("version") == "2.0":
        method = event["requestContext"]["http"]["method"]
        path, query = event.get("rawPath", "/"), event.get("rawQueryString", "")
        stage = event["requestContext"].get("stage", "$default")
        if stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1:]  # the stage prefix: the Lambda runtime drops it too
        headers = dict(event.get("headers") or {})
        if event.get("cookies"):
            headers["cookie"] = "; ".join(event["cookies"])
    else:
        method, path = event["httpMethod"], event.get("path", "/")
        params = event.get("multiValueQueryStringParameters") or {}
        query = "&".join(f"{k}={v}" for k, vs in params.items() for v in vs)
        headers = dict(event.get("headers") or {})
    request: dict[str, Any] = {"method": method, "path": path + (f"?{query}" if query else ""),
                               "headers": {k: v for k, v in headers.items()
                                           if k.lower() not in TRANSPORT_HEADERS | {"host"}}}
    body = event.get("body") or ""
    request["bodyBase64" if event.get("isBase64Encoded") else "body"] = body
    return request


def cloudevent_request(event: dict[str, Any]) -> dict[str, Any]:
    """A structured CloudEvent as a binary-mode HTTP POST: attributes in ce-* headers."""
    headers = {f"ce-{k}": str(v) for k, v in event.items()
               if k not in ("data", "data_base64", "datacontenttype")}
    content_type = event.get("datacontenttype", "application/json")
    headers["content-type"] = content_type
    request: dict[str, Any] = {"method": "POST", "path": "/", "headers": headers}
    if "data_base64" in event:
        request["bodyBase64"] = event["data_base64"]
    else:
        data = event.get("data")
        request["body"] = data if isinstance(data, str) and "json" not in content_type \
            else json.dumps(data)
    return request


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What `fpack invoke` prints: the same shape for every target of one trigger."""

    ok: bool
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    result: Any = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        if self.status is None:
            return {"result": self.result}
        return {"status": self.status, "headers": self.headers, "body": self.body}


def _decoded_body(body: str, encoded: bool, content_type: str) -> Any:
    raw = base64.b64decode(body) if encoded else body.encode()
    if not raw:
        return None
    if not content_type.startswith(_TEXT_TYPES):
        return {"base64": base64.b64encode(raw).decode()}
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def lambda_reply(outcome: dict[str, Any], trigger: str) -> Reply:
    """Lambda's outcome (from the Runtime API) as a Reply; http results as the HTTP response."""
    if not outcome.get("ok"):
        return Reply(ok=False, error=outcome.get("error") or {"errorMessage": "unknown failure"})
    result = outcome.get("result")
    if trigger != "http" or not isinstance(result, dict) or "statusCode" not in result:
        return Reply(ok=True, result=result)
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ", ".join(str(v) for v in values)
    if result.get("cookies"):
        headers["set-cookie"] = ", ".join(result["cookies"])
    body = _decoded_body(result.get("body") or "", bool(result.get("isBase64Encoded")),
                         headers.get("content-type", ""))
    return Reply(ok=True, status=int(result["statusCode"]), headers=headers, body=body)


def http_reply(outcome: dict[str, Any], trigger: str) -> Reply:
    """An HTTP response (from the probe) as a Reply; for event triggers, 2xx means handled."""
    if not outcome.get("ok"):
        return Reply(ok=False, error=outcome.get("error") or {"errorMessage": "unknown failure"})
    headers: dict[str, str] = {}
    for name, value in outcome.get("headers", []):
        if name not in TRANSPORT_HEADERS:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    encoded = "bodyBase64" in outcome
    body = _decoded_body(outcome.get("bodyBase64") or outcome.get("body") or "", encoded,
                         headers.get("content-type", ""))
    status = int(outcome["status"])
    ok = trigger == "http" or status < 300
    error = None if ok else {"errorType": f"HTTP {status}", "errorMessage": str(body)}
    return Reply(ok=ok, status=status, headers=headers, body=body, error=error)
