"""The shared cache between CI runners, against an S3 API (moto server) and a Cloud Storage
emulator (gcp-storage-emulator), both on loopback.

Runner A builds a project whose one dependency exists only as an sdist on a loopback index (a C
extension: built in the lab's build container) and fills the shared cache. Runner B has an empty
local cache, another checkout path, its own uv cache, the index stopped (same URL, closed port),
no way out (a proxy on a closed port) and DOCKER_HOST on a closed port, and builds the same project
from the shared cache alone: the artifact is byte for byte runner A's (same SOURCE_DATE_EPOCH),
and it runs. A corrupted entry is named, rebuilt and replaced; two runners writing at once leave
valid entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, wait_http  # one way to start a loopback server
from tests.integration import deps_support, lab
from tests.integration.test_deps import make_project, only_function

pytestmark = pytest.mark.lab

EPOCH = "1700000000"
PACKAGE = "fpack-labext-shared"
MODULE = "fpack_labext_shared"
# Dummy credentials: moto accepts any; not secrets, and they never leave loopback.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}
STAGES = ("resolving", "building", "installing", "compressing")


@contextlib.contextmanager
def _server(args: list[str], probe: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(probe, proc)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto_server on a free loopback port (the approach of tests/e2e/conftest.py)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                 f"{url}/moto-api/", tmp_path_factory.mktemp("moto") / "moto.log"):
        yield url


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator (in memory) on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = Path(sys.executable).with_name("gcp-storage-emulator")
    with _server([str(emulator), "start", "-H", "127.0.0.1", "--port", str(port), "-M", "-q"],
                 f"{url}/storage/v1/b", tmp_path_factory.mktemp("gcs") / "gcs.log"):
        yield url


@dataclass
class Bucket:
    """A fresh bucket on one of the emulators, and direct access to its objects."""

    url: str  # FPACK_CACHE_URL
    env: dict[str, str]  # what fpack (boto3, or the Cloud Storage client) needs to reach it
    endpoint: str
    name: str
    prefix: str

    def _s3(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **{
            "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": AWS_ENV["AWS_DEFAULT_REGION"]})

    def names(self) -> list[str]:
        if self.url.startswith("s3://"):
            pages = self._s3().get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=self.prefix)
            return sorted(o["Key"] for p in pages for o in p.get("Contents", []))
        import requests

        r = requests.get(f"{self.endpoint}/storage/v1/b/{self.name}/o",
                         params={"prefix": self.prefix}, timeout=10)
        r.raise_for_status()
        return sorted(o["name"] for o in r.json().get("items", []))

    def read(self, name: str) -> bytes:
        if self.url.startswith("s3://"):
            return bytes(self._s3().get_object(Bucket=self.name, Key=name)["Body"].read())
        import requests

        r = requests.get(f"{self.endpoint}/storage/v1/b/{self.name}/o/"
                         f"{urllib.parse.quote(name, safe='')}", params={"alt": "media"},
                         timeout=10)
        r.raise_for_status()
        return bytes(r.content)

    def write(self, name: str, data: bytes) -> None:
        if self.url.startswith("s3://"):
            self._s3().put_object(Bucket=self.name, Key=name, Body=data)
            return
        import requests

        requests.post(f"{self.endpoint}/upload/storage/v1/b/{self.name}/o",
                      params={"uploadType": "media", "name": name}, data=data,
                      timeout=10).raise_for_status()

    def entries(self, kind: str) -> list[str]:
        return [n for n in self.names() if f"/fpack-cache/v1/{kind}/" in n]

    def check_all(self) -> int:
        """Every entry's blobs have the size and sha256 its metadata records; how many."""
        metas = [n for n in self.names() if n.endswith(".json") and "/blobs/" not in n]
        for name in metas:
            meta = json.loads(self.read(name))
            for fname, want in meta["files"].items():
                blob = self.read(f"{self.prefix}/fpack-cache/v1/blobs/{want['sha256']}")
                assert len(blob) == want["size"], (name, fname)
                assert hashlib.sha256(blob).hexdigest() == want["sha256"], (name, fname)
        return len(metas)


def _bucket(kind: str, moto: str, gcs: str) -> Bucket:
    name = f"fpack-ci-{uuid.uuid4().hex[:10]}"
    prefix = "team/ci"
    if kind == "s3":
        bucket = Bucket(url=f"s3://{name}/{prefix}", env={"AWS_ENDPOINT_URL": moto, **AWS_ENV},
                        endpoint=moto, name=name, prefix=prefix)
        bucket._s3().create_bucket(Bucket=name)
        return bucket
    import requests

    requests.post(f"{gcs}/storage/v1/b", params={"project": "test"}, json={"name": name},
                  timeout=10).raise_for_status()
    return Bucket(url=f"gs://{name}/{prefix}", env={"STORAGE_EMULATOR_HOST": gcs},
                  endpoint=gcs, name=name, prefix=prefix)


