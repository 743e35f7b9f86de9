"""A new tree from an earlier one: what both have is hard-linked, uv installs the rest.

A changed requirement used to cost a whole install: uv puts every file of every wheel into a
new `--target` directory (numpy and pandas: 150 MB, 4 to 6 s here), though one package changed.
Now the tree is seeded from the cached tree of the same platform that shares the most wheels
(same name, same sha256): their files are linked in, as listed by their RECORD, and only the
other packages go to uv, from the lock with the shared ones left out, into a directory of their
own at the same time; they are moved in once both are done.

A shared distribution's files are what its RECORD lists, read without walking the earlier tree
(its RECORD lists exactly what it ships: `dists.clean`). Linking is safe because a finished
tree is never written again (`dists.link`: every later step
replaces files or writes new ones, and a RECORD, which `dists.clean` may rewrite, is copied).
Bytecode is never linked (`compile = true` relinks its own from the pycs cache).
A seeded tree whose dist-info directories are not exactly the lock's packages is refused; the
caller then installs everything as before.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpack.deps import dists, lock, uv
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.names import canonical
from fpack.deps.spec import DependencySpec
from fpack.inputs import BuildInputs
from fpack.parallel import Pending
from fpack.platforms import Platform
from fpack.report import Reporter, plural


@dataclass(frozen=True, kw_only=True)
class Seeded:
    """What a tree took from an earlier one: the distributions linked, and from where."""

    linked: tuple[str, ...]  # canonical names of the distributions linked from `base`
    base: str  # the tree key they came from


def identity(packages: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """name -> wheel sha256 of a tree's meta packages (those with a digest)."""
    return {str(p["name"]): str(p["sha256"]) for p in packages if p.get("sha256")}


def installed_for(cache: Cache, platform_key: str) -> bool:
    """Whether the cache holds any installed tree of `platform_key` (a set could be seeded)."""
    for meta_path in (cache.root / "trees").glob("*.json"):
        meta = _read(meta_path)
        if meta is not None and meta.get("platform") == platform_key and \
                cache.tree(meta_path.name.removesuffix(".json")) is not None:
            return True
    return False


@dataclass(frozen=True, kw_only=True)
class _Base:
    """An earlier tree to link from, and the distributions it shares with the lock."""

    key: str  # the earlier tree's key
    tree: Path
    shared: frozenset[str]  # canonical names of the distributions it has with the same sha256


def _best(cache: Cache, locked: tuple[Locked, ...], platform_key: str) -> _Base | None:
    """The cached tree of `platform_key` that shares the most wheels with `locked`, if any."""
    wanted = {p.name: p.sha256 for p in locked if p.sha256}
    best: _Base | None = None
    for meta_path in (cache.root / "trees").glob("*.json"):
        meta = _read(meta_path)
        if meta is None or meta.get("platform") != platform_key:
            continue  # another platform, a derived tree (slim, sdk), or an older meta
        have = identity(meta.get("packages", ()))
        shared = frozenset(name for name, sha in wanted.items() if have.get(name) == sha)
        key = meta_path.name.removesuffix(".json")
        tree = cache.tree(key)
        if shared and tree is not None and (best is None or len(shared) > len(best.shared)):
            best = _Base(key=key, tree=tree, shared=shared)
    return best


def seed(cache: Cache, locked: tuple[Locked, ...], platform_key: str, dest: Path,
         ) -> Seeded | None:
    """Link into `dest` the distributions an earlier tree of `platform_key` shares with
    `locked`; None (and `dest` untouched) when no earlier tree shares any."""
    base = _best(cache, locked, platform_key)
    return None if base is None else _link(cache, base, dest)


def _link(cache: Cache, base: _Base, dest: Path) -> Seeded | None:
    """The shared distributions of `base` linked into `dest`; None (and `dest` emptied) when
    the earlier tree went away meanwhile (another build's gc)."""
    cache.use(cache.root / "trees" / f"{base.key}.ok")  # used from now: `gc` leaves it alone
    linked = []
    try:
        for info in sorted(p.name for p in base.tree.glob("*.dist-info")):
            name = canonical(info.removesuffix(".dist-info").rsplit("-", 1)[0])
            if name not in base.shared:
                continue
            # What its RECORD lists: `dists.clean` made it list exactly the files shipped. Not
            # bytecode, which no install has (compile = true links its own from pycs/).
            dists.link(base.tree, dest, dists.recorded(base.tree, info))
            linked.append(name)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        return None
    return Seeded(linked=tuple(sorted(linked)), base=base.key)


