"""Reading one CloudEvent off an HTTP request (binary and structured modes, and the Pub/Sub push
and Cloud Scheduler requests that stand for one), as the Docker image's server does."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from fpack.runtime.api import Headers, Message, ScheduleEvent
from fpack.runtime.cloudevents import PUBSUB, SCHEDULER_HTTP, from_http, to_portable
from fpack.runtime.core import EventShapeError

from .support import load_event


def test_structured_mode() -> None:
    sample = load_event("gcp", "storage_finalized")
    body = json.dumps(sample).encode()
    headers = Headers({"Content-Type": "application/cloudevents+json; charset=utf-8"})
    attributes, data = from_http(headers, body) or ({}, None)
    assert attributes == {k: v for k, v in sample.items() if k != "data"}
    assert data == sample["data"]


def test_structured_mode_with_data_base64() -> None:
    envelope = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data_base64": "AAE="}
    headers = Headers({"content-type": "application/cloudevents+json"})
    assert from_http(headers, json.dumps(envelope).encode()) == (
        {"specversion": "1.0", "id": "1", "source": "s", "type": "t"},
        b"\x00\x01",
    )


def test_binary_mode() -> None:
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("ce-specversion", "1.0"),
            ("Ce-Id", "42"),
            ("ce-source", "//pubsub.googleapis.com/projects/p/topics/t"),
            ("ce-type", PUBSUB),
            ("ce-subject", "caf%C3%A9"),
            ("X-Other", "ignored"),
        ]
    )
    assert from_http(headers, b'{"message": {}}') == (
        {
            "specversion": "1.0",
            "id": "42",
            "source": "//pubsub.googleapis.com/projects/p/topics/t",
            "type": PUBSUB,
            "subject": "café",
            "datacontenttype": "application/json",
        },
        b'{"message": {}}',
    )


def test_binary_mode_missing_required_attributes() -> None:
    headers = Headers({"ce-specversion": "1.0", "ce-type": PUBSUB})
    with pytest.raises(EventShapeError) as info:
        from_http(headers, b"{}")
    assert str(info.value) == 'fpack: the CloudEvent lacks the required attributes "id", "source"'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "fpack: the structured CloudEvent is not JSON"),
        (b"[]", "fpack: the structured CloudEvent is not a JSON object"),
    ],
)
def test_structured_mode_that_is_not_an_object(body: bytes, message: str) -> None:
    with pytest.raises(EventShapeError) as info:
        from_http(Headers({"content-type": "application/cloudevents+json"}), body)
    assert str(info.value) == message


def test_batched_mode_is_refused() -> None:
    with pytest.raises(EventShapeError) as info:
        from_http(Headers({"content-type": "application/cloudevents-batch+json"}), b"[]")
    assert str(info.value) == (
        "fpack: batched CloudEvents (application/cloudevents-batch+json) are not supported: "
        "send one event per request"
    )


def test_pubsub_push_stands_for_a_message_published_event() -> None:
    envelope = load_event("gcp", "pubsub_message")["data"]
    event = from_http(Headers({"content-type": "application/json"}), json.dumps(envelope).encode())
    assert event is not None
    attributes, data = event
    assert attributes == {
        "specversion": "1.0",
        "type": PUBSUB,
        "id": "11223344556677",
        "source": "//pubsub.googleapis.com/projects/my-project/subscriptions/"
        "eventarc-us-central1-consume-sub-123",
        "time": "2024-03-13T15:04:05.678Z",
    }
    assert to_portable("queue", attributes, data, raw=None) == Message(
        id="11223344556677", data=b'{"order": 1}', attributes={"kind": "order", "priority": "5"}
    )


def test_cloud_scheduler_http_job_stands_for_a_schedule_event() -> None:
    headers = Headers(
        {
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": "photos-nightly",
            "X-CloudScheduler-ScheduleTime": "2024-03-13T15:00:00Z",
        }
    )
    event = from_http(headers, b"")
    assert event is not None
    assert event[0]["type"] == SCHEDULER_HTTP
    assert to_portable("schedule", event[0], event[1], raw=None) == ScheduleEvent(
        time=datetime(2024, 3, 13, 15, 0, tzinfo=timezone.utc)
    )


@pytest.mark.parametrize("body", [b"", b"hello", b'{"message": "x", "subscription": "s"}', b"[]"])
def test_a_plain_request_is_not_an_event(body: bytes) -> None:
    assert from_http(Headers({"content-type": "application/json"}), body) is None
