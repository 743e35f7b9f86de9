"""SnapStart, layer-only changes and concurrency, deployed to moto running as a server on loopback.

What moto (5.2) cannot do, and how it is covered:
- SnapStart: moto accepts the SnapStart parameter and ignores it; every function and version
  reports ApplyOn None and OptimizationStatus Off. The SnapStart tests therefore run fpack's
  deployer in-process over `SnapStartLambda`, a wrapper of moto's Lambda client that keeps what
  fpack sent and reports versions as Lambda does while it snapshots them (Pending, then Active and
  On). Everything else (versions, aliases, layers, code) is moto's own state.
- Provisioned concurrency (`warm`): moto has none (its server answers a bare 404), so it is shown in
  tests/unit/deploy/test_aws_concurrency.py with the pure plan and a fake client. Reserved
  concurrency is moto's and is tested here through the real CLI.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fpack import config
from fpack.cloud.aws_client import AwsClient
from fpack.deploy import aws as aws_deploy
from fpack.deploy.models import Manifest, read_manifest
from fpack.errors import DeployError
from fpack.report import NullReporter
from tests.e2e.conftest import REGION, deploy, fpack

pytestmark = pytest.mark.e2e

FPACK_TOML = """\
[project]
name = "snap"
python = "{python}"

[functions.hello]
handler = "app:hello"
{function}
[targets.aws]
layer = true
region = "us-east-1"
role = "arn:aws:iam::123456789012:role/snap"
{aws}"""
NAME = "snap-hello"


def write_toml(root: Path, *, function: str = "", aws: str = "", python: str = "3.12") -> None:
    (root / "fpack.toml").write_text(FPACK_TOML.format(function=function, aws=aws, python=python))


@pytest.fixture
def snap(tmp_path: Path, aws: Any) -> Path:
    """A one-function project with a dependency layer, and its role in moto."""
    aws("iam").create_role(RoleName="snap", AssumeRolePolicyDocument="{}")
    root = tmp_path / "snap"
    root.mkdir()
    write_toml(root)
    (root / "requirements.txt").write_text("six==1.16.0\n")
    (root / "app.py").write_text("def hello(request):\n    return {'hello': 'world'}\n")
    return root


def layers(aws: Any) -> list[str]:
    got = aws("lambda").list_layer_versions(LayerName="snap-deps")["LayerVersions"]
    return sorted(v["LayerVersionArn"] for v in got)


def versions(aws: Any) -> list[str]:
    got = aws("lambda").list_versions_by_function(FunctionName=NAME)["Versions"]
    return [v["Version"] for v in got if v["Version"] != "$LATEST"]


def alias(aws: Any) -> str:
    return str(aws("lambda").get_alias(FunctionName=NAME, Name="live")["FunctionVersion"])


def attached(aws: Any, qualifier: str = "$LATEST") -> list[str]:
    got = aws("lambda").get_function(FunctionName=NAME, Qualifier=qualifier)["Configuration"]
    return [layer["Arn"] for layer in got["Layers"]]


def code_sha(aws: Any) -> str:
    return str(aws("lambda").get_function(FunctionName=NAME)["Configuration"]["CodeSha256"])


def error(proc: Any) -> str:
    """What the CLI printed from its "error:" line on (progress lines come before it)."""
    return str(proc.stderr[proc.stderr.index("error: "):])


# --- SnapStart, over moto with what moto lacks simulated -----------------------------------------


class SnapStartLambda:
    """moto's Lambda client, with SnapStart as Lambda reports it: the ApplyOn fpack last sent for
    $LATEST, stamped on each version when it is published; a SnapStart version is Pending for
    `pending` checks of get_function_configuration, then Active and On (never, while `optimise`
    is False). `log` is what happened, in order: the alias calls among the checks."""

    def __init__(self, inner: Any, *, pending: int = 2) -> None:
        self.inner = inner
        self.pending = pending
        self.optimise = True
        self.apply_on: dict[str, str] = {}
        self.stamped: dict[tuple[str, str], str] = {}
        self.checks: Counter[tuple[str, str]] = Counter()
        self.sent: list[tuple[str, dict[str, str] | None]] = []
        self.log: list[str] = []

    def __getattr__(self, operation: str) -> Any:
        return getattr(self.inner, operation)

    def _sent(self, operation: str, kw: dict[str, Any]) -> None:
        self.sent.append((operation, kw.get("SnapStart")))
        if "SnapStart" in kw:
            self.apply_on[kw["FunctionName"]] = kw["SnapStart"]["ApplyOn"]

    def _stamp(self, c: dict[str, Any]) -> dict[str, Any]:
        name, version = c["FunctionName"], c["Version"]
        if version == "$LATEST":
            return {**c, "SnapStart": {"ApplyOn": self.apply_on.get(name, "None"),
                                       "OptimizationStatus": "Off"}}
        apply_on = self.stamped.get((name, version), "None")
        done = apply_on == "None" or (self.optimise and self.checks[name, version] > self.pending)
        return {**c, "State": "Active" if done else "Pending",
                "SnapStart": {"ApplyOn": apply_on,
                              "OptimizationStatus": "On" if done and apply_on != "None" else "Off"}}

    def create_function(self, **kw: Any) -> Any:
        self._sent("create_function", kw)
        return self._stamp(self.inner.create_function(**kw))

    def update_function_configuration(self, **kw: Any) -> Any:
        self._sent("update_function_configuration", kw)
        return self._stamp(self.inner.update_function_configuration(**kw))

    def publish_version(self, **kw: Any) -> Any:
        got = self.inner.publish_version(**kw)
        key = (kw["FunctionName"], got["Version"])
        self.stamped.setdefault(key, self.apply_on.get(kw["FunctionName"], "None"))
        self.log.append(f"publish {got['Version']}")
        return self._stamp(got)

    def get_function(self, **kw: Any) -> Any:
        got = self.inner.get_function(**kw)
        return {**got, "Configuration": self._stamp(got["Configuration"])}

    def get_function_configuration(self, **kw: Any) -> Any:
        got = self.inner.get_function_configuration(**kw)
        self.checks[kw["FunctionName"], got["Version"]] += 1
        stamped = self._stamp(got)
        self.log.append(f"check {got['Version']} {stamped['State']} "
                        f"{stamped['SnapStart']['OptimizationStatus']}")
        return stamped

    def create_alias(self, **kw: Any) -> Any:
        self.log.append(f"create alias {kw['FunctionVersion']}")
        return self.inner.create_alias(**kw)

    def update_alias(self, **kw: Any) -> Any:
        self.log.append(f"move alias {kw['FunctionVersion']}")
        return self.inner.update_alias(**kw)


@pytest.fixture
def lam() -> SnapStartLambda:
    return SnapStartLambda(AwsClient.connect(REGION).client("lambda"))


def manifests(project: Path) -> list[Manifest]:
    return [read_manifest(json.loads(p.read_text()), project)
            for p in sorted((project / "dist" / "aws").glob("*.manifest.json"))]


def build_and_deploy(project: Path, lam: SnapStartLambda) -> None:
    """`fpack build` (the CLI), then the deployer in-process over `lam` and moto's other
    services; sleeps are skipped, so the SnapStart timeout is reached without waiting."""
    fpack(project, "build", "--target", "aws")
    moto = AwsClient.connect(REGION)
    client = AwsClient(lambda s: lam if s == "lambda" else moto.client(s), sleep=lambda _: None,
                       region=REGION)
    aws_deploy.deploy(config.load(project / "fpack.toml"), manifests(project), dry_run=False,
                      reporter=NullReporter(), client=client)


SNAP_ON = "snap_start = true\n"
ON = {"ApplyOn": "PublishedVersions"}


def test_the_dry_run_shows_the_snap_start_release(aws: Any, snap: Path) -> None:
    write_toml(snap, aws=SNAP_ON)
    plan = deploy(snap, "aws", "--dry-run")["plan"]
    assert plan[1:] == ["create  function snap-hello",
                        "create  alias snap-hello:live  (to a new version, once SnapStart has "
                        "optimised it)"]
    assert aws("lambda").list_functions()["Functions"] == []


def test_snap_start_on_create_and_the_alias_only_after_the_snapshot(
        aws: Any, snap: Path, lam: SnapStartLambda) -> None:
    write_toml(snap, aws=SNAP_ON)
    build_and_deploy(snap, lam)

    assert lam.sent == [("create_function", ON)]
    assert versions(aws) == ["1"] and alias(aws) == "1"
    assert lam.log == ["publish 1", "check 1 Pending Off", "check 1 Pending Off",
                       "check 1 Active On", "create alias 1"]

    build_and_deploy(snap, lam)  # a repeat: nothing sent, published or moved
    assert lam.sent == [("create_function", ON)] and versions(aws) == ["1"]
    assert lam.log[-1] == "create alias 1"


def test_turning_snap_start_on_then_off_publishes_a_version_each_time(
        aws: Any, snap: Path, lam: SnapStartLambda) -> None:
    deploy(snap, "aws")  # without SnapStart, through the CLI and moto alone
    assert versions(aws) == ["1"]

    write_toml(snap, aws=SNAP_ON)
    build_and_deploy(snap, lam)
    assert lam.sent == [("update_function_configuration", ON)]
    assert versions(aws) == ["1", "2"] and alias(aws) == "2"
    assert lam.log[-2:] == ["check 2 Active On", "move alias 2"]

    write_toml(snap)
    build_and_deploy(snap, lam)
    assert lam.sent[-1] == ("update_function_configuration", {"ApplyOn": "None"})
    assert versions(aws) == ["1", "2", "3"] and alias(aws) == "3"
    assert lam.log[-2:] == ["publish 3", "move alias 3"]  # no SnapStart: nothing to wait for


def test_a_layer_only_change_under_snap_start_releases_a_new_optimised_version(
        aws: Any, snap: Path, lam: SnapStartLambda) -> None:
    write_toml(snap, aws=SNAP_ON)
    build_and_deploy(snap, lam)
    sha, (first_layer,) = code_sha(aws), layers(aws)

    (snap / "requirements.txt").write_text("six==1.16.0\nidna==3.7\n")
    build_and_deploy(snap, lam)

    assert code_sha(aws) == sha  # the function's own zip did not change
    new_layer = next(arn for arn in layers(aws) if arn != first_layer)
    assert lam.sent[-1] == ("update_function_configuration", ON)
    assert versions(aws) == ["1", "2"] and alias(aws) == "2"
    assert attached(aws, "2") == [new_layer] and attached(aws, "1") == [first_layer]
    assert lam.log[-2:] == ["check 2 Active On", "move alias 2"]


def test_a_version_never_optimised_leaves_the_alias_and_a_rerun_releases_it(
        aws: Any, snap: Path, lam: SnapStartLambda) -> None:
    write_toml(snap, aws=SNAP_ON)
    build_and_deploy(snap, lam)
    (snap / "app.py").write_text("def hello(request):\n    return {'hello': 'again'}\n")
    lam.optimise = False

    with pytest.raises(DeployError) as e:
        build_and_deploy(snap, lam)

    assert str(e.value) == (
        "version 2 of function snap-hello was not optimised for SnapStart after 15 minutes "
        "(State Pending, OptimizationStatus Off)\n"
        "  hint: the alias live was not moved: it still serves the version it had; run fpack "
        "deploy again: with nothing changed, Lambda publishes no other version and fpack waits "
        "for this one again")
    assert versions(aws) == ["1", "2"] and alias(aws) == "1"

    lam.optimise = True
    build_and_deploy(snap, lam)
    assert versions(aws) == ["1", "2"] and alias(aws) == "2"  # the same version, now live


def test_against_moto_alone_a_version_without_snap_start_never_gets_the_alias(
        aws: Any, snap: Path) -> None:
    """moto reports every version without SnapStart: the real CLI stops at once, no alias."""
    write_toml(snap, aws=SNAP_ON)
    proc = fpack(snap, "deploy", "--target", "aws", check=False)
    assert proc.returncode == 1
    assert error(proc) == (
        "error: version 1 of function snap-hello was published without SnapStart (Lambda "
        "reports its SnapStart ApplyOn as None)\n"
        "  hint: the alias live was not moved: it still serves the version it had; check that "
        "the region and the endpoint (AWS_ENDPOINT_URL) support SnapStart for Python, then run "
        "fpack deploy again\n")
    assert versions(aws) == ["1"]
    assert aws("lambda").list_aliases(FunctionName=NAME)["Aliases"] == []


# --- a layer-only change, through the real CLI and moto alone -------------------------------------


def test_a_layer_only_change_publishes_a_version_and_an_unchanged_layer_never_is(
        aws: Any, snap: Path) -> None:
    """serverless-application-model#3802: the function's zip is the same, its layer is new; the
    alias must serve the new layer. Going back to the first set reuses its layer version."""
    deploy(snap, "aws")
    sha, (first,) = code_sha(aws), layers(aws)

    (snap / "requirements.txt").write_text("six==1.16.0\nidna==3.7\n")
    dry = deploy(snap, "aws", "--dry-run")
    assert dry["plan"][1:] == ["update  function snap-hello  (layers)",
                               "update  alias snap-hello:live  (to a new version)"]
    deploy(snap, "aws")

    assert code_sha(aws) == sha
    (second,) = (arn for arn in layers(aws) if arn != first)
    assert versions(aws) == ["1", "2"] and alias(aws) == "2" and attached(aws, "2") == [second]

    again = deploy(snap, "aws")
    assert all(line.startswith("leave") for line in again["plan"])
    assert len(layers(aws)) == 2 and versions(aws) == ["1", "2"]

    (snap / "requirements.txt").write_text("six==1.16.0\n")
    back = deploy(snap, "aws")
    assert back["plan"][0] == f"leave   layer snap-deps  (version {first.rsplit(':', 1)[1]})"
    assert layers(aws) == sorted([first, second])  # the first set's layer, not published again
    assert versions(aws) == ["1", "2", "3"] and alias(aws) == "3" and attached(aws, "3") == [first]


# --- reserved concurrency, through the real CLI and moto alone ------------------------------------


def reserved(aws: Any) -> int | None:
    got = aws("lambda").get_function_concurrency(FunctionName=NAME)
    count = got.get("ReservedConcurrentExecutions")
    return None if count is None else int(count)


def test_reserved_concurrency_is_set_changed_and_removed(aws: Any, snap: Path) -> None:
    write_toml(snap, function="concurrency = 5\n")
    dry = deploy(snap, "aws", "--dry-run")
    assert "create  reserved concurrency of function snap-hello  (5)" in dry["plan"]
    first = deploy(snap, "aws")
    assert first["plan"][-1] == "create  reserved concurrency of function snap-hello  (5)"
    assert reserved(aws) == 5

    same = deploy(snap, "aws")
    assert all(line.startswith("leave") for line in same["plan"])

    write_toml(snap, function="concurrency = 7\n")
    changed = deploy(snap, "aws")
    assert changed["plan"][1:] == ["update  reserved concurrency of function snap-hello  "
                                   "(7, was 5)"]
    assert [d["action"] for d in changed["deployments"]] == ["update"]
    assert reserved(aws) == 7 and versions(aws) == ["1"]  # not part of a version

    write_toml(snap)
    removed = deploy(snap, "aws")
    assert removed["plan"][1:] == ["delete  reserved concurrency of function snap-hello  (was 7)"]
    assert reserved(aws) is None and versions(aws) == ["1"]


# --- what is refused before anything changes ------------------------------------------------------


def test_snap_start_on_python_3_11_is_a_config_error(aws: Any, snap: Path) -> None:
    write_toml(snap, aws=SNAP_ON, python="3.11")
    proc = fpack(snap, "deploy", "--target", "aws", check=False)
    assert proc.returncode == 2
    assert proc.stderr == (
        f'error: {snap / "fpack.toml"}: [targets.aws] snap_start = true: Lambda SnapStart for '
        'Python needs python3.12 or later, and runtime is "python3.11". Set [project] python = '
        '"3.12" or later (or [targets.aws] runtime = "python3.12"), or remove snap_start.\n')
    assert aws("lambda").list_functions()["Functions"] == []


def test_warm_with_snap_start_is_a_config_error(aws: Any, snap: Path) -> None:
    write_toml(snap, function="warm = 2\n", aws=SNAP_ON)
    proc = fpack(snap, "deploy", "--target", "aws", check=False)
    assert proc.returncode == 2
    assert error(proc) == (
        f"error: {snap / 'fpack.toml'}: [functions.hello] warm = 2: Lambda does not combine "
        "provisioned concurrency with SnapStart ([targets.aws] snap_start = true)\n"
        "  hint: remove warm (SnapStart's restores are the cold-start cure), or snap_start\n")
    assert aws("lambda").list_functions()["Functions"] == []

