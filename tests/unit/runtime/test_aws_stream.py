"""Lambda stream batches (Kinesis, DynamoDB Streams) → Record, the partial batch response, DynamoDB
JSON → plain Python, and SNS notifications → Message. Inputs are the samples fpack ships."""

from __future__ import annotations

import base64
import copy
import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

import fpack
from fpack.local.events import sample
from fpack.runtime import dynamodb
from fpack.runtime.api import Message, Record
from fpack.runtime.aws import lambda_handler
from fpack.runtime.core import EventShapeError


def _recorder(trigger: str, fail_at: int | None = None) -> tuple[list[Any], Any]:
    """A portable handler that records what it gets and raises on call number `fail_at`."""
    seen: list[Any] = []

    def handler(item: Any) -> None:
        seen.append(item)
        if len(seen) == fail_at:
            raise ValueError("cannot handle this one")

    return seen, lambda_handler(handler, trigger=trigger, style="portable")


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


KINESIS = [
    Record(id="49590338271490256608559692538361571095921575989136588898", key="1",
           data=b"Hello, this is a test.", time=_at(1710342245.987)),
    Record(id="49590338271490256608559692540925702759324208523137515618", key="1",
           data=b"This is only a test.", time=_at(1710342246.166)),
    Record(id="49590338271490256608559692541044596412651935372913016930", key="u-42",
           data=b'{"page": "/photos/7", "user": "u-42"}', time=_at(1710342247.5)),
    Record(id="49590338271490256608559692541163490066979662222688518242", key="u-7",
           data=bytes([0, 1, 2, 255]), time=_at(1710342248.0)),
]
# Every DynamoDB type: S N B BOOL NULL M L SS NS BS, as plain Python values.
PHOTO_7 = {
    "album": "holiday", "photo": 7, "title": "Beach at dusk", "rating": Decimal("4.5"),
    "thumbnail": b"\x89PNG", "public": True, "deleted_at": None,
    "exif": {"iso": 200, "lens": "35mm", "flash": False},
    "history": ["uploaded", 1710342245, {"by": "u-42"}],
    "tags": {"beach", "dusk"}, "sizes": {128, 512, Decimal("0.5")},
    "hashes": {b"\x00\x01\x02", b"\xff"},
}
PHOTO_7_MODIFIED = {**PHOTO_7, "title": "Beach at night", "rating": 5, "public": False}
KEY_7 = {"album": "holiday", "photo": 7}
DYNAMODB = [
    Record(id="111000000000000000000001", key=KEY_7, kind="insert", new=PHOTO_7,
           time=_at(1710342245)),
    Record(id="222000000000000000000002", key=KEY_7, kind="modify", new=PHOTO_7_MODIFIED,
           old=PHOTO_7, time=_at(1710342300)),
    Record(id="333000000000000000000003", key={"album": "holiday", "photo": 8}, kind="insert",
           new={"album": "holiday", "photo": 8, "title": "Dunes"}, time=_at(1710342301)),
    Record(id="444000000000000000000004", key=KEY_7, kind="remove", old=PHOTO_7_MODIFIED,
           time=_at(1710342400)),
]


@pytest.mark.parametrize(("name", "golden"), [("kinesis", KINESIS), ("dynamodb", DYNAMODB)])
def test_a_stream_batch_becomes_one_record_per_record_in_order(name: str,
                                                               golden: list[Record]) -> None:
    seen, handler = _recorder("stream")
    event = sample(name, "lambda")
    assert handler(event, None) == {"batchItemFailures": []}
    assert seen == golden
    assert [r.raw for r in seen] == event["Records"]


def test_dynamodb_values_keep_their_python_types() -> None:
    seen, handler = _recorder("stream")
    handler(sample("dynamodb", "lambda"), None)
    new = seen[0].new
    assert {k: type(v).__name__ for k, v in new.items()} == {
        "album": "str", "photo": "int", "title": "str", "rating": "Decimal", "thumbnail": "bytes",
        "public": "bool", "deleted_at": "NoneType", "exif": "dict", "history": "list",
        "tags": "set", "sizes": "set", "hashes": "set"}
    assert seen[0].data == b"" and seen[0].kind == "insert" and seen[3].new is None


@pytest.mark.parametrize(("name", "field"), [("kinesis", "sequenceNumber"),
                                             ("dynamodb", "SequenceNumber")])
