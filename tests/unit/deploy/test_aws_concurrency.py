"""Reserved concurrency (`concurrency`) and provisioned concurrency on the alias (`warm`) on aws:
planned as data, applied by the executor, read back by `read_live`.

moto (5.2) has reserved concurrency (the e2e tests use it) but no provisioned concurrency at all:
its server answers every provisioned-concurrency call with a bare 404. So `warm` is shown here,
with the pure plan and a fake AwsClient that keeps provisioned concurrency per alias.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fpack.cloud.aws_client import AwsClient
from fpack.cloud.aws_wiring import Provisioned
from fpack.deploy import aws as aws_deploy
from fpack.deploy import aws_plan as p
from fpack.report import NullReporter
from tests.unit.deploy.test_aws_plan import (
    DIRECT,
    LAYER,
    LIVE_LAYERS,
    SPEC,
    config,
    deployed,
    lines,
)


def scaled(concurrency: int | None = None, warm: int | None = None) -> p.FunctionSpec:
    return replace(SPEC, concurrency=concurrency, warm=warm)


def live(reserved: int | None = None, warm: Provisioned | None = None) -> p.LiveFunction:
    base = deployed()
    assert base.latest is not None
    return replace(base, latest=replace(base.latest, reserved=reserved), warm=warm)


def ready(count: int) -> Provisioned:
    return Provisioned(count=count, status="READY")


def plan_lines(spec: p.FunctionSpec, have: p.LiveFunction | None) -> list[str]:
    state = {} if have is None else {"photos-hello": have}
    return lines(p.plan((LAYER,), (spec,), LIVE_LAYERS, state, DIRECT))[1:]


RESERVED = "reserved concurrency of function photos-hello"
WARM = "provisioned concurrency of alias photos-hello:live"


@pytest.mark.parametrize(("spec", "have", "expected"), [
    (scaled(10), live(), [f"create  {RESERVED}  (10)"]),
    (scaled(10), live(reserved=5), [f"update  {RESERVED}  (10, was 5)"]),
    (scaled(), live(reserved=5), [f"delete  {RESERVED}  (was 5)"]),
    (scaled(10), live(reserved=10), ["leave   function photos-hello"]),
    (scaled(warm=2), live(), [f"create  {WARM}  (2)"]),
    (scaled(warm=3), live(warm=ready(2)), [f"update  {WARM}  (3, was 2)"]),
    (scaled(), live(warm=ready(2)), [f"delete  {WARM}  (was 2)"]),
    (scaled(warm=2), live(warm=ready(2)), ["leave   function photos-hello"]),
    (scaled(warm=2), live(warm=Provisioned(count=2, status="IN_PROGRESS")),
     ["leave   function photos-hello"]),  # Lambda is still allocating: nothing to send
    (scaled(warm=2), live(warm=Provisioned(count=2, status="FAILED", reason="no capacity")),
     [f"update  {WARM}  (2, the last allocation failed)"]),
])
def test_each_count_is_set_changed_removed_or_left(spec: p.FunctionSpec, have: p.LiveFunction,
                                                   expected: list[str]) -> None:
    assert plan_lines(spec, have) == expected


def test_concurrency_publishes_no_version_and_comes_after_the_release() -> None:
    """Neither count is part of a version; the alias must serve the new version before warming."""
    have = live()
    assert have.latest is not None
    have = replace(have, latest=replace(have.latest, memory=128))
    assert plan_lines(scaled(10, 2), have) == [
        "update  function photos-hello  (memory)",
        "update  alias photos-hello:live  (to a new version)",
        f"create  {RESERVED}  (10)",
        f"create  {WARM}  (2)"]


def test_a_first_deploy_creates_the_alias_then_reserves_then_warms() -> None:
    assert plan_lines(scaled(10, 2), None)[:4] == [
        "create  function photos-hello",
        "create  alias photos-hello:live  (to a new version)",
        f"create  {RESERVED}  (10)",
        f"create  {WARM}  (2)"]


def test_lowering_the_reservation_below_what_is_warm_lowers_the_warm_count_first() -> None:
    """Lambda refuses more provisioned than reserved concurrency at any moment."""
    assert plan_lines(scaled(3, 2), live(reserved=10, warm=ready(5))) == [
        f"update  {WARM}  (2, was 5)", f"update  {RESERVED}  (3, was 10)"]
    assert plan_lines(scaled(20, 8), live(reserved=10, warm=ready(5))) == [
        f"update  {RESERVED}  (20, was 10)", f"update  {WARM}  (8, was 5)"]


# --- the executor and read_live, over a fake AwsClient --------------------------------------------


class FakeAws:
    """Keeps reserved concurrency per function and provisioned concurrency per alias, and
    records every write: "no call" is asserted from `writes`."""

    def __init__(self, reserved: int | None = None, warm: int | None = None) -> None:
        self.reserved = reserved
        self.warm = warm
        self.writes: list[tuple[str, ...]] = []

    # what read_live asks
    def function(self, name: str, qualifier: str | None = None) -> Any:
        return config(reserved=self.reserved, version=qualifier or "$LATEST")

    def alias_version(self, name: str, alias: str) -> str:
        return "4"

    def url(self, name: str, alias: str) -> str:
        return "https://x.lambda-url.us-east-1.on.aws"

    def permission_sids(self, name: str, alias: str) -> frozenset[str]:
        return frozenset({"fpack-url"})

    def provisioned(self, name: str, alias: str) -> Provisioned | None:
        return None if self.warm is None else ready(self.warm)

    # what the executor sends
    def reserve(self, name: str, count: int | None) -> None:
        self.writes.append(("reserve", name, str(count)))
        self.reserved = count

    def provision(self, name: str, alias: str, count: int | None) -> None:
        self.writes.append(("provision", f"{name}:{alias}", str(count)))
        self.warm = count


def deploy(spec: p.FunctionSpec, aws: FakeAws) -> list[str]:
    have = aws_deploy.read_live(aws, spec)  # type: ignore[arg-type]
    plan = p.plan((LAYER,), (spec,), LIVE_LAYERS, {spec.name: have}, DIRECT)
    aws_deploy.Executor(aws, plan, NullReporter()).run()  # type: ignore[arg-type]
    return lines(plan)[1:]


def test_set_changed_and_removed_through_the_client_and_unchanged_means_no_call() -> None:
    aws = FakeAws()
    deploy(scaled(10, 2), aws)
    assert aws.writes == [("reserve", "photos-hello", "10"),
                          ("provision", "photos-hello:live", "2")]
    assert deploy(scaled(10, 2), aws) == ["leave   function photos-hello"]
    assert len(aws.writes) == 2  # the repeat wrote nothing

    deploy(scaled(10, 4), aws)
    assert aws.writes[2:] == [("provision", "photos-hello:live", "4")]

    deploy(scaled(), aws)
    assert aws.writes[3:] == [("reserve", "photos-hello", "None"),
                              ("provision", "photos-hello:live", "None")]
    assert (aws.reserved, aws.warm) == (None, None)
    assert deploy(scaled(), aws) == ["leave   function photos-hello"]
    assert len(aws.writes) == 5


class Boto:
    """A boto3 Lambda client that records the concurrency calls AwsClient makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        def call(**kw: Any) -> dict[str, Any]:
            self.calls.append((operation, kw))
            return {}
        return call


