"""Steps side by side (fpack/parallel.py): results in the caller's order, the first failure in
that order raised once the running steps have finished, nothing started after a failure."""

from __future__ import annotations

import threading
import time

import pytest

from fpack import parallel


def test_results_keep_the_order_of_the_items() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.02 if n == 0 else 0)
        return n * n

    assert parallel.map_ordered(slow_first, [0, 1, 2, 3, 4], jobs=3) == [0, 1, 4, 9, 16]
    assert parallel.map_all(slow_first, [3, 1, 2], jobs=2) == {3: 9, 1: 1, 2: 4}


def test_items_are_started_in_their_order() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def note(n: int) -> int:
        with lock:
            started.append(n)
        return n

    parallel.map_ordered(note, list(range(20)), jobs=1)
    assert started == list(range(20))
    started.clear()
    parallel.map_ordered(note, list(range(20)), jobs=2)
    assert started[:2] in ([0, 1], [1, 0])  # the first two, taken first


def test_the_first_failure_in_the_callers_order_is_raised_after_the_running_finish() -> None:
    finished: list[int] = []

    def step(n: int) -> int:
        if n == 1:
            time.sleep(0.05)  # fails last, but comes first in the caller's order
            raise ValueError("one")
        if n == 2:
            raise KeyError("two")
        time.sleep(0.1)
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="one"):
        parallel.map_ordered(step, [0, 1, 2, 3, 4, 5], jobs=3)
    assert finished == [0]  # running when the failures came: let finish; 3, 4, 5 never began


def test_one_job_runs_in_the_calling_thread() -> None:
    names = parallel.map_ordered(lambda _: threading.current_thread().name, [1, 2], jobs=1)
    assert names == [threading.current_thread().name] * 2
