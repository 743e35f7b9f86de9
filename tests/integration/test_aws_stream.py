"""Stream and topic functions: the aws artifact of a portable stream handler, run as Lambda runs it
on each lab Python (network off, read-only, unprivileged), fed the Kinesis and DynamoDB Streams
samples (insert, modify, remove; every DynamoDB attribute type) and batches whose third record
fails; and the SNS sample reaching a portable queue handler. The handlers write what they saw,
with each value's type, so the assertions are about what user code received."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fpack.local.events import sample
from tests.integration import lab

pytestmark = pytest.mark.lab

RUNTIMES = {"python3.9": (3, 9), "python3.11": (3, 11), "python3.13": (3, 13)}

# Runs inside the artifact on the target's Python (3.9 included): the standard library and fpack.
HANDLERS = '''\
"""Stream and topic handlers: each writes what it was handed, typed, to $PHOTOS_OUT."""

import base64
import json
import os
from decimal import Decimal

import fpack


def _typed(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, Decimal):
        return {"decimal": str(v)}
    if isinstance(v, bytes):
        return {"bytes": base64.b64encode(v).decode()}
    if isinstance(v, set):
        return {"set": sorted(json.dumps(_typed(x), sort_keys=True) for x in v)}
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return {"unexpected": type(v).__name__}


def _write(name, seen):
    out = os.environ.get("PHOTOS_OUT", "/tmp/photos")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "a") as f:
        f.write(json.dumps(seen, sort_keys=True) + "\\n")


def on_record(record: fpack.Record) -> None:
    _write("records.jsonl", {
        "class": type(record).__name__, "id": record.id, "key": _typed(record.key),
        "data": _typed(record.data), "kind": record.kind, "new": _typed(record.new),
        "old": _typed(record.old), "time": record.time.isoformat() if record.time else None})
    if b"poison" in record.data or "poison" in (record.new or {}):
        raise ValueError("a poisoned record")


def on_message(message: fpack.Message) -> None:
    _write("messages.jsonl", {"class": type(message).__name__, "id": message.id,
                              "order": message.json(), "attributes": dict(message.attributes)})
'''

TOML = """\
[project]
name = "feeds"
python = "{python}"

[functions.changes]
handler = "feeds:on_record"
trigger = "stream"
stream = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"

[functions.orders]
handler = "feeds:on_message"
trigger = "queue"
topic = "arn:aws:sns:us-east-1:123456789012:orders"

