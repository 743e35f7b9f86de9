"""Progress reporting: library code is handed a Reporter and never prints.

Progress and warnings go to stderr (stdout is for results and `--json`); colour only on a TTY and
never with NO_COLOR; `--quiet` keeps warnings and drops progress.
"""

from __future__ import annotations

import os
import sys
import threading
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
    """Lines on stderr. Safe to share between the workers of a parallel build: on a terminal,
    the step each worker is running stays on one live line at the bottom (`[  3.1s] resolving
    services/orders/requirements.txt ...`), rewritten in place, while finished steps and
    warnings scroll above; elsewhere (CI logs, pipes) every step is one plain line."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.color = self.stream.isatty() and not os.environ.get("NO_COLOR")
        self.live = self.stream.isatty()
        self._start = time.monotonic()
        self._mutex = threading.Lock()
        self._running: dict[int, str] = {}  # worker thread -> the step it is on
        self._drawn = 0  # live lines now on the screen
        self.warnings: list[str] = []  # every warning given, for the build stamp to repeat

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _elapsed(self) -> str:
        return self._paint("2", f"[{time.monotonic() - self._start:5.1f}s]")

    def step(self, message: str) -> None:
        if self.quiet:
            return
        with self._mutex:
            if not self.live:
                self._print(f"{self._elapsed()} {message}")
                return
            self._running[threading.get_ident()] = f"{self._elapsed()} {message}"
            self._redraw()

    def done(self, message: str) -> None:
        if self.quiet:
            return
        with self._mutex:
            self._running.pop(threading.get_ident(), None)
            self._print(f"{self._elapsed()} {self._paint('32', message)}")

    def warn(self, message: str) -> None:
        with self._mutex:
            self.warnings.append(message)
            self._print(f"{self._paint('33', 'warning:')} {message}")

    def close(self) -> None:
        """Clear the live lines: the command's result follows."""
        with self._mutex:
            self._running.clear()
            self._redraw()

    def _print(self, line: str) -> None:
        """A permanent line, above the live ones (which are drawn again under it)."""
        self._erase()
        print(line, file=self.stream, flush=True)
        if self.live:
            self._draw()

    def _redraw(self) -> None:
        self._erase()
        self._draw()

    def _erase(self) -> None:
        if self._drawn:  # up to the first live line, then clear to the end of the screen
            self.stream.write(f"\033[{self._drawn}F\033[J")
            self._drawn = 0

    def _draw(self) -> None:
        lines = list(self._running.values())
        for line in lines:
            self.stream.write(line[: _width(self.stream)] + "\n")
        self.stream.flush()
        self._drawn = len(lines)


def _width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns - 1
    except (OSError, ValueError):
        return 119


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
