"""SnapStart on aws, as data and against a fake Lambda: the setting planned and sent, a version
published for it, and the alias moved only once Lambda has optimised the version.

moto (5.2) accepts SnapStart and ignores it (every function and version reports ApplyOn None,
OptimizationStatus Off), so what Lambda reports while it snapshots a version is faked here; the
e2e tests (tests/e2e/test_aws_snapstart.py) run the same executor over moto's versions and aliases.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fpack import config as fpack_config
from fpack.cloud.aws_client import AwsClient, Code
from fpack.deploy import aws as aws_deploy
from fpack.deploy import aws_plan as p
from fpack.errors import ConfigError, DeployError
from fpack.manifest import AwsFunction
from fpack.report import NullReporter
from tests.unit.deploy.test_aws_plan import DIRECT, LAYER, LIVE_LAYERS, SPEC, config, lines

SNAP = replace(SPEC, settings=replace(SPEC.settings, snap_start=True))


def snap_deployed(**changes: object) -> p.LiveFunction:
    """A function released under SnapStart: $LATEST and the alias's version both have it."""
    return p.LiveFunction(latest=config(snap_start=True, **changes), alias_version="4",
                          released=config(version="4", snap_start=True, optimization="On"),
                          url="https://x.lambda-url.us-east-1.on.aws",
                          permissions=frozenset({"fpack-url"}))


# --- the plan -------------------------------------------------------------------------------------


def test_an_optimised_release_under_snap_start_means_no_step() -> None:
    plan = p.plan((LAYER,), (SNAP,), LIVE_LAYERS, {"photos-hello": snap_deployed()}, DIRECT)
    assert lines(plan) == ["leave   layer photos-deps  (version 3)",
                           "leave   function photos-hello"]


def test_turning_snap_start_on_is_a_setting_and_publishes_a_version() -> None:
    live = {"photos-hello": p.LiveFunction(latest=config(), alias_version="4",
                                           released=config(version="4"), url="https://x",
                                           permissions=frozenset({"fpack-url"}))}
    plan = p.plan((LAYER,), (SNAP,), LIVE_LAYERS, live, DIRECT)
    assert lines(plan)[1:] == [
        "update  function photos-hello  (snap_start)",
        "update  alias photos-hello:live  (to a new version, once SnapStart has optimised it)"]


def test_turning_snap_start_off_publishes_a_version_without_waiting() -> None:
    plan = p.plan((LAYER,), (SPEC,), LIVE_LAYERS, {"photos-hello": snap_deployed()}, DIRECT)
    assert lines(plan)[1:] == ["update  function photos-hello  (snap_start)",
                               "update  alias photos-hello:live  (to a new version)"]


def test_a_version_never_optimised_is_released_again() -> None:
    """The last deploy published version 5 but gave up waiting: the alias is still on 4."""
    live = replace(snap_deployed(), released=config(version="4", snap_start=True,
                                                    optimization="Off"))
    plan = p.plan((LAYER,), (SNAP,), LIVE_LAYERS, {"photos-hello": live}, DIRECT)
    assert [type(s).__name__ for s in plan.functions[0].steps] == ["Release"]


def test_a_new_layer_version_alone_publishes_a_function_version() -> None:
    """serverless-application-model#3802: same code, new layer; the alias must serve the layer."""
    other = {"photos-deps": (replace(LIVE_LAYERS["photos-deps"][0], description="fpack sha256:0"),)}
    plan = p.plan((LAYER,), (SNAP,), other, {"photos-hello": snap_deployed()}, DIRECT)
    assert [type(s).__name__ for s in plan.layer_steps] == ["PublishLayer"]
    assert lines(plan)[1:] == [
        "update  function photos-hello  (layers)",
        "update  alias photos-hello:live  (to a new version, once SnapStart has optimised it)"]


def test_a_first_deploy_under_snap_start_waits_before_it_creates_the_alias() -> None:
    plan = p.plan((LAYER,), (SNAP,), LIVE_LAYERS, {}, DIRECT)
    assert lines(plan)[1:3] == [
        "create  function photos-hello",
        "create  alias photos-hello:live  (to a new version, once SnapStart has optimised it)"]


# --- specs: what deploy refuses before it changes anything ----------------------------------------

TOML = """\
[project]
name = "photos"
python = "3.12"

[functions.hello]
handler = "app:hello"
{extra}
[targets.aws]
role = "arn:aws:iam::123456789012:role/photos"
snap_start = true
"""


