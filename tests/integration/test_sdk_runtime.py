"""`[targets.aws] sdk = "runtime"` on a Pillow + boto3 function: no SDK in the zip or its layer,
and it runs on a boto3 provided outside the artifact, as the Lambda runtime provides it.

The function makes a thumbnail with Pillow and puts it into a bucket of an S3 API on loopback
(moto server). The container is the target's Python (the lab image has no boto3 of its own); the
artifact is laid out as Lambda lays it out (/var/task, the layer in /opt, both read-only) and a
boto3 installed by uv for the target into a separate directory is mounted read-only at
/var/runtime, last on sys.path: Lambda searches /var/task, then the layers' /opt/python, then the
runtime's own libraries.
"""

from __future__ import annotations

import json
import struct
import subprocess
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from docker.errors import ContainerError

from fpack.deps import uv
from tests.e2e.conftest import AWS_ENV, moto_endpoint  # noqa: F401 - the fixture, reused
from tests.integration import lab

pytestmark = pytest.mark.lab

ENV = {"FPACK_BUILD_IMAGE": "fpack-lab/build:3.11"}
SDK = ("boto3", "botocore", "s3transfer", "jmespath")
BUCKET = "thumbs"

HANDLER = textwrap.dedent("""\
    import io
    import os

    import boto3
    from PIL import Image


    def thumbnail(event, context):
        image = Image.new("RGB", (640, 480), (200, 40, 40))
        image.thumbnail((64, 64))
        out = io.BytesIO()
        image.save(out, "PNG")
        s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
        s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=out.getvalue())
        return {"boto3": boto3.__file__, "boto3_version": boto3.__version__,
                "pil": Image.__file__, "size": list(image.size)}
""")


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "fpack.toml").write_text(textwrap.dedent("""\
        [project]
        name = "thumbs"

        [functions.thumbnail]
        handler = "app:thumbnail"
        style = "lambda"

        [targets.aws]
        runtime = "python3.11"
        layer = true
        sdk = "runtime"
    """))
    (root / "app.py").write_text(HANDLER)
    (root / "requirements.txt").write_text("Pillow\nboto3\n")
    return root


def _sdk_entries(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return [n for n in names if n.removeprefix("python/").split("/", 1)[0].split("-", 1)[0]
            .lower() in SDK]


def _runtime_sdk(dest: Path) -> Path:
    """boto3 for the target (python3.11, x86_64 manylinux), installed apart from the artifact."""
    subprocess.run([uv.binary(), "pip", "install", "--quiet", "--target", str(dest),
                    "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_17",
                    "boto3"], check=True, capture_output=True, timeout=600)
    for path in (dest, *dest.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def _run(manifest: dict[str, Any], project: Path, runtime: Path, work: Path,
         env: dict[str, str]) -> Any:
    """lab.run_lambda's layout, with the runtime's SDK at /var/runtime and the host's network
    (the S3 API listens on loopback)."""
    task, opt, harness = work / "task", work / "opt", work / "harness"
    for d in (task, opt, harness):
        d.mkdir(parents=True)
        d.chmod(0o755)
    lab.unzip(project / manifest["path"], task)
    for layer in manifest["layers"]:
        lab.unzip(project / layer, opt)
    (harness / "runner.py").write_text(lab.RUNNER)
    (harness / "events.json").write_text(json.dumps([{"bucket": BUCKET, "key": "t.png"}]))
    for f in harness.iterdir():
        f.chmod(0o644)
    try:
        output = lab.client().containers.run(
            lab.IMAGES[(3, 11)], ["python3", "/fpack-test/runner.py"], remove=True,
            network_mode="host", user=lab.LAMBDA_UID, read_only=True,
            tmpfs={"/tmp": "rw,mode=1777"},
            # PYTHONPATH lands after the runner's /var/task and /opt/python: Lambda's order
            environment={"HANDLER": manifest["handler"], "LAMBDA_TASK_ROOT": "/var/task",
                         "PYTHONPATH": "/var/runtime", **env},
            volumes={str(task): {"bind": "/var/task", "mode": "ro"},
                     str(opt): {"bind": "/opt", "mode": "ro"},
                     str(runtime): {"bind": "/var/runtime", "mode": "ro"},
                     str(harness): {"bind": "/fpack-test", "mode": "ro"}},
            stdout=True, stderr=True)
    except ContainerError as e:
        raise AssertionError(f"the artifact failed:\n{e.stderr.decode()}") from e
    line = next(x for x in output.decode().splitlines() if x.startswith("FPACK-RESULT "))
    return json.loads(line[len("FPACK-RESULT "):])["results"][0]


def test_sdk_runtime_ships_no_sdk_and_runs_on_the_runtimes(
        tmp_path: Path, moto_endpoint: str) -> None:  # noqa: F811 - the imported fixture
    project = _project(tmp_path / "thumbs")
    proc = lab.fpack(project, "build", "--target", "aws", "--json", env=ENV)
    manifests = json.loads(proc.stdout)
    (fn,) = [m for m in manifests if m["kind"] == "function"]
    (layer,) = [m for m in manifests if m["kind"] == "layer"]

    # Nothing of the SDK in either zip, nor in what the manifests say is shipped.
    assert _sdk_entries(project / fn["path"]) == []
    assert _sdk_entries(project / layer["path"]) == []
    assert {p["name"] for p in layer["packages"]} & set(SDK) == set()
    assert "pillow" in {p["name"] for p in layer["packages"]}
    for m in (fn, layer):
        assert m["sdk"]["provided_by"] == "python3.11"
        assert sorted(p["name"] for p in m["sdk"]["packages"]) == sorted(SDK)
    saved = layer["sdk"]["saved"]
    assert saved > 10_000_000  # botocore alone is over 10 MB unpacked
    assert "sdk = runtime: boto3, botocore, s3transfer and jmespath left out" in proc.stderr
    print(f"\nsdk = runtime saved {saved} bytes unpacked; layer {layer['unpacked_size']} bytes")

    # As Lambda does: the runtime's boto3, outside the artifact, after it on sys.path.
    runtime = _runtime_sdk(tmp_path / "var-runtime")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                      aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=BUCKET)
    result = _run(fn, project, runtime, tmp_path / "run",
                  {**AWS_ENV, "S3_ENDPOINT": moto_endpoint, "HOME": "/tmp"})
    assert result["boto3"].startswith("/var/runtime/boto3/")
    assert result["pil"].startswith("/opt/python/PIL/")
    assert result["size"] == [64, 48]

    data = s3.get_object(Bucket=BUCKET, Key="t.png")["Body"].read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (64, 48)  # IHDR: the thumbnail's size


def test_sdk_runtime_rebuild_is_up_to_date(tmp_path: Path) -> None:
    """The decision and the derived tree are cached: a second build changes nothing."""
    project = _project(tmp_path / "again")
    lab.fpack(project, "build", "--target", "aws", env=ENV)
    again = lab.fpack(project, "build", "--target", "aws", env=ENV)
    assert "up to date" in again.stdout
    assert "installing" not in again.stderr
