"""Progress reporting: library code is handed a Reporter and never prints.

Progress and warnings go to stderr (stdout is for results and `--json`); colour only on a TTY and
never with NO_COLOR; `--quiet` keeps warnings and drops progress.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Protocol, TextIO


class Reporter(Protocol):
    def step(self, message: str) -> None: ...
    def done(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


class NullReporter:
    def step(self, message: str) -> None:
        pass

    def done(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


class ConsoleReporter:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.color = self.stream.isatty() and not os.environ.get("NO_COLOR")
        self._start = time.monotonic()

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _elapsed(self) -> str:
        return self._paint("2", f"[{time.monotonic() - self._start:5.1f}s]")

    def step(self, message: str) -> None:
        if not self.quiet:
            print(f"{self._elapsed()} {message}", file=self.stream, flush=True)

    def done(self, message: str) -> None:
        if not self.quiet:
            print(f"{self._elapsed()} {self._paint('32', message)}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        print(f"{self._paint('33', 'warning:')} {message}", file=self.stream, flush=True)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def plural(n: int, noun: str) -> str:
    """`1 package`, `2 packages`: counts read as a person writes them."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
