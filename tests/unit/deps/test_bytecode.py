"""compile = true in a build container: the tree goes in and only the pycs come back through the
Docker API, each put in its module's __pycache__; a compile that wrote nothing is an error (an
engine that cannot see the host's files used to "succeed" on an empty directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fpack import container
from fpack.container import RunResult
from fpack.deps import bytecode
from fpack.errors import DependencyError
from fpack.platforms import RUNTIMES, Platform

PLATFORM = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")


def test_pycs_come_back_from_the_container_to_each_modules_pycache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "m.py").write_text("x = 1\n")
    calls: list[dict[str, Any]] = []

    def fake_run(image: str, command: list[str], **kwargs: Any) -> RunResult:
        calls.append(kwargs)
        pyc = kwargs["outputs"]["/out"] / "tree" / "pkg" / "m.cpython-311.pyc"  # the prefix tree
        pyc.parent.mkdir(parents=True)
        pyc.write_bytes(b"pyc")
        return RunResult(exit_code=0, stdout="", stderr="")

    monkeypatch.setattr(bytecode, "local_python", lambda _platform: None)
    monkeypatch.setattr(container, "run", fake_run)
    bytecode.compile_tree(tree, PLATFORM, "img")
    assert (tree / "pkg" / "__pycache__" / "m.cpython-311.pyc").read_bytes() == b"pyc"
    (call,) = calls
    assert call["copy_in"] == {"/tree": tree} and call["network"] is False
    assert "mounts" not in call


def test_a_container_compile_that_writes_no_pyc_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an engine that cannot see the host's files used to give: exit 0, nothing compiled."""
    (tmp_path / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(bytecode, "local_python", lambda _platform: None)
    monkeypatch.setattr(container, "run",
                        lambda *a, **k: RunResult(exit_code=0, stdout="", stderr=""))
    with pytest.raises(DependencyError, match=r"compiling 1 module\(s\) with Python 3.11 \(img\) "
                       "reported success but wrote no bytecode"):
        bytecode.compile_tree(tmp_path, PLATFORM, "img")


def fake_compiler(seen: list[set[str]]) -> Any:
    """A container compile that writes `pyc:<source>` for every module it is given."""
    def run(image: str, command: list[str], **kwargs: Any) -> RunResult:
        tree = kwargs["copy_in"]["/tree"]
        sources = {p.relative_to(tree).as_posix() for p in tree.rglob("*.py")}
        seen.append(sources)
        for rel in sources:
            pyc = kwargs["outputs"]["/out"] / "tree" / Path(rel).parent / \
                f"{Path(rel).stem}.cpython-311.pyc"
            pyc.parent.mkdir(parents=True, exist_ok=True)
            pyc.write_bytes(b"pyc:" + (tree / rel).read_bytes())
        return RunResult(exit_code=0, stdout="", stderr="")
    return run


def dist_tree(root: Path, lib: str) -> Path:
    tree = root / f"tree-{lib}"
    for name, version, source in (("lib", lib, f"V = {lib!r}\n"), ("big", "1", "B = 1\n")):
        info = tree / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (tree / name).mkdir()
        (tree / name / "__init__.py").write_text(source)
        (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/RECORD,,\n")
    (tree / "loose.py").write_text("L = 1\n")
    return tree


def test_each_distributions_bytecode_is_compiled_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from fpack.deps.cache import Cache

    seen: list[set[str]] = []
    monkeypatch.setattr(bytecode, "local_python", lambda _platform: None)
    monkeypatch.setattr(container, "run", fake_compiler(seen))
    cache = Cache(tmp_path / "cache")
    assert bytecode.compile_cached(dist_tree(tmp_path, "1"), PLATFORM, "img", cache) == 2
    newer = dist_tree(tmp_path, "2")
    assert bytecode.compile_cached(newer, PLATFORM, "img", cache) == 1
    assert seen[1] == {"lib/__init__.py", "loose.py"}  # big's pycs came from the cache
    for rel, source in (("big", b"B = 1\n"), ("lib", b"V = '2'\n")):
        assert (newer / rel / "__pycache__" / "__init__.cpython-311.pyc").read_bytes() == \
            b"pyc:" + source
    assert (newer / "__pycache__" / "loose.cpython-311.pyc").is_file()
    again = dist_tree(tmp_path / "again", "2")
    assert bytecode.compile_cached(again, PLATFORM, "img", cache) == 0
    assert seen[2] == {"loose.py"}  # what no distribution owns is compiled every time
