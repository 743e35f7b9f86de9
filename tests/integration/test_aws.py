"""`fpack build --target aws` artifacts, run as Lambda runs them, on the lab's Pythons.

The example project needs pydantic (pydantic_core), Pillow and numpy: each has compiled parts, so a
wheel for the wrong platform or Python fails to import in the container.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fpack.deps.elf import read_elf
from tests.integration import lab

pytestmark = pytest.mark.lab

RUNTIMES = {"python3.9": (3, 9), "python3.11": (3, 11), "python3.13": (3, 13)}


def _project(base: Path, dest: Path, runtime: str, *, layer: bool, arch: str = "x86_64") -> Path:
    shutil.copytree(base, dest)
    toml = (dest / "fpack.toml").read_text()
    toml = toml.replace('runtime = "python3.12"', f'runtime = "{runtime}"')
    toml = toml.replace("layer = true", f"layer = {str(layer).lower()}")
    toml = toml.replace('arch = "x86_64"', f'arch = "{arch}"', 1)
    (dest / "fpack.toml").write_text(toml)
    return dest


def _by_function(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["function"]: m for m in manifests if m["kind"] == "function"}


def _http_events() -> list[Any]:
    v1 = lab.event("aws", "apigw_v1")
    v1["body"] = json.dumps({"width": 1024, "height": 512})
    v2 = lab.event("aws", "apigw_v2")
    v2["body"] = base64.b64encode(b'{"width": 0, "height": 5}').decode()
    url = lab.event("aws", "function_url")
    url["rawQueryString"] = "name=lambda"
    url["queryStringParameters"] = {"name": "lambda"}
    return [v1, v2, url]


def _check_http(results: list[Any]) -> None:
    v1, v2, url = results
    assert v1["statusCode"] == 200
    assert json.loads(v1["body"]) == {"thumbnail": [128, 64], "keep_ratio": True}
    assert v1["multiValueHeaders"]["Content-Type"] == ["application/json"] or \
        v1["headers"]["Content-Type"] == "application/json"
    assert v2["statusCode"] == 422  # pydantic's compiled validator ran and refused width 0
    assert json.loads(v2["body"])["error"][0]["loc"] == ["width"]
    assert "cookies" in v2 and "multiValueHeaders" not in v2  # the HTTP API (v2) shape
    assert url["statusCode"] == 200
    body = json.loads(url["body"])
    assert body["hello"] == "lambda" and body["path"] == "/items"


def _run_all(manifests: list[dict[str, Any]], project: Path, image: str, tmp: Path,
             platform: str | None = None) -> None:
    fns = _by_function(manifests)
    http = lab.run_lambda(fns["hello"], project, image, _http_events(), tmp / "hello",
                          platform=platform)
    _check_http(http.results)

    storage = lab.run_lambda(fns["thumbnail"], project, image,
                             [lab.event("aws", "s3_put"), lab.event("aws", "s3_delete")],
                             tmp / "thumbnail", platform=platform)
    # the key arrives URL-encoded ('+' for spaces): the portable event carries it decoded
    assert storage.files["incoming_holiday photos_café (1).jpg.png"] > 0  # a PNG drawn by Pillow
    assert storage.files["deleted.txt"] == "photos-uploads/incoming/old.jpg\n"

    sqs = lab.event("aws", "sqs")
    sqs["Records"][0]["body"] = json.dumps({"id": 7, "photos": ["a.jpg", "b.jpg"]})
    queue = lab.run_lambda(fns["consume"], project, image, [sqs], tmp / "consume",
                           platform=platform)
    bad = sqs["Records"][1]["messageId"]
    assert queue.results == [{"batchItemFailures": [{"itemIdentifier": bad}]}]
    assert queue.files["orders.jsonl"] == '{"id": 7, "count": 2}\n'

    tick = lab.run_lambda(fns["tick"], project, image, [lab.event("aws", "eventbridge_schedule")],
                          tmp / "tick", platform=platform)
    assert tick.files["ticks.txt"] == "2024-03-13T15:00:00+00:00\n"


@pytest.mark.parametrize("runtime", list(RUNTIMES))
@pytest.mark.parametrize("layer", [True, False], ids=["layer", "single-zip"])
def test_artifacts_run_on_their_python(example_project: Path, tmp_path: Path, runtime: str,
                                       layer: bool) -> None:
    project = _project(example_project, tmp_path / "photos", runtime, layer=layer)
    manifests = lab.build(project, "aws")
    fns = _by_function(manifests)
    assert set(fns) == {"hello", "thumbnail", "consume", "tick"}
    assert all(m["runtime"] == runtime and m["arch"] == "x86_64" for m in manifests)
    layers = [m for m in manifests if m["kind"] == "layer"]
    if layer:
        assert [m["path"] for m in layers] == ["dist/aws/photos-deps.zip"]
        assert fns["hello"]["layers"] == ["dist/aws/photos-deps.zip"]
        assert fns["hello"]["size"] < 100_000  # code only: the dependencies are in the layer
    else:
        assert layers == [] and fns["hello"]["layers"] == []
    names = {p["name"] for p in fns["hello"]["packages"]}
    assert {"pydantic", "pydantic-core", "pillow", "numpy"} <= names
    _run_all(manifests, project, lab.IMAGES[RUNTIMES[runtime]], tmp_path / "run")


def test_lambda_style_handler_is_packaged_as_is(example_project: Path, tmp_path: Path) -> None:
    project = _project(example_project, tmp_path / "photos", "python3.11", layer=True)
    (project / "example" / "legacy.py").write_text(
        "from PIL import Image\n\n\ndef handler(event, context):\n"
        "    return {'statusCode': 200, 'body': Image.new('RGB', (3, 2)).size.__repr__(),\n"
        "            'request': context.aws_request_id}\n")
    with (project / "fpack.toml").open("a") as f:
        f.write('\n[functions.legacy]\nhandler = "example.legacy:handler"\nstyle = "lambda"\n')
    manifests = lab.build(project, "aws", "--function", "legacy")
    legacy = _by_function(manifests)["legacy"]
    run = lab.run_lambda(legacy, project, lab.IMAGES[(3, 11)], [{"anything": 1}], tmp_path / "r")
    assert run.results == [{"statusCode": 200, "body": "(3, 2)",
                            "request": "c6af9ac6-7b61-11e6-9a41-93e812345678"}]


def test_arm64_artifacts_hold_only_aarch64_code_and_run_under_qemu(
        example_project: Path, tmp_path: Path) -> None:
    project = _project(example_project, tmp_path / "photos", "python3.11", layer=True,
                       arch="arm64")
    manifests = lab.build(project, "aws")
    layer = next(m for m in manifests if m["kind"] == "layer")
    assert layer["arch"] == "arm64"
    tree = tmp_path / "layer"
    lab.unzip(project / layer["path"], tree)
    machines = {info.machine for p in tree.rglob("*") if p.is_file()
                and (info := read_elf(p)) is not None}
    assert machines == {"aarch64"}
    fns = _by_function(manifests)
    run = lab.run_lambda(fns["hello"], project, lab.ARM64_IMAGES[(3, 11)], _http_events(),
                         tmp_path / "run", platform="linux/arm64")
    _check_http(run.results)


def _copy_with(src: Path, dest: Path, *, mtime: int, umask: int) -> None:
    import os

    old = os.umask(umask)
    try:
        shutil.copytree(src, dest, copy_function=shutil.copy)
    finally:
        os.umask(old)
    for path in dest.rglob("*"):
        os.utime(path, (mtime, mtime))


def test_builds_are_byte_identical_across_copies_mtimes_and_umasks(
        example_project: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "photos", tmp_path / "elsewhere" / "b" / "photos"
    _copy_with(example_project, a, mtime=1_000_000_000, umask=0o022)
    _copy_with(example_project, b, mtime=1_700_000_000, umask=0o077)
    (b / "example" / "api.py").chmod(0o600)
    first = {m["path"]: m["sha256"] for m in lab.build(a, "aws")}
    second = {m["path"]: m["sha256"] for m in lab.build(b, "aws")}
    assert first == second
    digest = hashlib.sha256((b / "dist/aws/hello.zip").read_bytes()).hexdigest()
    assert digest == second["dist/aws/hello.zip"]


def test_rebuild_with_nothing_changed_rewrites_nothing(example_project: Path,
                                                       tmp_path: Path) -> None:
    project = _project(example_project, tmp_path / "photos", "python3.12", layer=True)
    lab.build(project, "aws")
    stamps = {p.name: p.stat().st_mtime_ns for p in (project / "dist/aws").iterdir()}
    # Every proxy points at a closed port: any request to an index would fail the build.
    no_network = {name: "http://127.0.0.1:9" for name in
                  ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")}
    again = lab.fpack(project, "build", "--target", "aws", env=no_network)
    assert "packaging" not in again.stderr and "resolving" not in again.stderr
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (project / "dist/aws").iterdir()}
    api = project / "example" / "api.py"
    api.write_text(api.read_text() + "\n# edited\n")
    edited = lab.fpack(project, "build", "--target", "aws")
    assert "packaging photos-deps.zip" not in edited.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (project / "dist/aws").iterdir()}
    assert after["photos-deps.zip"] == stamps["photos-deps.zip"]
    assert after["hello.zip"] != stamps["hello.zip"]
