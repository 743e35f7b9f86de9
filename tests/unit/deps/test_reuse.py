"""Seeding a new tree from an earlier one: only the same wheels are linked, RECORD is copied,
bytecode is never carried over, the lock uv sees leaves the linked packages out
(fpack/deps/reuse.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fpack import inputs
from fpack.deps import reuse, speculate, uv
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked, parse
from fpack.platforms import RUNTIMES, Platform

PLATFORM = "aws:python3.11:x86_64:x86_64-manylinux_2_17"
PLATFORM_311 = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")


def cache_inputs(tmp_path: Path) -> inputs.BuildInputs:
    return inputs.read({"FPACK_CACHE_DIR": str(tmp_path / "cache")})


def locked(name: str, sha: str) -> Locked:
    return Locked(name=name, version="1", kind="wheel", location=f"https://x/{name}.whl",
                  sha256=sha)


def earlier_tree(cache: Cache, key: str, packages: dict[str, str],
                 platform: str = PLATFORM) -> Path:
    with cache.new_tree(key) as tree:
        for name in packages:
            info = tree / f"{name}-1.dist-info"
            info.mkdir()
            (tree / name / "__pycache__").mkdir(parents=True)
            (tree / name / "__init__.py").write_text(f"# {name}\n")
            (tree / name / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
            (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/RECORD,,\n")
    meta = {"packages": [{"name": n, "sha256": s} for n, s in packages.items()],
            "platform": platform}
    cache.write_file("trees", key, ".json", json.dumps(meta).encode())
    found = cache.tree(key)
    assert found is not None
    return found


def test_the_tree_sharing_most_wheels_seeds_the_new_one(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    earlier_tree(cache, "a", {"numpy": "n1", "six": "s0"})
    base = earlier_tree(cache, "b", {"numpy": "n1", "pandas": "p1", "six": "s2"})
    earlier_tree(cache, "c", {"numpy": "n1", "pandas": "p1"}, platform="aws:python3.12")
    dest = tmp_path / "new"
    dest.mkdir()
    want = (locked("numpy", "n1"), locked("pandas", "p1"), locked("six", "s1"))
    seeded = reuse.seed(cache, want, PLATFORM, dest)
    assert seeded is not None and seeded.base == "b"
    assert seeded.linked == ("numpy", "pandas")  # six differs there: uv installs it
    assert (dest / "numpy" / "__init__.py").stat().st_ino == \
        (base / "numpy" / "__init__.py").stat().st_ino
    record = dest / "numpy-1.dist-info" / "RECORD"
    assert record.stat().st_ino != (base / "numpy-1.dist-info" / "RECORD").stat().st_ino
    assert not (dest / "numpy" / "__pycache__").exists()
    assert not reuse.matches(dest, want)
    (dest / "six-1.dist-info").mkdir()
    assert reuse.matches(dest, want)


def test_no_earlier_tree_of_the_platform_means_a_whole_install(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    earlier_tree(cache, "a", {"numpy": "n1"}, platform="aws:python3.12")
    dest = tmp_path / "new"
    dest.mkdir()
    assert reuse.seed(cache, (locked("numpy", "n1"),), PLATFORM, dest) is None
    assert list(dest.iterdir()) == []


def lock_text(*wheels: tuple[str, str, str]) -> str:
    """A uv pylock.toml of (name, wheel file, sha256) entries, each at the file's version."""
    entries = "".join(
        f'\n[[packages]]\nname = "{name}"\nversion = "{wheel.split("-")[1]}"\n'
        f'wheels = [{{ url = "https://x/{wheel}", hashes = {{ sha256 = "{sha}" }} }}]\n'
        for name, wheel, sha in wheels)
    return f'lock-version = "1.0"\ncreated-by = "uv"\n{entries}'


LOCK = lock_text(("numpy", "numpy-2.2.6-cp311-none-any.whl", "aa"),
                 ("Six", "six-1.17.0-py3-none-any.whl", "bb"))


def test_the_lock_uv_sees_leaves_the_linked_packages_out(tmp_path: Path) -> None:
    assert [p.name for p in parse(reuse.without(LOCK, ["numpy"]), tmp_path)] == ["six"]
    assert [p.name for p in parse(reuse.without(LOCK, ["six"]), tmp_path)] == ["numpy"]
    assert parse(reuse.without(LOCK, []), tmp_path) == parse(LOCK, tmp_path)


