"""A Poetry service with a path dependency (`develop = true`) on a shared library: the library
arrives in the artifact as an installed package, never as a link to the developer's tree, and
the function calls it on its target (issue 12's Poetry route; uv routes: test_monorepo.py)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.integration import lab

POETRY = """\
[tool.poetry]
name = "legacy"
version = "0.1.0"
description = ""
authors = ["lab <lab@example.com>"]

[tool.poetry.dependencies]
python = "^3.9"
fpklab-poetry-lib = { path = "../../libs/lib", develop = true }
"""
LIBRARY = """\
[project]
name = "fpklab-poetry-lib"
version = "0.4.0"
requires-python = ">=3.9"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""
HANDLER = """\
import fpklab_poetry_lib


def handler(request):
    return {"answer": fpklab_poetry_lib.ANSWER, "from": fpklab_poetry_lib.__file__}
"""
FPACK_TOML = """\
[project]
name = "poetryshop"
python = "3.11"

[functions.legacy]
dir = "services/legacy"
handler = "app:handler"

[targets.aws]
"""


def test_a_poetry_path_dependency_ships_installed_and_runs(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    (root / "services/legacy").mkdir(parents=True)
    (root / "libs/lib/src/fpklab_poetry_lib").mkdir(parents=True)
    (root / "fpack.toml").write_text(FPACK_TOML)
    (root / "services/legacy/pyproject.toml").write_text(POETRY)
    (root / "services/legacy/app.py").write_text(HANDLER)
    (root / "libs/lib/pyproject.toml").write_text(LIBRARY)
    (root / "libs/lib/src/fpklab_poetry_lib/__init__.py").write_text("ANSWER = 42\n")
    proc = lab.fpack(root, "build", "--target", "aws", "--json",
                     env={"FPACK_BUILD_IMAGE": "fpack-lab/build:3.11",
                          "FPACK_CACHE_DIR": str(tmp_path / "cache")})
    (manifest,) = json.loads(proc.stdout)
    assert [(p["name"], p["version"]) for p in manifest["packages"]] == [
        ("fpklab-poetry-lib", "0.4.0")]
    with zipfile.ZipFile(root / manifest["path"]) as z:
        names = z.namelist()
        assert "fpklab_poetry_lib/__init__.py" in names
        assert not [n for n in names if n.endswith(".pth") or "__editable__" in n]
        assert all(str(tmp_path).encode() not in z.read(n) for n in names if not n.endswith("/"))
    run = lab.run_lambda(manifest, root, lab.IMAGES[(3, 11)], [lab.event("aws", "apigw_v2")],
                         tmp_path / "run")
    (result,) = run.results
    body = json.loads(result["body"])
    assert body["answer"] == 42 and body["from"].startswith("/var/task/")
