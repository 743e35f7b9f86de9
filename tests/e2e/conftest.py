"""End-to-end deploys against local services on loopback: moto as a real server (AWS), a fake of
the Cloud Functions v2 REST API (gcp_fake.py), Debian's docker-registry (images).

fpack runs as a user runs it (the CLI in a subprocess), with endpoints pointed at these services
and dummy credentials; the assertions read the services' state, not fpack's output alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
# Dummy credentials: moto accepts any; these are not secrets and never leave loopback.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
           "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto_server on a free loopback port, for the whole session (reset per test)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh moto (reset), the environment fpack and boto3 read, and a boto3 factory."""
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset",
                                                  method="POST"), timeout=10).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing-secret")

    return client


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the repository's example project, wired for deploy (URL, bucket, queue, rule)."""
    dest = tmp_path / "photos"
    dest.mkdir()
    shutil.copytree(ROOT / "example", dest / "example")
    shutil.copy(ROOT / "requirements.txt", dest / "requirements.txt")
    toml = (ROOT / "fpack.toml").read_text()
    toml = toml.replace("timeout = 10\n", "timeout = 10\nurl = true\n", 1)
    toml = toml.replace('env = { PHOTOS_OUT = "/tmp/photos" }',
                        'env = { PHOTOS_OUT = "/tmp/photos", API_TOKEN = "s3cr3t-t0ken-value" }\n'
                        'bucket = "photos-uploads"')
    toml = toml.replace('trigger = "queue"\n', f'trigger = "queue"\nqueue = '
                        f'"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"\n')
    toml = toml.replace('trigger = "schedule"\n',
                        'trigger = "schedule"\nschedule = "rate(5 minutes)"\n')
    (dest / "fpack.toml").write_text(toml)
    return dest


def fpack(project: Path, *args: str, check: bool = True,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, in `project`, with the test's environment."""
    proc = subprocess.run([sys.executable, "-m", "fpack", *args], cwd=project,
                          capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"fpack {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def deploy(project: Path, target: str, *args: str) -> dict[str, Any]:
    """`fpack deploy --json`: what it printed, parsed."""
    proc = fpack(project, "deploy", "--target", target, "--json", *args)
    assert "s3cr3t-t0ken-value" not in proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout))
