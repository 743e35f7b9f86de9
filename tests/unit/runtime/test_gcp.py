"""Cloud Functions adapter and the shared CloudEvent mapping, with fakes of what
functions-framework passes (a Flask request, a cloudevents CloudEvent)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from fpack.runtime.api import (
    Headers,
    Message,
    Query,
    Request,
    Response,
    ScheduleEvent,
    StorageEvent,
)
from fpack.runtime.aws import lambda_handler
from fpack.runtime.cloudevents import to_portable
from fpack.runtime.core import EventShapeError
from fpack.runtime.gcp import cloudevent_handler, http_handler

from .support import load_event


class FakeArgs:
    """werkzeug MultiDict, as far as it is read: keys() and getlist()."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self._pairs))

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self._pairs if name == key]


class FakeHeaders:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class FakeFlaskRequest:
    def __init__(
        self,
        method: str,
        path: str,
        args: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes = b"",
        cookies: dict[str, str] | None = None,
    ) -> None:
        self.method, self.path, self.args = method, path, FakeArgs(args)
        self.headers, self.cookies, self._body = FakeHeaders(headers), cookies or {}, body

    def get_data(self) -> bytes:
        return self._body


class FakeCloudEvent:
    """cloudevents.http.CloudEvent, as far as it is read."""

    def __init__(self, attributes: dict[str, Any], data: object) -> None:
        self._attributes, self.data = attributes, data

    def __getitem__(self, key: str) -> Any:
        return self._attributes[key]

    def __contains__(self, key: str) -> bool:
        return key in self._attributes

    def get_attributes(self) -> dict[str, Any]:
        return dict(self._attributes)


class BareCloudEvent(FakeCloudEvent):
    """An event object without get_attributes(): attributes are read by name."""

    get_attributes = None  # type: ignore[assignment]


def cloud_event(name: str, data_form: str = "dict") -> FakeCloudEvent:
    """The structured sample tests/events/gcp/<name>.json as a CloudEvent object."""
    structured = load_event("gcp", name)
    data = structured.pop("data")
    if data_form == "bytes":
        data = json.dumps(data).encode()
    elif data_form == "str":
        data = json.dumps(data)
    return FakeCloudEvent(structured, data)


# Golden pairs: CloudEvent sample → what the handler sees.
GOLDEN: dict[tuple[str, str], object] = {
    ("storage", "storage_finalized"): StorageEvent(
        bucket="photos-uploads",
        key="incoming/holiday photos/café (1).jpg",
        size=1024,
        kind="created",
    ),
    ("storage", "storage_deleted"): StorageEvent(
        bucket="photos-uploads", key="incoming/old.jpg", size=2048, kind="deleted"
    ),
    ("queue", "pubsub_message"): Message(
        id="11223344556677", data=b'{"order": 1}', attributes={"kind": "order", "priority": "5"}
    ),
    ("schedule", "scheduler_pubsub"): ScheduleEvent(
        time=datetime(2024, 3, 13, 15, 0, 0, 123456, tzinfo=timezone.utc)
    ),
}


def run_cloudevent(trigger: str, event: Any) -> list[Any]:
    seen: list[Any] = []
    cloudevent_handler(seen.append, trigger=trigger)(event)
    return seen


@pytest.mark.parametrize("data_form", ["dict", "bytes", "str"])
@pytest.mark.parametrize(("trigger", "name"), sorted(GOLDEN))
def test_cloudevent_becomes_the_golden_object(trigger: str, name: str, data_form: str) -> None:
    event = cloud_event(name, data_form)
    seen = run_cloudevent(trigger, event)
    assert seen == [GOLDEN[trigger, name]]
    assert seen[0].raw is event


def test_attributes_are_read_by_name_without_get_attributes() -> None:
    structured = load_event("gcp", "pubsub_message")
    event = BareCloudEvent(structured, structured.pop("data"))
    assert run_cloudevent("queue", event) == [GOLDEN["queue", "pubsub_message"]]


def test_the_same_upload_looks_the_same_on_aws_and_gcp() -> None:
    on_aws: list[StorageEvent] = []
    lambda_handler(on_aws.append, trigger="storage", style="portable")(
        load_event("aws", "s3_put"), None
    )
    on_gcp = run_cloudevent("storage", cloud_event("storage_finalized"))
    assert on_aws == on_gcp


def test_schedule_falls_back_to_the_cloudevent_time() -> None:
    event = cloud_event("scheduler_pubsub")
    del event.data["message"]["publishTime"]  # type: ignore[index]
    del event.data["message"]["publish_time"]  # type: ignore[index]
    seen = run_cloudevent("schedule", event)
    assert seen[0].time == datetime(2024, 3, 13, 15, 0, 0, 512000, tzinfo=timezone.utc)


def test_pubsub_message_without_data_or_attributes() -> None:
    attributes = load_event("gcp", "pubsub_message")
    attributes.pop("data")
    seen = run_cloudevent("queue", FakeCloudEvent(attributes, {"message": {"messageId": "7"}}))
    assert seen == [Message(id="7", data=b"", attributes={})]


