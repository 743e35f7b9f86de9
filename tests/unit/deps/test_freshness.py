"""A resolution tried from uv's cache first, when every package it rests on was seen online
within max_age (deps/freshness.py), and online otherwise. uv itself is faked: the tests record
the command lines fpack gives it and answer with the lock a resolution would write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fpack import inputs
from fpack.deps import freshness, uv
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.errors import ConfigError
from fpack.platforms import RUNTIMES, Platform
from fpack.proc import Result

PLATFORM = Platform(runtime=RUNTIMES["aws"]["python3.11"], arch="x86_64")
NOW = 1_000_000.0


def lock_of(*names: str) -> str:
    entries = "".join(
        f'\n[[packages]]\nname = "{n}"\nversion = "1.0"\nwheels = [{{ url = '
        f'"https://files.example/{n}-1.0-py3-none-any.whl", '
        f'hashes = {{ sha256 = "{"0" * 64}" }} }}]\n'
        for n in names)
    return f'lock-version = "1.0"\ncreated-by = "uv"\n{entries}'


class FakeUv:
    """uv pip compile: writes `online` or `offline` (None: fails) to the -o file. An online call
    with --no-deps is a probe (`probe`), which writes the names its requirement files list
    (`probe_fails`: fails instead)."""

    def __init__(self, online: tuple[str, ...], offline: tuple[str, ...] | None, *,
                 probe_fails: bool = False, probe_omits: tuple[str, ...] = ()) -> None:
        self.online, self.offline, self.probe_fails = online, offline, probe_fails
        self.probe_omits = probe_omits  # names a probe's answer leaves out (no wheel fits)
        self.calls: list[str] = []
        self.probes: list[list[str]] = []  # each probe's command line
        self.listed: list[list[str]] = []  # and the text of each requirements file it names

    def __call__(self, args: Any, **_: Any) -> Result:
        argv = [str(a) for a in args]
        mode = "offline" if "--offline" in argv else "probe" if "--no-deps" in argv else "online"
        self.calls.append(mode)
        if mode == "probe":
            self.probes.append(argv)
            sources = argv[3:argv.index("-o")]
            self.listed.append([Path(s).read_text() for s in sources])
            names = tuple(n for s in sources for n in freshness.names_in(Path(s).read_text())
                          if n not in self.probe_omits)
            if self.probe_fails:
                names = None  # type: ignore[assignment]
        else:
            names = self.offline if mode == "offline" else self.online  # type: ignore[assignment]
        if names is None:
            return Result(args=tuple(argv), returncode=2, stdout="", stderr="not in the cache")
        Path(argv[argv.index("-o") + 1]).write_text(lock_of(*names))
        return Result(args=tuple(argv), returncode=0, stdout="", stderr="")


def window(tmp_path: Path, *, at: float = NOW) -> freshness.Window:
    return freshness.Window(path=tmp_path / "seen.json", max_age=600, clock=lambda: at)


def resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeUv,
            fresh: freshness.Window | None, requirements: str = "pydantic\nrequests\n",
            refresh: bool = False, before: uv.Resolution | None = None) -> uv.Resolution:
    path = tmp_path / "requirements.txt"
    path.write_text(requirements)
    monkeypatch.setattr(uv, "run", fake)
    monkeypatch.setattr(uv.time, "time", lambda: NOW)
    spec = dep_spec.read(path, tmp_path / "fpack.toml")
    return uv.resolve(spec, PLATFORM, index=inputs.IndexSettings(values={}), fresh=fresh,
                      refresh=refresh, before=lambda: before)


def test_an_online_resolution_records_every_package_it_saw(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeUv(online=("pydantic", "requests", "idna"), offline=("pydantic",))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path))
    assert fake.calls == ["online"]  # nothing seen yet: no offline attempt
    assert [p.name for p in found.packages] == ["pydantic", "requests", "idna"]
    assert window(tmp_path).seen() == {"pydantic": NOW, "requests": NOW, "idna": NOW}


def test_everything_seen_lately_is_resolved_from_uvs_cache_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window(tmp_path).record(["pydantic", "requests", "idna"], NOW - 60)
    fake = FakeUv(online=("never",), offline=("pydantic", "requests", "idna"))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path),
                    requirements="pydantic\nrequests\nidna==3.7  # pinned\n")
    assert fake.calls == ["offline"]
    assert [p.name for p in found.packages] == ["pydantic", "requests", "idna"]


def test_a_package_the_cached_result_rests_on_has_its_page_fetched_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The requirements were all seen, but the offline result rests on a page (anyio's) that
    uv's cache may hold from long ago: that page alone is fetched (--no-deps: no metadata),
    beside the spec's own file, whose index options hold for both; then uv's cache again."""
    window(tmp_path).record(["httpx", "pydantic"], NOW - 60)
    fake = FakeUv(online=("never",), offline=("httpx", "anyio", "pydantic"))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path),
                    requirements="httpx\npydantic\n")
    assert fake.calls == ["offline", "probe"]  # the probe picked the anyio it pins: it stands
    (probe,) = fake.probes
    assert probe[3] == str(tmp_path / "requirements.txt")
    assert fake.listed[0][1] == "anyio\n" and "--only-binary" in probe
    assert [p.name for p in found.packages] == ["httpx", "anyio", "pydantic"]
    assert window(tmp_path).seen()["anyio"] == NOW


