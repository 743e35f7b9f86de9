"""Shared deploy data: manifests, secrets kept out of output, the config keys deploy reads."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from fpack import config
from fpack.cloud.safety import Secrets
from fpack.deploy.models import read_manifest
from fpack.errors import ConfigError, DeployError


def test_code_sha256_is_base64_of_the_digest() -> None:
    m = read_manifest({"function": "f", "runtime": "python3.12", "sha256": "00" * 31 + "ff",
                       "path": "dist/aws/f.zip"}, Path("/p"))
    assert m.code_sha256 == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP8="
    assert m.path == Path("/p/dist/aws/f.zip")


def test_a_manifest_without_runtime_is_refused() -> None:
    with pytest.raises(DeployError, match="build manifest of 'f' has no 'runtime' key"):
        read_manifest({"function": "f"}, Path("/p"))


def test_secret_values_are_scrubbed_from_messages() -> None:
    secrets = Secrets.of([{"API_TOKEN": "tok-123456", "DB_PASSWORD": "pw-abc", "MODE": "fast"}])
    message = "Invalid env tok-123456 pw-abc fast, from https://user:pass@example.com/x"
    assert secrets.scrub(message) == "Invalid env *** *** fast, from https://***@example.com/x"


def test_deploy_keys_belong_to_their_trigger(tmp_path: Path) -> None:
    path = tmp_path / "fpack.toml"
    path.write_text('[functions.hello]\nhandler = "app:hello"\nbucket = "uploads"\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == (f'{path}: [functions.hello] bucket = "uploads": only for trigger = '
                               '"storage", and this function\'s trigger is "http".')


def test_deploy_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "fpack.toml"
    path.write_text('[functions.tick]\nhandler = "app:tick"\ntrigger = "schedule"\n'
                    'schedule = "rate(1 hour)"\ntopic = "ticks"\n\n[targets.aws]\n'
                    'alias = "prod"\nartifact_bucket = "b"\ncreate_bucket = true\n\n'
                    '[targets.gcp]\napi_endpoint = "https://functions.internal"\n')
    project = config.load(path)
    tick = project.functions["tick"]
    assert (tick.schedule, tick.topic) == ("rate(1 hour)", "ticks")
    assert (project.aws.alias, project.aws.artifact_bucket, project.aws.create_bucket) == (
        "prod", "b", True)
    assert project.gcp.api_endpoint == "https://functions.internal"


def test_importing_the_deployers_imports_no_cloud_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    heavy = ("boto3", "botocore", "google", "docker")
    for name in list(sys.modules):
        if name.split(".")[0] in heavy or name.startswith(("fpack.deploy", "fpack.cloud")):
            monkeypatch.delitem(sys.modules, name)
    importlib.import_module("fpack.deploy")
    assert [m for m in sys.modules if m.split(".")[0] in heavy] == []
