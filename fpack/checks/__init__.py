"""The checks behind `fpack check`: one module per family of problems, each a function from facts
(the configuration, the source snapshot, cached resolutions) to `Problem`s.

Codes are stable: a code keeps its meaning forever, new problems get new codes, and `CODES` is the
table that the README's "fpack check" section documents. Nothing here prints or exits; `fpack.check`
runs the families and the CLI renders what they found. Importing this package stays light: no
jinja2, Docker or cloud SDKs (`fpack check` runs on every commit).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# code -> what it means. Grouped by hundreds: 1 configuration, 2 handlers, 3 dependencies,
# 4 sizes, 5 locks, 6 secrets.
CODES: Final[dict[str, str]] = {
    "FP101": "fpack.toml is not valid",
    "FP102": "a function's style cannot run on a configured target",
    "FP103": "a function's schedule cannot be said in a configured target's scheduler",
    "FP104": "a function's trigger has no event source on a configured target (stream on gcp)",
    "FP105": "a setting Lambda SnapStart does not take (warm, container images)",
    "FP201": "a handler's module is not among the packaged files",
    "FP202": "a handler's module does not define the handler",
    "FP203": "a handler's module does not parse",
    "FP204": "a handler's signature does not fit its style and trigger",
    "FP205": "a handler's module makes a per-instance value at import time, under SnapStart",
    "FP301": "a dependency has no wheel for a target platform and no container build is configured",
    "FP302": "the dependencies cannot be resolved for a target platform",
    "FP401": "an artifact would be over its target's unzipped size limit",
    "FP402": "an artifact would be over its target's zipped size limit",
    "FP501": "uv.lock is out of date with pyproject.toml",
    "FP502": "a compiled requirements file is out of date with its .in file",
    "FP503": "poetry.lock, pdm.lock, Pipfile.lock or pylock.toml is out of date with its project",
    "FP601": "a packaged file is a secrets file by its name (.env, id_rsa, .netrc, ...)",
    "FP602": "a packaged file holds a private key",
    "FP603": "a packaged file holds an AWS access key id",
    "FP604": "a packaged file holds another credential (secret key, token, password in a URL)",
}


@dataclass(frozen=True, kw_only=True, order=True)
class Problem:
    """One finding, rendered `path:line: CODE message`; ordered by place, then code."""

    path: Path  # absolute
    line: int  # 1-based
    code: str
    message: str

    def __post_init__(self) -> None:
        assert self.code in CODES, self.code

    def render(self, cwd: Path) -> str:
        return f"{display_path(self.path, cwd)}:{self.line}: {self.code} {self.message}"


def display_path(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when it is below it (what editors and pre-commit expect)."""
    path = path.absolute()
    return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)


def toml_line(text: str, table: str, key: str | None = None) -> int:
    """The line of `[table]` (or of `key` inside it) in TOML `text`; 1 when not found.

    tomllib gives no positions, and messages must point where the user types: a line scan is
    enough for the tables fpack.toml has (no inline tables at the top level).
    """
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(?:#.*)?$")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return 1
    if key is None:
        return start + 1
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if assignment.match(lines[i]):
            return i + 1
    return start + 1
