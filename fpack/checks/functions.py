"""FP1xx/FP2xx: each function fits the targets it is checked for, and its handler exists with a
signature its style and trigger can call; read from the source snapshot, never imported.

The rules are the ones planning applies (`config.style_fits`, `config.trigger_fits`,
`handlers.find`, `handlers.signature_problem`); here every function is judged instead of stopping
at the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from fpack import handlers, schedules
from fpack.checks import Problem, toml_line
from fpack.config import Function, Project, style_fits, trigger_fits
from fpack.errors import ConfigError
from fpack.platforms import Target
from fpack.sources import SourceFile

_CODES: Final = {"no-module": "FP201", "no-attribute": "FP202", "syntax": "FP203"}


def check(project: Project, files: Sequence[SourceFile], targets: Sequence[Target],
          toml: str) -> list[Problem]:
    problems: list[Problem] = []
    for fn in project.functions.values():
        line = toml_line(toml, f"functions.{fn.name}", "handler")
        problems += _styles(project, fn, targets, toml)
        problems += _triggers(project, fn, targets, toml)
        problems += _schedule(project, fn, targets, toml)
        problems += _handler(project, fn, files, line)
    return problems


def _styles(project: Project, fn: Function, targets: Sequence[Target], toml: str) -> list[Problem]:
    problems = []
    for target in targets:
        flavor = project.docker.flavor if target == "docker" else None
        if not style_fits(fn.style, target, flavor):
            on = f'target "{target}"' + (f' (flavor "{flavor}")' if flavor else "")
            problems.append(Problem(
                path=project.config_path, line=toml_line(toml, f"functions.{fn.name}", "style"),
                code="FP102", message=f'[functions.{fn.name}] style = "{fn.style}" cannot run on '
                f'{on}; use style = "portable", or check with --target for the others'))
    return problems


# What delivers a stream's records: only Lambda's event source mappings (an aws zip, or a docker
# image of the lambda flavor deployed to Lambda).
_NO_SOURCE: Final = {"stream": "Kinesis and DynamoDB streams reach functions through Lambda's "
                               "event source mappings only"}


def _triggers(project: Project, fn: Function, targets: Sequence[Target],
              toml: str) -> list[Problem]:
    problems = []
    for target in targets:
        flavor = project.docker.flavor if target == "docker" else None
        if not trigger_fits(fn.trigger, target, flavor):
            on = f'target "{target}"' + (f' (flavor "{flavor}")' if flavor else "")
            fix = ('use [targets.docker] flavor = "lambda" or --target aws' if target == "docker"
                   else "build it with --target aws")
            problems.append(Problem(
                path=project.config_path, line=toml_line(toml, f"functions.{fn.name}", "trigger"),
                code="FP104", message=f'[functions.{fn.name}] trigger = "{fn.trigger}" has no '
                f"source on {on}: {_NO_SOURCE.get(fn.trigger, 'none there')}; {fix}, or check "
                "with --target for the others"))
    return problems


# How each target's deploy turns `schedule` into its scheduler's expression (gcp: Cloud Scheduler's
# unix-cron; aws: EventBridge's); docker images are scheduled by whatever runs them.
_SCHEDULERS: Final = {"aws": schedules.eventbridge, "gcp": schedules.unix_cron}


def _schedule(project: Project, fn: Function, targets: Sequence[Target],
              toml: str) -> list[Problem]:
    problems = []
    for target in targets:
        convert = _SCHEDULERS.get(target)
        if fn.schedule is None or convert is None:
            continue
        try:
            convert(fn.schedule, where=f"[functions.{fn.name}]")
        except ConfigError as e:
            problems.append(Problem(
                path=project.config_path, line=toml_line(toml, f"functions.{fn.name}", "schedule"),
                code="FP103", message=f"{target}: {e.message} ({e.hint})"))
    return problems


def _handler(project: Project, fn: Function, files: Sequence[SourceFile],
             line: int) -> list[Problem]:
    found = handlers.find(fn.module, fn.attr, files)
    where = f'[functions.{fn.name}] handler = "{fn.handler}"'
    if isinstance(found, handlers.HandlerProblem):
        path, at = ((project.root / found.path, max(found.line, 1)) if found.path
                    else (project.config_path, line))
        return [Problem(path=path, line=at, code=_CODES[found.reason],
                        message=f"{where}: {found.message}")]
    problem = handlers.signature_problem(found, fn.attr, style=fn.style, trigger=fn.trigger)
    if problem is None:
        return []
    return [Problem(path=project.root / found.path, line=found.line, code="FP204",
                    message=f"{where}: {problem}")]
