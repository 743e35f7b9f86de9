"""`fpack build` without Typer (fpack/build_command.py): what the fast path takes, what it leaves
to the CLI, and that both paths build, print and fail alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fpack import __main__ as entry
from fpack import build_command, cli
from fpack.build_command import BuildOptions

from .test_cli import scaffold


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("SOURCE_DATE_EPOCH", "FPACK_BUILD_IMAGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("argv", "expected"), [
    (["build", "--target", "aws"], {"target": "aws"}),
    (["-q", "--config=x/fpack.toml", "--debug", "build", "-t", "gcp", "-f", "a", "--function",
      "b", "-o", "out", "--arch", "arm64", "--sbom", "-j", "2"],
     {"target": "gcp", "function": ("a", "b"), "out": Path("out"), "arch": "arm64",
      "sbom": True, "jobs": 2, "quiet": True, "debug": True, "config": Path("x/fpack.toml")}),
    (["build", "--target=docker", "--dry-run", "--json", "--refresh",
      "--changed-since", "main"],
     {"target": "docker", "dry_run": True, "as_json": True, "refresh": True,
      "changed_since": "main"}),
])
def test_a_build_of_known_words_is_parsed_without_typer(argv: list[str],
                                                         expected: dict[str, object]) -> None:
    assert build_command.parse(argv) == BuildOptions(**expected, argv=tuple(argv))  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["build", "--help"], ["build"], ["check"], ["build", "--target"],
    ["build", "--target", "aws", "--jobs", "0"], ["build", "--target", "aws", "-j", "two"],
    ["build", "--target", "aws", "--targte", "gcp"], ["build", "--target", "aws", "extra"],
    ["build", "--target", "aws", "--json=yes"], ["--verbose", "build", "--target", "aws"],
    ["build", "--target", "--json"], ["build", "-t=aws"], ["build", "--target", "aws", "-o=out"],
    ["build", "--target", "aws", "--out="], ["--config=", "build", "--target", "aws"],
])
def test_anything_else_is_left_to_the_cli(argv: list[str]) -> None:
    """Help, typos, missing or bad values: Typer parses them and says what is wrong."""
    assert build_command.parse(argv) is None


def fast(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["fpack", *args])
    monkeypatch.setattr(cli, "run", lambda: pytest.fail("the fast path went through Typer"))
    with pytest.raises(SystemExit) as exited:
        entry.main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_both_paths_build_and_print_alike(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    scaffold(tmp_path, capsys, monkeypatch)
    code, out, err = fast(capsys, monkeypatch, "build", "--target", "aws", "--json")
    assert code == 0, err
    first = (tmp_path / "svc/dist/aws/hello.zip").read_bytes()
    assert cli.main(["build", "--target", "aws", "--json"]) == 0
    assert capsys.readouterr().out == out
    assert (tmp_path / "svc/dist/aws/hello.zip").read_bytes() == first


@pytest.mark.parametrize(("args", "code", "message"), [
    (("build", "--target", "azure"), 2, 'error: --target azure: expected "aws", "gcp" or '
     '"docker"\n'),
    (("build", "--target", "aws", "--arch", "amd64"), 2, 'error: --arch amd64: expected '
     '"x86_64" or "arm64"\n'),
])
def test_both_paths_fail_alike(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], code: int,
                               message: str) -> None:
    scaffold(tmp_path, capsys, monkeypatch)
    assert fast(capsys, monkeypatch, *args) == (code, "", message)
    assert cli.main(list(args)) == code
    assert capsys.readouterr().err == message


def test_an_unexpected_failure_names_itself_and_hides_the_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    scaffold(tmp_path, capsys, monkeypatch)

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(build_command, "read_inputs", broken)
    code, _, err = fast(capsys, monkeypatch, "build", "--target", "aws")
    assert (code, err) == (1, "error: fpack failed unexpectedly: RuntimeError: boom\n"
                              "  hint: run again with --debug for the traceback, and report it\n")
    code, _, err = fast(capsys, monkeypatch, "--debug", "build", "--target", "aws")
    assert code == 1 and "Traceback (most recent call last)" in err
