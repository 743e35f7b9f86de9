"""A new user's first hour (issue 14), on the command line: --version, help without type
placeholders, shell completion, and a Lambda-style handler setting answered with fpack's spelling.
(The other first-hour points are in test_cli.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_cli import run


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "cache"))


def test_version_names_fpack_and_the_uv_it_resolves_with(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fpack import __version__
    from fpack.deps import uv

    monkeypatch.setattr(uv, "version", lambda: "uv 0.13.9 (x86_64-unknown-linux-gnu)")
    assert run(capsys, "--version") == (
        0, f"fpack {__version__}\nuv 0.13.9 (x86_64-unknown-linux-gnu)\n", "")


COMMANDS = (("init",), ("build",), ("ls",), ("deploy",), ("invoke",), ("serve",), ("check",),
            ("cache",), ("cache", "info"), ("cache", "clean"))


def test_help_is_plain_text_without_type_placeholders(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option that takes a value names it; flags show nothing after them (typer's rich
    panels printed `<bool>` after each flag in some releases)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert run(capsys, "--help") == (0, """\
Usage: fpack [OPTIONS] COMMAND [ARGS]...

  Package one Python function for AWS Lambda, Cloud Functions and Docker.

Options:
  --debug               Show tracebacks
  -q, --quiet           Only warnings and errors
  -c, --config PATH     Path to fpack.toml
  --version             Print fpack's version and uv's, then exit
  --install-completion  Install completion for the current shell.
  --show-completion     Show completion for the current shell, to copy it or
                        customize the installation.
  --help                Show this message and exit.

Commands:
  init    Scaffold fpack.toml, a handler and requirements.txt.
  build   Build the artifacts of every function for one target.
  ls      List the functions, their dependency sets and targets.
  deploy  Build what is stale, then deploy it to one target.
  invoke  Build what is stale, then run a function once, locally.
  serve   Build what is stale, then serve an http function locally.
  check   Check the project without building (pre-commit hook).
  cache   Inspect or empty fpack's cache of resolutions, trees and archives.
""", "")
    for command in COMMANDS:
        code, out, _ = run(capsys, *command, "--help")
        assert code == 0 and out.startswith(f"Usage: fpack {' '.join(command)} "), command
        assert "<bool>" not in out and "--no-" not in out, (command, out)
        options = out[out.index("Options:"):]
        assert "<" not in options, (command, options)  # no <str>, <path>, <int range>


def test_shell_completion_installs_and_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shellingham

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("bash", "/bin/bash"))
    script = tmp_path / "home" / ".bash_completions" / "fpack.sh"
    assert run(capsys, "--install-completion") == (
        0, f"bash completion installed in {script}\n"
        "Completion will take effect once you restart the terminal\n", "")
    assert f"source '{script}'" in (tmp_path / "home" / ".bashrc").read_text()
    assert "_FPACK_COMPLETE=complete_bash" in script.read_text()
    # what the installed script runs on <TAB>: fpack itself, told by _FPACK_COMPLETE
    monkeypatch.setenv("_FPACK_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "fpack bu")
    monkeypatch.setenv("COMP_CWORD", "1")
    assert run(capsys, "bu") == (0, "build\n", "")


def test_a_lambda_style_handler_setting_is_refused_with_the_spelling_fpack_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lambda_function.py").write_text("def lambda_handler(event, context):\n"
                                                 "    return {}\n")
    (tmp_path / "fpack.toml").write_text(
        '[functions.hello]\nhandler = "lambda_function.lambda_handler"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "cache"))
    assert run(capsys, "build", "--target", "aws") == (2, "", (
        f'error: {tmp_path}/fpack.toml: [functions.hello] handler = '
        '"lambda_function.lambda_handler": expected "module:attribute". Did you mean '
        '"lambda_function:lambda_handler"? (fpack separates the module from the function with '
        "a colon, where Lambda uses a dot)\n"))