def test_a_requirement_just_added_has_its_page_fetched_not_the_whole_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the bench's Pillow case does: `olefile==0.47` added to a set resolved a moment
    ago. Online, uv would revalidate Pillow's page and both wheels' metadata too."""
    window(tmp_path).record(["pillow"], NOW - 60)
    fake = FakeUv(online=("never",), offline=("pillow", "olefile"))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path),
                    requirements="pillow\nolefile==0.47\n")
    assert fake.calls == ["probe", "offline"]
    assert fake.probes[0][3:5] == [str(tmp_path / "requirements.txt"), "-o"]  # the spec alone
    assert [p.name for p in found.packages] == ["pillow", "olefile"]


@pytest.mark.parametrize("case", ["agrees", "a newer pillow", "none made"])
def test_an_answer_made_meanwhile_stands_when_the_probe_picked_what_it_pins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """deps/ahead.py resolves the set from uv's cache beside the probe (its guess). If the
    probe, which fetched the pages of pillow and olefile, picked the very wheels that answer
    pins, uv's cache would give that answer again: it is taken, and uv is not asked twice. A
    page that offers something the answer would have preferred sends it to uv's cache again."""
    window(tmp_path).record(["pillow"], NOW - 60)
    made = lock_of("pillow", "olefile")
    if case == "a newer pillow":
        made = made.replace('"pillow"\nversion = "1.0"', '"pillow"\nversion = "0.9"')
    before = uv.Resolution(text=made, packages=uv.lock.parse(made, tmp_path))
    fake = FakeUv(online=("never",), offline=("pillow", "olefile"))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path),
                    requirements="pillow\nolefile==0.47\n",
                    before=None if case == "none made" else before)
    if case == "agrees":
        assert fake.calls == ["probe"] and found is before
    else:
        assert fake.calls == ["probe", "offline"] and found is not before


@pytest.mark.parametrize("seen", ["before the answer", "after it"])
def test_an_answer_made_meanwhile_rests_only_on_pages_seen_before_it_was_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: str) -> None:
    """The probe fetched pillow's and olefile's pages; the answer also pins olefile's
    dependency, whose page another build (the set's other platform, a CI job sharing this
    cache) fetched after uv read its cache for the answer: it may offer what the answer never
    saw, so uv's cache is asked again."""
    window(tmp_path).record(["pillow"], NOW - 60)
    window(tmp_path).record(["oledep"], NOW - 30)
    made = lock_of("pillow", "olefile", "oledep")
    made_at = NOW - 10 if seen == "before the answer" else NOW - 40
    before = uv.Resolution(text=made, packages=uv.lock.parse(made, tmp_path), made_at=made_at)
    fake = FakeUv(online=("never",), offline=("pillow", "olefile", "oledep"))
    found = resolve(tmp_path, monkeypatch, fake, window(tmp_path),
                    requirements="pillow\nolefile==0.47\n", before=before)
    if seen == "before the answer":
        assert fake.calls == ["probe"] and found is before
    else:
        assert fake.calls == ["probe", "offline"] and found is not before


