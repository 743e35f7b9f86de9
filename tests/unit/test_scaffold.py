"""`fpack init` and `fpack init --monorepo`: what they write, that it loads, that nothing is
overwritten. Building the monorepo scaffold runs uv and a container: tests/integration."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from fpack import cli, config, scaffold
from fpack.deps import workspace
from fpack.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MONOREPO = [
    "fpack.toml",
    "pyproject.toml",
    "uv.lock",
    "services/orders/pyproject.toml",
    "services/orders/app.py",
    "services/payments/pyproject.toml",
    "services/payments/app.py",
    "libs/common/pyproject.toml",
    "libs/common/src/common/__init__.py",
]


def toml(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_init_writes_the_single_function_project(tmp_path: Path) -> None:
    created = scaffold.init(tmp_path / "svc")
    assert [p.relative_to(tmp_path / "svc").as_posix() for p in created] == [
        "fpack.toml", "app.py", "requirements.txt"]
    project = config.load(tmp_path / "svc" / "fpack.toml")
    assert project.name == "svc" and list(project.functions) == ["hello"]
    assert project.functions["hello"].handler == "app:hello"


def test_init_names_the_project_after_its_directory(tmp_path: Path) -> None:
    scaffold.init(tmp_path / "2 cool.api", monorepo=True)
    assert config.load(tmp_path / "2 cool.api" / "fpack.toml").name == "fn-2-cool-api"
    scaffold.init(tmp_path / "other", name="shop")
    assert config.load(tmp_path / "other" / "fpack.toml").name == "shop"


def test_monorepo_writes_a_workspace_of_two_services_and_one_library(tmp_path: Path) -> None:
    created = scaffold.init(tmp_path, name="shop", monorepo=True)
    assert [p.relative_to(tmp_path).as_posix() for p in created] == MONOREPO
    assert toml(tmp_path / "pyproject.toml")["tool"]["uv"]["workspace"] == {
        "members": ["services/*", "libs/*"]}
    for service in scaffold.SERVICES:
        member = toml(tmp_path / "services" / service / "pyproject.toml")
        assert member["project"]["name"] == service
        assert member["project"]["dependencies"] == ["common"]
        assert member["tool"]["uv"]["sources"] == {"common": {"workspace": True}}
        assert "build-system" not in member  # a virtual member: its files are the function's
    lib = toml(tmp_path / "libs/common/pyproject.toml")
    assert lib["project"]["name"] == "common"
    assert lib["build-system"]["build-backend"] == "hatchling.build"


def test_monorepo_fpack_toml_loads_with_a_function_per_service_dir(tmp_path: Path) -> None:
    scaffold.init(tmp_path, name="shop", monorepo=True)
    project = config.load(tmp_path / "fpack.toml")
    assert project.name == "shop" and project.python == (3, 12)
    assert list(project.functions) == list(scaffold.SERVICES)
    for service, fn in project.functions.items():
        assert fn.dir == f"services/{service}"
        assert fn.handler == "app:handler" and fn.trigger == "http"
        # each function's set is its workspace member's, read from the workspace's one lock
        assert fn.dependencies == tmp_path / "uv.lock"
        assert fn.member == service


def test_monorepo_lock_is_current_for_every_member(tmp_path: Path) -> None:
    """The lock is written from a template (no uv at init time): it must say what `uv lock`
    says (tests/integration/test_scaffold_monorepo.py runs `uv lock --check` on it too)."""
    scaffold.init(tmp_path, monorepo=True)
    locked = toml(tmp_path / "uv.lock")
    assert locked["requires-python"] == f">={scaffold.MONOREPO_PYTHON}"
    assert locked["manifest"]["members"] == sorted(["common", *scaffold.SERVICES])
    for service in scaffold.SERVICES:
        pyproject = tmp_path / "services" / service / "pyproject.toml"
        assert workspace.member_of(pyproject, tmp_path) == (tmp_path / "uv.lock", service)
        entry = workspace.lock_entry(locked, f"services/{service}")
        assert entry is not None
        assert workspace.stale(toml(pyproject)["project"], entry, locked) == []
    assert workspace.lock_entry(locked, "libs/common") == {
        "name": "common", "version": "0.1.0", "source": {"editable": "libs/common"}}


def test_monorepo_handlers_call_the_shared_library(tmp_path: Path) -> None:
    scaffold.init(tmp_path, monorepo=True)
    lib = ast.parse((tmp_path / "libs/common/src/common/__init__.py").read_text())
    exported = {n.name for n in lib.body if isinstance(n, ast.FunctionDef)}
    for service in scaffold.SERVICES:
        tree = ast.parse((tmp_path / "services" / service / "app.py").read_text())
        imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    for a in n.names}
        assert {("common", name) for name in exported} <= imported
        [handler] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert handler.name == "handler" and len(handler.args.args) == 1


def test_monorepo_files_are_valid_python_and_toml(tmp_path: Path) -> None:
    for path in scaffold.init(tmp_path, monorepo=True):
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        if path.suffix == ".py":
            ast.parse(text, str(path), feature_version=(3, 9))  # the oldest runtime fpack targets
        else:
            tomllib.loads(text)


@pytest.mark.parametrize("existing", ["uv.lock", "services/payments/app.py", "pyproject.toml"])
def test_monorepo_never_overwrites_and_names_the_first_existing_file(
    tmp_path: Path, existing: str
) -> None:
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine\n")
    (tmp_path / "libs/common/pyproject.toml").parent.mkdir(parents=True)
    (tmp_path / "libs/common/pyproject.toml").write_text("mine too\n")
    with pytest.raises(UsageError) as e:
        scaffold.init(tmp_path, monorepo=True)
    assert e.value.message == (
        f"{tmp_path / existing} already exists; fpack init never overwrites files")
    assert (tmp_path / existing).read_text() == "mine\n"
    assert not (tmp_path / "fpack.toml").exists()  # nothing written, not even the files before


def test_monorepo_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["init", "--monorepo", "--name", "shop", str(tmp_path / "shop")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == [f"created {tmp_path / 'shop' / f}" for f in MONOREPO]
