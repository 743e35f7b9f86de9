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


# --- a new user's first hour (issue 14) ---------------------------------------------------------


STYLES = {
    "lambda": ("def hello(event, context):\n    return {}\n", "hello takes 2 positional "
               "parameters; a portable http handler takes 1: def hello(request). To package it "
               'as a Lambda handler, set style = "lambda" in its [functions] table (runs on aws '
               "and docker)"),
    "functions-framework": (
        "import functions_framework\n\n\n@functions_framework.http\ndef hello(request):\n"
        "    return 'hi'\n", "hello is a functions-framework handler "
        "(@functions_framework.http); a portable handler takes an fpack.Request: def "
        'hello(request). To package it as a functions-framework handler, set style = '
        '"functions-framework" in its [functions] table (runs on gcp and docker)'),
    "asgi": ("from fastapi import FastAPI\n\nhello = FastAPI()\n", "hello is an ASGI "
             "application (FastAPI), not a portable handler function. To package it as an ASGI "
             'app, set style = "asgi" in its [functions] table (runs on aws, gcp and docker; '
             "http only)"),
    "wsgi": ("import flask\n\nhello = flask.Flask(__name__)\n", "hello is a WSGI application "
             "(flask.Flask), not a portable handler function. To package it as a WSGI app, set "
             'style = "wsgi" in its [functions] table (runs on aws, gcp and docker; http only)'),
}


@pytest.mark.parametrize("style", list(STYLES))
def test_a_handler_of_another_style_is_refused_with_the_style_that_fits(
    style: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    source, problem = STYLES[style]
    root = scaffold(tmp_path, capsys, monkeypatch)
    (root / "app.py").write_text(source)
    line = 5 if style == "functions-framework" else 1 if style == "lambda" else 3
    assert run(capsys, "build", "--target", "aws") == (2, "", (
        f'error: {root}/fpack.toml: [functions.hello] handler = "app:hello": app.py:{line}: '
        f"{problem}\n"))
    code, out, _ = run(capsys, "check", "--target", "aws")
    assert (code, out) == (1, f'app.py:{line}: FP204 [functions.hello] handler = "app:hello": '
                              f"{problem}\n")
    toml = root / "fpack.toml"
    toml.write_text(toml.read_text().replace('trigger = "http"\n',
                                             f'trigger = "http"\nstyle = "{style}"\n'))
    if style != "functions-framework":  # which does not run on aws
        assert run(capsys, "check", "--target", "aws")[0] == 0


MAC_WHEEL = "./wheels/demo-1.0-cp312-cp312-macosx_11_0_arm64.whl"


@pytest.mark.parametrize(("wheel", "settings", "why", "platform"), [
    (MAC_WHEEL, ("", ""), "the wheel is built for macOS (macosx_11_0_arm64), not Linux",
     ("python3.12 x86_64 (Amazon Linux 2023, glibc 2.34)", "CPython 3.12 on Linux x86_64 "
      "(manylinux_2_34_x86_64 or older)")),
    ("https://wheels.example/demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
     ('arch = "x86_64"', 'arch = "arm64"'),
     "the wheel is built for x86_64 (manylinux_2_17_x86_64), not arm64 (aarch64)",
     ("python3.12 arm64 (Amazon Linux 2023, glibc 2.34)", "CPython 3.12 on Linux arm64 "
      "(manylinux_2_34_aarch64 or older)")),
    ("demo @ file:///srv/wheels/demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
     ("[targets.aws]\n", '[targets.aws]\nruntime = "python3.11"\n'),
     "the wheel is built for CPython 3.12 (cp312), not Python 3.11",
     ("python3.11 x86_64 (Amazon Linux 2, glibc 2.26)", "CPython 3.11 on Linux x86_64 "
      "(manylinux_2_26_x86_64 or older)")),
])  # fmt: skip
def test_a_wheel_the_requirements_name_that_cannot_run_on_the_target(
    wheel: str, settings: tuple[str, str], why: str, platform: tuple[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judged by its tags before uv runs (unit tests cannot start uv): `fpack check` reports
    FP301 with the requirement and the platform, and a build stops with fpack's own words."""
    root = scaffold(tmp_path, capsys, monkeypatch)
    toml = root / "fpack.toml"
    toml.write_text(toml.read_text().replace(*settings))
    (root / "requirements.txt").write_text(f"# pinned by hand\n{wheel}\n")
    label, wanted = platform
    code, out, _ = run(capsys, "check", "--target", "aws")
    assert (code, out) == (1, (
        f"requirements.txt:2: FP301 demo ({wheel}) has no wheel for aws {label}: {why}; name a "
        f"wheel for {wanted} or a pure-Python one (py3-none-any), or require demo by name and "
        "version\n"))
    assert run(capsys, "build", "--target", "aws") == (1, "", (
        f"error: this wheel cannot run on aws {label}:\n"
        f"  requirements.txt:2: {wheel}: {why}\n"
        f"  hint: name a wheel for {wanted} or a pure-Python one (py3-none-any) instead, or "
        "require demo by name and version, so that fpack picks the wheel for the target\n"))
    assert not (root / "dist").exists()


def test_invoke_builds_what_is_stale_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As deploy does: no `fpack build` first; an edit is rebuilt before the next run."""
    from fpack.local import invoke

    root = scaffold(tmp_path, capsys, monkeypatch)
    ran: list[bytes] = []

    def execute(run: invoke.LocalRun) -> tuple[dict[str, object], str]:
        ran.append((root / "dist/aws/hello.zip").read_bytes())  # what the container would get
        return {"ok": True, "result": {"statusCode": 200, "body": '{"hello": "world"}',
                                       "headers": {"Content-Type": "application/json"}}}, ""

    monkeypatch.setattr(invoke, "execute", execute)
    answer = json.dumps({"status": 200, "headers": {"content-type": "application/json"},
                         "body": {"hello": "world"}}, indent=2) + "\n"
    assert run(capsys, "--quiet", "invoke", "hello", "--target", "aws") == (0, answer, "")
    (root / "app.py").write_text((root / "app.py").read_text() + "# edited\n")
    assert run(capsys, "--quiet", "invoke", "hello", "--target", "aws") == (0, answer, "")
    with zipfile.ZipFile(root / "dist/aws/hello.zip") as z:
        assert z.read("app.py").endswith(b"# edited\n")
    assert len(ran) == 2 and ran[0] != ran[1]
    assert run(capsys, "invoke", "nope", "--target", "aws") == (2, "", (
        f"error: nope: no such function in {root}/fpack.toml; defined: hello\n"))


def test_serve_builds_what_is_stale_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib
    import socket

    from fpack.local import serve

    root = scaffold(tmp_path, capsys, monkeypatch)

    class Container:
        def logs(self, **_: object) -> list[bytes]:
            return [b"the function's output\n"]

        def stop(self, **_: object) -> None:
            pass

    @contextlib.contextmanager
    def running(run: object, inner: int, host_port: int) -> object:
        assert (root / "dist/aws/hello.zip").is_file()  # built before the container starts
        yield Container()

    monkeypatch.setattr(serve, "_running", running)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run(capsys, "--quiet", "serve", "hello", "--target", "aws", "--port", str(port)) == (
        0, "", "the function's output\n")
