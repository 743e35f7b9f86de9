"""`fpack cache gc` and `fpack cache info` (with a shared cache configured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack.deps import remote
from fpack.deps.cache import Cache
from tests.unit.deps.test_shared_cache import MemoryBackend, _entry, _store


def test_cache_gc_and_info_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from fpack import cli

    cache = Cache(tmp_path / "cache")
    _entry(cache, "archives", "old", 10, 40 * 86400.0)
    _entry(cache, "archives", "big", 5000, 2 * 86400.0)
    _entry(cache, "archives", "small", 10, 1 * 86400.0)
    monkeypatch.setenv("FPACK_CACHE_DIR", str(cache.root))
    monkeypatch.setenv("FPACK_CACHE_URL", "s3://bucket/ci")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["cache", "gc"]) == 0
    assert "removed 1 entry (10 B)" in capsys.readouterr().out
    assert cli.main(["cache", "gc", "--max", "1KB"]) == 0
    assert sorted(p.name for p in (cache.root / "archives").iterdir()) == ["small.zip"]
    remote.record(cache, _store(MemoryBackend()))
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "shared cache: s3://bucket/ci" in out and "last build (" in out
