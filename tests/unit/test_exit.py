"""The command's exit (fpack/__main__.py): the status sys.exit would give, the atexit handlers
and the flushes a normal exit makes, then no teardown; the normal exit when a thread that is
not a daemon still runs."""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading

import pytest

from fpack import __main__ as command


class Exited(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    done: list[str] = []

    def fake_exit(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: done.append("atexit"))
    return done


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130)])
def test_the_status_is_sys_exits(exits: list[str], code: int | None, status: int) -> None:
    with pytest.raises(Exited) as e:
        command.exit_now(code)
    assert e.value.status == status
    assert exits == ["atexit"]


def test_a_message_is_printed_with_status_1(exits: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exited) as e:
        command.exit_now("no fpack.toml here")
    assert e.value.status == 1
    assert capsys.readouterr().err == "no fpack.toml here\n"


def test_output_is_flushed_first(exits: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError

    buffered = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffered)
    with pytest.raises(Exited) as e:
        command.exit_now(0)
    assert e.value.status == 0
    monkeypatch.setattr(sys, "stdout", Closed())
    with pytest.raises(Exited) as e:
        command.exit_now(0)
    assert e.value.status == 120  # `fpack ... | head`: as Python's own exit


def test_a_running_thread_gets_the_normal_exit(exits: list[str]) -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(10,))
    worker.start()
    try:
        with pytest.raises(SystemExit) as e:
            command.exit_now(3)
        assert e.value.code == 3
        assert exits == []
    finally:
        release.set()
        worker.join()


def test_no_stdout_is_nothing_to_flush(exits: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # `fpack build >&-`
    with pytest.raises(Exited) as e:
        command.exit_now(0)
    assert e.value.status == 0
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(Exited) as e:
        command.exit_now(0)
    assert e.value.status == 0


def test_fpacks_own_threads_finish_their_step_first(exits: list[str]) -> None:
    finished: list[str] = []

    def step() -> None:
        threading.Event().wait(0.2)  # a zip being written after Ctrl-C
        finished.append("step")

    worker = threading.Thread(target=step, name="fpack-0", daemon=True)
    worker.start()
    with pytest.raises(Exited) as e:
        command.exit_now(130)
    assert e.value.status == 130
    assert finished == ["step"]


def test_a_thread_that_does_not_finish_is_waited_for_a_bounded_time(
        exits: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "FINISH_SECONDS", 0.1)
    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(10,), name="fpack-1", daemon=True)
    worker.start()
    try:
        with pytest.raises(Exited):
            command.exit_now(1)
        assert worker.is_alive()
    finally:
        release.set()
        worker.join()