def test_the_client_puts_on_the_alias_qualifier_and_deletes_when_none() -> None:
    boto = Boto()
    aws = AwsClient(lambda _: boto)
    aws.reserve("f", 10)
    aws.reserve("f", None)
    aws.provision("f", "live", 2)
    aws.provision("f", "live", None)
    assert boto.calls == [
        ("put_function_concurrency", {"FunctionName": "f", "ReservedConcurrentExecutions": 10}),
        ("delete_function_concurrency", {"FunctionName": "f"}),
        ("put_provisioned_concurrency_config",
         {"FunctionName": "f", "Qualifier": "live", "ProvisionedConcurrentExecutions": 2}),
        ("delete_provisioned_concurrency_config", {"FunctionName": "f", "Qualifier": "live"})]


def test_the_reserved_count_is_read_from_get_function() -> None:
    class Got:
        def get_function(self, **kw: Any) -> dict[str, Any]:
            return {"Configuration": {"FunctionArn": "arn:aws:lambda:us-east-1:1:function:f"},
                    "Concurrency": {"ReservedConcurrentExecutions": 7}}
    got = AwsClient(lambda _: Got()).function("f")
    assert got is not None and got.reserved == 7


@pytest.mark.parametrize("code", ["ProvisionedConcurrencyConfigNotFoundException", "404"])
def test_no_provisioned_config_reads_as_none(code: str) -> None:
    """Lambda's not-found error, and moto's bare 404 (it has no provisioned concurrency)."""
    class Missing:
        def get_provisioned_concurrency_config(self, **kw: Any) -> None:
            raise ClientError({"Error": {"Code": code, "Message": "no"}},
                              "GetProvisionedConcurrencyConfig")
    assert AwsClient(lambda _: Missing()).provisioned("f", "live") is None


def test_a_provisioned_config_is_read_with_its_status() -> None:
    class Got:
        def get_provisioned_concurrency_config(self, **kw: Any) -> dict[str, Any]:
            assert kw == {"FunctionName": "f", "Qualifier": "live"}
            return {"RequestedProvisionedConcurrentExecutions": 3, "Status": "FAILED",
                    "StatusReason": "no capacity"}
    assert AwsClient(lambda _: Got()).provisioned("f", "live") == Provisioned(
        count=3, status="FAILED", reason="no capacity")
