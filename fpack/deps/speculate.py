"""A cold set's install, started beside its resolution: two uv calls at once instead of in a row.

A set nobody resolved yet used to cost `uv pip compile`, then `uv pip install` of the lock, one
after the other (pydantic + requests: 0.6 s, then 0.4 s): most of a small set's cold build. When
the spec is a plain requirements file (names, versions, markers: nothing uv would build, no
includes, no local paths), uv can install it into a scratch directory while it resolves the
same file, offline (from what its cache knows: fast, and only a guess); the lock, resolved
online, stays the truth. The scratch tree is taken only if it holds exactly the lock's
distributions, each at the lock's version and from a wheel with the lock's file name (its WHEEL
tags, name and version), which is what installing the lock would have put there; otherwise it is
thrown away and the lock is installed as before. A failed guess costs CPU, never correctness.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack.deps import dists, lock, reuse, uv
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.names import NotAWheel, canonical, same_version, wheel_name
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs
from fpack.platforms import Platform

if TYPE_CHECKING:
    from fpack.deps.audit import AuditProblem

# What is done with a whole tree once it is installed, in the same thread (deps/ahead.py: the
# audit and the archive the engine would make of it next).
Finish = Callable[[Path, "Speculation"], None]

# A requirement line fpack may guess from: a name, extras, a version specifier, a marker, a
# comment. Anything else (-r, -c, --index-url, a path, a URL, a hash) leaves the set to the lock.
_PLAIN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,. -]*\])?"
                           r"\s*([<>=!~][^;#@]*)?(;[^#@]*)?(#.*)?$")


@dataclass(kw_only=True)
class Speculation:
    """An install started before the engine asked for it, and what it installs."""

    directory: Path
    thread: threading.Thread
    installed: bool = False  # set by `thread` when uv (and `then`) succeeded
    meanwhile: str = ", while it was resolved"  # what the engine's report adds when it is taken
    # What `after` installs, once its resolution is there (name -> wheel file, sha256); None
    # for `start`'s install of a requirements file, which only the tree it makes tells.
    lock: dict[str, tuple[str, str]] | None = None
    known: threading.Event = field(default_factory=threading.Event)  # `lock` is set, or never
    # Made from the installed tree by `finish`, meanwhile: its audit, and its archive (for the
    # epoch of the build that started it); None when not made (or `finish` failed).
    audited: list[AuditProblem] | None = None
    archive: Path | None = None
    taken: bool = False  # `take` handed the tree to the engine
    installed_known: threading.Event = field(default_factory=threading.Event)  # `installed` set
    # Set when the tree will not be taken (another lock, not what the lock installs, the build
    # failed or ended): `finish` then stops before its next step rather than compress for no one.
    unwanted: threading.Event = field(default_factory=threading.Event)

    def take(self, locked: tuple[Locked, ...]) -> Path | None:
        """The scratch tree, if the install succeeded and it is what the lock installs: the
        same wheels, by sha256, when the installed lock is known (a lock that differs is not
        waited for), else the same versions and tags (`fits`)."""
        self.known.wait()
        if self.lock is not None and self.lock != wheels_of(locked):
            self.unwanted.set()
            return None
        self.installed_known.wait()
        if not (self.installed and fits(self.directory / "tree", locked)):
            self.unwanted.set()
            return None
        self.thread.join()  # `finish`'s audit and archive, which the engine takes with it
        self.taken = True
        return self.directory / "tree"

    def discard(self) -> None:
        self.unwanted.set()
        self.thread.join()
        shutil.rmtree(self.directory, ignore_errors=True)


def plain(spec: DependencySpec) -> bool:
    """Whether `spec` is one requirements file of plain requirement lines."""
    if spec.kind != "requirements" or spec.path is None or len(spec.files) != 1:
        return False
    try:
        lines = spec.path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return all(_PLAIN.match(line.strip()) and "--" not in line for line in lines
               if line.strip() and not line.strip().startswith("#"))


def start(spec: DependencySpec, platform: Platform, inputs: BuildInputs, cache: Cache, *,
          then: Callable[[Path], None] | None = None,
          finish: Finish | None = None) -> Speculation:
    """Install `spec` for `platform` into a scratch directory under the cache, in a thread, and
    clean it as the engine would (`dists.clean`: a tree taken is not cleaned again); `then(tree)`
    runs on the cleaned tree, still beside the resolution (the engine compresses its
    distributions ahead: deps/members.py)."""
    assert spec.path is not None
    path = spec.path

    def install(tree: Path, guess: Speculation) -> bool:
        if not uv.install_requirements(path, platform, tree, settings=inputs.index,
                                       cwd=spec.directory) and \
                not _as_a_lock(spec, platform, inputs, tree, guess.directory):
            return False
        dists.clean(tree)
        if then is not None:
            then(tree)
        return True

    return _in_thread(cache, "guess", install, meanwhile=", while it was resolved",
                      finish=finish)


def _as_a_lock(spec: DependencySpec, platform: Platform, inputs: BuildInputs, tree: Path,
               scratch: Path) -> bool:
    """The same guess made as fpack installs a lock: uv's offline resolution, then its wheels.
    uv's cache files a wheel by how it was asked for: one fetched for a lock (which names each
    file by URL, as every install fpack makes does) is not found by an install from the index,
    which looks where index installs keep theirs. A uv cache that only fpack has filled (a CI
    runner's) holds its wheels that way; whether the guess installed anything."""
    found = uv.resolve_offline(spec, platform, index=inputs.index, environ=inputs.environ)
    if found is None or any(p.needs_build for p in found.packages):
        return False
    shutil.rmtree(tree, ignore_errors=True)  # what the failed install left (uv's .lock)
    tree.mkdir()
    pylock = scratch / "pylock.toml"
    pylock.write_text(found.text, encoding="utf-8")
    try:
        uv.install(pylock, platform, tree, settings=inputs.index, cwd=spec.directory,
                   offline_only=True)
    except DependencyError:
        return False
    return True


def after(resolved: Callable[[], uv.Resolution], spec: DependencySpec, platform: Platform,
          inputs: BuildInputs, cache: Cache, *,
          then: Callable[[Path], None] | None = None,
          skip: Callable[[str], bool] | None = None,
          cancelled: threading.Event | None = None, offline_only: bool = False,
          finish: Finish | None = None) -> Speculation:
    """The lock a resolution started ahead returns (deps/ahead.py), installed as the engine
    installs it (deps/reuse.py: seeded from an earlier tree), in a thread, as soon as it is
    there: the engine is still being imported then; cleaned as `start`'s tree, and `then(part)`
    run on the part uv installed (reuse.install). Nothing is installed for a lock with
    anything to build, for one `skip` says is installed already (its tree is cached), or once
    `cancelled` is set (the build failed); an error is left for the engine to report.
    `offline_only`: `resolved` is a guess (uv's cache's resolution): nothing is downloaded."""
    def install(tree: Path, guess: Speculation) -> bool:
        found = resolved()  # its error, if any, is the engine's to report
        guess.lock = wheels_of(found.packages)
        guess.known.set()
        if any(p.needs_build for p in found.packages) or (skip is not None and skip(
                found.text)) or (cancelled is not None and cancelled.is_set()):
            return False
        # Where the engine keeps its locks: uv's relative paths mean the same from there.
        pylock = cache.file("resolve", guess.directory.name, ".toml")  # .tmp-ahead-…: garbage
        try:
            pylock.write_text(found.text, encoding="utf-8")
            guess.meanwhile = reuse.install(pylock, lock.parse(found.text, pylock.parent),
                                            platform, tree, inputs=inputs, spec=spec, then=then,
                                            offline_only=offline_only)
        finally:
            pylock.unlink(missing_ok=True)
        return True

    (cache.root / "resolve").mkdir(parents=True, exist_ok=True)
    return _in_thread(cache, "ahead", install, meanwhile="", finish=finish)


def _in_thread(cache: Cache, name: str, install: Callable[[Path, Speculation], bool], *,
               meanwhile: str, finish: Finish | None = None) -> Speculation:
    """`install(tree, guess)` run in a thread on an empty scratch tree under the cache's
    trees/; `installed` says whether it returned True. A failure is no tree: the engine then
    installs the lock itself. Then `finish(tree, guess)`, when there is a tree: a failure
    there only leaves the engine to do that work itself."""
    (cache.root / "trees").mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=cache.root / "trees"))

    def run() -> None:
        tree = directory / "tree"
        try:
            tree.mkdir()
            guess.installed = install(tree, guess)
        except Exception:  # noqa: BLE001 - a head start that fails is no head start
            guess.installed = False
        finally:
            guess.known.set()
            guess.installed_known.set()
        if guess.installed and finish is not None and not guess.unwanted.is_set():
            try:
                finish(tree, guess)
            except Exception:  # noqa: BLE001 - what it did not make, the engine makes
                guess.audited = guess.archive = None

    guess = Speculation(directory=directory, meanwhile=meanwhile,
                        thread=threading.Thread(target=run, name=f"fpack-{name}", daemon=True))
    guess.thread.start()
    return guess


