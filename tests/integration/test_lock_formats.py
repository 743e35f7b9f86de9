"""Every lock format, written by its own tool, built for aws and run as Lambda runs it.

One small project asks for versions older than the newest (six==1.15.0, attrs==22.1.0,
idna==3.4, and colorama on Windows only), so a resolver that ignored the lock would pick others.
Poetry (2.x lock format), PDM, pipenv and `uv export --format pylock.toml` write its locks once
per session, in a throwaway virtualenv; where that cannot run (no index reachable), the locks the
same tools wrote for the unit tests (tests/unit/deps/locks/) stand in. Each artifact's manifest
must list exactly the locked versions, and the handler, run in fpack-lab/python:3.11 with the
network off, must import them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tomllib

from fpack.deps import uv
from tests.integration import lab

pytestmark = pytest.mark.lab

FIXTURES = Path(__file__).parents[1] / "unit" / "deps" / "locks"
PINNED = {"six": "1.15.0", "attrs": "22.1.0", "idna": "3.4"}
PYPROJECT = """\
[project]
name = "locks"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["six==1.15.0", "attrs==22.1.0", "idna==3.4", "colorama; sys_platform == 'win32'"]

[dependency-groups]
dev = ["iniconfig"]
"""
PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
six = "==1.15.0"
attrs = "==22.1.0"
idna = "==3.4"
colorama = {version = "*", markers = "sys_platform == 'win32'"}

[requires]
python_version = "3.11"
"""
FPACK_TOML = """\
[project]
name = "locks"
python = "3.11"

[functions.hello]
handler = "app:hello"

[targets.aws]
runtime = "python3.11"
"""
APP = """\
import attrs, idna, six


def hello(request):
    return {"six": six.__version__, "attrs": attrs.__version__, "idna": idna.__version__}
"""
# format -> (lock file, the fixture directory that stands in, the command that writes the lock)
FORMATS = {
    "poetry": ("poetry.lock", "poetry2", ["poetry", "lock"]),
    "pdm": ("pdm.lock", "pdm", ["pdm", "lock"]),
    "pipenv": ("Pipfile.lock", "pipenv", ["pipenv", "lock"]),
    "pylock": ("pylock.toml", "pylock",
               [uv.binary(), "export", "--format", "pylock.toml", "--no-dev", "-o", "pylock.toml"]),
}


def _tools(base: Path) -> Path | None:
    """A virtualenv with poetry, pdm and pipenv, or None when they cannot be installed here."""
    env = base / "tools"
    venv.create(env, with_pip=True)
    pip = subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "--quiet", "poetry", "pdm[locked]",
         "pipenv"], capture_output=True, text=True, timeout=600, check=False)
    return env / "bin" if pip.returncode == 0 else None


def _write(project: Path, fmt: str, tools: Path | None) -> str:
    """Lay out the project and its lock; returns who wrote the lock."""
    lock, fixture, command = FORMATS[fmt]
    project.mkdir(parents=True)
    (project / "fpack.toml").write_text(FPACK_TOML)
    (project / "app.py").write_text(APP)
    if fmt == "pipenv":
        (project / "Pipfile").write_text(PIPFILE)
    else:
        text = PYPROJECT + ("\n[tool.poetry]\npackage-mode = false\n" if fmt == "poetry" else
                            "\n[tool.pdm]\ndistribution = false\n" if fmt == "pdm" else "")
        (project / "pyproject.toml").write_text(text)
    if fmt == "pylock":  # uv exports from its own lock, which is then put away
        subprocess.run([uv.binary(), "lock", "--quiet"], cwd=project, check=False, timeout=300)
    env = {**os.environ, "PIPENV_YES": "1", "PIPENV_VENV_IN_PROJECT": "1",
           "PDM_CHECK_UPDATE": "false", "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"
           if tools else os.environ["PATH"]}
    ran = None
    if tools is not None or fmt == "pylock":
        ran = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    (project / "uv.lock").unlink(missing_ok=True)
    for extra in (".venv",):
        shutil.rmtree(project / extra, ignore_errors=True)
    if ran is not None and ran.returncode == 0 and (project / lock).is_file():
        return command[0].rsplit("/", 1)[-1]
    for name in ("pyproject.toml", "Pipfile", lock):  # the committed lock the tool wrote
        if (FIXTURES / fixture / name).is_file():
            shutil.copy(FIXTURES / fixture / name, project / name)
    return f"fixture {fixture}"


@pytest.fixture(scope="session")
def lock_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    base = tmp_path_factory.mktemp("locks")
    tools = _tools(base)
    with ThreadPoolExecutor(len(FORMATS)) as pool:
        written = {fmt: pool.submit(_write, base / fmt, fmt, tools) for fmt in FORMATS}
        return {fmt: (base / fmt, f.result()) for fmt, f in written.items()}


def _locked_versions(project: Path, fmt: str) -> dict[str, str]:
    """name -> version, as the lock file itself records them (the packages PINNED names)."""
    lock = project / FORMATS[fmt][0]
    if fmt == "pipenv":
        data = json.loads(lock.read_text())["default"]
        return {n: data[n]["version"].removeprefix("==") for n in PINNED}
    packages = tomllib.loads(lock.read_text())
    entries = packages.get("packages") or packages.get("package") or []
    return {p["name"].lower(): p["version"] for p in entries if p["name"].lower() in PINNED}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_lock_ships_exactly_its_versions_and_runs(
        fmt: str, lock_projects: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    project, writer = lock_projects[fmt]
    print(f"{fmt}: lock written by {writer}", file=sys.stderr)
    locked = _locked_versions(project, fmt)
    assert locked == PINNED
    proc = lab.fpack(project, "build", "--target", "aws", "--json",
                     env={"FPACK_BUILD_IMAGE": "fpack-lab/build:3.11"})
    (manifest,) = [m for m in json.loads(proc.stdout) if m["kind"] == "function"]
    shipped = {p["name"]: p["version"] for p in manifest["packages"]}
    assert {n: v for n, v in shipped.items() if n in PINNED} == PINNED
    if not writer.startswith("fixture"):  # colorama's marker is false on Linux; no dev group
        assert shipped == PINNED
    run = lab.run_lambda(manifest, project, lab.IMAGES[(3, 11)], [lab.event("aws", "apigw_v2")],
                         tmp_path)
    (result,) = run.results
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == PINNED


def test_a_stale_lock_stops_the_build_and_names_the_command(
        lock_projects: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    project = tmp_path / "stale"
    shutil.copytree(lock_projects["pdm"][0], project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"idna==3.4"', '"idna==3.5"'))
    proc = lab.fpack(project, "build", "--target", "aws", check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-2:] == [
        f"error: {project}/pdm.lock is out of date with pyproject.toml (its content_hash is not "
        "pyproject.toml's: dependencies, groups, sources or requires-python changed since it "
        "was written)",
        f"  hint: run `pdm lock` in {project}, then build again"]