def test_the_first_failing_record_is_reported_and_the_rest_left_for_the_retry(
        name: str, field: str, caplog: pytest.LogCaptureFixture) -> None:
    seen, handler = _recorder("stream", fail_at=3)
    event = sample(name, "lambda")
    third = event["Records"][2]["kinesis" if name == "kinesis" else "dynamodb"][field]
    with caplog.at_level(logging.ERROR, logger="fpack"):
        result = handler(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": third}]}
    assert len(seen) == 3  # the fourth was not handled: Lambda redelivers it with the third
    assert caplog.messages == [
        f"fpack: the stream handler failed on record {third}; reported for Lambda to retry the "
        "batch from it (1 record(s) after it left for the retry)"]
    assert "ValueError: cannot handle this one" in caplog.text


def test_record_text_and_json_read_the_data() -> None:
    seen, handler = _recorder("stream")
    handler(sample("kinesis", "lambda"), None)
    assert seen[0].text == "Hello, this is a test."
    assert seen[2].json() == {"page": "/photos/7", "user": "u-42"}
    assert fpack.Record is Record


def test_a_record_that_cannot_be_read_is_reported_like_a_failing_one() -> None:
    seen, handler = _recorder("stream")
    event = sample("kinesis", "lambda")
    event["Records"][1]["kinesis"]["data"] = "not base64!"
    assert handler(event, None) == {"batchItemFailures": [
        {"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}]}
    assert len(seen) == 1


@pytest.mark.parametrize(("event", "message"), [
    (sample("sqs", "lambda"),
     'fpack: trigger "stream" expected a Kinesis or DynamoDB Streams batch (eventSource '
     '"aws:kinesis" or "aws:dynamodb"), got an SQS batch (Records[0].eventSource "aws:sqs")'),
    ({"Records": []},
     'fpack: trigger "stream" expected a Kinesis or DynamoDB Streams batch (eventSource '
     '"aws:kinesis" or "aws:dynamodb"), got an object with keys ["Records"]'),
    ({"Records": [*sample("kinesis", "lambda")["Records"],
                  *sample("dynamodb", "lambda")["Records"]]},
     'fpack: trigger "stream" expected a Kinesis or DynamoDB Streams batch (eventSource '
     '"aws:kinesis" or "aws:dynamodb"), got a Kinesis batch (Records[0].eventSource '
     '"aws:kinesis")'),
])
def test_a_wrong_event_for_the_stream_trigger_is_a_clear_error(event: Any, message: str) -> None:
    seen, handler = _recorder("stream")
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == message
    assert seen == []


def test_a_record_without_a_sequence_number_fails_the_whole_batch() -> None:
    seen, handler = _recorder("stream")
    event = sample("dynamodb", "lambda")
    del event["Records"][2]["dynamodb"]["SequenceNumber"]
    with pytest.raises(EventShapeError) as info:
        handler(event, None)
    assert str(info.value) == (
        'fpack: a stream record (eventSource "aws:dynamodb", eventID '
        '"c4ca4238a0b923820dcc509a6f758493") has no SequenceNumber: Lambda needs it to know '
        "where to resume")
    assert seen == []  # checked before any record was handled


# --- DynamoDB JSON ------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "plain"), [
    ({"N": "12345678901234567890123456789012345678"}, 12345678901234567890123456789012345678),
    ({"N": "-0.000000000000000000000000000000000001"},
     Decimal("-0.000000000000000000000000000000000001")),
    ({"N": "1E+3"}, Decimal("1E+3")),
    ({"B": base64.b64encode(b"\x00").decode()}, b"\x00"),
    ({"L": []}, []),
    ({"M": {}}, {}),
    ({"SS": ["a"]}, {"a"}),
])
def test_dynamodb_numbers_are_exact_and_binaries_decoded(typed: Any, plain: Any) -> None:
    got = dynamodb.value(typed)
    assert got == plain and type(got) is type(plain)


@pytest.mark.parametrize(("typed", "message"), [
    ({"X": "1"}, 'fpack: the DynamoDB attribute "a" has type "X"; expected one of S, N, B, BOOL, '
     "NULL, M, L, SS, NS, BS"),
    ("1", 'fpack: the DynamoDB attribute "a" is not a typed value (an object with one key naming '
     'its type, e.g. {"S": "text"})'),
    ({"N": "one"}, 'fpack: the DynamoDB attribute "a" is not a number'),
    ({"B": "%%"}, 'fpack: the DynamoDB attribute "a" is marked binary (B) but is not base64'),
    ({"SS": "a"}, 'fpack: the DynamoDB attribute "a" should hold a list'),
])
def test_dynamodb_json_that_is_not_is_a_clear_error(typed: Any, message: str) -> None:
    with pytest.raises(EventShapeError) as info:
        dynamodb.item({"a": typed})
    assert str(info.value) == message


# --- SNS: a queue function's Message -------------------------------------------------------------

def test_an_sns_notification_is_a_message_like_an_sqs_one() -> None:
    seen, handler = _recorder("queue")
    event = sample("sns", "lambda")
    assert handler(event, None) is None
    assert seen == [Message(id="95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                            data=b'{"id": 12, "photos": ["beach.jpg", "dunes.jpg"]}',
                            attributes={"kind": "order", "priority": "5"})]
    assert seen[0].raw == event["Records"][0]


def test_an_sns_handler_failure_propagates_for_lambda_to_retry_the_invocation() -> None:
    _, handler = _recorder("queue", fail_at=1)
    with pytest.raises(ValueError, match="cannot handle this one"):
        handler(sample("sns", "lambda"), None)


def test_a_mixed_sns_batch_is_refused() -> None:
    _, handler = _recorder("queue")
    event = sample("sns", "lambda")
    broken = copy.deepcopy(event["Records"][0])
    del broken["Sns"]
    event["Records"].append(broken)
    with pytest.raises(EventShapeError, match=r"expected an SQS batch .* or an SNS notification"):
        handler(event, None)
