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


def test_a_uv_cache_filled_by_lock_installs_still_gives_a_guess(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv files a wheel fetched for a lock (by URL, as fpack's installs are) apart from one an
    index install fetched: an install of the requirements file misses a CI runner's cache that
    only fpack filled. The same guess is then made as a lock: uv's offline resolution, and its
    wheels from uv's cache only."""
    from fpack import inputs
    from fpack.deps import uv
    from fpack.platforms import RUNTIMES, Platform

    platform = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")
    build_inputs = inputs.read({"FPACK_CACHE_DIR": str(tmp_path / "cache"), "K": "v"})
    spec = spec_of(tmp_path, "six\n")
    text = ('lock-version = "1.0"\n[[packages]]\nname = "six"\nversion = "1.17.0"\n'
            'wheels = [{ url = "https://x/six-1.17.0-py2.py3-none-any.whl", '
            'hashes = { sha256 = "s" } }]\n')
    calls: list[str] = []

    def from_index(_path: Path, _platform: Platform, tree: Path, **_: object) -> bool:
        calls.append("install -r")
        (tree / ".lock").touch()  # what uv leaves when it finds no wheel offline
        return False

    def resolve_offline(_spec: object, _platform: object, **kw: object) -> uv.Resolution:
        calls.append("compile --offline")
        assert kw["environ"] is build_inputs.environ
        from fpack.deps.lock import parse
        return uv.Resolution(text=text, packages=parse(text, tmp_path))

    def from_lock(lock_file: Path, _platform: Platform, tree: Path, **kw: object) -> None:
        calls.append("install lock")
        assert kw["offline_only"] is True and "six" in lock_file.read_text()
        install(tree, "six-1.17.0", ["py2-none-any", "py3-none-any"])

    monkeypatch.setattr(uv, "install_requirements", from_index)
    monkeypatch.setattr(uv, "resolve_offline", resolve_offline)
    monkeypatch.setattr(uv, "install", from_lock)
    guess = speculate.start(spec, platform, build_inputs, build_inputs.cache)
    guess.thread.join(10)
    assert calls == ["install -r", "compile --offline", "install lock"]
    assert guess.installed
    assert sorted(p.name for p in (guess.directory / "tree").iterdir()) == ["six-1.17.0.dist-info"]
    guess.discard()

    def nothing(*_: object, **__: object) -> None:
        calls.append("nothing")

    monkeypatch.setattr(uv, "resolve_offline", nothing)  # uv's cache cannot resolve it either
    guess = speculate.start(spec, platform, build_inputs, build_inputs.cache)
    guess.thread.join(10)
    assert not guess.installed
    guess.discard()
