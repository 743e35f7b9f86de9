"""`fpack check` as users run it: through pre-commit, from a `.pre-commit-config.yaml` that points
at this repository, the hook installed by pre-commit into a virtualenv of its own.

The repository's working tree is copied and committed to a scratch git repository (pre-commit
clones a repo at a rev), so the hook under test is exactly the code of this checkout. One
PRE_COMMIT_HOME serves the whole session: pre-commit installs the hook's environment once (that
needs the package index, through the machine's proxy), then every project below reuses it. Each
project is a git repository of its own; `pre-commit run --all-files` must pass for the good one and
fail with the expected code, and that code only, for each broken one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import lab

pytestmark = pytest.mark.lab

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "fpack tests", "GIT_AUTHOR_EMAIL": "tests@fpack.invalid",
                "GIT_COMMITTER_NAME": "fpack tests", "GIT_COMMITTER_EMAIL": "tests@fpack.invalid"}
# What a copy of the checkout leaves out: history, environments, caches, build output.
NOT_COPIED = (".git", ".venv", "dist", ".*_cache", "__pycache__", ".benchmarks", "*.egg-info")
PROBLEM = re.compile(r"^\S+:\d+: (FP\d{3}) ", re.MULTILINE)


@dataclass(frozen=True)
class Hook:
    config: str  # the .pre-commit-config.yaml every project uses
    home: Path  # PRE_COMMIT_HOME, shared by the session


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_IDENTITY})
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Hook:
    """This checkout as a hook repository at a commit, and one pre-commit home for all cases."""
    repo = tmp_path_factory.mktemp("hook-repo") / "fpack"
    shutil.copytree(lab.ROOT, repo, ignore=shutil.ignore_patterns(*NOT_COPIED))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the working tree under test")
    config = (f"repos:\n  - repo: {repo.as_uri()}\n    rev: {git(repo, 'rev-parse', 'HEAD')}\n"
              "    hooks:\n      - id: fpack-check\n")
    return Hook(config=config, home=tmp_path_factory.mktemp("pre-commit-home"))


def project(base: Path, hook: Hook, files: dict[str, str]) -> Path:
    """A git repository with `files` (all staged) and the .pre-commit-config.yaml."""
    base.mkdir(parents=True, exist_ok=True)
    for name, text in {**files, ".pre-commit-config.yaml": hook.config}.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    git(base, "init", "-q", "-b", "main")
    git(base, "add", "-A")
    return base


def pre_commit(root: Path, hook: Hook, *args: str) -> tuple[int, str]:
    env = {**os.environ, **GIT_IDENTITY, "PRE_COMMIT_HOME": str(hook.home)}
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--verbose", *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1200,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def codes(output: str) -> set[str]:
    return set(PROBLEM.findall(output))


APP = "def hello(request):\n    return {'hello': 'world'}\n"
TOML = '[project]\nname = "svc"\n\n[functions.hello]\nhandler = "app:hello"\n\n[targets.aws]\n'


def test_the_example_project_passes(tmp_path: Path, hook: Hook) -> None:
    root = tmp_path / "photos"
    shutil.copytree(lab.ROOT / "example", root / "example")
    files = {name: (lab.ROOT / name).read_text() for name in ("fpack.toml", "requirements.txt")}
    project(root, hook, {**files, "README.md": "photos\n"})
    code, output = pre_commit(root, hook, "--all-files")
    assert code == 0, output
    assert "fpack check: no problems (4 function(s), 3 file(s), target(s) aws, gcp, docker)" in (
        output)
    # The hook runs only when a file that matters changed.
    code, output = pre_commit(root, hook, "--files", "README.md")
    assert code == 0 and re.search(r"fpack check\.+\(no files to check\)Skipped", output), output


@pytest.mark.parametrize(("case", "files", "expected"), [
    ("missing handler", {"fpack.toml": TOML.replace("app:hello", "app:helo"), "app.py": APP},
     "FP202"),
    ("wrong signature for the trigger",
     {"fpack.toml": TOML.replace('"app:hello"', '"app:resize"\ntrigger = "storage"'),
      "app.py": "def resize(event, context):\n    pass\n"}, "FP204"),
    ("no arm64 wheel for an arm64 target",
     {"fpack.toml": TOML + 'arch = "arm64"\n', "app.py": APP, "requirements.txt": "mkl\n"},
     "FP301"),
    (".env in the included sources",
     {"fpack.toml": TOML, "app/__init__.py": APP, "app/.env": "DB_PASSWORD=hunter2\n"},
     "FP601"),
    ("artifact over the Lambda limit",  # mkl and its runtime libraries: 300 MB of wheels
     {"fpack.toml": TOML, "app.py": APP, "requirements.txt": "mkl\n"}, "FP401"),
])  # fmt: skip
def test_a_broken_project_fails_with_its_code(tmp_path: Path, hook: Hook, case: str,
                                              files: dict[str, str], expected: str) -> None:
    root = project(tmp_path / "svc", hook, files)
    code, output = pre_commit(root, hook, "--all-files")
    assert code == 1, output
    assert codes(output) == {expected}, output


def test_a_stale_uv_lock_fails(tmp_path: Path, hook: Hook) -> None:
    pyproject = '[project]\nname = "svc"\nversion = "1.0"\nrequires-python = ">=3.11"\n' \
                'dependencies = ["six>=1.16"]\n'
    root = project(tmp_path / "svc", hook, {"fpack.toml": TOML, "app.py": APP,
                                             "pyproject.toml": pyproject})
    uv = [sys.executable, "-m", "uv"] if shutil.which("uv") is None else ["uv"]
    subprocess.run([*uv, "lock", "--quiet"], cwd=root, check=True, capture_output=True)
    git(root, "add", "-A")
    assert pre_commit(root, hook, "--all-files")[0] == 0  # freshly locked: no problem
    (root / "pyproject.toml").write_text(pyproject.replace('"six>=1.16"', '"six>=1.16", "idna"'))
    git(root, "add", "-A")
    code, output = pre_commit(root, hook, "--all-files")
    assert code == 1, output
    assert codes(output) == {"FP501"}, output
    assert "pyproject.toml:5: FP501 uv.lock is out of date with pyproject.toml (added idna)" in (
        output)


def test_check_in_a_fresh_interpreter_loads_no_heavy_module(tmp_path: Path) -> None:
    root = tmp_path / "svc"
    root.mkdir()
    (root / "fpack.toml").write_text(TOML)
    (root / "app.py").write_text(APP)
    script = ("import sys\nfrom fpack import cli\ncode = cli.main(['check'])\n"
              "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
              "{'jinja2', 'docker', 'boto3', 'botocore', 'google'})\n"
              "print('exit', code, 'heavy', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "exit 0 heavy []", proc.stdout + proc.stderr
