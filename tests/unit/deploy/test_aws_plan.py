"""The AWS deploy plan as data: desired specs and a declared live state in, steps out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fpack import config as fpack_config
from fpack.cloud.aws_client import LambdaConfig, LayerVersion, Settings
from fpack.cloud.aws_wiring import LiveMapping, StreamMapping
from fpack.deploy import aws as aws_deploy
from fpack.deploy import aws_plan as p
from fpack.deploy import aws_prune

ARN = "arn:aws:lambda:us-east-1:123456789012:function:photos-hello"
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:photos-deps:3"
LAYER = p.LayerSpec(name="photos-deps", path=Path("dist/aws/photos-deps.zip"), sha256="ab" * 32,
                    size=10_000, runtime="python3.12", arch="x86_64")
SETTINGS = Settings(runtime="python3.12", handler="fpack_entry.hello", arch="x86_64", memory=256,
                    timeout=10, role="arn:aws:iam::123456789012:role/photos",
                    env={"API_TOKEN": "s3cr3t"}, layers=("photos-deps",))
SPEC = p.FunctionSpec(function="hello", name="photos-hello", alias="live", code_sha256="c29tZQ==",
                      zip_path=Path("dist/aws/hello.zip"), size=1000, image_uri=None,
                      settings=SETTINGS, wirings=(p.Wiring(kind="url", source=""),))
DIRECT = p.Placement(direct_max=50_000, bucket=None, create_bucket=False)
LIVE_LAYERS = {"photos-deps": (LayerVersion(arn=LAYER_ARN, version=3,
                                            description=LAYER.description),)}


def config(**changes: object) -> LambdaConfig:
    base = LambdaConfig(
        arn=ARN, version="$LATEST", code_sha256="c29tZQ==", package_type="Zip", image_uri=None,
        runtime="python3.12", handler="fpack_entry.hello", arch="x86_64", memory=256, timeout=10,
        role=SETTINGS.role, env={"API_TOKEN": "s3cr3t"}, layers=(LAYER_ARN,), state="Active",
        last_update_status="Successful")
    return replace(base, **changes)  # type: ignore[arg-type]


def deployed(**changes: object) -> p.LiveFunction:
    """A function deployed by fpack before: released under the alias, URL and permission set."""
    return p.LiveFunction(latest=config(**changes), alias_version="4", released=config(version="4"),
                          url="https://x.lambda-url.us-east-1.on.aws",
                          permissions=frozenset({"fpack-url"}))


def lines(plan: p.AwsPlan) -> list[str]:
    return [c.line() for c in plan.changes()]


def test_nothing_changed_means_no_step() -> None:
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": deployed()}, DIRECT)
    assert lines(plan) == ["leave   layer photos-deps  (version 3)",
                           "leave   function photos-hello"]


def test_first_deploy_creates_layer_function_alias_url_and_permission() -> None:
    plan = p.plan((LAYER,), (SPEC,), {}, {}, DIRECT)
    assert lines(plan) == [
        f"create  layer photos-deps  (new version, content sha256 {'ab' * 6})",
        "create  function photos-hello",
        "create  alias photos-hello:live  (to a new version)",
        "create  function URL of photos-hello:live  (public (auth NONE))",
        "create  permission fpack-url on photos-hello:live  (for *)",
    ]


def test_new_code_updates_code_and_releases_without_touching_the_layer() -> None:
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": deployed(code_sha256="b2xk")},
                  DIRECT)
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["UpdateCode", "Release"]
    assert plan.layer_steps == ()


def test_settings_are_named_and_secret_values_never_shown() -> None:
    live = deployed(memory=128, env={"API_TOKEN": "old-secret", "GONE": "1"})
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": live}, DIRECT)
    assert lines(plan)[1:] == [
        "update  function photos-hello  (memory, environment: API_TOKEN GONE)",
        "update  alias photos-hello:live  (to a new version)",
    ]
    assert "secret" not in " ".join(lines(plan))


def test_a_new_layer_version_is_a_settings_change() -> None:
    other = {"photos-deps": (replace(LIVE_LAYERS["photos-deps"][0], description="fpack sha256:0"),)}
    plan = p.plan((LAYER,), (SPEC,), other, {"photos-hello": deployed()}, DIRECT)
    assert [type(s).__name__ for s in plan.layer_steps] == ["PublishLayer"]
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["UpdateSettings", "Release"]


def test_an_interrupted_deploy_is_released_when_run_again() -> None:
    """$LATEST has the new code, but the alias still serves the old version: release only."""
    live = replace(deployed(), released=config(version="4", code_sha256="b2xk"))
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": live}, DIRECT)
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["Release"]


def test_a_failed_update_is_sent_again() -> None:
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS,
                  {"photos-hello": deployed(last_update_status="Failed")}, DIRECT)
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["UpdateCode", "Release"]


def test_large_zips_are_uploaded_through_the_bucket_once() -> None:
    placement = p.Placement(direct_max=5000, bucket="artifacts", create_bucket=True)
    plan = p.plan((LAYER,), (SPEC,), {}, {}, placement)
    upload, publish = plan.layer_steps
    assert upload == p.Upload(bucket="artifacts", key=f"fpack/photos-deps/{'ab' * 32}.zip",
                              path=LAYER.path, create_bucket=True)
    assert isinstance(publish, p.PublishLayer) and publish.s3 == ("artifacts", upload.key)
    assert isinstance(plan.functions[0].steps[0], p.CreateFunction)  # 1000 bytes: direct


@pytest.mark.parametrize(("wiring", "trigger", "expected"), [
    (p.Wiring(kind="bucket", source="uploads"),
     (f"{ARN}:live", ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")), []),
    (p.Wiring(kind="bucket", source="uploads"), (f"{ARN}:old", ("s3:ObjectCreated:*",)),
     ["update  S3 notification on bucket uploads"]),
    (p.Wiring(kind="queue", source="arn:aws:sqs:us-east-1:1:q"), ("uuid", ()),
     ["update  SQS mapping from arn:aws:sqs:us-east-1:1:q"]),
    (p.Wiring(kind="schedule", source="rate(1 hour)"), ("rate(5 minutes)", (f"{ARN}:live",)),
     ["update  EventBridge rule photos-hello-schedule  (rate(1 hour))"]),
])
def test_triggers_are_rewired_only_when_they_differ(
        wiring: p.Wiring, trigger: tuple[str, tuple[str, ...]], expected: list[str]) -> None:
    spec = replace(SPEC, wirings=(wiring,))
    sid = p.sid(wiring.kind, spec.rule if wiring.kind == "schedule" else wiring.source)
    live = replace(deployed(), triggers={wiring.kind: trigger}, permissions=frozenset({sid}))
    plan = p.plan((LAYER,), (spec,), LIVE_LAYERS, {"photos-hello": live}, DIRECT)
    assert [s.change().line() for s in plan.functions[0].steps] == expected


def test_images_compare_the_uri_not_the_zip() -> None:
    spec = replace(SPEC, image_uri="reg/photos/hello@sha256:1", zip_path=None, code_sha256="",
                   settings=replace(SETTINGS, runtime=None, handler=None, layers=()))
    live = deployed(package_type="Image", image_uri="reg/photos/hello@sha256:0", runtime=None,
                    handler=None, layers=())
    live = replace(live, released=replace(live.latest, version="4") if live.latest else None)
    plan = p.plan((), (spec,), {}, {"photos-hello": live}, DIRECT)
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["UpdateCode", "Release"]


# --- ownership tags, and functions fpack.toml no longer names -------------------------------------

OWNED = aws_prune.owner_tags("photos", "hello")
TICK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:photos-tick"


def test_a_function_is_created_with_its_tags_and_tagged_only_when_one_is_missing() -> None:
    spec = replace(SPEC, tags=OWNED)
    assert p.plan((LAYER,), (spec,), LIVE_LAYERS, {}, DIRECT).functions[0].steps[0] == \
        p.CreateFunction(spec=spec, s3=None)  # the executor passes spec.tags to create_function
    tagged = deployed(tags={**OWNED, "team": "x"})
    assert p.plan((LAYER,), (spec,), LIVE_LAYERS, {"photos-hello": tagged}, DIRECT).changes() \
        == p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": deployed()}, DIRECT).changes()

    untagged = p.plan((LAYER,), (spec,), LIVE_LAYERS,
                      {"photos-hello": deployed(tags={"fpack:project": "photos"})}, DIRECT)
    assert lines(untagged)[1:] == ["update  function photos-hello  (tags fpack:function)"]
    assert untagged.functions[0].steps == (p.Tag(spec=spec, tags={"fpack:function": "hello"}),)


def test_only_a_function_with_the_prefix_and_the_projects_tag_is_an_orphan() -> None:
    tags = {"photos-tick": aws_prune.owner_tags("photos", "tick"),
            "photos-manual": {},  # the prefix, no tag: made by hand
            "photos-other": {"fpack:project": "photos-other"},  # another project's, same prefix
            "photos-hello": OWNED,  # still in fpack.toml
            "album-x": aws_prune.owner_tags("photos", "x")}  # not the prefix
    assert aws_prune.orphan_names("photos", {"photos-hello"}, tags) == ("photos-tick",)


def test_without_prune_an_orphan_is_kept_and_named() -> None:
    orphan = aws_prune.Orphan(name="photos-tick", function="tick", arn=TICK_ARN,
                              rule_targets=("fpack",))
    plan = p.plan((), (), {}, {}, DIRECT, orphans=(orphan,))
    assert lines(plan) == ["keep    function photos-tick  (not in fpack.toml; --prune deletes it)"]


def test_prune_deletes_the_triggers_then_the_function() -> None:
    orphan = aws_prune.Orphan(name="photos-tick", function="tick", arn=TICK_ARN,
                              rule_targets=("fpack",), buckets=("uploads",),
                              mappings={"uuid-1": "arn:aws:sqs:us-east-1:1:q"})
    plan = p.plan((), (), {}, {}, DIRECT, orphans=(orphan,), prune=True)
    assert lines(plan) == [
        "delete  EventBridge rule photos-tick-schedule",
        "delete  SQS mapping from arn:aws:sqs:us-east-1:1:q  (uuid-1)",
        "delete  S3 notification on bucket uploads  (the entries that invoke photos-tick)",
        "delete  function photos-tick",
    ]
    assert plan.orphans[0].delete


def test_a_rule_with_other_targets_loses_only_the_functions_target() -> None:
    orphan = aws_prune.Orphan(name="photos-tick", function="tick", arn=TICK_ARN,
                              rule_targets=("fpack",), rule_shared=True)
    plan = p.plan((), (), {}, {}, DIRECT, orphans=(orphan,), prune=True)
    assert lines(plan) == [
        "update  EventBridge rule photos-tick-schedule  (its target removed; the rule has "
        "others, so it stays)",
        "delete  function photos-tick",
    ]


# --- stream mappings (Kinesis, DynamoDB Streams) and SNS subscriptions ---------------------------

KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
DDB_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/photos/stream/2024-03-13T15:00:00.000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
LATEST = StreamMapping(start="LATEST", batch_size=100)


def _stream(source: str = KINESIS, mapping: StreamMapping = LATEST) -> p.Wiring:
    return p.Wiring(kind="stream", source=source, mapping=mapping)


def test_a_first_deploy_creates_the_stream_mapping_and_no_permission() -> None:
    """Lambda polls a stream with the function's role: no resource policy statement."""
    spec = replace(SPEC, wirings=(_stream(DDB_STREAM, replace(LATEST, start="TRIM_HORIZON",
                                                              batch_size=500)),))
    assert lines(p.plan((LAYER,), (spec,), LIVE_LAYERS, {}, DIRECT))[1:] == [
        "create  function photos-hello",
        "create  alias photos-hello:live  (to a new version)",
        f"create  DynamoDB stream mapping from {DDB_STREAM}  (TRIM_HORIZON, batch 500, bisect on "
        "error, partial failures)",
    ]


