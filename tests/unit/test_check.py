"""`fpack check` end to end in-process: one line per problem, a summary, exit codes, --target,
--json, FP1xx/FP2xx, and a start-up that never loads a heavy module."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from fpack import cli
from fpack.checks import CODES

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "docker", "google", "jinja2")

TOML = """\
[project]
name = "shop"

[functions.hello]
handler = "app.web:hello"

[functions.orders]
handler = "app.jobs:consume"
trigger = "queue"

[targets.aws]
arch = "arm64"
"""
WEB = "import fpack\n\n\ndef hello(request: fpack.Request) -> fpack.Response:\n    return {}\n"
JOBS = "def consume(message, retries=3):\n    pass\n"


def make(root: Path, toml: str = TOML, web: str = WEB, jobs: str = JOBS) -> Path:
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "web.py").write_text(web)
    (root / "app" / "jobs.py").write_text(jobs)
    (root / "fpack.toml").write_text(toml)
    return root


def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, root: Path,
          *args: str) -> tuple[int, list[str], str]:
    monkeypatch.chdir(root)
    code = cli.main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_good_project_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = check(capsys, monkeypatch, make(tmp_path))
    assert (code, err) == (0, "")
    assert out == ["fpack check: no problems (2 function(s), 3 file(s), target(s) aws)"]


def test_each_problem_is_one_line_then_a_summary(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    toml = TOML.replace("app.jobs:consume", "app.jobs:consumer") + (
        '\n[functions.legacy]\nhandler = "app.web:legacy"\nstyle = "lambda"\n'
        '\n[functions.tick]\nhandler = "app.timer:tick"\ntrigger = "schedule"\n[targets.gcp]\n')
    web = WEB + "\n\ndef legacy(event):\n    return {}\n"
    code, out, err = check(capsys, monkeypatch, make(tmp_path, toml, web))
    assert code == 1
    assert out == [
        'app/jobs.py:1: FP202 [functions.orders] handler = "app.jobs:consumer": module "app.jobs" '
        "has no attribute \"consumer\"; it defines: consume",
        'app/web.py:8: FP204 [functions.legacy] handler = "app.web:legacy": legacy takes 1 '
        "positional parameter; a lambda http handler takes 2: def legacy(event, context)",
        'fpack.toml:16: FP102 [functions.legacy] style = "lambda" cannot run on target "gcp"; '
        'use style = "portable", or check with --target for the others',
        'fpack.toml:19: FP201 [functions.tick] handler = "app.timer:tick": module "app.timer" is '
        "not among the packaged files (looked for app/timer.py and app/timer/__init__.py); check "
        "the handler's module path and [project] include",
    ]
    assert err == ("error: fpack check: 4 problem(s) [FP102, FP201, FP202, FP204] (4 function(s), "
                   "3 file(s), target(s) aws, gcp)\n")


@pytest.mark.parametrize(("schedule", "refused_on"), [
    ("rate(7 minutes)", "gcp"),  # fine for EventBridge; unix-cron cannot say it evenly
    ("0 9 1 * 1", "aws"),  # fine for unix-cron; EventBridge needs a "?" in a day field
    ("cron(0 9 ? * MON-FRI *)", None),
])
def test_a_schedule_a_target_cannot_say_is_fp103_on_that_target(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        schedule: str, refused_on: str | None) -> None:
    toml = TOML + (f'\n[functions.tick]\nhandler = "app.jobs:tick"\ntrigger = "schedule"\n'
                   f'schedule = "{schedule}"\ntopic = "ticks"\n[targets.gcp]\n')
    code, out, _ = check(capsys, monkeypatch,
                         make(tmp_path, toml, jobs=JOBS + "\n\ndef tick(event):\n    pass\n"))
    assert code == (1 if refused_on else 0)
    if refused_on:
        (line,) = out
        assert line.startswith(f'fpack.toml:17: FP103 {refused_on}: [functions.tick] schedule = '
                               f'"{schedule}": ')


def test_target_option_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    toml = TOML + ('\n[functions.legacy]\nhandler = "app.web:legacy"\nstyle = "lambda"\n'
                   "[targets.gcp]\n")
    root = make(tmp_path, toml, WEB + "\ndef legacy(event, context):\n    return {}\n")
    assert check(capsys, monkeypatch, root, "--target", "aws")[0] == 0
    code, out, _ = check(capsys, monkeypatch, root, "--json")
    assert code == 1
    assert json.loads("\n".join(out)) == [{
        "path": "fpack.toml", "line": 16, "code": "FP102",
        "message": '[functions.legacy] style = "lambda" cannot run on target "gcp"; use style = '
        '"portable", or check with --target for the others'}]
    code, _, err = check(capsys, monkeypatch, root, "--target", "azure")
    assert (code, err) == (2, 'error: --target azure: expected "aws", "gcp" or "docker"\n')


def test_an_invalid_config_is_fp101_at_its_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = make(tmp_path, TOML.replace('arch = "arm64"', 'arch = "amd64"'))
    code, out, _ = check(capsys, monkeypatch, root)
    assert code == 1
    assert out == [
        'fpack.toml:12: FP101 [targets.aws] arch = "amd64": expected "x86_64" or "arm64". '
        'Did you mean "x86_64"?'
    ]
    (root / "fpack.toml").write_text("[project]\nname = \n")
    code, out, _ = check(capsys, monkeypatch, root)
    assert code == 1 and re.fullmatch(r"fpack.toml:2: FP101 not valid TOML: .*", out[0])


def test_no_config_at_all_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = check(capsys, monkeypatch, tmp_path)
    assert (code, out) == (2, []) and err.startswith("error: no fpack.toml in ")


def test_problems_point_at_files_relative_to_where_check_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make(tmp_path / "services" / "shop", web="def hello(a, b):\n    return {}\n")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["--config", "services/shop/fpack.toml", "check"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and out[0].startswith("services/shop/app/web.py:1: FP204 ")
    assert root.is_dir()


def test_check_loads_no_heavy_module(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Other tests import jinja2 and friends: forget them, run a check, see what came back."""
    for name in list(sys.modules):
        if name.split(".")[0] in HEAVY or name.startswith(("fpack.", "fpack")):
            monkeypatch.delitem(sys.modules, name)
    fresh_cli = importlib.import_module("fpack.cli")
    monkeypatch.chdir(make(tmp_path))
    assert fresh_cli.main(["check"]) == 0
    assert [m for m in sys.modules if m.split(".")[0] in HEAVY] == []
    assert "fpack.build" not in sys.modules and "fpack.targets" not in sys.modules


def test_every_code_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## fpack check", 1)[1].split("\n## ", 1)[0]
    assert [c for c in CODES if f"`{c}`" not in section] == []