def test_a_platform_with_an_installed_tree_is_known(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    assert not reuse.installed_for(cache, PLATFORM)
    earlier_tree(cache, "a", {"numpy": "n1"}, platform="aws:python3.12")
    assert not reuse.installed_for(cache, PLATFORM)
    earlier_tree(cache, "b", {"numpy": "n1"})
    assert reuse.installed_for(cache, PLATFORM)


def test_the_lock_started_ahead_is_installed_as_soon_as_it_is_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deps/speculate.after: the resolution's lock, seeded from the earlier tree (numpy linked)
    and the rest installed by uv, in a thread, while the engine is still being imported; the
    engine takes it when it is exactly its lock."""
    platform, build_inputs = PLATFORM_311, cache_inputs(tmp_path)
    cache = build_inputs.cache
    earlier_tree(cache, "a", {"numpy": "aa"}, platform=platform.key())
    installed: list[list[str]] = []

    def fake_install(lock_file: Path, _platform: Platform, target: Path, **_: object) -> None:
        names = [p.name for p in parse(lock_file.read_text(), lock_file.parent)]
        installed.append(names)
        assert lock_file.parent == cache.root / "resolve"  # beside the engine's own locks
        for name in names:
            (target / f"{name}-1.17.0.dist-info").mkdir()

    monkeypatch.setattr(uv, "install", fake_install)
    (tmp_path / "requirements.txt").write_text("numpy\nsix\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    seen: list[list[str]] = []
    resolution = uv.Resolution(text=LOCK, packages=parse(LOCK, tmp_path))
    guess = speculate.after(lambda: resolution, spec, platform, build_inputs, cache,
                            then=lambda part: seen.append(sorted(p.name for p in part.iterdir())))
    guess.thread.join(10)
    assert guess.installed and installed == [["six"]]
    assert guess.meanwhile == ": 1 installed, 1 linked from an earlier set"
    # `then` (what compresses ahead) saw what uv installed, beside the linked part: six alone.
    assert seen == [["six-1.17.0.dist-info"]]
    assert sorted(p.name for p in (guess.directory / "tree").glob("*.dist-info")) == \
        ["numpy-1.dist-info", "six-1.17.0.dist-info"]
    assert not list(guess.directory.glob(".tmp-rest-*"))  # moved in, nothing left beside
    assert (guess.directory / "tree" / "numpy" / "__init__.py").is_file()
    assert not list((cache.root / "resolve").glob(".tmp-*"))  # its lock is gone
    guess.discard()

    def failed() -> uv.Resolution:
        raise uv.DependencyError("six was not found on the package index")

    nothing = speculate.after(failed, spec, platform, build_inputs, cache)
    nothing.thread.join(10)
    assert not nothing.installed and installed == [["six"]]  # the engine reports the error
    nothing.discard()
    assert not nothing.directory.exists()

    # Its tree is cached already (the same lock after a comment was edited), or the build
    # failed meanwhile: nothing is installed.
    cached = speculate.after(lambda: resolution, spec, platform, build_inputs, cache,
                             skip=lambda text: text == LOCK)
    stopped = threading.Event()
    stopped.set()
    failing = speculate.after(lambda: resolution, spec, platform, build_inputs, cache,
                              cancelled=stopped)
    for guess in (cached, failing):
        guess.thread.join(10)
        assert not guess.installed
        guess.discard()
    assert installed == [["six"]]


NAMESPACE_LOCK = lock_text(("google-cloud-a", "google_cloud_a-1-py3-none-any.whl", "aa"),
                           ("google-cloud-b", "google_cloud_b-1-py3-none-any.whl", "bb"))


def test_what_uv_installs_beside_the_linked_part_is_cleaned_and_merged_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv installs the rest into a directory of its own while the earlier tree is linked; it is
    cleaned there (console scripts, uv's lock file) and moved in, into the directories both
    parts have (a namespace package); a failure of uv is the install's failure."""
    platform, build_inputs = PLATFORM_311, cache_inputs(tmp_path)
    cache = build_inputs.cache
    with cache.new_tree("a") as tree:
        info = tree / "google_cloud_a-1.dist-info"
        info.mkdir()
        (tree / "google" / "cloud" / "a").mkdir(parents=True)
        (tree / "google" / "cloud" / "a" / "__init__.py").write_text("A = 1\n")
        (tree / "google" / "shared.py").write_text("# a's\n")  # a file both ship
        (info / "RECORD").write_text(f"google/cloud/a/__init__.py,,\ngoogle/shared.py,,\n"
                                     f"{info.name}/RECORD,,\n")
    cache.write_file("trees", "a", ".json", json.dumps({
        "packages": [{"name": "google-cloud-a", "sha256": "aa"}],
        "platform": platform.key()}).encode())
    tree_found = cache.tree("a")
    assert tree_found is not None

    events: list[str] = []

    def fake_install(lock_file: Path, _platform: Platform, target: Path, **kw: Any) -> None:
        assert [p.name for p in parse(lock_file.read_text(), lock_file.parent)] == \
            ["google-cloud-b"]
        assert target != tree  # beside it
        time.sleep(0.02)  # uv takes a moment to start: nothing is linked meanwhile
        events.append("uv runs")
        kw["started"].set()
        info = target / "google_cloud_b-1.dist-info"
        info.mkdir()
        (target / "google" / "cloud" / "b").mkdir(parents=True)
        (target / "google" / "cloud" / "b" / "__init__.py").write_text("B = 1\n")
        (target / "google" / "shared.py").write_text("# b's\n")
        (target / "bin").mkdir()
        (target / "bin" / "b-tool").write_text("#!/usr/bin/python\n")
        (target / ".lock").write_text("")
        (info / "RECORD").write_text(f"google/cloud/b/__init__.py,,\ngoogle/shared.py,,\n"
                                     f"bin/b-tool,,\n{info.name}/RECORD,,\n")

    monkeypatch.setattr(uv, "install", fake_install)
    link = reuse.dists.link

    def noted_link(*args: Any, **kw: Any) -> Any:
        events.append("link")
        return link(*args, **kw)

    monkeypatch.setattr(reuse.dists, "link", noted_link)
    (tmp_path / "requirements.txt").write_text("google-cloud-a\ngoogle-cloud-b\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    pylock = cache.root / "resolve" / "pylock.x.toml"
    pylock.parent.mkdir(parents=True)
    pylock.write_text(NAMESPACE_LOCK)
    dest = tmp_path / "trees" / "new"
    dest.mkdir(parents=True)
    said = reuse.install(pylock, parse(NAMESPACE_LOCK, pylock.parent), platform, dest,
                         inputs=build_inputs, spec=spec)
    assert said == ": 1 installed, 1 linked from an earlier set"
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "google/cloud/a/__init__.py", "google/cloud/b/__init__.py", "google/shared.py",
        "google_cloud_a-1.dist-info/RECORD", "google_cloud_b-1.dist-info/RECORD"]
    # The file both ship is uv's, as when uv installed over the linked tree; the earlier
    # tree's own file is untouched.
    assert (dest / "google" / "shared.py").read_text() == "# b's\n"
    assert (tree_found / "google" / "shared.py").read_text() == "# a's\n"
    assert "bin/" not in (dest / "google_cloud_b-1.dist-info" / "RECORD").read_text()
    assert list(dest.parent.iterdir()) == [dest]  # nothing left beside it
    assert events == ["uv runs", "link"]  # linked once uv was running, not while it started

    def failing(*_: object, **__: object) -> None:
        raise uv.DependencyError("google-cloud-b was not found on the package index")

    monkeypatch.setattr(uv, "install", failing)
    again = tmp_path / "trees2" / "new"
    again.mkdir(parents=True)
    with pytest.raises(uv.DependencyError, match="google-cloud-b"):
        reuse.install(pylock, parse(NAMESPACE_LOCK, pylock.parent), platform, again,
                      inputs=build_inputs, spec=spec)
    assert list(again.parent.iterdir()) == [again]


def test_what_the_engine_does_next_with_the_tree_is_done_in_the_head_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`finish`: once the whole tree is there, in the same thread (the audit and the archive,
    deps/ahead.py); the engine's take waits for it. A finish that fails leaves the tree taken
    as it is, without what finish would have made."""
    platform, build_inputs = PLATFORM_311, cache_inputs(tmp_path)
    cache = build_inputs.cache
    earlier_tree(cache, "a", {"numpy": "aa"}, platform=platform.key())

    def fake_install(lock_file: Path, _platform: Platform, target: Path, **_: object) -> None:
        for p in parse(lock_file.read_text(), lock_file.parent):
            info = target / f"{p.name}-1.17.0.dist-info"
            info.mkdir()
            (info / "WHEEL").write_text("Tag: py2-none-any\nTag: py3-none-any\n")

    monkeypatch.setattr(uv, "install", fake_install)
    (tmp_path / "requirements.txt").write_text("numpy\nsix\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    resolution = uv.Resolution(text=LOCK, packages=parse(LOCK, tmp_path))
    finished: list[list[str]] = []

    def finish(tree: Path, guess: speculate.Speculation) -> None:
        time.sleep(0.05)  # the engine's take waits for this
        finished.append(sorted(p.name for p in tree.glob("*.dist-info")))
        guess.audited = []
        guess.archive = guess.directory / "archive.zip"

    guess = speculate.after(lambda: resolution, spec, platform, build_inputs, cache,
                            finish=finish)
    guess.thread.join(10)
    assert finished == [["numpy-1.dist-info", "six-1.17.0.dist-info"]]  # the whole tree
    assert guess.installed and guess.audited == [] and not guess.taken
    guess.discard()

    def failing(tree: Path, guess: speculate.Speculation) -> None:
        guess.audited = []
        raise OSError("disk full")

    broken = speculate.after(lambda: resolution, spec, platform, build_inputs, cache,
                             finish=failing)
    broken.thread.join(10)
    assert broken.installed and broken.audited is None and broken.archive is None
    broken.discard()


def test_a_head_start_whose_lock_is_not_the_engines_is_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's lock names other wheels than the one the head start installs (a guess from
    uv's cache the index did not confirm): the engine goes on at once, without the tree; the
    same wheels by sha256 are taken."""
    platform, build_inputs = PLATFORM_311, cache_inputs(tmp_path)
    release = threading.Event()

    def slow_install(lock_file: Path, _platform: Platform, target: Path, **kw: object) -> None:
        assert kw["offline_only"] is True  # a guess: from uv's cache or not at all
        release.wait(10)
        for p in parse(lock_file.read_text(), lock_file.parent):
            info = target / f"{p.name}-{p.version}.dist-info"
            info.mkdir()
            tag = "-".join(p.filename.removesuffix(".whl").split("-")[2:])
            (info / "WHEEL").write_text(f"Tag: {tag}\n")

    monkeypatch.setattr(uv, "install", slow_install)
    (tmp_path / "requirements.txt").write_text("numpy\nsix\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    resolution = uv.Resolution(text=LOCK, packages=parse(LOCK, tmp_path))
    guess = speculate.after(lambda: resolution, spec, platform, build_inputs,
                            build_inputs.cache, offline_only=True)
    other = tuple(p if p.name != "six" else Locked(
        name="six", version="1.17.0", kind="wheel", sha256="cc",
        location="https://x/six-1.17.0-py3-none-any.whl") for p in resolution.packages)
    assert guess.take(other) is None  # at once: uv is still installing the guess
    assert guess.thread.is_alive()
    release.set()
    assert guess.take(resolution.packages) == guess.directory / "tree"
    guess.discard()

    # With a `finish`: a tree the engine has refused is not audited or archived for no one.
    release.clear()
    finished: list[str] = []
    refused = speculate.after(lambda: resolution, spec, platform, build_inputs,
                              build_inputs.cache, offline_only=True,
                              finish=lambda tree, g: finished.append("finish"))
    assert refused.take(other) is None and refused.unwanted.is_set()
    release.set()
    refused.thread.join(10)
    assert refused.installed and finished == []
    refused.discard()


def test_the_engine_moves_in_an_archive_made_ahead(tmp_path: Path) -> None:
    """engine._archive: an archive a head start made of the very tree it took (for this
    build's epoch) becomes the cache's entry as it is; without one, it is made."""
    from fpack.deps import engine, members
    from fpack.report import NullReporter

    build_inputs = cache_inputs(tmp_path)
    cache = build_inputs.cache
    tree = earlier_tree(cache, "t", {"six": "ss"})
    (tmp_path / "requirements.txt").write_text("six\n")
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    ahead_made = tmp_path / "guess" / "archive.zip"
    ahead_made.parent.mkdir()
    members.write_archive(tree, cache, ahead_made, epoch=build_inputs.epoch)
    made = ahead_made.read_bytes()
    path = engine._archive(build_inputs, "t", NullReporter(), spec, ready=ahead_made)
    assert path.read_bytes() == made and not ahead_made.exists()  # moved, not made again
    path.unlink()
    again = engine._archive(build_inputs, "t", NullReporter(), spec)
    assert again.read_bytes() == made  # what the engine makes itself: the same bytes
