"""`fpack deploy --target aws` of a monorepo against moto: one layer per dependency set, shared
by the functions that use it, never republished while the set is unchanged; --changed-since
deploys only the functions whose inputs changed."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import deploy, fpack

pytestmark = pytest.mark.e2e

FPACK_TOML = """\
[project]
name = "shop"
python = "3.11"

[functions.orders]
dir = "services/orders"
handler = "app:handler"

[functions.carts]
dir = "services/carts"
handler = "app:handler"

[functions.users]
dir = "services/users"
handler = "app:handler"

[targets.aws]
layer = true
region = "us-east-1"
role = "arn:aws:iam::123456789012:role/shop"
"""
SETS = {"orders": "six==1.16.0\n", "carts": "six==1.16.0\n", "users": "idna==3.7\n"}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=CI", *args],
                   cwd=root, check=True, capture_output=True, timeout=60)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "services").mkdir(parents=True)
    (root / "fpack.toml").write_text(FPACK_TOML)
    for name, requirements in SETS.items():
        (root / "services" / name).mkdir()
        (root / "services" / name / "requirements.txt").write_text(requirements)
        (root / "services" / name / "app.py").write_text(textwrap.dedent(f"""\
            def handler(request):
                return {{"service": "{name}"}}
            """))
    (root / ".gitignore").write_text("dist/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "shop")
    return root


def _layers(aws: Any) -> dict[str, list[str]]:
    lam = aws("lambda")
    return {layer["LayerName"]: [v["Version"] for v in lam.list_layer_versions(
        LayerName=layer["LayerName"])["LayerVersions"]] for layer in lam.list_layers()["Layers"]}


def _attached(aws: Any, function: str) -> list[str]:
    got = aws("lambda").get_function(FunctionName=f"shop-{function}")["Configuration"]
    return [layer["Arn"].split(":")[-2] for layer in got["Layers"]]


def test_one_layer_per_set_shared_and_never_republished(aws: Any, shop: Path) -> None:
    aws("iam").create_role(RoleName="shop", AssumeRolePolicyDocument="{}")
    first = deploy(shop, "aws")
    assert {d["function"]: d["action"] for d in first["deployments"]} == {
        "orders": "create", "carts": "create", "users": "create"}
    layers = _layers(aws)
    assert len(layers) == 2 and all(v == [1] or v == ["1"] or len(v) == 1
                                    for v in layers.values())
    assert _attached(aws, "orders") == _attached(aws, "carts") != _attached(aws, "users")
    manifests = {p.name for p in (shop / "dist/aws").glob("shop-deps-*.manifest.json")}
    assert len(manifests) == 2

    again = deploy(shop, "aws")
    assert {d["action"] for d in again["deployments"]} == {"unchanged"}
    assert _layers(aws) == layers

    # A handler edit: that function's code only; no layer is published again.
    (shop / "services/carts/app.py").write_text("def handler(request):\n    return 2\n")
    edited = deploy(shop, "aws")
    assert {d["function"]: d["action"] for d in edited["deployments"]} == {
        "orders": "unchanged", "carts": "update", "users": "unchanged"}
    assert _layers(aws) == layers


def test_changed_since_deploys_only_what_changed(aws: Any, shop: Path) -> None:
    aws("iam").create_role(RoleName="shop", AssumeRolePolicyDocument="{}")
    deploy(shop, "aws")
    (shop / "services/users/app.py").write_text("def handler(request):\n    return 3\n")
    result = deploy(shop, "aws", "--changed-since", "HEAD")
    assert [(d["function"], d["action"]) for d in result["deployments"]] == [("users", "update")]
    git(shop, "commit", "-qam", "users")
    quiet = fpack(shop, "deploy", "--target", "aws", "--changed-since", "HEAD")
    assert (quiet.stdout, quiet.stderr) == (
        "", "nothing changed since HEAD: no function to consider\n")