@pytest.fixture(params=["s3", "gs"])
def bucket(request: pytest.FixtureRequest, moto_endpoint: str, gcs_endpoint: str) -> Bucket:
    return _bucket(request.param, moto_endpoint, gcs_endpoint)


@pytest.fixture
def s3_bucket(moto_endpoint: str, gcs_endpoint: str) -> Bucket:
    return _bucket("s3", moto_endpoint, gcs_endpoint)


@dataclass
class Lab:
    """The index root (sdist and setuptools), the project's text, and the runners' homes."""

    tmp: Path
    index_root: Path

    @contextlib.contextmanager
    def index(self) -> Iterator[deps_support.Index]:
        with deps_support.serve_index(self.index_root) as index:
            yield index

    def checkout(self, name: str, index_url: str) -> Path:
        """The project, checked out at a path of its own (as on another runner)."""
        return make_project(self.tmp / name / "work" / "src" / "svc",
                            f"--index-url {index_url}\n{PACKAGE}==1.0\n", module=MODULE)

    def run(self, project: Path, name: str, bucket: Bucket, *, offline: bool = False,
            extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        home = self.tmp / name
        env = {"FPACK_CACHE_DIR": str(home / "cache"), "UV_CACHE_DIR": str(home / "uv"),
               "SOURCE_DATE_EPOCH": EPOCH, "FPACK_BUILD_IMAGE": lab.BUILD_IMAGES["3.11"],
               "FPACK_CACHE_URL": bucket.url, **bucket.env, **(extra or {})}
        if offline:
            closed = f"127.0.0.1:{free_port()}"
            env |= {"DOCKER_HOST": f"tcp://{closed}", "HTTPS_PROXY": f"http://{closed}",
                    "HTTP_PROXY": f"http://{closed}", "NO_PROXY": "127.0.0.1,localhost"}
        return lab.fpack(project, "build", "--target", "aws", "--json", env=env, check=False)


@pytest.fixture
def shared_lab(tmp_path: Path) -> Lab:
    source = deps_support.c_package(tmp_path / "pkg" / "shared", PACKAGE)
    sdist = deps_support.build_dist(source, tmp_path / "dists", kind="sdist")
    setuptools = deps_support.setuptools_wheel(tmp_path / "setuptools")
    deps_support.write_index(tmp_path / "index", [sdist, setuptools])
    return Lab(tmp=tmp_path, index_root=tmp_path / "index")


def _ok(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return only_function(json.loads(proc.stdout))


def _info(project: Path, lab_: Lab, name: str, bucket: Bucket) -> str:
    proc = lab.fpack(project, "cache", "info", env={
        "FPACK_CACHE_DIR": str(lab_.tmp / name / "cache"), "FPACK_CACHE_URL": bucket.url})
    return proc.stdout


def test_runner_b_builds_from_the_shared_cache_alone_byte_identical(
        shared_lab: Lab, bucket: Bucket, tmp_path: Path) -> None:
    with shared_lab.index() as index:
        project_a = shared_lab.checkout("runner-a", index.url)
        first = shared_lab.run(project_a, "runner-a", bucket)
        a = _ok(first)
        assert index.fetched_by("pip/", "fpack_labext_shared-1.0.tar.gz")  # built in a container
        index_url = index.url
    assert "building fpack-labext-shared" in first.stderr
    for kind in ("resolve", "built", "trees", "archives"):
        assert bucket.entries(kind), kind
    # No entry names runner A's paths: its checkout, its cache, its home.
    for name in bucket.names():
        if name.endswith((".json", ".toml")) or "/blobs/" not in name:
            text = bucket.read(name).decode("utf-8", "replace")
            assert str(tmp_path) not in text, name

    # Runner B: another checkout path, an empty cache, the index stopped, no Docker, no way out.
    project_b = shared_lab.checkout("runner-b-elsewhere", index_url)
    assert project_b != project_a
    second = shared_lab.run(project_b, "runner-b-elsewhere", bucket, offline=True)
    b = _ok(second)
    for stage in STAGES:
        assert stage not in second.stderr, second.stderr
    assert "warning" not in second.stderr, second.stderr
    assert b["sha256"] == a["sha256"]
    assert b["packages"] == a["packages"]
    (pkg,) = [p for p in b["packages"] if p["name"] == PACKAGE]
    assert pkg["source"] == "built in fpack-lab/build:3.11"

    info = _info(project_b, shared_lab, "runner-b-elsewhere", bucket)
    assert f"shared cache: {bucket.url}" in info
    assert " 0 misses, 0 uploaded" in info, info
    assert "archives  1 hits" in info, info
    run = lab.run_lambda(b, project_b, lab.IMAGES[(3, 11)], [{"a": 2, "b": 3}], tmp_path / "run")
    assert run.results == [{"sum": 5, "machine": "x86_64", "from": "task"}]


def test_a_corrupted_entry_is_named_rebuilt_and_replaced(shared_lab: Lab, s3_bucket: Bucket,
                                                         tmp_path: Path) -> None:
    bucket = s3_bucket
    with shared_lab.index() as index:
        project = shared_lab.checkout("runner-a", index.url)
        a = _ok(shared_lab.run(project, "runner-a", bucket))
        url = index.url
    (archive_meta,) = bucket.entries("archives")
    blob = json.loads(bucket.read(archive_meta))["files"]["archive.zip"]["sha256"]
    blob_name = f"{bucket.prefix}/fpack-cache/v1/blobs/{blob}"
    good = bucket.read(blob_name)
    bucket.write(blob_name, good[: len(good) // 2])  # truncated in transit, say

    # Runner C (offline) sees it, says which entry, installs from the (valid) lock and wheel.
    c_project = shared_lab.checkout("runner-c", url)
    third = shared_lab.run(c_project, "runner-c", bucket, offline=True)
    c = _ok(third)
    assert f"shared cache entry {bucket.url}/{archive_meta.removeprefix(bucket.prefix + '/')}" \
        " is not valid (archive.zip:" in third.stderr, third.stderr
    assert "installing 1 package" in third.stderr
    assert "resolving" not in third.stderr and "building" not in third.stderr
    assert c["sha256"] == a["sha256"]
    assert bucket.read(blob_name) == good  # replaced
    assert bucket.check_all() >= 4

    # Runner D finds every entry valid again.
    d_project = shared_lab.checkout("runner-d", url)
    fourth = shared_lab.run(d_project, "runner-d", bucket, offline=True)
    assert _ok(fourth)["sha256"] == a["sha256"]
    assert "warning" not in fourth.stderr, fourth.stderr


def test_two_runners_writing_at_once_leave_valid_entries(shared_lab: Lab, s3_bucket: Bucket,
                                                         tmp_path: Path) -> None:
    bucket = s3_bucket
    with shared_lab.index() as index:
        projects = [shared_lab.checkout(f"runner-{n}", index.url) for n in ("a", "b")]
        env = {"SOURCE_DATE_EPOCH": EPOCH, "FPACK_BUILD_IMAGE": lab.BUILD_IMAGES["3.11"],
               "FPACK_CACHE_URL": bucket.url, **bucket.env}
        procs = [subprocess.Popen(
            [sys.executable, "-m", "fpack", "build", "--target", "aws", "--json"], cwd=p,
            env={**os.environ, **env, "FPACK_CACHE_DIR": str(shared_lab.tmp / n / "cache"),
                 "UV_CACHE_DIR": str(shared_lab.tmp / n / "uv")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for p, n in zip(projects, ("runner-a", "runner-b"), strict=True)]
        outputs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
        url = index.url
    # Each compiled the extension itself (a C build is not byte-reproducible across build
    # directories), so the two wrote different content under the same resolve and build keys.
    shas = {only_function(json.loads(out))["sha256"] for out, _ in outputs}
    assert bucket.check_all() >= 4  # whichever PUT landed last, each entry's blobs are whole
    e = shared_lab.checkout("runner-e", url)
    last = shared_lab.run(e, "runner-e", bucket, offline=True)
    assert _ok(last)["sha256"] in shas  # one writer's artifact, whole
    assert "warning" not in last.stderr, last.stderr
    for stage in STAGES:
        assert stage not in last.stderr, last.stderr


def test_read_only_runner_pulls_and_never_pushes(shared_lab: Lab, s3_bucket: Bucket) -> None:
    bucket = s3_bucket
    with shared_lab.index() as index:
        project = shared_lab.checkout("fork", index.url)
        proc = shared_lab.run(project, "fork", bucket, extra={"FPACK_CACHE_READONLY": "1"})
        _ok(proc)
    assert bucket.names() == []
    shutil.rmtree(shared_lab.tmp / "fork" / "cache")