def _manifest(tmp_path: Path) -> AwsFunction:
    return AwsFunction(function="hello", target="aws", runtime="python3.12", arch="x86_64",
                       handler="fpack_entry.hello", path=tmp_path / "dist/aws/hello.zip",
                       sha256="ab" * 32, size=100, unpacked_size=200)


def _project(tmp_path: Path, extra: str = "") -> fpack_config.Project:
    (tmp_path / "app.py").write_text("def hello(request):\n    return 'hi'\n")
    (tmp_path / "fpack.toml").write_text(TOML.format(extra=extra))
    return fpack_config.load(tmp_path / "fpack.toml")


def test_specs_carry_snap_start_for_zips(tmp_path: Path) -> None:
    _, (spec,) = aws_deploy.specs(_project(tmp_path), [_manifest(tmp_path)])
    assert spec.settings.snap_start


def test_warm_with_snap_start_is_refused_before_anything_changes(tmp_path: Path) -> None:
    project = _project(tmp_path, "warm = 2\n")
    with pytest.raises(ConfigError) as e:
        aws_deploy.specs(project, [_manifest(tmp_path)])
    assert e.value.exit_code == 2
    assert str(e.value) == (
        f"{tmp_path / 'fpack.toml'}: [functions.hello] warm = 2: Lambda does not combine "
        "provisioned concurrency with SnapStart ([targets.aws] snap_start = true)\n"
        "  hint: remove warm (SnapStart's restores are the cold-start cure), or snap_start")


def test_an_image_with_snap_start_is_refused(tmp_path: Path) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/photos/hello@sha256:0"
    project = _project(tmp_path)
    with pytest.raises(ConfigError) as e:
        aws_deploy.specs(project, [_manifest(tmp_path)], images={"hello": image})
    assert str(e.value) == (
        f"{tmp_path / 'fpack.toml'}: [functions.hello]: [targets.aws] snap_start = true: Lambda "
        "SnapStart works on zip packages only, and this function is deployed as a container "
        "image\n  hint: deploy the zips with fpack deploy --target aws, or remove snap_start")


# --- the client, over a fake boto3 Lambda ---------------------------------------------------------


class FakeLambda:
    """Answers get_function_configuration for one version from a script of (State,
    OptimizationStatus) pairs, the last repeated; records what create and update were sent."""

    def __init__(self, script: list[tuple[str, str]], apply_on: str = "PublishedVersions",
                 reason: str = "") -> None:
        self.script = script
        self.apply_on = apply_on
        self.reason = reason
        self.polls = 0
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def get_function_configuration(self, **kw: Any) -> dict[str, Any]:
        state, status = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:f:{kw['Qualifier']}"
        return {"FunctionArn": arn,
                "Version": kw["Qualifier"], "State": state, "StateReason": self.reason,
                "SnapStart": {"ApplyOn": self.apply_on, "OptimizationStatus": status}}

    def create_function(self, **kw: Any) -> dict[str, Any]:
        self.sent.append(("create_function", kw))
        return {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}

    def update_function_configuration(self, **kw: Any) -> dict[str, Any]:
        self.sent.append(("update_function_configuration", kw))
        return {}


def client(fake: FakeLambda) -> tuple[AwsClient, list[float]]:
    slept: list[float] = []
    return AwsClient(lambda _: fake, sleep=slept.append), slept


def test_the_wait_returns_once_the_version_is_active_and_optimised() -> None:
    fake = FakeLambda([("Pending", "Off"), ("Pending", "Off"), ("Active", "On")])
    aws, slept = client(fake)
    got = aws.wait_snap_start("f", "2", alias="live")
    assert (got.version, got.state, got.optimization, fake.polls) == ("2", "Active", "On", 3)
    assert slept == [1.0, 2.0]


def test_a_version_not_optimised_in_time_is_an_error_naming_function_and_version() -> None:
    fake = FakeLambda([("Pending", "Off")])
    aws, slept = client(fake)
    with pytest.raises(DeployError) as e:
        aws.wait_snap_start("photos-hello", "7", alias="live", timeout=60)
    assert str(e.value) == (
        "version 7 of function photos-hello was not optimised for SnapStart after 1 minute "
        "(State Pending, OptimizationStatus Off)\n"
        "  hint: the alias live was not moved: it still serves the version it had; run fpack "
        "deploy again: with nothing changed, Lambda publishes no other version and fpack waits "
        "for this one again")
    assert sum(slept) >= 60 and sum(slept[:-1]) < 60  # bounded: it stops once the time is up


