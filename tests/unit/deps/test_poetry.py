"""Poetry projects as uv requirements: the constraint language, dependency tables, Poetry 2's
[project] with tool.poetry sources, and poetry.lock's versions as constraints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fpack.deps import poetry
from fpack.deps import spec as dep_spec
from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize(("constraint", "pep440"), [
    ("^1.2.3", ">=1.2.3,<2"), ("^0.2.3", ">=0.2.3,<0.3"), ("^0.0.3", ">=0.0.3,<0.0.4"),
    ("^1.2", ">=1.2,<2"), ("^0", ">=0,<1"), ("~1.2.3", ">=1.2.3,<1.3"), ("~1.2", ">=1.2,<1.3"),
    ("~1", ">=1,<2"), ("~=1.4", "~=1.4"), ("1.2.3", "==1.2.3"), ("1.2.*", "==1.2.*"),
    ("*", ""), (">=1.2,<2", ">=1.2,<2"), (">= 1.2 < 2", ">=1.2,<2"), ("!=1.5", "!=1.5"),
])
def test_poetry_constraints_become_pep_440(constraint: str, pep440: str) -> None:
    assert poetry.specifier(constraint, "here") == pep440


def test_an_or_of_versions_is_refused_with_the_entry() -> None:
    with pytest.raises(ConfigError) as e:
        poetry.specifier("^1.0 || ^2.0", "pyproject.toml: [tool.poetry.dependencies] x")
    assert str(e.value).startswith(
        'pyproject.toml: [tool.poetry.dependencies] x = "^1.0 || ^2.0": fpack cannot translate')


POETRY1 = """\
[tool.poetry]
name = "orders"

[tool.poetry.dependencies]
python = "^3.9"
requests = { version = "^2.31", extras = ["socks"] }
tomli = { version = "^2", python = "<3.11" }
common = { path = "../../libs/common", develop = true }
lib = { git = "https://github.com/example/lib.git", tag = "v1" }
docs = { version = "*", optional = true }
six = "1.16.0"

[tool.poetry.group.dev.dependencies]
pytest = "^8"
"""


def test_poetry_1_tables_become_requirement_lines(tmp_path: Path) -> None:
    text = poetry.requirements(tomllib.loads(POETRY1), tmp_path / "pyproject.toml")
    assert text.splitlines() == [
        "requests[socks]>=2.31,<3",
        "tomli>=2,<3 ; (python_version < '3.11')",
        "../../libs/common",  # built and installed as a wheel, develop = true or not
        "lib @ git+https://github.com/example/lib.git@v1",
        "six==1.16.0",
    ]


def test_poetry_2_keeps_project_dependencies_and_takes_path_sources(tmp_path: Path) -> None:
    data = tomllib.loads('[project]\nname = "orders"\ndependencies = ["common", "six>=1.16"]\n'
                         '[tool.poetry.dependencies]\ncommon = { path = "../common", '
                         "develop = true }\n")
    assert poetry.requirements(data, tmp_path / "pyproject.toml").splitlines() == [
        "../common", "six>=1.16"]


def test_the_lock_pins_every_group_from_the_index(tmp_path: Path) -> None:
    # A constraint only bounds what the requirements need: the dev group's pins are harmless.
    lock = """\
[[package]]
name = "six"
version = "1.16.0"
groups = ["main"]

[[package]]
name = "pytest"
version = "8.0.0"
groups = ["dev"]

[[package]]
name = "idna"
version = "3.6"
category = "main"

[[package]]
name = "common"
version = "0.1.0"
groups = ["main"]
[package.source]
type = "directory"
url = "../../libs/common"
"""
    assert poetry.constraints(lock, tmp_path / "poetry.lock") == \
        "six==1.16.0\npytest==8.0.0\nidna==3.6\n"


def test_a_poetry_pyproject_is_its_own_kind_and_its_lock_is_part_of_the_key(
        tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(POETRY1)
    spec = dep_spec.read(tmp_path / "pyproject.toml", tmp_path / "fpack.toml")
    assert spec.kind == "poetry" and len(spec.files) == 1
    (tmp_path / "poetry.lock").write_text('[[package]]\nname = "six"\nversion = "1.16.0"\n')
    locked = dep_spec.read(tmp_path / "pyproject.toml", tmp_path / "fpack.toml")
    assert len(locked.files) == 2 and locked.key() != spec.key()
    assert locked.path == tmp_path / "poetry.lock"  # read through the lock