def wheels_of(locked: tuple[Locked, ...]) -> dict[str, tuple[str, str]]:
    """name -> (wheel file, sha256) of a lock's packages: what makes two locks install the same."""
    return {p.name: (p.filename, p.sha256) for p in locked}


def fits(tree: Path, locked: tuple[Locked, ...]) -> bool:
    """Whether `tree` holds exactly `locked`'s distributions, from wheels of the lock's names."""
    want: dict[str, tuple[str, frozenset[str]]] = {}
    for p in locked:
        if p.kind != "wheel" or not p.filename.endswith(".whl"):
            return False
        try:
            named = wheel_name(p.filename)
        except NotAWheel:
            return False
        want[p.name] = (named.version, frozenset(str(t) for t in named.tags))
    have: dict[str, tuple[str, frozenset[str]]] = {}
    for info in tree.glob("*.dist-info"):
        name, _, found = info.name.removesuffix(".dist-info").rpartition("-")
        try:
            wheel = (info / "WHEEL").read_text(encoding="utf-8")
        except OSError:
            return False
        tagged = frozenset(line.split(":", 1)[1].strip() for line in wheel.splitlines()
                           if line.startswith("Tag:"))
        have[canonical(name)] = (found, tagged)
    return have.keys() == want.keys() and all(
        have[n][1] == want[n][1] and same_version(have[n][0], want[n][0]) for n in want)