@pytest.mark.parametrize(("have", "expected"), [
    (LATEST, []),
    # the starting position is set at creation only, and is not compared
    (replace(LATEST, start="TRIM_HORIZON"), []),
    (replace(LATEST, batch_size=10),
     [f"update  Kinesis mapping from {KINESIS}  (batch 100, bisect on error, partial failures)"]),
    (replace(LATEST, bisect=False),
     [f"update  Kinesis mapping from {KINESIS}  (batch 100, bisect on error, partial failures)"]),
    (replace(LATEST, response_types=()),
     [f"update  Kinesis mapping from {KINESIS}  (batch 100, bisect on error, partial failures)"]),
])
def test_a_stream_mapping_is_updated_only_when_it_differs(have: StreamMapping,
                                                          expected: list[str]) -> None:
    spec = replace(SPEC, wirings=(_stream(),))
    live = replace(deployed(), triggers={"stream": LiveMapping(uuid="u-1", settings=have)})
    plan = p.plan((LAYER,), (spec,), LIVE_LAYERS, {"photos-hello": live}, DIRECT)
    assert [s.change().line() for s in plan.functions[0].steps] == expected
    if expected:
        assert plan.functions[0].steps == (p.Wire(spec=spec, wiring=_stream(), exists=True),)


def test_an_sns_topic_gets_the_permission_then_the_subscription_beside_a_queue() -> None:
    topic = p.Wiring(kind="topic", source=TOPIC)
    spec = replace(SPEC, wirings=(p.Wiring(kind="queue", source=QUEUE), topic))
    plan = p.plan((LAYER,), (spec,), LIVE_LAYERS, {"photos-hello": deployed()}, DIRECT)
    assert lines(plan)[1:] == [
        f"create  SQS mapping from {QUEUE}",
        f"create  permission {p.sid('topic', TOPIC)} on photos-hello:live  (for sns.amazonaws.com)",
        f"create  SNS subscription to {TOPIC}",
    ]
    assert plan.functions[0].steps[1] == p.Permit(spec=spec, wiring=topic,
                                                  sid=p.sid("topic", TOPIC),
                                                  principal="sns.amazonaws.com")
    wired = replace(deployed(), permissions=frozenset({p.sid("topic", TOPIC)}),
                    triggers={"queue": ("u-1", ("ReportBatchItemFailures",)),
                              "topic": (f"{TOPIC}:sub-1", ())})
    again = p.plan((LAYER,), (spec,), LIVE_LAYERS, {"photos-hello": wired}, DIRECT)
    assert lines(again)[1:] == ["leave   function photos-hello"]