def test_a_failed_snapshot_is_an_error_with_lambdas_reason() -> None:
    fake = FakeLambda([("Pending", "Off"), ("Failed", "Off")],
                      reason="the init raised RuntimeError")
    aws, _ = client(fake)
    with pytest.raises(DeployError) as e:
        aws.wait_snap_start("photos-hello", "3", alias="live")
    assert str(e.value) == (
        "AWS Lambda could not make the SnapStart snapshot of version 3 of function photos-hello: "
        "the init raised RuntimeError\n"
        "  hint: the alias live was not moved: it still serves the version it had; the snapshot "
        "runs the handler module's import code: fix what fails there and run fpack deploy again")


def test_a_version_active_without_snap_start_is_an_error_at_once() -> None:
    """What moto answers: no snapshot is coming, so fpack does not wait out the timeout."""
    fake = FakeLambda([("Active", "Off")], apply_on="None")
    aws, slept = client(fake)
    with pytest.raises(DeployError, match="version 1 of function f was published without "
                       "SnapStart"):
        aws.wait_snap_start("f", "1", alias="live")
    assert slept == []


def test_snap_start_is_sent_on_create_and_update_and_none_only_when_turned_off() -> None:
    fake = FakeLambda([("Active", "On")])
    aws, _ = client(fake)
    on = replace(SNAP.settings, layers=())
    off = replace(on, snap_start=False)
    aws.create_function("f", on, Code(s3=("b", "k")), {})
    aws.create_function("g", off, Code(s3=("b", "k")), {})
    aws.update_settings("f", on, image=False)
    aws.update_settings("f", off, image=False, snap_start_changed=True)
    aws.update_settings("g", off, image=False)
    assert [kw.get("SnapStart") for _, kw in fake.sent] == [
        {"ApplyOn": "PublishedVersions"}, None, {"ApplyOn": "PublishedVersions"},
        {"ApplyOn": "None"}, None]


# --- the executor: the alias moves after the wait, and not when it fails --------------------------


class Recorder:
    """The AwsClient calls the release makes, recorded in order; `optimised` False makes the
    SnapStart wait fail as the real one does when it times out."""

    def __init__(self, *, optimised: bool = True) -> None:
        self.calls: list[str] = []
        self.optimised = optimised

    def wait_ready(self, name: str) -> Any:
        self.calls.append(f"wait_ready {name}")
        return config()

    def publish_version(self, name: str, code_sha256: str) -> str:
        self.calls.append(f"publish_version {name}")
        return "5"

    def wait_snap_start(self, name: str, version: str, *, alias: str) -> None:
        self.calls.append(f"wait_snap_start {name} {version}")
        if not self.optimised:
            raise DeployError(f"version {version} of function {name} was not optimised")

    def point_alias(self, name: str, alias: str, version: str, *, exists: bool) -> None:
        self.calls.append(f"point_alias {name}:{alias} {version}")


def _release(spec: p.FunctionSpec, aws: Recorder) -> None:
    plan = p.AwsPlan(layer_steps=(), layer_arns={}, functions=(p.FunctionPlan(
        spec=spec, live=p.LiveFunction(), steps=(p.Release(spec=spec, alias_exists=True),)),))
    aws_deploy.Executor(aws, plan, NullReporter()).run()  # type: ignore[arg-type]


def test_the_alias_moves_only_after_the_version_is_optimised() -> None:
    aws = Recorder()
    _release(SNAP, aws)
    assert aws.calls == ["wait_ready photos-hello", "publish_version photos-hello",
                         "wait_snap_start photos-hello 5", "point_alias photos-hello:live 5"]


def test_a_version_not_optimised_leaves_the_alias_where_it_was() -> None:
    aws = Recorder(optimised=False)
    with pytest.raises(DeployError, match="version 5 of function photos-hello"):
        _release(SNAP, aws)
    assert not any(c.startswith("point_alias") for c in aws.calls)


def test_without_snap_start_the_release_does_not_wait() -> None:
    aws = Recorder()
    _release(SPEC, aws)
    assert aws.calls == ["wait_ready photos-hello", "publish_version photos-hello",
                         "point_alias photos-hello:live 5"]

