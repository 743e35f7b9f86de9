"""`fpack init --monorepo`, built for aws and run as Lambda runs it: each service's zip carries the
shared library as an installed package (never a link to the developer's tree) and its handler
calls it, on the target's Python with the network off.

The scaffold targets python3.12; the lab's Pythons are 3.9, 3.11 and 3.13, so the test moves the
scaffold to 3.13 (fpack.toml, the members' requires-python and the lock, as `uv lock` would) and
builds the library in the lab's 3.13 build image.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fpack import scaffold
from tests.integration import lab

pytestmark = pytest.mark.lab

PYTHON = "3.13"


def _retarget(project: Path, python: str) -> None:
    """The scaffold for another Python: what a user editing fpack.toml then running `uv lock`
    would have."""
    old = scaffold.MONOREPO_PYTHON
    toml = project / "fpack.toml"
    toml.write_text(toml.read_text().replace(f'python = "{old}"', f'python = "{python}"').replace(
        "[targets.aws]\n", f'[targets.aws]\nbuild_image = "{lab.BUILD_IMAGES[python]}"\n'))
    for path in [project / "uv.lock", *project.glob("services/*/pyproject.toml")]:
        path.write_text(path.read_text().replace(f'">={old}"', f'">={python}"'))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("monorepo") / "shop"
    scaffold.init(project, name="shop", monorepo=True)
    _retarget(project, PYTHON)
    return project


def _url_event(name: str) -> dict[str, Any]:
    event = lab.event("aws", "function_url")
    event["rawQueryString"] = f"name={name}"
    event["queryStringParameters"] = {"name": name}
    return event


def _call(manifest: dict[str, Any], project: Path, workdir: Path, name: str) -> Any:
    [result] = lab.run_lambda(manifest, project, lab.IMAGES[(3, 13)], [_url_event(name)],
                              workdir).results
    assert result["statusCode"] == 200, result
    return json.loads(result["body"])


def test_each_service_runs_and_calls_the_shared_library(shop: Path, tmp_path: Path) -> None:
    manifests = {m["function"]: m for m in lab.build(shop, "aws")}
    assert set(manifests) == set(scaffold.SERVICES)
    for service, manifest in manifests.items():
        assert manifest["runtime"] == "python3.13" and manifest["path"] == f"dist/aws/{service}.zip"
        assert {p["name"] for p in manifest["packages"]} == {"common"}
        with zipfile.ZipFile(shop / manifest["path"]) as z:
            names = set(z.namelist())
            assert {"app.py", "common/__init__.py", "fpack_entry.py"} <= names
            assert not [n for n in names if n.endswith(".pth") or "__editable__" in n], names
            # the library is installed, never a link to (nor a record of) the developer's tree
            for n in names:
                assert str(shop).encode() not in z.read(n), n
        assert _call(manifest, shop, tmp_path / service, "lab") == {
            "service": service, "hello": "lab"}


def test_a_library_edit_rebuilds_both_services(shop: Path, tmp_path: Path) -> None:
    lab.build(shop, "aws")
    lib = shop / "libs/common/src/common/__init__.py"
    lib.write_text(lib.read_text().replace('"hello": name', '"hello": name.upper()'))
    rebuilt = {m["function"]: m for m in lab.build(shop, "aws")}
    again = lab.fpack(shop, "build", "--target", "aws")
    assert "up to date" in again.stdout, again.stdout
    for service in scaffold.SERVICES:
        assert _call(rebuilt[service], shop, tmp_path / service, "lab") == {
            "service": service, "hello": "LAB"}


def _interpreter(version: str) -> str | None:
    """A Python `version` that runs (pyenv's shims on PATH do not, unless activated)."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")
    check = f"import sys; assert '%d.%d' % sys.version_info[:2] == '{version}'"
    for exe in [shutil.which(f"python{version}"), sys.executable, *glob.glob(pyenv)]:
        ran = exe and subprocess.run([exe, "-c", check], capture_output=True, check=False)
        if ran and ran.returncode == 0:
            return exe
    return None


def test_the_scaffold_lock_is_what_uv_lock_writes(tmp_path: Path) -> None:
    """uv.lock comes from a template: `uv lock --check` must find it up to date, as written."""
    from fpack.deps import uv

    scaffold.init(tmp_path, monorepo=True)
    python = _interpreter(scaffold.MONOREPO_PYTHON)
    if python is None:
        pytest.skip(f"no Python {scaffold.MONOREPO_PYTHON} on this machine for uv lock")
    before = (tmp_path / "uv.lock").read_text()
    proc = subprocess.run([uv.binary(), "lock", "--check", "--offline", "--python", python],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "uv.lock").read_text() == before
