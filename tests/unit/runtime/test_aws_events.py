"""AWS Lambda event adapters: S3 → StorageEvent, SQS → Message, EventBridge → ScheduleEvent."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from fpack.runtime.api import Message, ScheduleEvent, StorageEvent
from fpack.runtime.aws import lambda_handler
from fpack.runtime.core import EventShapeError

from .support import load_event


def recorder(trigger: str, fail_on: tuple[str, ...] = ()) -> tuple[list[Any], Any]:
    """A portable handler that records what it gets and fails messages whose text is in fail_on."""
    seen: list[Any] = []

    def handler(event: Any) -> None:
        seen.append(event)
        if isinstance(event, Message) and event.text in fail_on:
            raise ValueError(f"cannot handle {event.text}")

    return seen, lambda_handler(handler, trigger=trigger, style="portable")


# Golden pairs: event sample → what the handler sees.
GOLDEN: dict[tuple[str, str], list[object]] = {
    ("storage", "s3_put"): [
        StorageEvent(
            bucket="photos-uploads",
            key="incoming/holiday photos/café (1).jpg",
            size=1024,
            kind="created",
        )
    ],
    ("storage", "s3_delete"): [
        StorageEvent(bucket="photos-uploads", key="incoming/old.jpg", size=None, kind="deleted")
    ],
    ("queue", "sqs"): [
        Message(
            id="059f36b4-87a3-44ab-83d2-661975830a7d",
            data=b'{"order": 1}',
            attributes={"kind": "order", "priority": "5"},
        ),
        Message(id="2e1424d4-f796-459a-8184-9c92662be6da", data=b"not json", attributes={}),
    ],
    ("schedule", "eventbridge_schedule"): [
        ScheduleEvent(time=datetime(2024, 3, 13, 15, 0, tzinfo=timezone.utc))
    ],
}


@pytest.mark.parametrize(("trigger", "name"), sorted(GOLDEN))
def test_event_becomes_the_golden_objects(trigger: str, name: str) -> None:
    seen, handler = recorder(trigger)
    event = load_event("aws", name)
    handler(event, None)
    assert seen == GOLDEN[trigger, name]
    raws = [item.raw for item in seen]
    assert raws == event.get("Records", [event])


def test_storage_returns_nothing() -> None:
    _, handler = recorder("storage")
    assert handler(load_event("aws", "s3_put"), None) is None


def test_s3_lifecycle_expiration_is_a_deletion() -> None:
    seen, handler = recorder("storage")
    event = load_event("aws", "s3_delete")
    event["Records"][0]["eventName"] = "LifecycleExpiration:Delete"
    handler(event, None)
    assert [e.kind for e in seen] == ["deleted"]


def test_s3_event_outside_created_and_removed_is_refused() -> None:
    _, handler = recorder("storage")
    event = load_event("aws", "s3_put")
    event["Records"][0]["eventName"] = "ObjectRestore:Completed"
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == (
        'fpack: trigger "storage" reads S3 ObjectCreated:* and ObjectRemoved:* records, '
        'got eventName "ObjectRestore:Completed"'
    )


def test_s3_test_event_is_ignored() -> None:
    seen, handler = recorder("storage")
    handler({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}, None)
    assert seen == []


def test_sqs_all_succeed() -> None:
    _, handler = recorder("queue")
    assert handler(load_event("aws", "sqs"), None) == {"batchItemFailures": []}


def test_sqs_partial_failure_reports_the_failed_message(caplog: pytest.LogCaptureFixture) -> None:
    seen, handler = recorder("queue", fail_on=('{"order": 1}',))
    with caplog.at_level(logging.ERROR, logger="fpack"):
        result = handler(load_event("aws", "sqs"), None)
    assert result == {
        "batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]
    }
    assert len(seen) == 2  # the second message was still handled
    assert caplog.messages == [
        "fpack: the queue handler failed on SQS message 059f36b4-87a3-44ab-83d2-661975830a7d"
    ]
    assert 'ValueError: cannot handle {"order": 1}' in caplog.text


def test_sqs_fifo_failure_fails_the_rest_of_the_batch_unhandled() -> None:
    seen, handler = recorder("queue", fail_on=('{"order": 1}',))
    event = load_event("aws", "sqs")
    for record in event["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
    assert handler(event, None) == {
        "batchItemFailures": [
            {"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"},
            {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
        ]
    }
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("trigger", "sample", "message"),
    [
        (
            "storage",
            "sqs",
            'fpack: trigger "storage" expected an S3 notification (eventSource "aws:s3"), '
            'got an SQS batch (Records[0].eventSource "aws:sqs")',
        ),
        (
            "queue",
            "s3_put",
            'fpack: trigger "queue" expected an SQS batch (eventSource "aws:sqs") or an SNS '
            'notification (EventSource "aws:sns"), '
            'got an S3 notification (Records[0].eventSource "aws:s3")',
        ),
        (
            "schedule",
            "apigw_v1",
            'fpack: trigger "schedule" expected an EventBridge "Scheduled Event", '
            "got an API Gateway REST API request",
        ),
        (
            "queue",
            "eventbridge_schedule",
            'fpack: trigger "queue" expected an SQS batch (eventSource "aws:sqs") or an SNS '
            'notification (EventSource "aws:sns"), '
            'got an EventBridge event (detail-type "Scheduled Event")',
        ),
    ],
)
def test_wrong_event_for_the_trigger_is_a_clear_error(
    trigger: str, sample: str, message: str
) -> None:
    seen, handler = recorder(trigger)
    with pytest.raises(EventShapeError) as info:
        handler(load_event("aws", sample), None)
    assert str(info.value) == message
    assert seen == []


def test_empty_records_is_a_clear_error() -> None:
    _, handler = recorder("queue")
    with pytest.raises(EventShapeError) as info:
        handler({"Records": []}, None)
    assert str(info.value) == (
        'fpack: trigger "queue" expected an SQS batch (eventSource "aws:sqs") or an SNS '
            'notification (EventSource "aws:sns"), '
        'got an object with keys ["Records"]'
    )


def test_schedule_with_a_bad_time_is_a_clear_error() -> None:
    _, handler = recorder("schedule")
    event = load_event("aws", "eventbridge_schedule")
    event["time"] = "soon"
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == 'fpack: expected an RFC 3339 timestamp, got "soon"'


def test_storage_handler_exception_propagates_for_lambda_to_retry() -> None:
    def broken(event: StorageEvent) -> None:
        raise OSError("disk full")

    handler = lambda_handler(broken, trigger="storage", style="portable")
    with pytest.raises(OSError, match="disk full"):
        handler(load_event("aws", "s3_put"), None)
