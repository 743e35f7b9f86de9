"""`fpack deploy --target aws` against moto running as a server on loopback.

What is asserted comes from moto's state (layer versions, function versions, CodeSha256, aliases,
triggers), so "nothing was uploaded or published" means exactly that. Nothing is invoked through
moto (that would need Docker inside moto); the artifacts' behaviour is the lab tests' business.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fpack import config
from fpack.cloud.aws_client import AwsClient, LambdaConfig
from fpack.deploy import aws as aws_deploy
from fpack.deploy.models import Manifest, read_manifest
from fpack.errors import DeployError
from fpack.report import NullReporter
from tests.e2e.conftest import ACCOUNT, REGION, deploy, fpack

pytestmark = pytest.mark.e2e
FUNCTIONS = ("hello", "thumbnail", "consume", "tick")


def _prepare(aws: Any) -> None:
    """What a user has before deploying: the role, the bucket and the queue fpack.toml names."""
    aws("iam").create_role(RoleName="photos", AssumeRolePolicyDocument="{}")
    aws("s3").create_bucket(Bucket="photos-uploads")
    aws("sqs").create_queue(QueueName="orders")


def _code_sha256(project: Path, function: str) -> str:
    data = (project / "dist" / "aws" / f"{function}.zip").read_bytes()
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _versions(aws: Any, name: str) -> list[str]:
    got = aws("lambda").list_versions_by_function(FunctionName=name)["Versions"]
    return [v["Version"] for v in got if v["Version"] != "$LATEST"]


def _state(aws: Any, functions: tuple[str, ...] = FUNCTIONS) -> dict[str, Any]:
    lam = aws("lambda")
    return {
        "layers": [v["Description"] for v in
                   lam.list_layer_versions(LayerName="photos-deps")["LayerVersions"]],
        **{fn: {"sha": lam.get_function(FunctionName=f"photos-{fn}")["Configuration"]["CodeSha256"],
                "versions": _versions(aws, f"photos-{fn}"),
                "alias": lam.get_alias(FunctionName=f"photos-{fn}", Name="live")["FunctionVersion"]}
           for fn in functions},
    }


def test_first_deploy_creates_everything(aws: Any, example: Path) -> None:
    _prepare(aws)
    result = deploy(example, "aws")

    assert {d["function"]: d["action"] for d in result["deployments"]} == dict.fromkeys(
        FUNCTIONS, "create")
    lam = aws("lambda")
    layers = lam.list_layer_versions(LayerName="photos-deps")["LayerVersions"]
    layer_zip = (example / "dist/aws/photos-deps.zip").read_bytes()
    assert [v["Description"] for v in layers] == [
        f"fpack sha256:{hashlib.sha256(layer_zip).hexdigest()}"]
    for fn in FUNCTIONS:
        got = lam.get_function(FunctionName=f"photos-{fn}")["Configuration"]
        assert got["CodeSha256"] == _code_sha256(example, fn)
        assert got["Handler"] == f"fpack_entry.{fn}" and got["Runtime"] == "python3.12"
        assert [layer["Arn"] for layer in got["Layers"]] == [layers[0]["LayerVersionArn"]]
        assert lam.get_alias(FunctionName=f"photos-{fn}", Name="live")["FunctionVersion"] == "1"
    thumb = lam.get_function(FunctionName="photos-thumbnail")["Configuration"]
    assert thumb["MemorySize"] == 512 and thumb["Environment"]["Variables"]["PHOTOS_OUT"] == \
        "/tmp/photos"

    alias = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:photos-%s:live"
    url = lam.get_function_url_config(FunctionName="photos-hello", Qualifier="live")
    assert url["AuthType"] == "NONE"
    assert next(d for d in result["deployments"] if d["function"] == "hello")["url"] == \
        url["FunctionUrl"]
    notes = aws("s3").get_bucket_notification_configuration(Bucket="photos-uploads")
    assert notes["LambdaFunctionConfigurations"] == [{
        "Id": "fpack-photos-thumbnail", "LambdaFunctionArn": alias % "thumbnail",
        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    mappings = lam.list_event_source_mappings(EventSourceArn=queue,
                                              FunctionName=alias % "consume")
    assert mappings["EventSourceMappings"][0]["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"]
    events = aws("events")
    assert events.describe_rule(Name="photos-tick-schedule")["ScheduleExpression"] == \
        "rate(5 minutes)"
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="photos-tick-schedule")["Targets"]] \
        == [alias % "tick"]
    for fn, principal in (("hello", "*"), ("thumbnail", "s3.amazonaws.com"),
                          ("tick", "events.amazonaws.com")):
        policy = json.loads(lam.get_policy(FunctionName=f"photos-{fn}", Qualifier="live")["Policy"])
        assert [s["Principal"] for s in policy["Statement"]] in (
            [principal], [{"Service": principal}], [{"AWS": principal}])


def test_second_deploy_uploads_and_publishes_nothing(aws: Any, example: Path) -> None:
    _prepare(aws)
    deploy(example, "aws")
    before = _state(aws)

    again = deploy(example, "aws")

    assert _state(aws) == before
    assert {d["action"] for d in again["deployments"]} == {"unchanged"}
    assert all(line.startswith("leave") for line in again["plan"])


def test_handler_change_updates_code_not_layer(aws: Any, example: Path) -> None:
    _prepare(aws)
    deploy(example, "aws")
    before = _state(aws)
    api = example / "example" / "api.py"
    api.write_text(api.read_text() + "\n\nGREETING = 'changed'\n")

    dry = deploy(example, "aws", "--dry-run")
    assert _state(aws) == before  # --dry-run changed nothing
    assert "update  function photos-hello  (code)" in dry["plan"]

    deploy(example, "aws")
    after = _state(aws)
    assert after["layers"] == before["layers"]  # the layer was not published again
    for fn in FUNCTIONS:  # every zip holds the whole source tree: each got the new code
        assert after[fn]["sha"] == _code_sha256(example, fn) != before[fn]["sha"]
        assert after[fn]["versions"] == ["1", "2"] and after[fn]["alias"] == "2"


class FailingUpdate(AwsClient):
    """moto applies every update at once; this reports the code update of one function as failed,
    as Lambda does (LastUpdateStatus "Failed") when, e.g., a layer cannot be extracted."""

    def __init__(self, inner: AwsClient, failing: str) -> None:
        super().__init__(inner.client, sleep=lambda _: None, region=inner.region)
        self.failing = failing
        self.updated = False

    def update_code(self, name: str, code: Any, arch: str) -> None:
        super().update_code(name, code, arch)
        self.updated = self.updated or name == self.failing

    def function(self, name: str, qualifier: str | None = None) -> LambdaConfig | None:
        got = super().function(name, qualifier)
        if got is not None and name == self.failing and self.updated and qualifier is None:
            return LambdaConfig(**{**got.__dict__, "last_update_status": "Failed",
                                   "reason": "simulated: the code could not be unpacked"})
        return got


def _manifests(project: Path) -> list[Manifest]:
    return [read_manifest(json.loads(p.read_text()), project)
            for p in sorted((project / "dist" / "aws").glob("*.manifest.json"))]


def test_alias_moves_only_after_the_update_succeeded(aws: Any, example: Path) -> None:
    _prepare(aws)
    deploy(example, "aws")
    before = _state(aws)
    api = example / "example" / "api.py"
    api.write_text(api.read_text() + "\n\nGREETING = 'broken'\n")
    deploy(example, "aws", "--dry-run")  # builds the new zips, changes nothing
    project = config.load(example / "fpack.toml")
    failing = FailingUpdate(AwsClient.connect(REGION), "photos-hello")

    with pytest.raises(DeployError, match="could not apply the update of function photos-hello"):
        aws_deploy.deploy(project, _manifests(example), dry_run=False, reporter=NullReporter(),
                          client=failing)

    failed = _state(aws)
    assert failed["hello"]["sha"] == _code_sha256(example, "hello")  # the code went up...
    assert failed["hello"]["versions"] == ["1"] and failed["hello"]["alias"] == "1"  # ...not live
    assert failed["layers"] == before["layers"]

    deploy(example, "aws")  # run again: it converges
    after = _state(aws)
    assert after["hello"]["versions"] == ["1", "2"] and after["hello"]["alias"] == "2"
    assert {after[fn]["alias"] for fn in FUNCTIONS} == {"2"}


def test_large_zips_go_through_the_artifact_bucket(aws: Any, example: Path) -> None:
    _prepare(aws)
    toml = example / "fpack.toml"
    toml.write_text(toml.read_text().replace(
        'region = "us-east-1"', 'region = "us-east-1"\nartifact_bucket = "photos-artifacts"\n'
        "create_bucket = true"))
    deploy(example, "aws", "--dry-run")  # builds
    project = config.load(toml)

    # A small limit stands in for Lambda's 50 MB, so the test needs no 50 MB zip.
    aws_deploy.deploy(project, _manifests(example), dry_run=False, reporter=NullReporter(),
                      client=AwsClient.connect(REGION), direct_upload_max=1000)

    keys = sorted(o["Key"] for o in
                  aws("s3").list_objects_v2(Bucket="photos-artifacts")["Contents"])
    assert len(keys) == 5 and all(k.startswith("fpack/photos-") for k in keys)
    got = aws("lambda").get_function(FunctionName="photos-hello")["Configuration"]
    assert got["CodeSha256"] == _code_sha256(example, "hello")


# --- functions removed from fpack.toml: kept and named, or deleted with --prune -------------------


def _remove_function(project: Path, function: str) -> None:
    """Delete a [functions.NAME] table (up to the next table) from the project's fpack.toml."""
    toml = project / "fpack.toml"
    text, n = re.subn(rf"\[functions\.{function}\]\n(?:(?!\[).*\n)*", "", toml.read_text())
    assert n == 1
    toml.write_text(text)