[targets.aws]
runtime = "{runtime}"
base_image = "{image}"
"""


def _project(root: Path, runtime: str) -> Path:
    version = RUNTIMES[runtime]
    root.mkdir()
    (root / "feeds.py").write_text(HANDLERS)
    (root / "fpack.toml").write_text(TOML.format(
        python=f"{version[0]}.{version[1]}", runtime=runtime, image=lab.IMAGES[version]))
    return root


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _set(*items: Any) -> dict[str, list[str]]:
    return {"set": sorted(json.dumps(i, sort_keys=True) for i in items)}


# What the handler saw, in the typed form the handler writes.
PHOTO_7 = {
    "album": "holiday", "photo": {"int": "7"}, "title": "Beach at dusk",
    "rating": {"decimal": "4.5"}, "thumbnail": {"bytes": _b64(b"\x89PNG")}, "public": True,
    "deleted_at": None, "exif": {"iso": {"int": "200"}, "lens": "35mm", "flash": False},
    "history": ["uploaded", {"int": "1710342245"}, {"by": "u-42"}],
    "tags": _set("beach", "dusk"),
    "sizes": _set({"int": "128"}, {"int": "512"}, {"decimal": "0.5"}),
    "hashes": _set({"bytes": _b64(b"\x00\x01\x02")}, {"bytes": _b64(b"\xff")}),
}
PHOTO_7_MODIFIED = {**PHOTO_7, "title": "Beach at night", "rating": {"int": "5"},
                    "public": False}
KEY_7 = {"album": "holiday", "photo": {"int": "7"}}


def _dynamodb_seen() -> list[dict[str, Any]]:
    def seen(i: int, kind: str, new: Any, old: Any, key: Any, at: str) -> dict[str, Any]:
        return {"class": "Record", "id": f"{i}{i}{i}00000000000000000000{i}", "key": key,
                "data": {"bytes": ""}, "kind": kind, "new": new, "old": old, "time": at}
    return [
        seen(1, "insert", PHOTO_7, None, KEY_7, "2024-03-13T15:04:05+00:00"),
        seen(2, "modify", PHOTO_7_MODIFIED, PHOTO_7, KEY_7, "2024-03-13T15:05:00+00:00"),
        seen(3, "insert", {"album": "holiday", "photo": {"int": "8"}, "title": "Dunes"}, None,
             {"album": "holiday", "photo": {"int": "8"}}, "2024-03-13T15:05:01+00:00"),
        seen(4, "remove", None, PHOTO_7_MODIFIED, KEY_7, "2024-03-13T15:06:40+00:00"),
    ]


def _kinesis_seen() -> list[dict[str, Any]]:
    records = sample("kinesis", "lambda")["Records"]
    times = ["2024-03-13T15:04:05.987000+00:00", "2024-03-13T15:04:06.166000+00:00",
             "2024-03-13T15:04:07.500000+00:00", "2024-03-13T15:04:08+00:00"]
    payloads = [b"Hello, this is a test.", b"This is only a test.",
                b'{"page": "/photos/7", "user": "u-42"}', bytes([0, 1, 2, 255])]
    return [{"class": "Record", "id": r["kinesis"]["sequenceNumber"],
             "key": r["kinesis"]["partitionKey"], "data": {"bytes": _b64(data)}, "kind": None,
             "new": None, "old": None, "time": at}
            for r, data, at in zip(records, payloads, times, strict=True)]


def _poisoned(name: str) -> dict[str, Any]:
    """The sample with its third record made to fail in the handler."""
    event = copy.deepcopy(sample(name, "lambda"))
    third = event["Records"][2]
    if name == "kinesis":
        third["kinesis"]["data"] = _b64(b'{"poison": true}')
    else:
        third["dynamodb"]["NewImage"]["poison"] = {"BOOL": True}
    return event


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_a_stream_function_sees_every_record_and_reports_the_first_failure(
        tmp_path: Path, runtime: str) -> None:
    project = _project(tmp_path / "feeds", runtime)
    manifests = {m["function"]: m for m in lab.build(project, "aws")}
    assert manifests["changes"]["runtime"] == runtime
    events = [sample("kinesis", "lambda"), sample("dynamodb", "lambda"), _poisoned("kinesis"),
              _poisoned("dynamodb")]

    run = lab.run_lambda(manifests["changes"], project, lab.IMAGES[RUNTIMES[runtime]], events,
                         tmp_path / "run")

    kinesis_third = events[2]["Records"][2]["kinesis"]["sequenceNumber"]
    dynamodb_third = events[3]["Records"][2]["dynamodb"]["SequenceNumber"]
    assert run.results == [
        {"batchItemFailures": []},
        {"batchItemFailures": []},
        {"batchItemFailures": [{"itemIdentifier": kinesis_third}]},
        {"batchItemFailures": [{"itemIdentifier": dynamodb_third}]},
    ]
    seen = [json.loads(line) for line in run.files["records.jsonl"].splitlines()]
    kinesis, dynamodb = _kinesis_seen(), _dynamodb_seen()
    assert seen[:4] == kinesis
    assert seen[4:8] == dynamodb
    # the poisoned batches: the first two records, then the third that raised, and no fourth
    poisoned_kinesis = {**kinesis[2], "data": {"bytes": _b64(b'{"poison": true}')}}
    assert seen[8:11] == [*kinesis[:2], poisoned_kinesis]
    poisoned_insert = {**dynamodb[2], "new": {**dynamodb[2]["new"], "poison": True}}
    assert seen[11:] == [*dynamodb[:2], poisoned_insert]


@pytest.mark.parametrize("runtime", ["python3.9", "python3.13"])
def test_an_sns_notification_reaches_a_portable_queue_handler(tmp_path: Path,
                                                              runtime: str) -> None:
    project = _project(tmp_path / "feeds", runtime)
    manifests = {m["function"]: m for m in lab.build(project, "aws")}

    run = lab.run_lambda(manifests["orders"], project, lab.IMAGES[RUNTIMES[runtime]],
                         [sample("sns", "lambda")], tmp_path / "run")

    assert run.results == [None]
    assert [json.loads(line) for line in run.files["messages.jsonl"].splitlines()] == [{
        "class": "Message", "id": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "order": {"id": 12, "photos": ["beach.jpg", "dunes.jpg"]},
        "attributes": {"kind": "order", "priority": "5"}}]


def test_invoke_runs_the_stream_and_topic_samples(tmp_path: Path) -> None:
    project = _project(tmp_path / "feeds", "python3.11")
    lab.build(project, "aws")

    def invoke(*args: str) -> tuple[int, Any]:
        proc = lab.fpack(project, "invoke", *args, check=False)
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    # a stream function's default sample is the Kinesis batch
    assert invoke("changes", "--target", "aws") == (0, {"result": {"batchItemFailures": []}})
    assert invoke("changes", "--target", "aws", "--sample", "dynamodb") == \
        (0, {"result": {"batchItemFailures": []}})
    assert invoke("orders", "--target", "aws", "--sample", "sns") == (0, {"result": None})
    code, answer = invoke("orders", "--target", "aws", "--sample", "kinesis")
    assert code == 1 and answer["error"]["errorType"] == "EventShapeError"
    assert 'trigger "queue" expected an SQS batch' in answer["error"]["errorMessage"]