def test_constraints_files_name_no_requirements(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared constraints file pins packages a set may never hold, which no resolution
    records: its names would make every resolution of the set look unseen."""
    (tmp_path / "constraints.txt").write_text("flask==3.0.0\ndjango==5.0\n")
    (tmp_path / "base.txt").write_text("requests\n")
    window(tmp_path).record(["pydantic", "requests"], NOW - 60)
    fake = FakeUv(online=("never",), offline=("pydantic", "requests"))
    resolve(tmp_path, monkeypatch, fake, window(tmp_path),
            requirements="-c constraints.txt\n-r base.txt\npydantic\n")
    assert fake.calls == ["offline"]
    spec = dep_spec.read(tmp_path / "requirements.txt", tmp_path / "fpack.toml")
    assert uv.fresh_enough(spec, window(tmp_path))
    texts = dep_spec.requirement_texts(tmp_path / "requirements.txt", {
        str(tmp_path / n): (tmp_path / n).read_text()
        for n in ("requirements.txt", "base.txt", "constraints.txt")})
    assert texts is not None and sorted(texts) == sorted(
        ["-c constraints.txt\n-r base.txt\npydantic\n", "requests\n"])


def test_what_the_new_requirement_depends_on_is_fetched_in_the_next_round(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window(tmp_path).record(["pydantic"], NOW - 60)
    fake = FakeUv(online=("never",), offline=("pydantic", "httpx", "anyio"))
    resolve(tmp_path, monkeypatch, fake, window(tmp_path), requirements="pydantic\nhttpx\n")
    assert fake.calls == ["probe", "offline", "probe"]
    assert fake.listed[1][1] == "anyio\n"


@pytest.mark.parametrize("case", ["probe fails", "offline fails", "rounds run out"])
def test_a_probe_that_cannot_settle_it_gives_way_to_the_online_resolution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    window(tmp_path).record(["pydantic"], NOW - 60)
    fake = FakeUv(online=("pydantic", "flask"),
                  offline=None if case == "offline fails" else ("pydantic", "flask"),
                  probe_fails=case == "probe fails",
                  # the probe never picks flask (no wheel of its newest release fits, say)
                  probe_omits=("flask",) if case == "rounds run out" else ())
    resolve(tmp_path, monkeypatch, fake, window(tmp_path), requirements="pydantic\nflask\n")
    assert fake.calls == {
        "probe fails": ["probe", "online"],
        "offline fails": ["probe", "offline", "online"],
        "rounds run out": ["probe", "offline"] * uv.PROBES + ["online"],
    }[case]


@pytest.mark.parametrize("requirements", [
    "pydantic\nflask>=3\n",  # nothing of the set seen lately: online as a whole
    "pydantic\nflask\n./libs/shared\n",  # a path: uv would build it to read its metadata
    "pydantic\nflask\n-e ./libs/shared\n",
    "pydantic\ndemo @ https://files.example/demo-1.0-py3-none-any.whl\n",
])
def test_a_requirement_not_seen_lately_is_not_probed_when_it_cannot_be(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requirements: str) -> None:
    if "flask>=3" not in requirements:
        window(tmp_path).record(["pydantic"], NOW - 60)
    fake = FakeUv(online=("pydantic", "flask"), offline=("pydantic", "flask"))
    resolve(tmp_path, monkeypatch, fake, window(tmp_path), requirements=requirements)
    # A `name @ url` line names nothing to check first: uv's cache is asked, as before.
    assert fake.calls == (["offline", "online"] if "demo @" in requirements else ["online"])


def test_the_probeable_lines_are_names_options_and_hashes() -> None:
    assert freshness.probeable([
        "# see https://example.com\n--index-url https://user@pypi.internal/simple\n"
        "-r base.txt\npydantic[email]>=2  # why\nidna==3.7 ; python_version >= '3.9' \\\n"
        "    --hash=sha256:abc\n-f ./wheels\nbackports.tarfile\njaraco.zipfile\n"])
    for line in ("./lib", "/abs/lib", "~/lib", "-e ./lib", "--editable=./lib", "libs/shared",
                 "dist/demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "lib\\win",
                 "demo @ file:///x.whl", "git+https://example.com/x.git"):
        assert not freshness.probeable(["six\n", line + "\n"]), line


def test_an_offline_answer_that_skipped_an_uncached_version_is_not_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv, offline, passes over a version whose metadata it never fetched and settles on an
    older one, saying so only in a warning: that answer is not the index's, so online."""
    window(tmp_path).record(["idna"], NOW - 60)
    fake = FakeUv(online=("idna",), offline=("idna",))
    envs: list[dict[str, str]] = []

    def warning(args: Any, **kwargs: Any) -> Result:
        result = fake(args, **kwargs)
        envs.append(dict(kwargs.get("env") or {}))
        if "--offline" in [str(a) for a in args]:
            return Result(args=result.args, returncode=0, stdout="", stderr=(
                " WARN `idna==3.20` needs to be downloaded from a registry\n"))
        return result

    resolve(tmp_path, monkeypatch, fake, window(tmp_path), requirements="idna>=3.4\n")
    monkeypatch.setattr(uv, "run", warning)
    path = tmp_path / "requirements.txt"
    spec = dep_spec.read(path, tmp_path / "fpack.toml")
    uv.resolve(spec, PLATFORM, index=inputs.IndexSettings(values={}), fresh=window(tmp_path))
    assert fake.calls == ["offline", "offline", "online"]
    assert envs[0]["RUST_LOG"] == "warn"  # the warnings --quiet would hide


def test_seen_too_long_ago_is_not_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window(tmp_path).record(["pydantic"], NOW - 601)
    fake = FakeUv(online=("pydantic",), offline=("pydantic",))
    resolve(tmp_path, monkeypatch, fake, window(tmp_path), requirements="pydantic\n")
    assert fake.calls == ["online"]


@pytest.mark.parametrize("case", ["offline fails", "refresh", "turned off"])
def test_the_online_resolution_stands_when_offline_cannot_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    window(tmp_path).record(["pydantic"], NOW - 1)
    fake = FakeUv(online=("pydantic",), offline=None if case == "offline fails" else ("x",))
    resolve(tmp_path, monkeypatch, fake, None if case == "turned off" else window(tmp_path),
            requirements="pydantic\n", refresh=case == "refresh")
    assert fake.calls == (["offline", "online"] if case == "offline fails" else ["online"])


def test_recording_drops_what_has_gone_stale(tmp_path: Path) -> None:
    w = window(tmp_path)
    w.record(["old"], NOW - 700)
    w.record(["new"], NOW)
    assert w.seen() == {"new": NOW}
    assert w.fresh(["New"])  # canonical names
    assert not w.fresh([])  # nothing to vouch for


def spec_in(tmp_path: Path, name: str, text: str = "six\n") -> dep_spec.DependencySpec:
    (tmp_path / name).mkdir(exist_ok=True)
    (tmp_path / name / "requirements.txt").write_text(text)
    return dep_spec.read(tmp_path / name / "requirements.txt", tmp_path / "fpack.toml")


def test_the_window_is_per_index_uv_cache_and_project_and_can_be_turned_off(
        tmp_path: Path) -> None:
    """A package seen on one index says nothing of another's pages: the environment's index,
    the spec's own `--index-url` lines and the directory uv reads its config in all count."""
    cache = Cache(tmp_path)
    pypi = inputs.IndexSettings(values={})
    private = inputs.IndexSettings(values={"UV_INDEX_URL": "https://pypi.internal/simple"})
    here = spec_in(tmp_path, "a")
    paths = {freshness.window(cache, index, env, spec).path  # type: ignore[union-attr]
             for index in (pypi, private)
             for env in ({}, {"UV_CACHE_DIR": "/elsewhere"})
             for spec in (here, spec_in(tmp_path, "b"),
                          spec_in(tmp_path, "c", "--index-url https://x/simple\nsix\n"))}
    assert len(paths) == 12
    assert freshness.window(cache, pypi, {}, here) == freshness.window(cache, pypi, {}, here)
    assert freshness.window(cache, pypi, {"FPACK_INDEX_MAX_AGE": "0"}, here) is None
    assert freshness.window(cache, pypi, {"UV_NO_CACHE": "1"}, here) is None
    assert freshness.window(cache, pypi, {"FPACK_INDEX_MAX_AGE": "30"},  # type: ignore[union-attr]
                            here).max_age == 30


@pytest.mark.parametrize("value", ["ten", "-5"])
def test_a_bad_max_age_names_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        freshness.window(Cache(tmp_path), inputs.IndexSettings(values={}),
                         {"FPACK_INDEX_MAX_AGE": value}, spec_in(tmp_path, "a"))
    assert e.value.message == (f"FPACK_INDEX_MAX_AGE={value}: expected a number of seconds, "
                               "0 or more")


def test_names_are_read_from_requirement_lines_that_start_with_one() -> None:
    text = ("# a comment\npydantic[email]>=2\nidna==3.7 ; python_version >= '3.9'\n"
            "-r other.txt\n--index-url https://x\n./local/lib\nrequests  # why\n"
            "demo @ https://files.example/demo-1.0-py3-none-any.whl\n")
    assert freshness.names_in(text) == ["pydantic", "idna", "requests"]


def test_a_guess_from_uvs_cache_is_made_however_long_ago_its_pages_were_seen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deps/ahead.py installs it while the online resolution runs: nothing need be fresh, and
    nothing is recorded as seen; a failure or a warning is no guess."""
    path = tmp_path / "requirements.txt"
    path.write_text("pillow\nolefile==0.47\n")
    spec = dep_spec.read(path, tmp_path / "fpack.toml")
    fresh = window(tmp_path)
    assert not uv.fresh_enough(spec, fresh)  # olefile was never seen: the build goes online
    fake = FakeUv(online=("never",), offline=("pillow", "olefile"))
    monkeypatch.setattr(uv, "run", fake)
    index = inputs.IndexSettings(values={})
    found = uv.resolve_offline(spec, PLATFORM, index=index, environ=fresh.environ)
    assert found is not None and [p.name for p in found.packages] == ["pillow", "olefile"]
    assert fake.calls == ["offline"] and fresh.seen() == {}
    monkeypatch.setattr(uv, "run", FakeUv(online=("never",), offline=None))
    assert uv.resolve_offline(spec, PLATFORM, index=index, environ=fresh.environ) is None

    def warning(args: Any, **kwargs: Any) -> Result:
        done = fake(args, **kwargs)
        return Result(args=done.args, returncode=0, stdout="", stderr=" WARN stale\n")

    monkeypatch.setattr(uv, "run", warning)
    assert uv.resolve_offline(spec, PLATFORM, index=index, environ=fresh.environ) is None


def test_a_guess_is_installed_from_uvs_cache_or_not_at_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock is installed offline first and online when uv's cache lacks a wheel; a guess's
    lock (deps/ahead.py) is not: fetching wheels the build may not use would compete with the
    resolution it waits for."""
    lock_file = tmp_path / "pylock.toml"
    lock_file.write_text(lock_of("olefile"))
    calls: list[str] = []

    def not_cached(args: Any, **_: Any) -> Result:
        argv = [str(a) for a in args]
        calls.append("offline" if "--offline" in argv else "online")
        return Result(args=tuple(argv), returncode=2 if "--offline" in argv else 0, stdout="",
                      stderr="not in the cache")

    monkeypatch.setattr(uv, "run", not_cached)
    index = inputs.IndexSettings(values={})
    uv.install(lock_file, PLATFORM, tmp_path / "tree", settings=index)
    assert calls == ["offline", "online"]
    with pytest.raises(uv.DependencyError, match="uv's cache"):
        uv.install(lock_file, PLATFORM, tmp_path / "tree", settings=index, offline_only=True)
    assert calls == ["offline", "online", "offline"]