def _create_by_hand(aws: Any, name: str) -> None:
    """A function with the project's name prefix that fpack did not deploy: no fpack tags."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return 1\n")
    aws("lambda").create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                  Role=f"arn:aws:iam::{ACCOUNT}:role/photos",
                                  Code={"ZipFile": code.getvalue()})


def _gone(aws: Any, name: str) -> bool:
    try:
        aws("lambda").get_function(FunctionName=name)
    except aws("lambda").exceptions.ResourceNotFoundException:
        return True
    return False


def test_a_removed_function_is_kept_and_named_then_deleted_with_prune(aws: Any,
                                                                      example: Path) -> None:
    _prepare(aws)
    _create_by_hand(aws, "photos-manual")
    deploy(example, "aws")
    lam, events = aws("lambda"), aws("events")
    tick = lam.get_function(FunctionName="photos-tick")
    assert tick["Tags"] == {"fpack:project": "photos", "fpack:function": "tick"}
    _remove_function(example, "tick")

    kept = deploy(example, "aws")

    assert not _gone(aws, "photos-tick")
    assert "keep    function photos-tick  (not in fpack.toml; --prune deletes it)" in kept["plan"]
    assert [(d["name"], d["action"]) for d in kept["deployments"] if d["action"] == "keep"] == [
        ("photos-tick", "keep")]
    assert not any("photos-manual" in line for line in kept["plan"])
    human = fpack(example, "deploy", "--target", "aws").stdout
    assert "tick: photos-tick kept (not in fpack.toml; --prune deletes it)" in human

    remaining = _state(aws, ("hello", "thumbnail", "consume"))
    dry = deploy(example, "aws", "--prune", "--dry-run")
    assert dry["plan"][-2:] == ["delete  EventBridge rule photos-tick-schedule",
                                "delete  function photos-tick"]
    assert not _gone(aws, "photos-tick")
    assert events.describe_rule(Name="photos-tick-schedule")["Name"] == "photos-tick-schedule"

    pruned = deploy(example, "aws", "--prune")

    assert [(d["name"], d["action"]) for d in pruned["deployments"] if d["action"] == "delete"] \
        == [("photos-tick", "delete")]
    assert _gone(aws, "photos-tick")
    assert [r["Name"] for r in events.list_rules(NamePrefix="photos-")["Rules"]] == []
    assert not _gone(aws, "photos-manual")  # the prefix without the tag: never touched
    assert _state(aws, ("hello", "thumbnail", "consume")) == remaining
    again = deploy(example, "aws", "--prune")
    assert all(line.startswith("leave") for line in again["plan"])


def test_prune_removes_only_the_deleted_functions_notification_and_mapping(
        aws: Any, example: Path) -> None:
    _prepare(aws)
    deploy(example, "aws")
    s3, lam = aws("s3"), aws("lambda")
    notes = s3.get_bucket_notification_configuration(Bucket="photos-uploads")
    other = {"Id": "someone-else", "Events": ["s3:ObjectCreated:*"],
             "LambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"}
    s3.put_bucket_notification_configuration(Bucket="photos-uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [*notes["LambdaFunctionConfigurations"], other]})
    _remove_function(example, "thumbnail")
    _remove_function(example, "consume")

    plan = deploy(example, "aws", "--prune", "--dry-run")["plan"]
    assert "delete  S3 notification on bucket photos-uploads  (the entries that invoke " \
        "photos-thumbnail)" in plan
    assert any(line.startswith(f"delete  SQS mapping from arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
               for line in plan)

    deploy(example, "aws", "--prune")

    assert _gone(aws, "photos-thumbnail") and _gone(aws, "photos-consume")
    after = s3.get_bucket_notification_configuration(Bucket="photos-uploads")
    assert after["LambdaFunctionConfigurations"] == [other]
    assert lam.list_event_source_mappings(
        EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders")["EventSourceMappings"] == []


def test_prune_is_refused_with_function_and_for_docker(example: Path) -> None:
    with_function = fpack(example, "deploy", "--target", "aws", "--prune", "--function", "hello",
                          check=False)
    assert with_function.returncode == 2
    assert "--prune needs the whole project" in with_function.stderr
    docker = fpack(example, "deploy", "--target", "docker", "--prune", check=False)
    assert docker.returncode == 2
    assert "--prune works with --target aws or gcp, not docker" in docker.stderr


# --- stream mappings (Kinesis, DynamoDB Streams) and SNS subscriptions ----------------------------

STREAM_HANDLERS = '''\
"""Stream and topic functions for the deploy tests: what they do is the lab tests' business."""

