"""The same project gives byte-identical zips on another machine.

The project (pydantic and requests, whose idna and charset_normalizer bring console scripts) is
built once on the host and once in a container standing for a second machine: another Python
(the lab's 3.13) running fpack installed from its wheel, another user (uid 4321, not root),
umask 077, another time zone, another checkout path, fresh caches. Both builds resolve and install
for themselves; the function zip and the layer must have the same sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docker.errors import ContainerError

from fpack.deps import uv
from tests.integration import deps_support, lab

pytestmark = pytest.mark.lab

FPACK_TOML = textwrap.dedent("""\
    [project]
    name = "repro"
    python = "3.11"
    dependencies = "requirements.txt"

    [functions.hello]
    handler = "app:hello"

    [targets.aws]
    runtime = "python3.11"
    arch = "x86_64"
    layer = true
""")
APP = textwrap.dedent("""\
    import fpack
    import pydantic
    import requests


    def hello(request: fpack.Request) -> fpack.Response:
        return fpack.Response.json({"pydantic": pydantic.VERSION, "requests": requests.__version__})
""")
UID = "4321:4321"
FPACK_IN = "/opt/other-fpack"  # fpack and its dependencies, installed for the container's Python
CHECKOUT_IN = "/srv/elsewhere/checkouts/repro"  # the project's path on the second machine
CA_IN = "/etc/fpack-test/ca.pem"
# What lets the container reach the index the host reaches (never a host path: PIP_FIND_LINKS).
PASSED_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
              "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX",
              "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "SOURCE_DATE_EPOCH")
# Runs in the container: a umask the host never has, then fpack as a user would run it.
SCRIPT = textwrap.dedent("""\
    umask 077
    mkdir -p "$HOME"
    python3 -m fpack build --target aws --json > /tmp/manifests.json || exit 1
    cat /tmp/manifests.json
    chmod -R a+rX dist  # for the host to read as any user; the zips were written under 077
""")


def _project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    (dest / "fpack.toml").write_text(FPACK_TOML)
    (dest / "requirements.txt").write_text("pydantic\nrequests\n")
    (dest / "app.py").write_text(APP)
    return dest


def _install_fpack(tmp: Path) -> Path:
    """fpack's wheel with its dependencies, for CPython 3.13 on manylinux x86_64, in a target
    directory the container mounts read-only. uv is pinned to the host's: its version is an
    input of the build, like fpack's own."""
    wheel = deps_support.build_dist(lab.ROOT, tmp / "wheel", kind="wheel")
    target = tmp / "fpack-py313"
    proc = subprocess.run(
        [uv.binary(), "pip", "install", "--quiet", "--target", target, "--python-platform",
         "x86_64-manylinux_2_28", "--python-version", "3.13", "--only-binary", ":all:",
         "--no-python-downloads", wheel, f"uv=={importlib.metadata.version('uv')}"],
        capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"installing fpack for Python 3.13:\n{proc.stderr}")
    target.chmod(0o755)
    return target


def _network() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The host's index, proxy and CA settings, as the container needs them."""
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    volumes: dict[str, dict[str, str]] = {}
    ca = next((os.environ[k] for k in ("SSL_CERT_FILE", "UV_CERT", "REQUESTS_CA_BUNDLE")
               if os.environ.get(k) and Path(os.environ[k]).is_file()), None)
    if ca is not None:
        volumes[str(Path(ca).resolve())] = {"bind": CA_IN, "mode": "ro"}
        env["SSL_CERT_FILE"] = CA_IN
    return env, volumes


def _build_elsewhere(project: Path, fpack_dir: Path) -> list[dict[str, Any]]:
    """`fpack build --target aws` on the "second machine": the manifests it printed."""
    project.chmod(0o777)  # the other uid writes dist/ there
    env, volumes = _network()
    env |= {"HOME": "/tmp/home-b", "TZ": "FPK-14", "PYTHONPATH": FPACK_IN,
            "PYTHONDONTWRITEBYTECODE": "1", "FPACK_CACHE_DIR": "/tmp/cache-b/fpack",
            "UV_CACHE_DIR": "/tmp/cache-b/uv", "FPACK_UV": f"{FPACK_IN}/bin/uv"}
    volumes |= {str(fpack_dir): {"bind": FPACK_IN, "mode": "ro"},
                str(project): {"bind": CHECKOUT_IN, "mode": "rw"}}
    try:
        out = lab.client().containers.run(
            lab.IMAGES[(3, 13)], ["sh", "-c", SCRIPT], remove=True, user=UID,
            network_mode="host", working_dir=CHECKOUT_IN, environment=env, volumes=volumes,
            stdout=True, stderr=False)
    except ContainerError as e:
        raise AssertionError(f"fpack build in the container failed:\n{e.stderr.decode()}") from e
    return list(json.loads(out.decode()))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry_diff(a: Path, b: Path) -> list[str]:
    """The zip entries whose bytes differ, or that only one zip has: the failure's explanation."""
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        ea = {i.filename: (i.CRC, i.external_attr, i.date_time) for i in za.infolist()}
        eb = {i.filename: (i.CRC, i.external_attr, i.date_time) for i in zb.infolist()}
    return sorted(n for n in ea.keys() | eb.keys() if ea.get(n) != eb.get(n))


def test_another_machine_builds_the_same_zips(tmp_path: Path) -> None:
    host = _project(tmp_path / "host" / "repro")
    other = _project(tmp_path / "other" / "repro")
    fpack_dir = _install_fpack(tmp_path / "install")
    built = lab.fpack(host, "build", "--target", "aws", "--json",
                      env={"FPACK_CACHE_DIR": str(tmp_path / "cache-a")})
    here = list(json.loads(built.stdout))
    there = _build_elsewhere(other, fpack_dir)
    assert sorted(m["path"] for m in here) == sorted(m["path"] for m in there) == [
        "dist/aws/hello.zip", "dist/aws/repro-deps.zip"]
    for m in here:
        a, b = host / m["path"], other / m["path"]
        assert (m["path"], _sha256(a)) == (m["path"], _sha256(b)), _entry_diff(a, b)
    by_path = {m["path"]: m for m in there}
    assert all(by_path[m["path"]]["sha256"] == m["sha256"] for m in here)
