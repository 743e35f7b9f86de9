"""FP105/FP205: what breaks under Lambda SnapStart, found by `fpack check` without building."""

from __future__ import annotations

import ast
from pathlib import Path

from fpack import config
from fpack.checks import snapstart
from fpack.sources import project_files

TOML = """
[project]
name = "photos"
python = "3.12"

[functions.hello]
handler = "app:hello"
warm = 2

[targets.aws]
snap_start = true
{extra}"""
APP = '''import random
import uuid as u
from secrets import token_hex
from os import urandom

SEEDED = random.Random(42)
ID = u.uuid4()
TOKEN = token_hex(8)


class Config:
    salt = urandom(16)


def hello(request, nonce=random.random()):
    return {"id": str(uuid_in_call())}


def uuid_in_call():
    return u.uuid4()  # per invocation: fine
'''


def problems(tmp_path: Path, toml: str = TOML.format(extra=""),
             targets: tuple[str, ...] = ("aws",)) -> list[tuple[str, int, str]]:
    (tmp_path / "fpack.toml").write_text(toml)
    (tmp_path / "app.py").write_text(APP)
    project = config.load(tmp_path / "fpack.toml")
    files = project_files(tmp_path, None, (), tmp_path / "dist")
    found = snapstart.check(project, files, targets, toml)  # type: ignore[arg-type]
    return [(p.code, p.line, p.message) for p in sorted(found)]


def test_warm_and_import_time_unique_values_are_reported(tmp_path: Path) -> None:
    found = problems(tmp_path)
    by_code: dict[str, list[tuple[int, str]]] = {}
    for code, line, message in found:
        by_code.setdefault(code, []).append((line, message))
    (warm,) = by_code["FP105"]
    assert warm[0] == 8  # the warm = line in fpack.toml
    assert warm[1].startswith("[functions.hello] warm = 2: Lambda does not combine provisioned "
                              "concurrency with SnapStart")
    calls = [(line, message.split("()")[0]) for line, message in by_code["FP205"]]
    assert calls == [(7, "uuid.uuid4"), (8, "secrets.token_hex"), (12, "os.urandom"),
                     (15, "random.random")]  # the seeded Random and the call in a body are fine
    assert "every instance is restored from one snapshot" in by_code["FP205"][0][1]


def test_nothing_without_snap_start_or_without_aws(tmp_path: Path) -> None:
    assert problems(tmp_path, TOML.format(extra="").replace("snap_start = true", "")) == []
    assert problems(tmp_path, targets=("gcp",)) == []


def test_lambda_images_are_reported(tmp_path: Path) -> None:
    toml = TOML.format(extra='role = "arn:aws:iam::123456789012:role/r"\n\n[targets.docker]\n'
                             'flavor = "lambda"\n').replace("warm = 2\n", "")
    found = [f for f in problems(tmp_path, toml) if f[0] == "FP105"]
    assert [(line, message.split(":")[0]) for _, line, message in found] == [
        (14, '[targets.docker] flavor = "lambda"')]


def test_import_time_calls_skip_function_bodies() -> None:
    tree = ast.parse("import random\nx = [random.choice('ab') for _ in range(2)]\n"
                     "f = lambda: random.random()\n")
    assert list(snapstart.import_time_calls(tree)) == [(2, "random.choice")]
