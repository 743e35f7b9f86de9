"""`--changed-since REF` against a real git repository: which functions a change reaches, with
no resolver run for the others (functions here have no third-party dependencies, or local ones
only, so nothing needs the index or Docker)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from fpack import changes, config
from fpack.errors import UsageError

FPACK_TOML = """\
[project]
name = "shop"
python = "3.11"

[functions.orders]
dir = "services/orders"
handler = "app:handler"

[functions.users]
dir = "services/users"
handler = "app:handler"

[functions.billing]
dir = "services/billing"
handler = "app:handler"

[functions.root]
handler = "main:handler"

[targets.aws]
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          timeout=60).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """orders -> libs/api -> libs/core; users -> libs/core; billing: nothing shared."""
    root = tmp_path / "repo"
    write(root / "fpack.toml", FPACK_TOML)
    for name in ("orders", "users", "billing"):
        write(root / "services" / name / "app.py", f"def handler(request):\n    return {name!r}\n")
    write(root / "services/orders/requirements.txt", "../../libs/api\n")
    write(root / "services/users/requirements.txt", "-e ../../libs/core\n")
    write(root / "libs/api/pyproject.toml", '[project]\nname = "api"\ndependencies = ["core"]\n'
          '[tool.uv.sources]\ncore = { path = "../core" }\n')
    write(root / "libs/api/api/__init__.py", "")
    write(root / "libs/core/pyproject.toml", '[project]\nname = "core"\n')
    write(root / "libs/core/core/__init__.py", "")
    write(root / "main.py", "def handler(request):\n    return 'root'\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=CI", "add", "-A")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-qm", "init")
    return root


def changed(root: Path) -> tuple[str, ...]:
    return changes.changed_functions(config.load(root / "fpack.toml"), "HEAD")


def test_nothing_changed_is_no_function(repo: Path) -> None:
    assert changed(repo) == ()


def test_a_handler_edit_is_its_function_only(repo: Path) -> None:
    (repo / "services/users/app.py").write_text("def handler(request):\n    return 2\n")
    assert changed(repo) == ("users",)


def test_a_library_edit_reaches_its_dependents_through_libraries(repo: Path) -> None:
    (repo / "libs/core/core/__init__.py").write_text("X = 1\n")
    assert changed(repo) == ("orders", "users")
    git(repo, "stash", "-q")
    (repo / "libs/api/api/__init__.py").write_text("Y = 1\n")
    assert changed(repo) == ("orders",)


def test_an_untracked_file_in_a_service_counts(repo: Path) -> None:
    (repo / "services/billing/rates.py").write_text("RATE = 3\n")
    assert changed(repo) == ("billing",)


def test_root_files_belong_to_the_root_function_only(repo: Path) -> None:
    (repo / "main.py").write_text("def handler(request):\n    return 'v2'\n")
    (repo / "README.md").write_text("not packaged\n")
    assert changed(repo) == ("root",)


def test_fpack_toml_edits_reach_the_functions_they_change(repo: Path) -> None:
    toml = repo / "fpack.toml"
    toml.write_text(toml.read_text().replace('[functions.billing]\n',
                                             '[functions.billing]\nmemory = 512\n'))
    assert changed(repo) == ("billing",)
    toml.write_text(toml.read_text().replace('python = "3.11"', 'python = "3.12"'))
    assert changed(repo) == ("orders", "users", "billing", "root")


def test_a_ref_that_is_not_a_commit_says_how_to_fetch_it(repo: Path) -> None:
    with pytest.raises(UsageError) as e:
        changes.changed_functions(config.load(repo / "fpack.toml"), "origin/nope")
    assert str(e.value) == (
        f"--changed-since origin/nope: not a commit in the repository at {repo}\n"
        "  hint: name a branch, tag or commit that exists here (in CI, fetch it first: "
        "`git fetch origin main --depth=50`)")


def test_the_cli_builds_and_lists_only_what_changed(repo: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.chdir(repo)
    env_cache = tmp_path / "cache"
    (repo / "services/billing/app.py").write_text("def handler(request):\n    return 9\n")
    fpack = str(Path(__file__).resolve().parents[2] / ".venv/bin/fpack")
    env = {"FPACK_CACHE_DIR": str(env_cache), "PATH": "/usr/bin:/bin",
           "SOURCE_DATE_EPOCH": "1700000000"}
    listed = subprocess.run([fpack, "ls", "--json", "--changed-since", "HEAD"], cwd=repo,
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    assert [r["function"] for r in json.loads(listed.stdout)] == ["billing"]
    assert listed.stderr == "changed since HEAD: billing\n"
    built = subprocess.run([fpack, "build", "--target", "aws", "--changed-since", "HEAD"],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in (repo / "dist/aws").glob("*.zip")) == ["billing.zip"]
    git(repo, "-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-qam", "bill")
    quiet = subprocess.run([fpack, "build", "--target", "aws", "--changed-since", "HEAD"],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert (quiet.returncode, quiet.stdout) == (0, "")
    assert quiet.stderr == "nothing changed since HEAD: no function to consider\n"
