"""The one place fpack runs a subprocess: captured output, no shell, secrets redacted in errors."""

from __future__ import annotations

import re
import subprocess
import threading
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
    started: threading.Event | None = None,
) -> Result:
    """Run a command to completion and capture its output; never raises on a non-zero exit
    (subprocess.TimeoutExpired after `timeout`, the process killed). `started` is set once the
    process runs: a caller with work of its own to overlap with it begins then, rather than
    compete with the thread that starts it."""
    argv = tuple(str(a) for a in args)
    with subprocess.Popen(  # noqa: S603 - argv is built by fpack, never by a shell
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        if started is not None:
            started.set()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:  # a timeout, an interrupt: no process outlives the call
            proc.kill()
            proc.wait()
            raise
    return Result(args=argv, returncode=proc.returncode, stdout=stdout, stderr=stderr)