def install(pylock: Path, locked: tuple[Locked, ...], platform: Platform, tree: Path, *,
            inputs: BuildInputs, spec: DependencySpec, reporter: Reporter | None = None,
            then: Callable[[Path], None] | None = None, offline_only: bool = False) -> str:
    """The wheels of `pylock` installed into `tree`, cleaned (`dists.clean`): those an earlier
    tree of the platform has are linked from it (`seed`), uv installs the others meanwhile,
    beside it, and they are moved in. `then(part)` runs on what uv installed, once it is clean
    (the whole tree, or the part beside it while the rest is linked): deps/ahead.py compresses
    the distributions there. `reporter`: None when this runs ahead of the engine, in a thread of
    deps/speculate.py, which says nothing. `offline_only`: uv installs from its cache or fails
    (a guess). What the report of the install adds: how many were linked (empty when none
    were)."""
    def with_uv(lock_file: Path, target: Path, started: threading.Event | None = None) -> None:
        uv.install(lock_file, platform, target, settings=inputs.index,
                   index=dep_spec.index_options(spec, inputs.environ), cwd=spec.directory,
                   offline_only=offline_only, started=started)
        dists.clean(target)
        if then is not None:
            then(target)

    def whole() -> str:
        shutil.rmtree(tree)
        tree.mkdir()
        with_uv(pylock, tree)
        return ""

    base = _best(inputs.cache, locked, platform.key())
    if base is None:
        with_uv(pylock, tree)
        return ""
    rest = [p for p in locked if p.name not in base.shared]
    if reporter is not None:
        reporter.step(f"installing {plural(len(rest), 'package')} of {spec.name} for "
                      f"{platform.label} ({len(base.shared)} linked from an earlier set)")
    # uv installs the rest into a directory of its own while the shared ones are linked:
    # linking is a few hundred mkdir and link calls, uv's install a process of its own, and
    # one need not wait for the other. The linked ones come from a tree that is clean already.
    tag = f"{os.getpid()}-{threading.get_ident()}"
    side = tree.with_name(f".tmp-rest-{tag}-{tree.name}")
    # Beside the lock: the paths of built wheels in it are relative to its directory.
    partial = pylock.with_name(f".tmp-{tag}-{pylock.name}")
    beside: Pending[None] | None = None
    try:
        if rest:
            text = without(pylock.read_text(encoding="utf-8"), base.shared)
            partial.write_text(text, encoding="utf-8")
            if sorted(p.name for p in lock.parse(text, pylock.parent)) == \
                    sorted(p.name for p in rest):
                shutil.rmtree(side, ignore_errors=True)  # a leftover of an interrupted build
                side.mkdir()
                beside, started = _running(lambda started: with_uv(partial, side, started))
                started.wait()  # after `beside` is set: an interrupt here leaves `side` to uv
        try:
            seeded = _link(inputs.cache, base, tree)
        finally:
            if beside is not None:
                beside.result()
        if seeded is None:  # the earlier tree is gone: install everything
            return whole()
        if beside is not None:
            _merge(side, tree)
    finally:
        partial.unlink(missing_ok=True)
        # Interrupted while uv still runs (a second Ctrl-C while it is waited for): its
        # directory is left to the cache's sweep of .tmp- entries rather than removed under it.
        if beside is None or not beside.running():
            shutil.rmtree(side, ignore_errors=True)
    if not matches(tree, locked):  # not what a whole install makes: make that instead
        return whole()
    return f": {len(rest)} installed, {len(seeded.linked)} linked from an earlier set"


def _running(install: Callable[[threading.Event], None]) -> tuple[Pending[None], threading.Event]:
    """`install(started)` in a thread, and the event it sets once it has started uv, or has
    ended. Linking waits for that: the thread that starts uv, the links and the engine's
    imports (when this runs ahead of it) would share one interpreter meanwhile, and uv
    started 10 to 20 ms later is the whole build 10 to 20 ms later."""
    started = threading.Event()

    def run() -> None:
        try:
            install(started)
        finally:
            started.set()

    return Pending(run, name="fpack-install"), started


def _merge(source: Path, dest: Path) -> None:
    """Move everything below `source` into `dest`. A directory both have is merged (a namespace
    package); a file both have is `source`'s, as when uv installed into the linked tree and
    wrote over it (replaced, a new inode: the earlier tree's file is untouched)."""
    for entry in source.iterdir():
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() \
                and not target.is_symlink():
            _merge(entry, target)
        elif not (target.is_dir() and not target.is_symlink()):
            entry.replace(target)


def without(text: str, names: Iterable[str]) -> str:
    """A uv pylock.toml without the packages named: its `[[packages]]` tables are cut out."""
    drop = set(names)
    head, *blocks = text.split("\n[[packages]]\n")
    kept = [b for b in blocks if _block_name(b) not in drop]
    return "\n[[packages]]\n".join([head, *kept])


def matches(tree: Path, locked: tuple[Locked, ...]) -> bool:
    """Whether `tree` holds exactly one dist-info directory per package of `locked`."""
    found = sorted(canonical(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
                   for p in tree.glob("*.dist-info"))
    return found == sorted(p.name for p in locked)


def _block_name(block: str) -> str | None:
    for line in block.splitlines():
        if line.startswith("name = "):
            return canonical(json.loads(line.removeprefix("name = ")))
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
