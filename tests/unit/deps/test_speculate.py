"""Which sets may install beside their resolution, and when the guessed tree is the lock's
(fpack/deps/speculate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack.deps import speculate
from fpack.deps.lock import Locked
from fpack.deps.spec import DependencySpec


def spec_of(tmp_path: Path, text: str) -> DependencySpec:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return DependencySpec(kind="requirements", path=path, files=((str(path), "x"),))


@pytest.mark.parametrize("text", [
    "pydantic\nrequests>=2.31,<3  # http\n",
    "# comment\n\nnumpy==2.2.6 ; python_version >= '3.10'\nuvicorn[standard]~=0.30\n",
])
def test_plain_requirements_may_install_beside_their_resolution(tmp_path: Path,
                                                                 text: str) -> None:
    assert speculate.plain(spec_of(tmp_path, text))


@pytest.mark.parametrize("text", [
    "-r base.txt\n", "--index-url https://x/simple\nsix\n", "./libs/shared\n",
    "pkg @ https://x/pkg.whl\n", "six==1.17.0 --hash=sha256:ab\n", "git+https://x/y.git\n",
])
def test_anything_uv_might_build_or_read_elsewhere_waits_for_the_lock(tmp_path: Path,
                                                                      text: str) -> None:
    assert not speculate.plain(spec_of(tmp_path, text))


def locked(name: str, wheel: str) -> Locked:
    return Locked(name=name, version=None, kind="wheel", location=f"https://x/{wheel}",
                  sha256="s")


def install(tree: Path, dist: str, tags: list[str]) -> None:
    info = tree / f"{dist}.dist-info"
    info.mkdir(parents=True)
    (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))


LOCK = (locked("six", "six-1.17.0-py2.py3-none-any.whl"),
        locked("pydantic-core", "pydantic_core-2.27.2-cp311-cp311-"
                                "manylinux_2_17_x86_64.manylinux2014_x86_64.whl"))


def test_a_guess_is_taken_only_when_it_is_what_the_lock_installs(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    install(tree, "six-1.17.0", ["py2-none-any", "py3-none-any"])
    core = ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]
    install(tree, "pydantic_core-2.27.2", core)
    assert speculate.fits(tree, LOCK)
    assert not speculate.fits(tree, LOCK[:1])  # a distribution the lock does not have
    other = tmp_path / "other"
    install(other, "six-1.16.0", ["py2-none-any", "py3-none-any"])  # another version
    install(other, "pydantic_core-2.27.2", core)
    assert not speculate.fits(other, LOCK)
    musl = tmp_path / "musl"
    install(musl, "six-1.17.0", ["py2-none-any", "py3-none-any"])
    install(musl, "pydantic_core-2.27.2", ["cp311-cp311-musllinux_1_2_x86_64"])  # another wheel
    assert not speculate.fits(musl, LOCK)
