"""The CLI's contract: exit codes, errors without tracebacks, JSON on stdout, light start-up."""

from __future__ import annotations

import importlib
import json
import re
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


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the process's environment (once, into the inputs record): give it one of
    the test's own, with a cache of its own and no host override."""
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("SOURCE_DATE_EPOCH", "FPACK_BUILD_IMAGE"):
        monkeypatch.delenv(name, raising=False)


def scaffold(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    """`fpack init`, minus the dependencies (resolving them would run uv), then cd there."""
    code, out, _ = run(capsys, "init", str(tmp_path / "svc"))
    assert code == 0 and "created" in out
    (tmp_path / "svc" / "requirements.txt").unlink()
    toml = tmp_path / "svc" / "fpack.toml"
    toml.write_text(toml.read_text().replace('dependencies = "requirements.txt"\n', "") + extra)
    monkeypatch.chdir(tmp_path / "svc")
    return tmp_path / "svc"


def test_init_then_build_a_project_without_dependencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scaffold(tmp_path, capsys, monkeypatch)
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


def columns(line: str) -> list[str]:
    """A table row's cells (the table pads them with two spaces or more)."""
    return re.split(r" {2,}", line.strip())


def test_a_build_says_which_artifacts_it_rebuilt_and_one_line_when_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = scaffold(tmp_path, capsys, monkeypatch, '\n[functions.bye]\nhandler = "app:hello"\n')
    code, out, err = run(capsys, "build", "--target", "aws")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert columns(header) == [
        "artifact", "runtime", "arch", "handler", "zipped", "unzipped", "build", "sha256"]
    assert [(columns(r)[0], columns(r)[6]) for r in rows] == [
        ("dist/aws/hello.zip", "rebuilt"), ("dist/aws/bye.zip", "rebuilt")]

    assert run(capsys, "build", "--target", "aws") == (
        0, "up to date: 2 artifacts in dist/aws, nothing changed\n", "")
    assert run(capsys, "build", "--target", "aws", "--function", "bye") == (
        0, "up to date: 1 artifact in dist/aws, nothing changed\n", "")

    (root / "app.py").write_text((root / "app.py").read_text() + "# changed\n")
    code, out, err = run(capsys, "build", "--target", "aws", "--function", "bye")
    assert code == 0, err
    assert [columns(r)[6] for r in out.splitlines()[1:]] == ["rebuilt"]
    code, out, err = run(capsys, "build", "--target", "aws")
    assert code == 0, err
    assert [(columns(r)[0], columns(r)[6]) for r in out.splitlines()[1:]] == [
        ("dist/aws/hello.zip", "rebuilt"), ("dist/aws/bye.zip", "up to date")]


def test_counts_are_written_as_a_person_writes_them() -> None:
    from fpack.report import plural

    assert [plural(n, "artifact") for n in (0, 1, 2)] == ["0 artifacts", "1 artifact",
                                                          "2 artifacts"]


def test_a_dry_run_writes_nothing_and_says_why_it_would_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = scaffold(tmp_path, capsys, monkeypatch)
    code, out, err = run(capsys, "build", "--target", "aws", "--dry-run")
    assert code == 0, err
    assert not (root / "dist").exists()
    assert err.endswith("(--dry-run: nothing was written; sizes are before bytecode)\n")
    header, row = out.splitlines()
    assert columns(header) == ["artifact", "zipped", "unzipped", "would"]
    assert columns(row)[0] == "dist/aws/hello.zip"
    assert columns(row)[3] == "rebuild: not built yet"

    assert run(capsys, "build", "--target", "aws")[0] == 0
    code, out, _ = run(capsys, "build", "--target", "aws", "--dry-run")
    assert code == 0 and columns(out.splitlines()[1])[3] == "stay (up to date)"
    (root / "app.py").write_text((root / "app.py").read_text() + "# changed\n")
    code, out, _ = run(capsys, "build", "--target", "aws", "--dry-run", "--json")
    [planned] = json.loads(out)
    assert (planned["path"], planned["up_to_date"], planned["reasons"]) == (
        "dist/aws/hello.zip", False, ["app.py changed"])
    assert {"name": "app.py", "mode": "644", "size": len((root / "app.py").read_bytes())} in (
        planned["entries"])
    assert run(capsys, "build", "--target", "aws", "--dry-run")[1].splitlines()[1].endswith(
        "rebuild: app.py changed")


def test_a_source_date_epoch_that_is_not_a_number_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scaffold(tmp_path, capsys, monkeypatch)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    assert run(capsys, "build", "--target", "aws") == (2, "", (
        "error: SOURCE_DATE_EPOCH='soon': expected a whole number of seconds since 1970-01-01 "
        "UTC\n  hint: e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it\n"))


def test_the_cache_commands_use_the_inputs_cache_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "cache", "clean")
    assert (code, out) == (0, f"emptied {tmp_path / 'cache'}\n")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and out.splitlines()[0] == f"cache: {tmp_path / 'cache'}"
