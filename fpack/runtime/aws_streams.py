"""Lambda stream batches (Kinesis, DynamoDB Streams) → one `Record` per record, in order, and the
partial batch response that tells Lambda where to resume.

Standard library only. Imported by aws.py only when a stream function runs, so other functions'
cold starts do not load it. Event shapes and the response, as documented by AWS:
- Kinesis: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
- DynamoDB Streams: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html and
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
- Partial batch responses for streams:
  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html

A stream is ordered per shard, and Lambda retries a batch from the lowest sequence number reported
failed. So the first record whose handler raises is reported and the rest of the batch is not
handled: the records after it are redelivered with it, the records before it are not. (Handling
them anyway would run them twice.) The event source mapping must be created with
`FunctionResponseTypes: ["ReportBatchItemFailures"]` (fpack deploy does), or Lambda ignores the
response and retries the whole batch.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any, Callable

from fpack.runtime import dynamodb
from fpack.runtime.api import ChangeKind, Record
from fpack.runtime.core import LOG, EventShapeError, describe

Event = dict[str, Any]
SOURCES = ("aws:kinesis", "aws:dynamodb")
EXPECTED = 'a Kinesis or DynamoDB Streams batch (eventSource "aws:kinesis" or "aws:dynamodb")'
_KINDS: dict[str, ChangeKind] = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


def handle(func: Callable[[Record], object], event: object) -> Event:
    """Call func once per record, in order; report the first failure and stop there."""
    records = _records(event)
    # Read every sequence number first: a record without one fails the batch before any record
    # is handled, not after some were (they would run twice on the retry).
    sequences = [sequence_number(raw) for raw in records]
    for index, (raw, sequence) in enumerate(zip(records, sequences)):
        try:
            func(record(raw))
        except Exception:  # noqa: BLE001, PERF203  # whatever it is, this record failed
            LOG.exception(
                "fpack: the stream handler failed on record %s; reported for Lambda to retry the "
                "batch from it (%d record(s) after it left for the retry)",
                sequence, len(records) - index - 1)
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    return {"batchItemFailures": []}


def _records(event: object) -> list[Event]:
    records = event.get("Records") if isinstance(event, dict) else None
    if (not isinstance(records, list) or not records
            or not all(isinstance(r, dict) for r in records)
            or records[0].get("eventSource") not in SOURCES
            or any(r.get("eventSource") != records[0].get("eventSource") for r in records)):
        raise EventShapeError(f'fpack: trigger "stream" expected {EXPECTED}, '
                              f"got {describe(event)}")
    return records


def sequence_number(raw: Event) -> str:
    """The record's sequence number: the itemIdentifier Lambda resumes from."""
    kinesis = raw.get("eventSource") == "aws:kinesis"
    section = raw.get("kinesis" if kinesis else "dynamodb")
    field = "sequenceNumber" if kinesis else "SequenceNumber"  # each service spells it its way
    number = section.get(field) if isinstance(section, dict) else None
    if not isinstance(number, str) or not number:
        raise EventShapeError(f'fpack: a stream record (eventSource "{raw.get("eventSource")}", '
                              f'eventID "{raw.get("eventID")}") has no {field}: Lambda needs it '
                              "to know where to resume")
    return number


def record(raw: Event) -> Record:
    """One stream record as the portable Record."""
    if raw.get("eventSource") == "aws:kinesis":
        return _kinesis(raw)
    return _dynamodb(raw)


def _kinesis(raw: Event) -> Record:
    kinesis = raw["kinesis"]
    try:
        data = base64.b64decode(kinesis.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise EventShapeError("fpack: the Kinesis record's data is not base64") from None
    return Record(id=kinesis["sequenceNumber"], key=str(kinesis.get("partitionKey", "")),
                  data=data, time=_epoch(kinesis.get("approximateArrivalTimestamp")), raw=raw)


def _dynamodb(raw: Event) -> Record:
    change = raw["dynamodb"]
    name = str(raw.get("eventName"))
    kind = _KINDS.get(name)
    if kind is None:
        raise EventShapeError(f'fpack: a DynamoDB stream record with eventName "{name}"; '
                              'expected "INSERT", "MODIFY" or "REMOVE"')
    new, old = change.get("NewImage"), change.get("OldImage")
    return Record(id=change["SequenceNumber"], key=dynamodb.item(change.get("Keys") or {}),
                  kind=kind, new=None if new is None else dynamodb.item(new),
                  old=None if old is None else dynamodb.item(old),
                  time=_epoch(change.get("ApproximateCreationDateTime")), raw=raw)


def _epoch(seconds: object) -> datetime | None:
    # Both services give seconds since the epoch (a float for Kinesis, an integer for DynamoDB).
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