def test_prune_removes_stream_mappings_and_sns_subscriptions_then_the_function() -> None:
    orphan = aws_prune.Orphan(name="photos-tick", function="tick", arn=TICK_ARN,
                              mappings={"uuid-1": KINESIS, "uuid-2": DDB_STREAM},
                              subscriptions={f"{TOPIC}:21be56ed": TOPIC})
    plan = p.plan((), (), {}, {}, DIRECT, orphans=(orphan,), prune=True)
    assert lines(plan) == [
        f"delete  Kinesis mapping from {KINESIS}  (uuid-1)",
        f"delete  DynamoDB stream mapping from {DDB_STREAM}  (uuid-2)",
        f"delete  SNS subscription to {TOPIC}  (21be56ed)",
        "delete  function photos-tick",
    ]
    assert plan.orphans[0].steps[2] == aws_prune.Unsubscribe(orphan=orphan,
                                                             subscription=f"{TOPIC}:21be56ed")


def test_fpack_toml_keys_become_the_wirings(tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text(f"""\
[project]
name = "photos"
[functions.clicks]
handler = "app:on_click"
trigger = "stream"
stream = "{KINESIS}"
[functions.changes]
handler = "app:on_change"
trigger = "stream"
stream = "{DDB_STREAM}"
start = "trim_horizon"
batch_size = 10
[functions.orders]
handler = "app:on_order"
trigger = "queue"
queue = "{QUEUE}"
topic = "{TOPIC}"
[functions.pubsub]
handler = "app:on_order"
trigger = "queue"
topic = "orders"
""")
    project = fpack_config.load(tmp_path / "fpack.toml")
    assert aws_deploy._wirings(project, "clicks") == (_stream(),)
    assert aws_deploy._wirings(project, "changes") == (_stream(DDB_STREAM, StreamMapping(
        start="TRIM_HORIZON", batch_size=10)),)
    assert aws_deploy._wirings(project, "orders") == (
        p.Wiring(kind="queue", source=QUEUE), p.Wiring(kind="topic", source=TOPIC))
    assert aws_deploy._wirings(project, "pubsub") == ()  # a Pub/Sub topic is gcp's
