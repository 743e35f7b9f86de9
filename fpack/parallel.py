"""Running independent build steps side by side: dependency sets, artifacts.

Threads, not processes: the work is uv and Docker subprocesses, zlib and file I/O, which release
the GIL, and the steps share the build's reporter and its output transaction. With `jobs = 1`
everything runs in the calling thread, in order, exactly as a sequential build would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Pending(Generic[R]):
    """One call running in a thread; `result` waits for it and returns or raises what it did.
    (deps/ahead.py starts resolutions with it before the engine is imported: this module
    imports concurrent.futures only when `map_all` runs.)"""

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
    if jobs <= 1 or len(items) <= 1:
        return {item: fn(item) for item in items}
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait  # noqa: PLC0415

    with ThreadPoolExecutor(max_workers=min(jobs, len(items)),
                            thread_name_prefix="fpack") as pool:
        futures: dict[Future[R], K] = {pool.submit(fn, item): item for item in items}
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        wait(pending)
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failed:
            # The first in the caller's order, so that the same failure is reported every run.
            first = min(failed, key=lambda f: items.index(futures[f]))
            raise first.exception()  # type: ignore[misc]
        return {futures[f]: f.result() for f in futures}
