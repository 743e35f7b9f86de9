"""CloudEvents → portable objects: the one mapping used by Cloud Functions (gcp.py) and by the
Docker image's server (server.py), plus reading a CloudEvent off an HTTP request for the latter.

Standard library only: no cloudevents SDK, the event is (attributes, data). Shapes, as documented:
- Cloud Storage: https://cloud.google.com/eventarc/docs/cloudevents#cloud-storage
  (data is a storage#object resource: https://cloud.google.com/storage/docs/json_api/v1/objects)
- Pub/Sub (Cloud Scheduler jobs publish through it):
  https://cloud.google.com/eventarc/docs/cloudevents#pubsub
- CloudEvents over HTTP (binary and structured modes):
  https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
- Pub/Sub push and Cloud Scheduler HTTP jobs, which reach a container without being CloudEvents:
  https://cloud.google.com/pubsub/docs/push#receive_push
  https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#HttpTarget
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Union
from urllib.parse import unquote

from fpack.runtime.api import Headers, Message, ScheduleEvent, StorageEvent, StorageKind
from fpack.runtime.core import EventShapeError, check_choice, parse_time

Portable = Union[StorageEvent, Message, ScheduleEvent]
Attributes = Mapping[str, Any]

STORAGE_KINDS: dict[str, StorageKind] = {
    "google.cloud.storage.object.v1.finalized": "created",
    "google.cloud.storage.object.v1.deleted": "deleted",
}
PUBSUB = "google.cloud.pubsub.topic.v1.messagePublished"
# Not a real CloudEvent type: what from_http calls a Cloud Scheduler HTTP job's request.
SCHEDULER_HTTP = "fpack.cloudscheduler.http"
EVENT_TRIGGERS = ("storage", "queue", "schedule")
REQUIRED = ("specversion", "id", "source", "type")


def to_portable(trigger: str, attributes: Attributes, data: object, raw: object) -> Portable:
    """The portable object for a CloudEvent given as its attributes and data (a dict, or JSON
    as bytes or str). Raises EventShapeError when the event is not one the trigger reads."""
    check_choice("fpack.runtime.cloudevents", "trigger", trigger, EVENT_TRIGGERS)
    ce_type = str(attributes.get("type", ""))
    if trigger == "storage":
        return _storage_event(ce_type, data, raw)
    if trigger == "queue":
        return _message(ce_type, attributes, data, raw)
    return _schedule_event(ce_type, attributes, data, raw)


def _storage_event(ce_type: str, data: object, raw: object) -> StorageEvent:
    kind = STORAGE_KINDS.get(ce_type)
    if kind is None:
        types = " or ".join(f'"{t}"' for t in STORAGE_KINDS)
        expected = f"a Cloud Storage CloudEvent (type {types})"
        raise _shape_error("storage", expected, ce_type)
    obj = _json_object(ce_type, data)
    size = obj.get("size")  # a string: the JSON API writes uint64 values as strings
    return StorageEvent(
        bucket=str(obj.get("bucket", "")),
        key=str(obj.get("name", "")),
        size=None if size in (None, "") else int(size),
        kind=kind,
        raw=raw,
    )


def _message(ce_type: str, attributes: Attributes, data: object, raw: object) -> Message:
    message = _pubsub_message("queue", ce_type, data)
    payload = message.get("data")
    try:
        body = base64.b64decode(payload, validate=True) if payload else b""
    except (binascii.Error, ValueError, TypeError) as e:
        raise EventShapeError("fpack: the Pub/Sub message data is not base64") from e
    message_id = message.get("messageId") or message.get("message_id") or attributes.get("id")
    return Message(
        id=str(message_id or ""),
        data=body,
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
        raw=raw,
    )


def _schedule_event(
    ce_type: str, attributes: Attributes, data: object, raw: object
) -> ScheduleEvent:
    if ce_type == SCHEDULER_HTTP:
        return ScheduleEvent(time=parse_time(str(attributes["time"])), raw=raw)
    message = _pubsub_message("schedule", ce_type, data)
    # publishTime is when Cloud Scheduler published, i.e. when the job ran; the CloudEvent's own
    # time is the same instant under Eventarc and the fallback when a message lacks it.
    stamp = message.get("publishTime") or message.get("publish_time") or attributes.get("time")
    if not stamp:
        raise EventShapeError("fpack: the Pub/Sub message has no publishTime and the event no time")
    return ScheduleEvent(time=parse_time(str(stamp)), raw=raw)


def _pubsub_message(trigger: str, ce_type: str, data: object) -> dict[str, Any]:
    if ce_type != PUBSUB:
        raise _shape_error(trigger, f'a Pub/Sub CloudEvent (type "{PUBSUB}")', ce_type)
    message = _json_object(ce_type, data).get("message")
    if not isinstance(message, dict):
        raise EventShapeError(f'fpack: the data of CloudEvent type "{ce_type}" has no "message"')
    return message


def _json_object(ce_type: str, data: object) -> dict[str, Any]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as e:
            message = f'fpack: the data of CloudEvent type "{ce_type}" is not JSON'
            raise EventShapeError(message) from e
    if not isinstance(data, dict):
        raise EventShapeError(
            f'fpack: the data of CloudEvent type "{ce_type}" is not a JSON object'
        )
    return data


def _shape_error(trigger: str, expected: str, ce_type: str) -> EventShapeError:
    got = f'a CloudEvent of type "{ce_type}"' if ce_type else "an event without a type"
    return EventShapeError(f'fpack: trigger "{trigger}" expected {expected}, got {got}')


# --- CloudEvents over HTTP --------------------------------------------------------------------


def from_http(headers: Headers, body: bytes) -> tuple[dict[str, Any], object] | None:
    """The (attributes, data) of an event delivered over HTTP, or None when it is not one.

    Reads structured mode (Content-Type application/cloudevents+json) and binary mode (ce-*
    headers, the body is the data), and, as the CloudEvent each stands for, a Pub/Sub push
    subscription's JSON and a Cloud Scheduler HTTP job."""
    media = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "application/cloudevents-batch+json":
        raise EventShapeError(
            "fpack: batched CloudEvents (application/cloudevents-batch+json) are not supported: "
            "send one event per request"
        )
    if media == "application/cloudevents+json":
        return _required(_structured(body))
    if "ce-specversion" in headers:
        return _required(_binary(headers, body))
    if "x-cloudscheduler" in headers:
        return _scheduler(headers), body
    return _pubsub_push(body)


