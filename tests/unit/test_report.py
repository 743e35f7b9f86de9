"""Progress on stderr: plain lines in logs; on a terminal, one live line per running step."""

from __future__ import annotations

import io
import threading

from fpack.report import ConsoleReporter, plural


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_every_step_is_one_plain_line() -> None:
    out = io.StringIO()
    reporter = ConsoleReporter(out)
    reporter.step("resolving a")
    reporter.done("resolved a")
    reporter.warn("careful")
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines[:2]] == ["resolving a", "resolved a"]
    assert lines[2] == "warning: careful"
    assert "\033" not in out.getvalue()


def test_on_a_terminal_each_running_step_keeps_one_line_rewritten_in_place() -> None:
    out = Terminal()
    reporter = ConsoleReporter(out)
    reporter.color = False  # the escape codes that matter here are the cursor's
    finish = threading.Event()
    stepped = [threading.Event(), threading.Event()]

    def worker(i: int, name: str) -> None:
        reporter.step(f"resolving {name}")
        stepped[i].set()
        finish.wait(timeout=10)
        reporter.done(f"resolved {name}")

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate("ab")]
    threads[0].start()
    assert stepped[0].wait(timeout=10)
    threads[1].start()
    assert stepped[1].wait(timeout=10)

    def board() -> list[str]:
        """What is on the screen below the last erase: the live lines."""
        return [line.split("] ", 1)[1] for line in
                out.getvalue().rsplit("\033[J", 1)[-1].splitlines()]

    # The second step erased the one-line board (cursor up 1, clear) and drew both lines.
    assert "\033[1F\033[J" in out.getvalue()
    assert board() == ["resolving a", "resolving b"]
    finish.set()
    for t in threads:
        t.join(timeout=10)
    # Finished lines scroll above; the board is empty once both steps are done.
    assert "resolved a" in out.getvalue() and "resolved b" in out.getvalue()
    assert board()[-1:] == ["resolved b"] or board()[-1:] == ["resolved a"]
    reporter.close()


def test_counts_read_as_a_person_writes_them() -> None:
    assert (plural(1, "package"), plural(2, "package"), plural(0, "artifact")) == (
        "1 package", "2 packages", "0 artifacts")
