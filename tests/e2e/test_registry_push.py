"""`fpack deploy --target docker` against Debian's docker-registry on loopback.

The image is built by fpack's docker target from a tiny project on a lab image, pushed by deploy;
then the pushed digest is pulled back from the registry (after the local tags are removed) and run,
and its HTTP answer checked. The lambda flavor's Lambda half is checked against moto: moto's ECR
cannot receive image layers, so the image goes to the local registry and Lambda gets its URI; the
ECR half (repository created, token decoded into the push's login) is checked against moto's ECR
with the push itself recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from fpack import config
from fpack.deploy import registry as registry_deploy
from fpack.deploy.models import read_manifest
from fpack.report import NullReporter
from tests.e2e.conftest import REGION, deploy, free_port, wait_http

pytestmark = pytest.mark.e2e
LAB_IMAGE = "fpack-lab/python:3.11"
HANDLER = '''import fpack


def hello(request: fpack.Request) -> fpack.Response:
    return fpack.Response.json({"hello": request.query.get("name", "world"), "from": "registry"})
'''


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """docker-registry serving a temporary storage directory on a free loopback port."""
    if shutil.which("docker-registry") is None:
        message = "Debian's docker-registry is not installed: run lab/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # under CI a missing lab part is a failure, not a skip
        pytest.skip(message)
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    (root / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
        f"{root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    with (root / "log").open("wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/v2/", proc)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def project(tmp_path: Path, registry: str) -> Path:
    (tmp_path / "app.py").write_text(HANDLER)
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "tiny"\npython = "3.11"\n\n[functions.hello]\nhandler = "app:hello"\n\n'
        f'[targets.docker]\nbase_image = "{LAB_IMAGE}"\nrepository = "{registry}/tiny"\n')
    return tmp_path


def _get(url: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:  # noqa: PERF203 - polling until the server is up
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_push_then_pull_the_digest_and_run_it(project: Path, registry: str) -> None:
    first = deploy(project, "docker")
    (pushed,) = first["deployments"]
    digest = pushed["digest"]
    assert pushed["action"] == "create" and digest.startswith("sha256:")
    assert pushed["name"] == f"{registry}/tiny/hello@{digest}"
    manifest = project / "dist" / "docker" / "hello.manifest.json"
    assert json.loads(manifest.read_text())["digest"] == digest  # recorded once pushed
    written = manifest.stat().st_mtime_ns

    again = deploy(project, "docker")  # the registry has it: nothing is pushed
    assert again["deployments"][0]["action"] == "unchanged"
    assert again["deployments"][0]["digest"] == digest
    assert manifest.stat().st_mtime_ns == written  # the rebuild found the digest: no rewrite

    c = docker.from_env()
    image = c.images.get(f"{registry}/tiny/hello:latest")
    for tag in image.tags:
        c.images.remove(tag)
    reference = f"{registry}/tiny/hello@{digest}"
    pulled = c.images.pull(reference)
    assert pulled.id == image.id
    port = free_port()
    ctr = c.containers.run(reference, detach=True, ports={"8080/tcp": ("127.0.0.1", port)})
    try:
        assert _get(f"http://127.0.0.1:{port}/?name=digest") == {"hello": "digest",
                                                                 "from": "registry"}
    finally:
        ctr.remove(force=True)
        c.images.remove(reference, force=True)


def test_lambda_flavor_deploys_the_pushed_image(project: Path, registry: str, aws: Any) -> None:
    aws("iam").create_role(RoleName="tiny", AssumeRolePolicyDocument="{}")
    deploy(project, "docker", "--dry-run")  # builds the image
    loaded = config.load(project / "fpack.toml")
    loaded = replace(loaded, docker=replace(loaded.docker, flavor="lambda"),
                     aws=replace(loaded.aws, role="arn:aws:iam::123456789012:role/tiny",
                                 region=REGION))
    manifests = [read_manifest(json.loads(p.read_text()), project)
                 for p in (project / "dist" / "docker").glob("*.manifest.json")]

    outcome = registry_deploy.deploy(loaded, manifests, dry_run=False, reporter=NullReporter())

    (image, function) = outcome.deployments
    got = aws("lambda").get_function(FunctionName="tiny-hello")
    assert got["Configuration"]["PackageType"] == "Image"
    assert got["Code"]["ImageUri"] == image.name == f"{registry}/tiny/hello@{image.digest}"
    assert function.action == "create" and function.version == "1"


class PushRecorder:
    """The registry half of the Docker engine, recording pushes: moto's ECR answers the API
    (repositories, tokens) but cannot receive image layers."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, dict[str, str] | None]] = []

    def local_digests(self, reference: str) -> frozenset[str]:
        return frozenset()

    def remote_digest(self, reference: str, auth: dict[str, str] | None) -> str | None:
        return None

    def push(self, reference: str, auth: dict[str, str] | None) -> str:
        self.pushes.append((reference, auth))
        return "sha256:" + "0" * 64


def test_an_ecr_repository_is_created_and_logged_into(tmp_path: Path, aws: Any) -> None:
    """An image named for ECR: its repository is created (once) and the push carries ECR's token,
    decoded into the user and password `docker login` would take."""
    host = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "tiny"\npython = "3.11"\n\n[functions.hello]\nhandler = "app:hello"\n'
        f'\n[targets.docker]\nrepository = "{host}/tiny"\n')
    loaded = config.load(tmp_path / "fpack.toml")
    manifest = read_manifest({"function": "hello", "kind": "image", "runtime": "python3.11",
                              "image": f"{host}/tiny/hello:0123456789ab",
                              "image_id": "sha256:" + "1" * 64,
                              "base_image": "python:3.11-slim", "flavor": "http"}, tmp_path)
    recorder = PushRecorder()

    for _ in range(2):  # the second deploy finds the repository there
        outcome = registry_deploy.deploy(loaded, [manifest], dry_run=False,
                                         reporter=NullReporter(), registry=recorder)  # type: ignore[arg-type]
    (repository,) = aws("ecr").describe_repositories()["repositories"]
    assert repository["repositoryName"] == "tiny/hello"
    reference, auth = recorder.pushes[-1]
    assert reference == f"{host}/tiny/hello:0123456789ab"
    assert auth is not None and auth["username"] == "AWS" and auth["password"]
    assert outcome.deployments[0].name == f"{host}/tiny/hello@sha256:{'0' * 64}"