def _structured(body: bytes) -> tuple[dict[str, Any], object]:
    try:
        envelope = json.loads(body)
    except ValueError as e:
        raise EventShapeError("fpack: the structured CloudEvent is not JSON") from e
    if not isinstance(envelope, dict):
        raise EventShapeError("fpack: the structured CloudEvent is not a JSON object")
    attributes = {k: v for k, v in envelope.items() if k not in ("data", "data_base64")}
    data = envelope.get("data")
    if "data_base64" in envelope:
        data = base64.b64decode(str(envelope["data_base64"]))
    return attributes, data


def _binary(headers: Headers, body: bytes) -> tuple[dict[str, Any], object]:
    # Binary mode percent-encodes header values outside printable ASCII (HTTP binding 3.1.3.2).
    attributes: dict[str, Any] = {
        name[3:].lower(): unquote(value)
        for name, value in headers.items()
        if name.lower().startswith("ce-")
    }
    if "content-type" in headers:
        attributes["datacontenttype"] = headers["content-type"]
    return attributes, body


def _required(event: tuple[dict[str, Any], object]) -> tuple[dict[str, Any], object]:
    missing = [name for name in REQUIRED if not event[0].get(name)]
    if missing:
        names = ", ".join(f'"{n}"' for n in missing)
        raise EventShapeError(f"fpack: the CloudEvent lacks the required attributes {names}")
    return event


def _scheduler(headers: Headers) -> dict[str, Any]:
    # The schedule time header is set for unix-cron jobs, i.e. all of them; "now" is a fallback.
    stamp = headers.get("x-cloudscheduler-scheduletime")
    if not stamp:
        stamp = datetime.now(timezone.utc).isoformat()
    job = headers.get("x-cloudscheduler-jobname", "")
    return {"specversion": "1.0", "type": SCHEDULER_HTTP, "id": job, "source": job, "time": stamp}


def _pubsub_push(body: bytes) -> tuple[dict[str, Any], object] | None:
    try:
        envelope = json.loads(body) if body else None
    except ValueError:
        return None
    if not isinstance(envelope, dict) or "subscription" not in envelope:
        return None
    message = envelope.get("message")
    if not isinstance(message, dict):
        return None
    attributes = {
        "specversion": "1.0",
        "type": PUBSUB,
        "id": message.get("messageId") or message.get("message_id") or "",
        "source": f"//pubsub.googleapis.com/{envelope['subscription']}",
        "time": message.get("publishTime") or message.get("publish_time") or "",
    }
    return attributes, envelope
