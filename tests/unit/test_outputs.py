"""dist/ is written all or nothing, and an unchanged artifact is not rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack.archive import ZipWriter
from fpack.outputs import Outputs


def writer(text: bytes) -> ZipWriter:
    w = ZipWriter()
    w.add_bytes("a.py", text)
    return w


def test_commit_on_success_and_fresh_next_time(tmp_path: Path) -> None:
    dest = tmp_path / "f.zip"
    with Outputs(tmp_path) as out:
        written = out.zip(writer(b"1"), dest, "key-1")
        out.text(tmp_path / "f.manifest.json", "{}\n")
    assert dest.is_file() and (tmp_path / "f.manifest.json").read_text() == "{}\n"
    with Outputs(tmp_path) as out:
        assert out.fresh(dest, "key-1") == written
        assert out.fresh(dest, "key-2") is None


def test_a_touched_artifact_is_not_fresh(tmp_path: Path) -> None:
    dest = tmp_path / "f.zip"
    with Outputs(tmp_path) as out:
        out.zip(writer(b"1"), dest, "k")
    dest.write_bytes(dest.read_bytes() + b"x")
    with Outputs(tmp_path) as out:
        assert out.fresh(dest, "k") is None


def test_a_failure_leaves_the_previous_artifacts(tmp_path: Path) -> None:
    dest = tmp_path / "f.zip"
    with Outputs(tmp_path) as out:
        out.zip(writer(b"old"), dest, "old")
    before = dest.read_bytes()

    def interrupted_build() -> None:
        with Outputs(tmp_path) as out:
            out.zip(writer(b"new"), dest, "new")
            out.zip(writer(b"other"), tmp_path / "g.zip", "new")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_build()
    assert dest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".fpack-state.json", "f.zip"]
