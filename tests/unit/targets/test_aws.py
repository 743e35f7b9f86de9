"""The AWS target's limits are checked before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fpack import config, executor, inputs
from fpack.archive import ZipWriter
from fpack.deps.engine import Dependencies, Package
from fpack.errors import BuildError
from fpack.outputs import Outputs
from fpack.plan import BuildPlan, plan
from fpack.report import NullReporter
from fpack.sources import runtime_snapshot, snapshot
from fpack.targets import aws


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def project(tmp_path: Path, layer: bool = True) -> config.Project:
    (tmp_path / "app.py").write_text("def hello(request):\n    return {}\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "big"\n[functions.hello]\nhandler = "app:hello"\n'
        f"[targets.aws]\nlayer = {str(layer).lower()}\n"
    )
    return config.load(tmp_path / "fpack.toml")


def build_plan(tmp_path: Path, layer: bool = True) -> BuildPlan:
    return plan(project(tmp_path, layer), "aws", snapshot(tmp_path, ["*.py"], ()),
                runtime_snapshot(), inputs=inputs.read(), out=tmp_path / "dist")


def deps(platform: object, sizes: dict[str, int], archive: Path | None = None) -> Dependencies:
    packages = tuple(
        Package(name=n, version="1", wheel=f"{n}-1-py3-none-any.whl", sha256="0", size=s)
        for n, s in sizes.items()
    )
    return Dependencies(platform=platform, packages=packages, archive=archive,  # type: ignore[arg-type]
                        unpacked_size=sum(sizes.values()), key="k")


def test_over_the_unzipped_limit_is_an_error_naming_the_largest_packages(tmp_path: Path) -> None:
    bp = build_plan(tmp_path)
    sizes = {"torch": 200_000_000, "numpy": 40_000_000, "scipy": 30_000_000, "six": 10_000}
    with pytest.raises(BuildError) as info:
        aws.plan(bp, deps(bp.platform, sizes))  # planning refuses it: there is nothing to write
    message = str(info.value)
    assert message.startswith("hello: 270.")
    assert message.split(" unzipped")[1] == (
        " (function and layers); AWS Lambda allows 262.1 MB (262144000 bytes). "
        "Largest packages: torch 200.0 MB, numpy 40.0 MB, scipy 30.0 MB, six 10.0 KB\n"
        "  hint: drop dependencies the function does not need; set slim = true in "
        "[targets.aws] (drops the dependencies' test directories, stubs and debug sections); "
        'or use the docker target with flavor = "lambda" (container images may be up to 10 GiB)'
    )
    assert not (tmp_path / "dist").exists()  # nothing was written


def test_over_the_limit_with_slim_on_offers_what_is_left(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def hello(request):\n    return {}\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "big"\n[functions.hello]\nhandler = "app:hello"\n'
        "[targets.aws]\nslim = true\n")
    bp = plan(config.load(tmp_path / "fpack.toml"), "aws", snapshot(tmp_path, ["*.py"], ()),
              runtime_snapshot(), inputs=inputs.read(), out=tmp_path / "dist")
    with pytest.raises(BuildError) as info:
        aws.plan(bp, deps(bp.platform, {"torch": 300_000_000}))
    assert str(info.value).split(" unzipped")[1] == (
        " (function and layers); AWS Lambda allows 262.1 MB (262144000 bytes). "
        "Largest packages: torch 300.0 MB\n"
        "  hint: drop dependencies the function does not need; "
        'or use the docker target with flavor = "lambda" (container images may be up to 10 GiB)'
    )


def test_over_the_direct_upload_size_warns(tmp_path: Path) -> None:
    bp = build_plan(tmp_path)
    archive = tmp_path / "deps.zip"
    writer = ZipWriter(archive, epoch=bp.inputs.epoch)
    writer.add_bytes("blob.bin", os.urandom(53_000_000))  # incompressible
    writer.write()
    reporter = Recorder()
    plans = aws.plan_artifacts(bp, deps(bp.platform, {"blob": 53_000_000}, archive), reporter)
    assert [p.warn_above for p in plans] == [aws.DIRECT_UPLOAD_MAX] * 2
    with Outputs(bp.out_dir) as out:
        built = executor.run(plans, out, reporter, epoch=bp.inputs.epoch)
    assert [b.manifest.kind for b in built] == ["layer", "function"]
    assert reporter.warnings == [
        "big-deps.zip is 53.0 MB zipped, over the 52.4 MB direct-upload limit: deploy will upload "
        "it through S3"
    ]
