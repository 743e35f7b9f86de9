"""Shared deploy data: manifests, secrets kept out of output, the config keys deploy reads."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from fpack import config
from fpack.cloud.safety import Secrets
from fpack.deploy.models import read_manifest
from fpack.errors import ConfigError, DeployError
from fpack.manifest import AwsFunction, AwsLayer, DockerImage, GcpBundle


def test_code_sha256_is_base64_of_the_digest() -> None:
    m = read_manifest({"function": "f", "runtime": "python3.12", "sha256": "00" * 31 + "ff",
                       "path": "dist/aws/f.zip"}, Path("/p"))
    assert isinstance(m, AwsFunction)
    assert m.code_sha256 == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP8="
    assert m.path == Path("/p/dist/aws/f.zip")


def test_a_manifest_without_runtime_is_refused() -> None:
    with pytest.raises(DeployError, match="build manifest of 'f' has no 'runtime' key"):
        read_manifest({"function": "f"}, Path("/p"))


def test_each_kind_reads_as_its_own_type_with_absolute_paths() -> None:
    root = Path("/p")
    fn = read_manifest({"function": "f", "runtime": "python3.12", "path": "dist/aws/f.zip",
                        "layers": ["dist/aws/deps.zip"]}, root)
    assert isinstance(fn, AwsFunction)
    assert (fn.layers, fn.manifest_path) == ((Path("/p/dist/aws/deps.zip"),),
                                             Path("/p/dist/aws/f.manifest.json"))
    layer = read_manifest({"function": "deps", "kind": "layer", "runtime": "python3.12",
                           "path": "dist/aws/deps.zip"}, root)
    assert isinstance(layer, AwsLayer) and layer.path == Path("/p/dist/aws/deps.zip")
    # a Cloud Functions bundle is told by its target, or (older manifests) its signature type
    for marker in ({"target": "gcp"}, {}):
        bundle = read_manifest({"function": "f", "runtime": "python312", **marker,
                                "path": "dist/gcp/f.zip", "signature_type": "http",
                                "build_env": {"GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"}}, root)
        assert isinstance(bundle, GcpBundle)
        assert (bundle.signature_type, dict(bundle.build_env)) == (
            "http", {"GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"})
    image = read_manifest({"function": "f", "kind": "image", "target": "docker", "runtime": "3.12",
                           "image": "r/f:abc", "image_id": "sha256:1", "tags": ["r/f:latest"],
                           "base_image": "python:3.12-slim", "flavor": "http"}, root)
    assert isinstance(image, DockerImage)
    assert (image.path, image.tags, image.digest) == (None, ("r/f:latest",), None)


def test_a_manifest_written_by_build_reads_back_as_the_same_record() -> None:
    root = Path("/p")
    fn = AwsFunction(function="f", target="aws", runtime="python3.12", arch="arm64",
                     handler="app.f", sha256="ab" * 32, size=10, unpacked_size=20,
                     path=root / "dist/aws/f.zip", layers=(root / "dist/aws/deps.zip",))
    assert fn.to_json(root)["path"] == "dist/aws/f.zip"  # relative: the same on every machine
    assert read_manifest(fn.to_json(root), root) == fn
    bundle = GcpBundle(function="g", target="gcp", runtime="python312", arch="x86_64",
                       handler="g", sha256="cd" * 32, size=1, unpacked_size=2,
                       path=root / "dist/gcp/g.zip", signature_type="cloudevent", build_env={})
    assert read_manifest(bundle.to_json(root), root) == bundle


@pytest.mark.parametrize(("data", "message"), [
    ({"function": "f", "runtime": "python3.12"},
     "build manifest of 'f' has no 'path' key"),
    ({"function": "f", "runtime": "python312", "target": "gcp", "path": "dist/gcp/f.zip"},
     "build manifest of 'f' has no 'signature_type' key"),
    ({"function": "f", "kind": "image", "runtime": "3.12"},
     "build manifest of 'f' has no 'image' key"),
    ({"function": "f", "runtime": "python3.12", "path": "dist/aws/f.zip", "size": "big"},
     "build manifest of 'f' has a malformed value (invalid literal for int() with base 10: "
     "'big')"),
])
def test_a_manifest_missing_what_its_kind_needs_is_refused(data: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(DeployError) as info:
        read_manifest(data, Path("/p"))
    assert str(info.value) == f"{message}\n  hint: rebuild with this version of fpack"


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


def test_aws_manifests_carry_code_sha256_after_sha256() -> None:
    """The hand-off to Terraform, CDK and SAM: Lambda's base64 form, at a fixed place."""
    root = Path("/p")
    fn = AwsFunction(function="f", target="aws", runtime="python3.12", arch="arm64",
                     handler="app.f", sha256="00" * 31 + "ff", size=10, unpacked_size=20,
                     path=root / "dist/aws/f.zip")
    layer = AwsLayer(function="deps", target="aws", runtime="python3.12", arch="arm64",
                     handler=None, sha256="00" * 31 + "ff", size=1, unpacked_size=2,
                     path=root / "dist/aws/deps.zip")
    assert list(fn.to_json(root)) == ["function", "target", "kind", "runtime", "arch", "handler",
                                      "path", "sha256", "code_sha256", "size", "unpacked_size",
                                      "layers", "packages"]
    assert list(layer.to_json(root)) == ["function", "target", "kind", "runtime", "arch",
                                         "handler", "path", "sha256", "code_sha256", "size",
                                         "unpacked_size", "packages"]
    assert fn.to_json(root)["code_sha256"] == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP8="
    assert read_manifest(layer.to_json(root), root) == layer  # derived: read back, not stored
