"""A set's resolution started before the engine is imported, and handed to the engine when it
asks for the same set (fpack/deps/ahead.py). uv is faked: the tests count its resolutions."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fpack import config, inputs
from fpack.deps import ahead, freshness, speculate, uv
from fpack.deps import spec as dep_spec
from fpack.deps.settings import Settings
from fpack.platforms import RUNTIMES, Platform

PLATFORM = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")


class FakeUv:
    def __init__(self) -> None:
        self.resolved: list[str] = []
        self.labels: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def resolve(self, spec: Any, platform: Platform, **_: Any) -> uv.Resolution:
        self.release.wait(10)
        self.resolved.append(f"{spec.path.parent.name} for {platform.arch}")
        self.labels.append(spec.shown)
        return uv.Resolution(text="lock", packages=())

    def resolve_offline(self, spec: Any, platform: Platform, **_: Any) -> uv.Resolution:
        self.resolved.append(f"{spec.path.parent.name} for {platform.arch}, from uv's cache")
        return uv.Resolution(text="offline lock", packages=())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeUv:
    found = FakeUv()
    monkeypatch.setattr(uv, "resolve", found.resolve)
    monkeypatch.setattr(uv, "resolve_offline", found.resolve_offline)
    monkeypatch.setattr(uv, "cached_version", lambda _cache: "uv 0.0")
    monkeypatch.setattr(speculate, "start", lambda *_a, **_k: pytest.fail("no guess here"))
    yield found
    ahead.finish()


def build_inputs(tmp_path: Path, **env: str) -> inputs.BuildInputs:
    return inputs.read({"FPACK_CACHE_DIR": str(tmp_path / "cache"), **env})


def spec_in(tmp_path: Path, name: str, text: str = "-r base.txt\n") -> dep_spec.DependencySpec:
    (tmp_path / name).mkdir(exist_ok=True)
    (tmp_path / name / "base.txt").write_text("six\n")
    (tmp_path / name / "requirements.txt").write_text(text)  # not plain: no guess
    return dep_spec.read(tmp_path / name / "requirements.txt", tmp_path / "fpack.toml")


def test_the_engine_is_handed_the_resolution_started_for_its_set(
        tmp_path: Path, fake: FakeUv) -> None:
    spec, built = spec_in(tmp_path, "svc"), build_inputs(tmp_path)
    first = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False, zipped=True,
                        shared=False)
    again = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False, zipped=True,
                        shared=False)
    assert again is first
    pending = again.take()
    assert pending is not None and pending.result().text == "lock"
    assert again.take() is None  # taken once: asked again, the engine resolves itself
    ahead.done(again)
    assert [r for r in fake.resolved if "cache" not in r] == ["svc for x86_64"]


def test_nothing_is_started_for_a_set_with_a_lock_or_a_shared_cache(
        tmp_path: Path, fake: FakeUv) -> None:
    spec, built = spec_in(tmp_path, "svc"), build_inputs(tmp_path)
    shared = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False,
                         zipped=True, shared=True)
    assert shared.resolution is None
    ahead.done(shared)
    locked = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False, zipped=True,
                         shared=False)
    ahead.done(locked)
    built.cache.write_file("resolve", f"pylock.{locked.key}", ".toml", b"lock")
    cached = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False, zipped=True,
                         shared=False)
    assert cached.resolution is None
    refreshed = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=True,
                            zipped=True, shared=False)
    assert refreshed.resolution is not None and refreshed is not cached
    ahead.finish()
    assert len([r for r in fake.resolved if "cache" not in r]) == 2  # the first, and --refresh


def test_the_cli_starts_each_set_once_and_finish_waits_for_what_no_one_took(
        tmp_path: Path, fake: FakeUv) -> None:
    spec_in(tmp_path, "orders")
    spec_in(tmp_path, "carts", "-r base.txt\nidna\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "shop"\npython = "3.11"\n\n'
        '[functions.orders]\ndir = "orders"\nhandler = "app:handler"\n'
        'dependencies = "requirements.txt"\n\n'
        '[functions.refunds]\ndir = "orders"\nhandler = "app:refund"\n'
        'dependencies = "requirements.txt"\n\n'
        '[functions.carts]\ndir = "carts"\nhandler = "app:handler"\n'
        'dependencies = "requirements.txt"\n\n'
        '[functions.ping]\nhandler = "ping:handler"\n\n'  # no dependencies: nothing to start
        '[targets.aws]\nruntime = "python3.11"\narch = "arm64"\n')
    project = config.load(tmp_path / "fpack.toml")
    fake.release.clear()
    interval = sys.getswitchinterval()
    ahead.start(project, "aws", build_inputs(tmp_path), arch="x86_64")
    # Still resolving (uv's cache may have guessed meanwhile): the CLI goes on importing.
    assert [r for r in fake.resolved if "cache" not in r] == []
    # The threads that wait on uv get the GIL back sooner meanwhile, until the end.
    assert sys.getswitchinterval() == pytest.approx(ahead.SWITCH_INTERVAL)
    fake.release.set()
    ahead.finish()
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert sorted(r for r in fake.resolved if "cache" not in r) == \
        ["carts for x86_64", "orders for x86_64"]
    # Named as the build names them, so that uv's errors read the same either way.
    assert sorted(fake.labels) == ["carts/requirements.txt", "orders/requirements.txt"]
    assert ahead._STARTED == {}


def test_a_set_the_build_will_refuse_starts_nothing(tmp_path: Path, fake: FakeUv) -> None:
    """A wheel for macOS named in the requirements: plan.plan refuses it before uv runs, and
    so does the early start; the build reports it in its place."""
    spec_in(tmp_path, "svc", "./demo-1.0-cp311-cp311-macosx_11_0_arm64.whl\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "shop"\npython = "3.11"\n\n'
        '[functions.orders]\ndir = "svc"\nhandler = "app:handler"\n'
        'dependencies = "requirements.txt"\n')
    ahead.start(config.load(tmp_path / "fpack.toml"), "aws", build_inputs(tmp_path))
    ahead.finish()
    assert fake.resolved == []


class NoGuess:
    def discard(self) -> None:
        pass


def test_a_set_that_waits_on_the_index_installs_what_uv_s_cache_resolves_meanwhile(
        tmp_path: Path, fake: FakeUv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A requirement not seen online within the window (a package just added): the resolution
    asks the index, and the head start installs uv's resolution from its cache meanwhile; the
    engine takes that tree only if it fits the lock the index gave (deps/speculate.py)."""
    handed: list[Any] = []

    def after(resolved: Any, *_: Any, **__: Any) -> NoGuess:
        handed.append(resolved)
        return NoGuess()

    monkeypatch.setattr(speculate, "after", after)
    spec, built = spec_in(tmp_path, "svc"), build_inputs(tmp_path)
    fake.release.clear()
    online = ahead.begin(spec, PLATFORM, built, settings=Settings(), refresh=False,
                         zipped=True, shared=False)
    assert handed[0]().text == "offline lock"  # while the index is still being asked
    assert fake.resolved == ["svc for x86_64, from uv's cache"]
    fake.release.set()
    ahead.done(online)
    # Everything seen a moment ago: the resolution itself is from uv's cache, and is installed.
    window = freshness.window(built.cache, built.index, built.environ, spec)
    assert window is not None
    window.record(["six"], time.time())
    (tmp_path / "svc" / "requirements.txt").write_text("-r base.txt\n# seen\n")
    fresh = ahead.begin(dep_spec.read(tmp_path / "svc" / "requirements.txt",
                                      tmp_path / "fpack.toml"),
                        PLATFORM, built, settings=Settings(), refresh=False, zipped=True,
                        shared=False)
    assert fresh.resolution is not None and handed[1] == fresh.resolution.result
    ahead.done(fresh)
    assert fake.resolved[1:] == ["svc for x86_64", "svc for x86_64"]  # no guess the second time