import fpack


def on_click(record: fpack.Record) -> None:
    print(record.id)


def on_change(record: fpack.Record) -> None:
    print(record.kind)


def on_order(message: fpack.Message) -> None:
    print(message.id)
'''


def _streams(aws: Any, example: Path) -> dict[str, str]:
    """A Kinesis stream, a DynamoDB table with a stream and an SNS topic, and three functions
    wired to them in the example's fpack.toml; their ARNs by name."""
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    clicks = kinesis.describe_stream(StreamName="clicks")["StreamDescription"]["StreamARN"]
    table = aws("dynamodb").create_table(
        TableName="photos", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "album", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "album", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    changes = table["TableDescription"]["LatestStreamArn"]
    topic = aws("sns").create_topic(Name="orders")["TopicArn"]
    (example / "example" / "streams.py").write_text(STREAM_HANDLERS)
    with (example / "fpack.toml").open("r+") as f:
        text = f.read()
        at = text.index("[targets.aws]")
        f.seek(0)
        f.write(text[:at] + f"""\
[functions.clicks]
handler = "example.streams:on_click"
trigger = "stream"
stream = "{clicks}"
batch_size = 50

[functions.changes]
handler = "example.streams:on_change"
trigger = "stream"
stream = "{changes}"
start = "trim_horizon"

[functions.fanout]
handler = "example.streams:on_order"
trigger = "queue"
topic = "{topic}"

""" + text[at:])
    return {"clicks": clicks, "changes": changes, "topic": topic}


def _mapping(aws: Any, source: str) -> dict[str, Any] | None:
    got = aws("lambda").list_event_source_mappings(EventSourceArn=source)["EventSourceMappings"]
    assert len(got) <= 1
    return got[0] if got else None


def _subscriptions(aws: Any, topic: str) -> list[tuple[str, str]]:
    got = aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return [(s["Protocol"], s["Endpoint"]) for s in got]


def test_streams_get_their_mappings_and_a_topic_its_subscription(aws: Any, example: Path) -> None:
    _prepare(aws)
    arns = _streams(aws, example)
    alias = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:photos-%s:live"

    dry = deploy(example, "aws", "--dry-run")
    assert f"create  Kinesis mapping from {arns['clicks']}  (LATEST, batch 50, bisect on error, " \
        "partial failures)" in dry["plan"]
    assert f"create  DynamoDB stream mapping from {arns['changes']}  (TRIM_HORIZON, batch 100, " \
        "bisect on error, partial failures)" in dry["plan"]
    assert f"create  SNS subscription to {arns['topic']}" in dry["plan"]
    assert _mapping(aws, arns["clicks"]) is None and _subscriptions(aws, arns["topic"]) == []

    deploy(example, "aws")

    for name, start, batch in (("clicks", "LATEST", 50), ("changes", "TRIM_HORIZON", 100)):
        got = _mapping(aws, arns[name])
        assert got is not None, name
        assert (got["StartingPosition"], got["BatchSize"], got["BisectBatchOnFunctionError"],
                got["FunctionResponseTypes"]) == (start, batch, True, ["ReportBatchItemFailures"])
        found = aws("lambda").list_event_source_mappings(FunctionName=alias % name)
        assert [m["UUID"] for m in found["EventSourceMappings"]] == [got["UUID"]]  # the alias's
    assert _subscriptions(aws, arns["topic"]) == [("lambda", alias % "fanout")]
    policy = json.loads(aws("lambda").get_policy(FunctionName="photos-fanout",
                                                 Qualifier="live")["Policy"])
    assert [(s["Principal"], s["Condition"]["ArnLike"]["AWS:SourceArn"])
            for s in policy["Statement"]] in (
        [({"Service": "sns.amazonaws.com"}, arns["topic"])], [("sns.amazonaws.com", arns["topic"])])

    before = {n: _mapping(aws, arns[n]) for n in ("clicks", "changes")}
    again = deploy(example, "aws")
    assert all(line.startswith("leave") for line in again["plan"]), again["plan"]
    assert {n: _mapping(aws, arns[n]) for n in ("clicks", "changes")} == before
    assert _subscriptions(aws, arns["topic"]) == [("lambda", alias % "fanout")]

    toml = example / "fpack.toml"
    toml.write_text(toml.read_text().replace("batch_size = 50", "batch_size = 25"))
    changed = deploy(example, "aws")["plan"]
    assert [line for line in changed if "mapping" in line] == [
        f"update  Kinesis mapping from {arns['clicks']}  (batch 25, bisect on error, partial "
        "failures)"]
    updated = _mapping(aws, arns["clicks"])
    assert updated is not None and before["clicks"] is not None
    assert (updated["UUID"], updated["BatchSize"]) == (before["clicks"]["UUID"], 25)


def test_prune_removes_stream_mappings_and_the_subscription(aws: Any, example: Path) -> None:
    _prepare(aws)
    arns = _streams(aws, example)
    deploy(example, "aws")
    others = aws("sns").subscribe(TopicArn=arns["topic"], Protocol="sqs",
                                  Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    for name in ("clicks", "changes", "fanout"):
        _remove_function(example, name)

    plan = deploy(example, "aws", "--prune", "--dry-run")["plan"]
    assert any(line.startswith(f"delete  Kinesis mapping from {arns['clicks']}") for line in plan)
    assert any(line.startswith(f"delete  DynamoDB stream mapping from {arns['changes']}")
               for line in plan)
    assert any(line.startswith(f"delete  SNS subscription to {arns['topic']}") for line in plan)
    assert _mapping(aws, arns["clicks"]) is not None  # --dry-run deleted nothing

    deploy(example, "aws", "--prune")

    assert all(_gone(aws, f"photos-{n}") for n in ("clicks", "changes", "fanout"))
    assert _mapping(aws, arns["clicks"]) is None and _mapping(aws, arns["changes"]) is None
    assert _subscriptions(aws, arns["topic"]) == [("sqs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders")]
    assert others["SubscriptionArn"]  # someone else's subscription on the topic stays
    again = deploy(example, "aws", "--prune")
    assert all(line.startswith("leave") for line in again["plan"])
