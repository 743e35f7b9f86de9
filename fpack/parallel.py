"""Running independent build steps side by side: dependency sets, artifacts.

Threads, not processes: the work is uv and Docker subprocesses, zlib and file I/O, which release
the GIL, and the steps share the build's reporter and its output transaction. With `jobs = 1`
everything runs in the calling thread, in order, exactly as a sequential build would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


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
