"""Which uv fpack runs: FPACK_UV, else the one the uv package installed beside this interpreter
(looked at before the package's own search, which works out five places first), else the
package's search, else PATH."""

from __future__ import annotations

import sys
import sysconfig
import types
from pathlib import Path

import pytest

from fpack.deps import uv


def _scripts(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    real = sysconfig.get_path
    monkeypatch.setattr(sysconfig, "get_path",
                        lambda name, *a, **k: str(where) if name == "scripts" else real(name))


def _package(monkeypatch: pytest.MonkeyPatch, found: str) -> list[str]:
    asked: list[str] = []

    def find_uv_bin() -> str:
        asked.append("find_uv_bin")
        return found

    monkeypatch.setitem(sys.modules, "uv", types.SimpleNamespace(find_uv_bin=find_uv_bin))
    return asked


def test_fpack_uv_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FPACK_UV", "/opt/uv/bin/uv")
    _scripts(monkeypatch, tmp_path)
    (tmp_path / "uv").write_text("")
    assert uv._find() == "/opt/uv/bin/uv"


def test_the_scripts_directory_is_looked_at_before_the_package_search(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FPACK_UV", raising=False)
    (tmp_path / "uv").write_text("")
    _scripts(monkeypatch, tmp_path)
    asked = _package(monkeypatch, "/elsewhere/uv")
    assert uv._find() == str(tmp_path / "uv")
    assert asked == []


def test_without_one_there_the_package_search_decides(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FPACK_UV", raising=False)
    _scripts(monkeypatch, tmp_path)  # empty
    asked = _package(monkeypatch, "/elsewhere/uv")
    assert uv._find() == "/elsewhere/uv"
    assert asked == ["find_uv_bin"]
