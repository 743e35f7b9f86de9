"""Running independent build steps side by side: dependency sets, artifacts.

Threads, not processes: the work is uv and Docker subprocesses, zlib and file I/O, which release
the GIL, and the steps share the build's reporter and its output transaction. With `jobs = 1`
everything runs in the calling thread, in order, exactly as a sequential build would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class Pending(Generic[R]):
    """One call running in a thread; `result` waits for it and returns or raises what it did."""

    def __init__(self, call: Callable[[], R], *, name: str) -> None:
        self._value: list[R] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._value.append(call())
            except BaseException as e:  # noqa: BLE001 - handed to the caller of result()
                self._error.append(e)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def result(self) -> R:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._value[0]

    def wait(self) -> None:
        self._thread.join()

    def running(self) -> bool:
        return self._thread.is_alive()


def default_jobs() -> int:
    """The number of cores this process may use (a CI runner's cgroup may allow fewer)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def map_all(fn: Callable[[K], R], items: Sequence[K], *, jobs: int) -> dict[K, R]:
    """`fn` of every item, `jobs` at a time. The first failure stops what has not started and
    is raised once the running steps have finished, so nothing is left half-done behind it."""
    return dict(zip(items, map_ordered(fn, items, jobs=jobs), strict=True))


def map_ordered(fn: Callable[[T], R], items: Sequence[T], *, jobs: int) -> list[R]:
    """`fn` of every item, in the order of `items`, on `jobs` threads that take the items in
    that order (so the largest, put first, starts first). A failure, or an interrupt of the
    caller, stops what has not started; the first failure in the caller's order is raised once
    the running calls have finished, the same one every run.

    Threads of its own rather than concurrent.futures: importing that (and the logging it
    imports) cost 7 ms of every build's start, for a pool this small."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    results: list[R | None] = [None] * len(items)
    failed: dict[int, BaseException] = {}
    stop = threading.Event()
    lock = threading.Lock()
    order = iter(range(len(items)))

    def work() -> None:
        while not stop.is_set():
            with lock:
                i = next(order, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as e:  # noqa: BLE001 - raised by the caller, below
                with lock:
                    failed[i] = e
                stop.set()

    threads = [threading.Thread(target=work, name=f"fpack-{n}", daemon=True)
               for n in range(min(jobs, len(items)))]
    try:  # started inside: an interrupt between two starts must stop those already started
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException:
        stop.set()  # Ctrl-C: nothing more starts, what runs is let finish
        for t in threads:
            if t.is_alive():
                t.join()
        raise
    if failed:
        raise failed[min(failed)]
    return cast("list[R]", results)  # every slot was filled: nothing failed
