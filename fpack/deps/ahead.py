"""Each dependency set's resolution, and its guessed install, started as soon as the set is known.

A set nobody resolved yet waits on `uv pip compile` (pydantic + requests: 0.6 to 0.9 s online),
and the build used to reach it only after Python had imported the engine, the targets, the
manifests and the archive code (about 0.25 s on a small machine). The CLI knows the sets right
after reading fpack.toml, so `start` begins their work there: uv resolves on another core while
Python imports the rest. The engine asks again, through `begin`, for every set it prepares, and
is handed what was started, or starts it then (tests and other callers never call `start`): one
code path, whoever calls first.

What is started is exactly what the engine would start: uv's first, wheels-only resolution of
the set (deps/resolution.py goes on from it: a source build, the hash checks) and, for a plain
requirements file, the offline guess (deps/speculate.py). Both are keyed by the set's resolve key,
so work started for a spec, platform, index or build image the engine does not ask for is never
used: it is waited for and thrown away by `finish`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack import plan as planning
from fpack.deps import framework, freshness, keys, tags, uv
from fpack.deps import locals as local_libraries
from fpack.deps.settings import Settings, settings_for
from fpack.deps.spec import DependencySpec
from fpack.errors import FpackError
from fpack.inputs import BuildInputs
from fpack.parallel import Pending
from fpack.platforms import Arch, Platform, Target

if TYPE_CHECKING:
    from fpack.config import Project
    from fpack.deps import speculate


@dataclass(kw_only=True)
class Started:
    """What was started for one set: under `key`, its resolve key, with its build `image`."""

    key: str
    image: str
    refresh: bool
    cache: str  # the cache root: a head start is made in one cache, for builds using it
    # uv's first resolution, when the set had no lock
    resolution: Pending[uv.Resolution] | None = None
    guess: speculate.Speculation | None = None  # its install, offline, meanwhile
    # uv's answer from its cache, made meanwhile when the resolution waits on the index: the
    # guess's lock, and the resolution's own once the pages it fetched agree (uv._from_cache)
    offline: Pending[uv.Resolution] | None = None
    used: bool = False  # a resolution taken by the engine (see `take`)
    # Set when the build failed or stopped: an install not begun yet is not begun at all.
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def ident(self) -> tuple[str, bool, str]:
        return (self.key, self.refresh, self.cache)

    def take(self) -> Pending[uv.Resolution] | None:
        """The started resolution, once: the engine resolves afresh when asked again."""
        if self.used or self.resolution is None:
            return None
        self.used = True
        return self.resolution


_STARTED: dict[tuple[str, bool, str], Started] = {}
_LOCK = threading.Lock()

# While head starts run, the threads waiting on uv wake for a few file operations each (read
# uv's output, write the lock, read the earlier trees' metas) and must take the GIL back from
# the main thread, busy importing the engine: each hand-over waits out the interpreter's switch
# interval (5 ms by default), 35 to 50 ms in all between uv's resolution and the install it
# feeds, measured here. A tenth of it lets them through about 20 ms sooner. It is restored when
# the engine is through with every set started (`done`), or at the end (`finish`).
SWITCH_INTERVAL: Final = 0.0005
_SAVED_INTERVAL: list[float] = []


def _restore_interval() -> None:
    with _LOCK:
        if _SAVED_INTERVAL and not _STARTED:
            sys.setswitchinterval(_SAVED_INTERVAL.pop())


def begin(spec: DependencySpec, platform: Platform, inputs: BuildInputs, *, settings: Settings,
          refresh: bool, zipped: bool, shared: bool) -> Started:
    """The work of `spec` for `platform`, started now unless it already was. `shared`: a shared
    cache is configured, whose lock and tree the engine looks up first (nothing is started)."""
    cache = inputs.cache
    image = keys.build_image(platform, settings.build_image, inputs.build_image)
    key = keys.resolve_key(spec, platform, image, uv.cached_version(cache),
                           inputs.index.fingerprint())
    started = Started(key=key, image=image, refresh=refresh, cache=str(cache.root))
    with _LOCK:
        if (found := _STARTED.get(started.ident)) is not None:
            return found
        _STARTED[started.ident] = started
        if shared or spec.path is None:
            return started
        if cache.file("resolve", f"pylock.{key}", ".toml").is_file() and not refresh:
            return started
        resolution = started.resolution = Pending(
            lambda: _first(spec, platform, inputs, refresh, before=lambda: _made(started.offline)),
            name="fpack-resolve")
        if refresh:
            return started
        # Imported once uv is at work: what installs the set is not needed to start resolving it.
        from fpack.deps import members, reuse, speculate  # noqa: PLC0415

        prefill = zipped and not settings.compile and not settings.slim
        # The archive is of these very files unless sdk = "runtime" may take some out.
        archived = prefill and settings.sdk != "runtime"

        def ahead(tree: Path) -> None:
            """What the cleaned tree (or the part uv installed) will go through anyway,
            meanwhile, when the archive ships these very files: compressing each
            distribution."""
            if prefill:
                members.prefill(tree, cache)

        def finish(tree: Path, guess: speculate.Speculation) -> None:
            """What the engine does next with the tree it takes, done meanwhile: its audit,
            and the archive when it ships these very files. While the index is asked about a
            package just added, these are off the build's path (0.2 to 0.5 s here); when the
            engine already waits for the tree, they are where it would have done them."""
            from fpack.deps import audit  # noqa: PLC0415 - imported meanwhile, too

            guess.audited = audit.for_platform(tree, platform)
            if archived and not guess.audited and not guess.unwanted.is_set():
                archive = guess.directory / "archive.zip"
                members.write_archive(tree, cache, archive, epoch=inputs.epoch)
                guess.archive = archive

        # A set never resolved here, on a platform with no tree to seed from (deps/reuse.py):
        # its install starts beside its resolution. With such a tree, the install after the
        # resolution links what it can, which beats copying everything meanwhile; it starts
        # as soon as the lock is there, while the engine is still being imported.
        # (A plain spec names no local file or directory, so a lock that exists is healthy.)
        if speculate.plain(spec) and not reuse.installed_for(cache, platform.key()):
            started.guess = speculate.start(spec, platform, inputs, cache, then=ahead,
                                            finish=finish)
        else:
            def made(text: str) -> bool:  # the same lock as a cached tree's: nothing to do
                return cache.tree(keys.tree_key(text, platform, settings.compile)) is not None

            started.offline = _offline_guess(spec, platform, inputs)
            source, offline_only = (started.offline.result, True) if started.offline else \
                (resolution.result, False)
            started.guess = speculate.after(source, spec, platform, inputs, cache, then=ahead,
                                            skip=made, cancelled=started.cancelled,
                                            offline_only=offline_only, finish=finish)
        return started


def _offline_guess(spec: DependencySpec, platform: Platform,
                   inputs: BuildInputs) -> Pending[uv.Resolution] | None:
    """uv's resolution from its cache, made meanwhile, when the set's own waits on the index (a
    requirement not seen online within the window: most often a package just added); None when
    it does not (the head start then installs the set's own lock). The index usually pins the
    same; the engine takes the guess's tree only if the lock the index gave names the same
    wheels (speculate.Speculation.take)."""
    try:
        window = freshness.window(inputs.cache, inputs.index, inputs.environ, spec)
    except FpackError:  # a bad FPACK_INDEX_MAX_AGE: the resolution reports it, in its place
        return None
    if spec.kind != "requirements" or window is None or uv.fresh_enough(spec, window):
        return None

    def offline() -> uv.Resolution:
        found = uv.resolve_offline(spec, platform, index=inputs.index,
                                   environ=window.environ)
        if found is None:
            raise FpackError("uv's cache cannot resolve the set")  # no head start, no error
        return found

    return Pending(offline, name="fpack-resolve-offline")


def _made(offline: Pending[uv.Resolution] | None) -> uv.Resolution | None:
    """The offline guess's answer, once made; None if there is none."""
    if offline is None:
        return None
    try:
        return offline.result()
    except Exception:  # noqa: BLE001 - a guess that failed, however, is no answer: uv is asked
        return None


def _first(spec: DependencySpec, platform: Platform, inputs: BuildInputs, refresh: bool, *,
           before: Callable[[], uv.Resolution | None] | None = None) -> uv.Resolution:
    """uv's first resolution of the set, as deps/resolution.py makes it (`before`: the same,
    from uv's cache, made meanwhile: `uv.resolve`)."""
    requirements, constraints = uv.derived(spec)
    return uv.resolve(spec, platform, index=inputs.index, refresh=refresh,
                      requirements=requirements, constraints=constraints,
                      fresh=freshness.window(inputs.cache, inputs.index, inputs.environ, spec),
                      before=before)


def done(started: Started, *, failed: bool = False) -> None:
    """The engine is through with the set: wait for what still runs, drop the guess's tree.
    `failed`: the build will not use it, so an install that has not begun does not begin."""
    if failed:
        started.cancelled.set()
    with _LOCK:
        if _STARTED.get(started.ident) is started:
            del _STARTED[started.ident]
    if started.resolution is not None:
        started.resolution.wait()
    if started.guess is not None:
        started.guess.discard()
    _restore_interval()


def finish(*, failed: bool = False) -> None:
    """End of the command: whatever no set used (the build stopped first, or asked for other
    keys) is waited for, so no uv process or scratch tree outlives it; after a failure, what
    has not begun is dropped (a resolution under way still runs to its end)."""
    with _LOCK:
        left = list(_STARTED.values())
    for started in left:
        done(started, failed=failed or not started.used)
    _restore_interval()


def start(project: Project, target: Target, inputs: BuildInputs, *, only: Sequence[str] = (),
          arch: Arch | None = None, refresh: bool = False) -> None:
    """Begin the work of every set the build of `target` will prepare (fpack/build.py reads the
    same groups, specs and platform). Any problem is left for the build to report in its place,
    with its context: nothing is started for that set."""
    if not _SAVED_INTERVAL:
        _SAVED_INTERVAL.append(sys.getswitchinterval())
        sys.setswitchinterval(min(SWITCH_INTERVAL, _SAVED_INTERVAL[0]))
    settings = settings_for(project, target)
    shared = bool(inputs.shared.url or settings.cache_url)
    platform = planning.platform_for(project, target)
    if arch is not None:
        platform = Platform(runtime=platform.runtime, arch=arch)
    seen: set[str] = set()
    for group in planning.groups(project, only):
        try:
            local_libraries.libraries(group.dependencies, group.member)  # as make_plans checks
            spec = planning.group_spec(project, group)  # labelled as the build labels it
            tags.refuse(spec, platform, target, project.root)  # plan.plan refuses it before uv
            if target == "gcp":  # as build.plan_artifacts resolves it
                spec = framework.with_framework(spec, project.config_path, inputs.cache)
            if spec.kind == "none" or spec.key() in seen:  # no dependencies, or seen
                continue
            seen.add(spec.key())
            begin(spec, platform, inputs, settings=settings, refresh=refresh,
                  zipped=target != "gcp", shared=shared)
        except FpackError:
            continue
