"""`fpack check`: the packaging check, fast enough for a pre-commit hook.

It decides what a build would, without building: load fpack.toml, snapshot the files a build would
package, and run each family of checks in `fpack/checks` (functions and handlers, secrets, locks,
dependencies and sizes) over them, collecting every problem instead of stopping at the first. Each
problem renders as `path:line: CODE message` (codes in `fpack.checks.CODES`). Nothing here prints:
the CLI renders the Report. Nothing here imports jinja2, Docker or a cloud SDK, and the index is
asked only when a dependency spec changed (`fpack/checks/resolutions.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from fpack import config, secrets
from fpack import plan as planning
from fpack.checks import Problem, deps, functions, locks, snapstart, toml_line
from fpack.deps import locals as local_libraries
from fpack.deps import spec as dep_spec
from fpack.errors import ConfigError
from fpack.inputs import BuildInputs
from fpack.platforms import TARGETS, Target
from fpack.report import Reporter
from fpack.sources import project_files, runtime_snapshot

DEFAULT_OUT: Final = Path("dist")  # what `fpack build` writes to, never packaged
_WHERE: Final = re.compile(r"^\[(?P<table>[\w.\-]+)\](?: (?P<key>[\w\-]+) =)?")
_TOML_LINE: Final = re.compile(r"at line (\d+)")


@dataclass(frozen=True, kw_only=True)
class Report:
    problems: tuple[Problem, ...]  # sorted by path, line, code
    targets: tuple[Target, ...]
    functions: int
    files: int  # packaged source files that were checked


def run(config_path: Path, *, targets: Sequence[Target] = (), inputs: BuildInputs,
        reporter: Reporter) -> Report:
    """Every problem a build of `targets` (default: those fpack.toml configures, else all) would
    meet, or that it would ship."""
    try:
        project = config.load(config_path)
        groups = planning.groups(project)
        specs = [dep_spec.read(g.dependencies, project.config_path, g.member) for g in groups]
        for g in groups:
            local_libraries.libraries(g.dependencies, g.member)
    except ConfigError as e:
        return Report(problems=(config_problem(config_path, e),), targets=tuple(targets),
                      functions=0, files=0)
    chosen = tuple(targets) or project.targets or TARGETS
    toml = config_path.read_text(encoding="utf-8")
    runtime = runtime_snapshot()
    problems: set[Problem] = set()
    checked: set[str] = set()
    files_checked = 0
    # Each group of functions (a directory and its dependency set; fpack/plan.py) is checked
    # against its own files and set; a set shared by several groups is resolved once.
    for group, spec in zip(groups, specs, strict=True):
        root = project.root / group.dir if group.dir else project.root
        files = project_files(root, group.include, group.exclude, project.root / DEFAULT_OUT)
        files_checked += len(files)
        part = replace(project, functions={f.name: f for f in group.functions})
        problems |= {*functions.check(part, files, chosen, toml),
                     *snapstart.check(part, files, chosen, toml),
                     *secrets.scan(files, project.check.allow)}
        if spec.key() in checked:
            continue
        checked.add(spec.key())
        problems |= {*locks.check(spec),
                     *deps.check(part, spec, files, runtime, chosen, inputs=inputs,
                                 reporter=reporter)}
    return Report(problems=tuple(sorted(problems)), targets=chosen,
                  functions=len(project.functions), files=files_checked)


def config_problem(config_path: Path, error: ConfigError) -> Problem:
    """FP101, pointed at the table or key the error names (or the line TOML's parser gives)."""
    prefix = f"{config_path}: "
    message = error.message.removeprefix(prefix)
    line = 1
    if m := _TOML_LINE.search(message):
        line = int(m.group(1))
    elif (m := _WHERE.match(message)) and config_path.is_file():
        line = toml_line(config_path.read_text(encoding="utf-8"), m["table"], m["key"])
    hint = f" ({error.hint})" if error.hint else ""
    return Problem(path=config_path.resolve(), line=line, code="FP101",
                   message=" ".join(message.split()) + hint)


def summary(report: Report) -> str:
    """The last line: what was checked and what was found."""
    checked = (f"{report.functions} function(s), {report.files} file(s), "
               f"target(s) {', '.join(report.targets)}")
    if not report.problems:
        return f"fpack check: no problems ({checked})"
    codes = ", ".join(sorted({p.code for p in report.problems}))
    return f"fpack check: {len(report.problems)} problem(s) [{codes}] ({checked})"
