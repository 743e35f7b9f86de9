"""`[targets.aws] sdk = "runtime"`: the runtime table, the decision, the all-or-nothing rule, the
config key, the manifest record and the over-limit remedy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from fpack import config, limits, manifest
from fpack.deps import engine, sbom, sdk
from fpack.deps import settings as dep_settings
from fpack.deps.sdk import Decision, Demand, Provided
from fpack.platforms import RUNTIMES, Platform
from tests.unit.test_config import GOOD, error, write

PY311 = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")
PY311_ARM = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="arm64")
FLOOR = sdk.runtime_sdk("python3.11")
ALL = ("boto3", "botocore", "s3transfer", "jmespath")


def demand(text: str, by: str = "app") -> Demand:
    return Demand(by=by, requirement=Requirement(text))


# --- the table ------------------------------------------------------------------------------------

def test_every_aws_runtime_has_a_sourced_row() -> None:
    assert set(sdk.RUNTIME_SDKS) == set(RUNTIMES["aws"])
    for row in sdk.RUNTIME_SDKS.values():
        assert row.source
        assert row.boto3.startswith("1.") and row.botocore.startswith("1.")


def test_python39_is_the_documented_figure_and_later_runtimes_carry_it() -> None:
    row = sdk.runtime_sdk("python3.9")
    assert (row.boto3, row.botocore) == ("1.17.100", "1.20.100")
    assert "c70b3a8" in row.source
    later = sdk.runtime_sdk("python3.13")
    assert (later.boto3, later.botocore) == ("1.17.100", "1.20.100")
    assert "oldest" in later.source


def test_a_runtime_fpack_lacks_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        sdk.runtime_sdk("python2.7")


# --- the decision ---------------------------------------------------------------------------------

def test_no_demands_leaves_all_four_out() -> None:
    decision = sdk.decide([], ALL, FLOOR)
    assert decision.leave_out == ALL and decision.conflicts == ()


def test_a_transitive_upper_pin_keeps_all_four() -> None:
    # aiobotocore pins the botocore it patches: the runtime's botocore moves on past it.
    pin = demand("botocore<1.30.0,>=1.29.161", by="aiobotocore 2.5.4")
    decision = sdk.decide([pin], ALL, FLOOR)
    assert decision.leave_out == ()
    assert decision.present == ALL
    assert decision.conflicts == ("aiobotocore 2.5.4 requires botocore<1.30.0,>=1.29.161",)
    warning = sdk.conflict_warning(decision)
    assert warning.startswith("sdk = runtime: aiobotocore 2.5.4 requires botocore<1.30.0")
    assert warning.endswith("boto3, botocore, s3transfer and jmespath are bundled")


def test_a_direct_requirement_newer_than_the_table_keeps_them() -> None:
    decision = sdk.decide([demand("boto3>=1.35", by="requirements.txt")], ALL, FLOOR)
    assert decision.leave_out == ()
    assert decision.conflicts == ("requirements.txt requires boto3>=1.35",)


def test_a_floor_the_runtime_meets_and_ranges_within_the_major_hold() -> None:
    for text in ("boto3>=1.10", "boto3", "boto3<2", "boto3>=1.4,<2.0", "boto3~=1.16",
                 "botocore==1.*", "botocore!=1.19.*", "botocore!=1.20.5", "boto3!=2.0.0"):
        assert sdk.decide([demand(text)], ALL, FLOOR).leave_out == ALL, text


def test_pins_and_bounds_inside_the_major_do_not_hold() -> None:
    for text in ("boto3==1.17.100", "boto3<1.30", "boto3<=1.20", "boto3~=1.17.100",
                 "botocore!=1.20.*", "botocore!=1.25.0", "boto3>1.17.100", "boto3===1.17.100",
                 "boto3 @ https://example.invalid/boto3-1.0-py3-none-any.whl"):
        assert sdk.decide([demand(text)], ALL, FLOOR).leave_out == (), text


def test_s3transfer_and_jmespath_come_along_unversioned_only() -> None:
    assert sdk.decide([demand("jmespath")], ALL, FLOOR).leave_out == ALL
    kept = sdk.decide([demand("s3transfer>=0.10", by="lib 1.0")], ALL, FLOOR)
    assert kept.leave_out == () and kept.conflicts == ("lib 1.0 requires s3transfer>=0.10",)


def test_all_or_nothing_leaves_only_what_is_present_together() -> None:
    assert sdk.decide([], (), FLOOR) == Decision(leave_out=())
    assert sdk.decide([], ("Boto3", "botocore", "jmespath", "s3transfer", "pillow"),
                      FLOOR).leave_out == ALL
    # botocore alone (aiobotocore's) with a conflict: nothing leaves, and the warning says the
    # runtime's boto3 would pair with the shipped botocore.
    lone = sdk.decide([demand("botocore<1.30", by="aiobotocore 2.5.4")],
                      ("botocore", "jmespath"), FLOOR)
    assert lone.leave_out == () and lone.present == ("botocore", "jmespath")
    assert "add boto3 to the requirements" in sdk.conflict_warning(lone)


def test_decision_round_trips() -> None:
    decision = Decision(leave_out=(), conflicts=("x requires boto3==1",), present=("boto3",))
    assert Decision.from_json(decision.to_json()) == decision


# --- reading the tree and the spec ----------------------------------------------------------------

def dist(tree: Path, name: str, version: str, *requires: str, extras: tuple[str, ...] = (),
         files: tuple[str, ...] = ()) -> None:
    info = tree / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Name: {name}", f"Version: {version}",
             *(f"Provides-Extra: {e}" for e in extras), *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("Metadata-Version: 2.1\n" + "\n".join(lines) + "\n\n")
    record = [*files, f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x")
    (info / "RECORD").write_text("".join(f"{r.split(',')[0]},,\n" for r in record))


def test_tree_demands_evaluate_markers_for_the_target(tmp_path: Path) -> None:
    dist(tmp_path, "boto3", "1.35.0", "botocore<1.36.0,>=1.35.0")  # its own pin: not a demand
    dist(tmp_path, "aiobotocore", "2.15.0", "botocore<1.35.37,>=1.35.16",
         'boto3<1.35.37,>=1.35.16; extra == "boto3"', extras=("boto3",))
    dist(tmp_path, "old", "1.0", 'botocore<1.5; python_version < "3.8"',
         'boto3<1.5; platform_machine == "aarch64"', 'jmespath<0.9; sys_platform == "win32"')
    demands, present = sdk.tree_demands(tmp_path, PY311)
    assert sorted(present) == ["aiobotocore", "boto3", "old"]
    assert sorted(d.text for d in demands) == [
        "aiobotocore 2.15.0 requires boto3<1.35.37,>=1.35.16",  # under an extra: counted
        "aiobotocore 2.15.0 requires botocore<1.35.37,>=1.35.16"]
    arm, _ = sdk.tree_demands(tmp_path, PY311_ARM)
    assert "old 1.0 requires boto3<1.5" in {d.text for d in arm}


def test_direct_demands_from_requirements_pyproject_poetry_and_pipfile(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# the SDK\n-r other.txt\nboto3>=1.40  # new APIs\npillow\n"
        'botocore<1.5; python_version < "3.8"\n')
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["botocore>=1.2"]\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nboto3 = "^1.35"\n'
        's3transfer = { version = "~0.10" }\n')
    (tmp_path / "Pipfile").write_text('[packages]\nboto3 = "*"\njmespath = "==1.0.1"\n')
    (tmp_path / "uv.lock").write_text('[[package]]\nname = "boto3"\nversion = "1.35.0"\n')
    files = [str(tmp_path / n) for n in ("requirements.txt", "pyproject.toml", "Pipfile",
                                         "uv.lock")]
    assert sorted(d.text for d in sdk.direct_demands(files, PY311)) == [
        "Pipfile requires boto3", "Pipfile requires jmespath==1.0.1",
        "pyproject.toml requires boto3<2,>=1.35", "pyproject.toml requires botocore>=1.2",
        "pyproject.toml requires s3transfer<0.11,>=0.10",
        "requirements.txt requires boto3>=1.40"]


def test_decide_tree_from_an_installed_tree(tmp_path: Path) -> None:
    tree, spec = tmp_path / "tree", tmp_path / "requirements.txt"
    for name in ALL:
        dist(tree, name, "1.0")
    dist(tree, "pillow", "11.0")
    spec.write_text("boto3\npillow\n")
    assert sdk.decide_tree(tree, PY311, [str(spec)]).leave_out == ALL
    spec.write_text("boto3>=1.35\npillow\n")
    assert sdk.decide_tree(tree, PY311, [str(spec)]).leave_out == ()


def test_files_of_the_left_out_dists(tmp_path: Path) -> None:
    dist(tmp_path, "boto3", "1.35.0", files=("boto3/__init__.py", "boto3/s3/transfer.py"))
    dist(tmp_path, "pillow", "11.0", files=("PIL/__init__.py",))
    (tmp_path / "boto3" / "__pycache__").mkdir()
    (tmp_path / "boto3" / "__pycache__" / "x.pyc").write_text("compiled after install")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(sdk.files_of(tmp_path, files, ("boto3",))) == [
        "boto3-1.35.0.dist-info/METADATA", "boto3-1.35.0.dist-info/RECORD",
        "boto3/__init__.py", "boto3/__pycache__/x.pyc", "boto3/s3/transfer.py"]


# --- config, settings, manifest, remedies ---------------------------------------------------------

def test_sdk_defaults_to_bundle_and_reads_runtime(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, GOOD)).aws.sdk == "bundle"
    project = config.load(write(tmp_path, GOOD + '\n[targets.aws]\nsdk = "runtime"\n'))
    assert project.aws.sdk == "runtime"
    assert dep_settings.settings_for(project, "aws").sdk == "runtime"
    assert dep_settings.settings_for(project, "docker").sdk == "bundle"
    assert dep_settings.settings_for(project, "gcp").sdk == "bundle"


def test_another_sdk_value_is_a_config_error(tmp_path: Path) -> None:
    message = error(tmp_path, GOOD + '\n[targets.aws]\nsdk = "lambda"\n')
    assert message == ('fpack.toml: [targets.aws] sdk = "lambda": expected "bundle" or '
                       '"runtime".')
    assert "expected a string" in error(tmp_path, GOOD + "\n[targets.aws]\nsdk = true\n")


def test_the_manifest_records_what_the_runtime_provides(tmp_path: Path) -> None:
    provided = Provided(runtime="python3.11", saved=24_000_000,
                        packages=(("boto3", "1.35.0", 900_000), ("botocore", "1.35.0", 23_000_000)))
    fn = manifest.AwsFunction(function="f", target="aws", runtime="python3.11", arch="x86_64",
                              handler="fpack_entry.f", sha256="ab" * 32, size=1, unpacked_size=2,
                              path=tmp_path / "dist/aws/f.zip", sdk=provided)
    data = fn.to_json(tmp_path)
    assert list(data)[-1] == "sdk"
    assert data["sdk"] == {"provided_by": "python3.11", "saved": 24_000_000, "packages": [
        {"name": "boto3", "version": "1.35.0", "size": 900_000},
        {"name": "botocore", "version": "1.35.0", "size": 23_000_000}]}
    again = manifest.from_json(data, tmp_path)
    assert isinstance(again, manifest.AwsFunction) and again.sdk == provided
    assert "sdk" not in manifest.AwsFunction(**{**fn.__dict__, "sdk": None}).to_json(tmp_path)


def test_remedies_offer_sdk_runtime_when_the_sdk_is_large_and_bundled() -> None:
    hint = limits.lambda_remedies(slim=True, sdk="bundle", largest=("botocore", "numpy"))
    assert 'set sdk = "runtime" in [targets.aws]' in hint
    assert "sdk" not in limits.lambda_remedies(slim=True, sdk="runtime",
                                               largest=("botocore", "numpy"))
    assert "sdk" not in limits.lambda_remedies(slim=True, sdk="bundle", largest=("numpy",))


def test_the_sbom_lists_the_sdk_as_provided_not_as_components(tmp_path: Path) -> None:
    pillow = engine.Package(name="pillow", version="11.0.0", wheel="pillow.whl", sha256="cd" * 32,
                            size=1)
    layer = manifest.AwsLayer(function="d", target="aws", runtime="python3.11", arch="x86_64",
                              handler=None, sha256="ab" * 32, size=1, unpacked_size=2,
                              path=tmp_path / "d.zip", packages=(pillow,),
                              sdk=Provided(runtime="python3.11", saved=1,
                                           packages=(("boto3", "1.35.0", 1),)))
    bom = json.loads(sbom.render(layer, epoch=0))
    assert [c["name"] for c in bom["components"]] == ["pillow"]
    props = bom["metadata"]["component"]["properties"]
    assert {"name": "fpack:provided-by-runtime", "value": "boto3 (python3.11)"} in props
