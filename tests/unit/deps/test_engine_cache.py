"""Cache entries: marker written last, nothing left by a failed block, one writer at a time
across processes (forked here: the unit-test guard forbids starting programs, not forking)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from fpack.deps.cache import Cache


def test_an_entry_exists_only_once_its_block_completed(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with cache.new_entry("built", "k") as scratch:
        (scratch / "w.whl").write_bytes(b"PK")
        assert cache.entry("built", "k") is None  # not before the marker
    entry = cache.entry("built", "k")
    assert entry is not None and (entry / "w.whl").read_bytes() == b"PK"


def test_a_failed_block_leaves_nothing_and_keeps_no_half_replacement(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    def interrupted() -> None:
        with cache.new_entry("trees", "k") as scratch:
            (scratch / "half").write_text("x")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        interrupted()
    assert cache.tree("k") is None
    assert list((tmp_path / "trees").iterdir()) == []


def test_size_and_clean_cover_every_kind(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.write_file("resolve", "pylock.k", ".toml", b"12345")
    with cache.new_entry("built", "k") as scratch:
        (scratch / "w.whl").write_bytes(b"123")
    assert cache.size() == {"resolve": 5, "trees": 0, "archives": 0, "members": 0, "pycs": 0,
                            "wheels": 0, "built": 6, "rendered": 0}
    (tmp_path / "stamps").mkdir()
    (tmp_path / "stamps" / "k.json").write_text("{}")  # a build stamp (fpack/stamp.py)
    cache.clean()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _hold(root: str, name: str) -> None:
    cache = Cache(Path(root))
    with cache.lock("shared"):
        log = Path(root) / "log"
        with log.open("a") as f:
            f.write(f"{name}-in\n")
        time.sleep(0.2)  # widen the window another process would have to interleave in
        with log.open("a") as f:
            f.write(f"{name}-out\n")


def test_the_lock_admits_one_process_at_a_time(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_hold, args=(str(tmp_path), n)) for n in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    lines = (tmp_path / "log").read_text().split()
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    assert sorted(pairs) == [("a-in", "a-out"), ("b-in", "b-out"), ("c-in", "c-out")]
