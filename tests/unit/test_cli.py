"""The CLI's contract: exit codes, errors without tracebacks, JSON on stdout, light start-up."""

from __future__ import annotations

import importlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

from fpack import cli

HEAVY = ("boto3", "botocore", "docker", "google", "jinja2", "fpack.build", "fpack.deps.uv")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_importing_the_cli_imports_no_heavy_module(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in {
            "boto3",
            "botocore",
            "docker",
            "google",
            "jinja2",
        } or name.startswith(("fpack.cli", "fpack.build", "fpack.deps", "fpack.targets")):
            monkeypatch.delitem(sys.modules, name)
    importlib.import_module("fpack.cli")
    loaded = [m for m in HEAVY if m in sys.modules]
    assert loaded == []


def test_init_then_build_a_project_without_dependencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "init", str(tmp_path / "svc"))
    assert code == 0 and "created" in out
    (tmp_path / "svc" / "requirements.txt").unlink()
    toml = tmp_path / "svc" / "fpack.toml"
    toml.write_text(toml.read_text().replace('dependencies = "requirements.txt"\n', ""))
    monkeypatch.chdir(tmp_path / "svc")
    code, out, err = run(capsys, "build", "--target", "aws", "--json")
    assert code == 0, err
    [manifest] = json.loads(out)
    assert manifest["function"] == "hello" and manifest["handler"] == "fpack_entry.hello"
    assert manifest["path"] == "dist/aws/hello.zip" and manifest["packages"] == []
    with zipfile.ZipFile(tmp_path / "svc" / "dist/aws/hello.zip") as z:
        assert {"app.py", "fpack_entry.py", "fpack/__init__.py", "fpack/runtime/aws.py"} <= set(
            z.namelist()
        )
    saved = json.loads((tmp_path / "svc/dist/aws/hello.manifest.json").read_text())
    assert saved == manifest


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fpack.toml").write_text("")
    code, _, err = run(capsys, "init", str(tmp_path))
    assert code == 2
    assert err == (
        f"error: {tmp_path}/fpack.toml already exists; fpack init never overwrites "
        "files\n  hint: run it in an empty directory, or remove the file first\n"
    )


def test_config_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fpack.toml").write_text(
        '[functions.f]\nhandler = "app:f"\n[targets.aws]\narch = "amd64"\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "build", "--target", "aws")
    assert (code, out) == (2, "")
    assert err == (
        f'error: {tmp_path}/fpack.toml: [targets.aws] arch = "amd64": expected '
        '"x86_64" or "arm64". Did you mean "x86_64"?\n'
    )
    code, _, err = run(capsys, "--debug", "build", "--target", "aws")
    assert code == 2 and "Traceback" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "build")[0] == 2
    code, _, err = run(capsys, "build", "--target", "azure")
    assert code == 2 and 'expected "aws", "gcp" or "docker"' in err
