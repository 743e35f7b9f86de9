"""Planning is pure: a Project and a snapshot in, frozen data out; bad handlers: config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import config, inputs
from fpack.errors import ConfigError, UsageError
from fpack.plan import plan
from fpack.sources import runtime_snapshot, snapshot

TOML = """
[project]
name = "shop"

[functions.hello]
handler = "app.web:hello"

[functions.orders]
handler = "app.jobs:consume"
trigger = "queue"

[targets.aws]
runtime = "python3.11"
arch = "arm64"
layer = true
"""

WEB = "import fpack\n\ndef hello(request):\n    return {}\n\ndef _private():\n    pass\n"
JOBS = "def consume(message):\n    pass\n\nCONSTANT = 1\n"


def make(tmp_path: Path, toml: str = TOML, web: str = WEB) -> config.Project:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "web.py").write_text(web)
    (tmp_path / "app" / "jobs.py").write_text(JOBS)
    (tmp_path / "fpack.toml").write_text(toml)
    return config.load(tmp_path / "fpack.toml")


def plan_for(project: config.Project, target: str = "aws", **kwargs: object):
    files = snapshot(project.root, ["app/**"], ())
    return plan(
        project,
        target,  # type: ignore[arg-type]
        files,
        runtime_snapshot(),
        inputs=inputs.read(),
        out=project.root / "dist",
        **kwargs,  # type: ignore[arg-type]
    )


def test_aws_plan(tmp_path: Path) -> None:
    build_inputs = inputs.read({"SOURCE_DATE_EPOCH": "1700000000"})
    project = make(tmp_path)
    bp = plan(project, "aws", snapshot(project.root, ["app/**"], ()), runtime_snapshot(),
              inputs=build_inputs, out=project.root / "dist")
    assert bp.inputs is build_inputs  # the environment, read once, travels with the plan
    assert bp.platform.runtime.name == "python3.11" and bp.platform.arch == "arm64"
    assert bp.platform.uv_platform == "aarch64-manylinux_2_17"  # AL2: glibc 2.26
    assert bp.layer == tmp_path / "dist" / "aws" / "shop-deps.zip"
    hello, orders = bp.functions
    assert hello.handler_setting == "fpack_entry.hello"
    assert hello.artifact == tmp_path / "dist" / "aws" / "hello.zip"
    assert orders.manifest == tmp_path / "dist" / "aws" / "orders.manifest.json"


def test_the_snapshot_holds_the_bytes_it_hashed(tmp_path: Path) -> None:
    bp = plan_for(make(tmp_path))
    (web,) = [f for f in bp.sources if f.path == "app/web.py"]
    assert web.data == WEB.encode() and web.size == len(WEB.encode())
    (tmp_path / "app" / "web.py").write_text("changed after the snapshot\n")
    assert web.data == WEB.encode()  # what is packaged is what was planned
    assert all(len(f.data) == f.size for f in bp.runtime)


def test_only_selected_functions(tmp_path: Path) -> None:
    bp = plan_for(make(tmp_path), only=["orders"])
    assert [f.function.name for f in bp.functions] == ["orders"]
    with pytest.raises(UsageError) as info:
        plan_for(make(tmp_path), only=["nope"])
    assert str(info.value) == (
        f"--function nope: no such function in {tmp_path}/fpack.toml; defined: hello, orders"
    )


def test_gcp_and_arch_override(tmp_path: Path) -> None:
    project = make(tmp_path)
    gcp = plan_for(project, "gcp")
    assert gcp.platform.runtime.name == "python312" and gcp.functions[0].handler_setting == "hello"
    assert gcp.layer is None
    assert plan_for(project, arch="x86_64").platform.uv_platform == "x86_64-manylinux_2_17"


def test_missing_attribute_lists_what_the_module_defines(tmp_path: Path) -> None:
    project = make(tmp_path, TOML.replace("app.web:hello", "app.web:helo"))
    with pytest.raises(ConfigError) as info:
        plan_for(project)
    assert str(info.value) == (
        f'{tmp_path}/fpack.toml: [functions.hello] handler = "app.web:helo": module "app.web" has '
        'no attribute "helo"; it defines: fpack, hello (app/web.py:1)'
    )


def test_missing_module(tmp_path: Path) -> None:
    project = make(tmp_path, TOML.replace("app.web:hello", "app.api:hello"))
    with pytest.raises(ConfigError) as info:
        plan_for(project)
    assert str(info.value) == (
        f'{tmp_path}/fpack.toml: [functions.hello] handler = "app.api:hello": module "app.api" is '
        "not among the packaged files (looked for app/api.py and app/api/__init__.py); check the "
        "handler's module path and [project] include"
    )


def test_wrong_arity_for_the_style(tmp_path: Path) -> None:
    project = make(tmp_path, web="def hello(event, context):\n    return {}\n")
    with pytest.raises(ConfigError) as info:
        plan_for(project)
    assert str(info.value) == (
        f'{tmp_path}/fpack.toml: [functions.hello] handler = "app.web:hello": app/web.py:1: hello '
        "takes 2 positional parameters; a portable http handler takes 1: def hello(request). "
        'To package it as a Lambda handler, set style = "lambda" in its [functions] table '
        "(runs on aws and docker)"
    )


def test_a_style_that_cannot_run_on_the_target(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        TOML.replace(
            'handler = "app.jobs:consume"', 'handler = "app.jobs:consume"\nstyle = "lambda"'
        ),
    )
    (tmp_path / "app" / "jobs.py").write_text("def consume(event, context):\n    pass\n")
    with pytest.raises(ConfigError) as info:
        plan_for(project, "gcp")
    assert str(info.value) == (
        f'{tmp_path}/fpack.toml: [functions.orders] style = "lambda" cannot run on target "gcp"\n'
        '  hint: use style = "portable" to run everywhere, or build only for the targets this '
        "style supports"
    )
