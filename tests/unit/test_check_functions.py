"""Handler signatures against their style and trigger, read from the source (handlers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import handlers
from fpack.sources import snapshot


def judge(tmp_path: Path, source: str, style: str, trigger: str) -> str | None:
    (tmp_path / "app.py").write_text(source)
    found = handlers.find("app", "handler", snapshot(tmp_path, ["app.py"], ()))
    assert isinstance(found, handlers.HandlerInfo)
    return handlers.signature_problem(found, "handler", style=style, trigger=trigger)


@pytest.mark.parametrize(("source", "style", "trigger"), [
    ("def handler(request): ...", "portable", "http"),
    ("def handler(request: fpack.Request) -> fpack.Response: ...", "portable", "http"),
    ("def handler(event: 'fpack.StorageEvent'): ...", "portable", "storage"),
    ("def handler(message: Message, retries=3): ...", "portable", "queue"),
    ("def handler(*args): ...", "portable", "schedule"),
    ("def handler(event, context): ...", "lambda", "storage"),
    ("def handler(event, context=None): ...", "lambda", "http"),
    ("def handler(cloud_event): ...", "functions-framework", "queue"),
    ("async def handler(cloud_event): ...", "functions-framework", "queue"),
    ("handler = make_handler()", "portable", "http"),
    ("class handler: ...", "lambda", "http"),
])  # fmt: skip
def test_fitting_signatures(tmp_path: Path, source: str, style: str, trigger: str) -> None:
    assert judge(tmp_path, source, style, trigger) is None


@pytest.mark.parametrize(("source", "style", "trigger", "problem"), [
    ("def handler(): ...", "portable", "http",
     "handler takes 0 positional parameters; a portable http handler takes 1: def "
     "handler(request)"),
    ("def handler(event, context): ...", "portable", "queue",
     "handler takes 2 positional parameters; a portable queue handler takes 1: def "
     'handler(message). To package it as a Lambda handler, set style = "lambda" in its '
     "[functions] table (runs on aws and docker)"),
    ("def handler(a, b, c=1): ...", "portable", "schedule",
     "handler takes 2 to 3 positional parameters; a portable schedule handler takes 1: def "
     'handler(event). To package it as a Lambda handler, set style = "lambda" in its '
     "[functions] table (runs on aws and docker)"),
    ("def handler(event): ...", "lambda", "storage",
     "handler takes 1 positional parameter; a lambda storage handler takes 2: def "
     "handler(event, context)"),
    ("async def handler(request): ...", "portable", "http",
     "handler is an async function; a portable handler is called synchronously and must be a "
     "plain function: def handler(request)"),
    ("def handler(event: fpack.StorageEvent) -> None: ...", "portable", "queue",
     "handler's parameter is annotated fpack.StorageEvent, but a queue handler receives "
     'fpack.Message: check trigger = "queue" or the handler'),
    ("def handler(req: Request): ...", "portable", "schedule",
     "handler's parameter is annotated Request, but a schedule handler receives "
     'fpack.ScheduleEvent: check trigger = "schedule" or the handler'),
])  # fmt: skip
def test_signatures_that_do_not_fit(tmp_path: Path, source: str, style: str, trigger: str,
                                    problem: str) -> None:
    assert judge(tmp_path, source, style, trigger) == problem
