"""The one place fpack runs a subprocess: captured output, no shell, secrets redacted in errors."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+(?::[^/@\s]*)?@", re.I)


def redact(text: str) -> str:
    """Drop user:password from every URL in `text`: index URLs often carry tokens."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


@dataclass(frozen=True, kw_only=True)
class Result:
    """A finished subprocess: its arguments, exit code and output."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> Result:
    """Run a command to completion and capture its output; never raises on a non-zero exit."""
    argv = tuple(str(a) for a in args)
    proc = subprocess.run(  # noqa: S603 - argv is built by fpack, never by a shell
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(args=argv, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