@pytest.mark.parametrize(
    ("trigger", "name", "message"),
    [
        (
            "storage",
            "pubsub_message",
            'fpack: trigger "storage" expected a Cloud Storage CloudEvent (type '
            '"google.cloud.storage.object.v1.finalized" or '
            '"google.cloud.storage.object.v1.deleted"), got a CloudEvent of type '
            '"google.cloud.pubsub.topic.v1.messagePublished"',
        ),
        (
            "queue",
            "storage_finalized",
            'fpack: trigger "queue" expected a Pub/Sub CloudEvent (type '
            '"google.cloud.pubsub.topic.v1.messagePublished"), got a CloudEvent of type '
            '"google.cloud.storage.object.v1.finalized"',
        ),
        (
            "schedule",
            "storage_deleted",
            'fpack: trigger "schedule" expected a Pub/Sub CloudEvent (type '
            '"google.cloud.pubsub.topic.v1.messagePublished"), got a CloudEvent of type '
            '"google.cloud.storage.object.v1.deleted"',
        ),
    ],
)
def test_wrong_cloudevent_for_the_trigger_is_a_clear_error(
    trigger: str, name: str, message: str
) -> None:
    with pytest.raises(EventShapeError) as info:
        run_cloudevent(trigger, cloud_event(name))
    assert str(info.value) == message


DATA_OF_PUBSUB = (
    'fpack: the data of CloudEvent type "google.cloud.pubsub.topic.v1.messagePublished"'
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{oops", f"{DATA_OF_PUBSUB} is not JSON"),
        ("[1]", f"{DATA_OF_PUBSUB} is not a JSON object"),
        ({"subscription": "s"}, f'{DATA_OF_PUBSUB} has no "message"'),
        ({"message": {"data": "%%%"}}, "fpack: the Pub/Sub message data is not base64"),
    ],
)
def test_malformed_pubsub_data_is_a_clear_error(data: object, message: str) -> None:
    attributes = {"type": "google.cloud.pubsub.topic.v1.messagePublished", "id": "1"}
    with pytest.raises(EventShapeError) as info:
        to_portable("queue", attributes, data, raw=None)
    assert str(info.value) == message


def test_event_without_a_type() -> None:
    with pytest.raises(EventShapeError) as info:
        to_portable("storage", {}, {}, raw=None)
    assert str(info.value).endswith("got an event without a type")


def test_http_trigger_is_not_a_cloudevent_trigger() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011  # whole message asserted below
        cloudevent_handler(print, trigger="http")
    assert str(info.value) == (
        'fpack.runtime.gcp: trigger "http" is not supported: expected one of '
        '"storage", "queue", "schedule"'
    )


def test_cloudevent_handler_failure_is_logged_in_one_line_and_reraised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(message: Message) -> None:
        raise KeyError("order")

    handle = cloudevent_handler(broken, trigger="queue")
    with caplog.at_level(logging.ERROR, logger="fpack"), pytest.raises(KeyError):
        handle(cloud_event("pubsub_message"))
    assert caplog.messages == [
        "fpack: the queue handler failed on CloudEvent 11223344556677 "
        "(type \"google.cloud.pubsub.topic.v1.messagePublished\"): KeyError: 'order'"
    ]
    assert "Traceback" not in caplog.text  # functions-framework logs it


def flask_request() -> FakeFlaskRequest:
    return FakeFlaskRequest(
        "post",
        "/hello/world",
        [("tag", "x"), ("lang", "fr"), ("tag", "y")],
        [("Content-Type", "application/json"), ("Cookie", "sid=abc123"), ("X-Tag", "a")],
        b'{"greeting": "bonjour"}',
        {"sid": "abc123"},
    )


def test_flask_request_becomes_a_request() -> None:
    seen: list[Request] = []
    http_handler(seen.append)(flask_request())
    assert seen == [
        Request(
            method="POST",
            path="/hello/world",
            query=Query([("tag", "x"), ("tag", "y"), ("lang", "fr")]),
            headers=Headers(
                [("Content-Type", "application/json"), ("Cookie", "sid=abc123"), ("X-Tag", "a")]
            ),
            body=b'{"greeting": "bonjour"}',
            cookies={"sid": "abc123"},
        )
    ]
    assert seen[0].json() == {"greeting": "bonjour"}


def test_http_reply_is_a_flask_tuple_with_repeated_headers() -> None:
    def hello(request: Request) -> Response:
        return Response.json({"hello": request.query.get("lang")}, cookies=["a=1", "b=2"])

    assert http_handler(hello)(flask_request()) == (
        b'{"hello":"fr"}',
        200,
        [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
    )


def test_http_handler_failure_is_a_generic_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> None:
        raise RuntimeError("token=s3cr3t")

    with caplog.at_level(logging.ERROR, logger="fpack"):
        reply = http_handler(broken)(flask_request())
    assert reply == (
        b'{"error":"internal server error"}',
        500,
        [("Content-Type", "application/json")],
    )
    assert "RuntimeError: token=s3cr3t" in caplog.text


def test_base64_of_golden_samples_is_what_the_golden_objects_say() -> None:
    # Guards the samples themselves: the encoded payloads are the bytes the goldens expect.
    data = load_event("gcp", "pubsub_message")["data"]["message"]["data"]
    assert base64.b64decode(data) == b'{"order": 1}'
