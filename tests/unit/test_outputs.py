"""dist/ is written all or nothing, and an unchanged artifact is not rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack.archive import ZipWriter
from fpack.inputs import DEFAULT_EPOCH
from fpack.outputs import Outputs, changed_inputs


def writer(text: bytes) -> ZipWriter:
    w = ZipWriter(Path("f.zip"), epoch=DEFAULT_EPOCH)
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


def test_what_changed_is_said_in_words() -> None:
    old = {"file app.py": "644:aa", "file gone.py": "644:bb", "dependencies": "k1",
           "package numpy": "1.26.4", "setting compile": "false"}
    new = {"file app.py": "644:ab", "file new.py": "644:cc", "dependencies": "k2",
           "package numpy": "2.0.0", "setting compile": "true"}
    assert changed_inputs(old, new) == (  # files, then packages, then settings
        "app.py changed", "gone.py removed", "new.py added", "package numpy 1.26.4 -> 2.0.0",
        "setting compile false -> true")  # "dependencies changed" says no more than the package
    assert changed_inputs({"dependencies": "k1"}, {"dependencies": "k2"}) == (
        "dependencies changed",)
    assert changed_inputs(None, new) == ("built by an older fpack (no record of its inputs)",)
    assert changed_inputs(new, new) == ("fpack's format changed",)  # same inputs, other key
    many = {f"file m{i}.py": "x" for i in range(8)}
    assert changed_inputs({"file a.py": "x"}, many) == (
        "a.py removed", "m0.py added", "m1.py added", "m2.py added", "m3.py added",
        "and 4 more")  # nine changes: five lines at most, then a count
