"""The docker deployer's refusals, before anything is pushed or deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import config
from fpack.deploy import registry
from fpack.deploy.models import read_manifest
from fpack.errors import UsageError
from fpack.report import NullReporter


class NoRegistry:
    """Nothing pushed yet, and nothing may be pushed."""

    def local_digests(self, reference: str) -> frozenset[str]:
        return frozenset()

    def push(self, reference: str, auth: object) -> str:
        raise AssertionError("a refused deploy pushes nothing")


def test_snap_start_refuses_lambda_images(tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "tiny"\npython = "3.12"\n\n[functions.hello]\nhandler = "app:hello"\n'
        '\n[targets.aws]\nsnap_start = true\nrole = "arn:aws:iam::123456789012:role/r"\n'
        '\n[targets.docker]\nflavor = "lambda"\nrepository = "registry.example/tiny"\n')
    project = config.load(tmp_path / "fpack.toml")
    image = read_manifest({"function": "hello", "kind": "image", "runtime": "python3.12",
                           "image": "registry.example/tiny/hello:0123", "image_id": "sha256:1",
                           "base_image": "public.ecr.aws/lambda/python:3.12",
                           "flavor": "lambda"}, tmp_path)

    with pytest.raises(UsageError) as e:
        registry.deploy(project, [image], dry_run=True, reporter=NullReporter(),
                        registry=NoRegistry())  # type: ignore[arg-type]

    assert e.value.exit_code == 2
    assert str(e.value).replace(str(tmp_path / "fpack.toml"), "fpack.toml") == (
        "fpack.toml: [targets.aws] snap_start = true: Lambda SnapStart works on zip packages "
        'only, and [targets.docker] flavor = "lambda" deploys container images\n'
        "  hint: deploy the zips with fpack deploy --target aws, or remove snap_start to deploy "
        "the images")
