"""A new tree from an earlier one: what both have is hard-linked, uv installs the rest.

A changed requirement used to cost a whole install: uv puts every file of every wheel into a
new `--target` directory (numpy and pandas: 150 MB, 4 to 6 s here), though one package changed.
Now the tree is seeded from the cached tree of the same platform that shares the most wheels
(same name, same sha256): their files are linked in, as listed by their RECORD, and only the
other packages go to uv, from the lock with the shared ones left out.

Linking is safe because a finished tree is never written again (`dists.link`: every later step
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from fpack.deps import dists, lock, uv
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache
from fpack.deps.lock import Locked
from fpack.deps.spec import DependencySpec
from fpack.inputs import BuildInputs
from fpack.platforms import Platform
from fpack.report import Reporter, plural


@dataclass(frozen=True, kw_only=True)
class Seeded:
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


def seed(cache: Cache, locked: tuple[Locked, ...], platform_key: str, dest: Path,
         ) -> Seeded | None:
    """Link into `dest` the distributions an earlier tree of `platform_key` shares with
    `locked`; None (and `dest` untouched) when no earlier tree shares any."""
    wanted = {p.name: p.sha256 for p in locked if p.sha256}
    best: tuple[int, str, Path, dict[str, str]] | None = None
    for meta_path in (cache.root / "trees").glob("*.json"):
        meta = _read(meta_path)
        if meta is None or meta.get("platform") != platform_key:
            continue  # another platform, a derived tree (slim, sdk), or an older meta
        have = identity(meta.get("packages", ()))
        shared = sum(1 for name, sha in wanted.items() if have.get(name) == sha)
        key = meta_path.name.removesuffix(".json")
        tree = cache.tree(key)
        if shared and tree is not None and (best is None or shared > best[0]):
            best = (shared, key, tree, have)
    if best is None:
        return None
    _, key, tree, have = best
    cache.use(cache.root / "trees" / f"{key}.ok")  # used from now: `gc` leaves it alone
    linked = []
    try:
        for info, owned in dists.files_by_dist(tree).items():
            name = canonicalize_name(info.removesuffix(".dist-info").rsplit("-", 1)[0])
            if name not in wanted or have.get(name) != wanted[name]:
                continue
            # Bytecode is not part of an install (compile = true links its own from pycs/).
            dists.link(tree, dest, [rel for rel in owned if dists.source_of(rel) is None])
            linked.append(name)
    except OSError:  # the earlier tree went away meanwhile (another build's gc)
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        return None
    return Seeded(linked=tuple(sorted(linked)), base=key)


def install(pylock: Path, locked: tuple[Locked, ...], platform: Platform, tree: Path, *,
            inputs: BuildInputs, spec: DependencySpec, reporter: Reporter | None = None) -> str:
    """The wheels of `pylock` installed into `tree`: those an earlier tree of the platform has
    are linked from it (`seed`), uv installs the others. `reporter`: None when this runs ahead
    of the engine, in a thread of deps/speculate.py, which says nothing. What the report of the
    install adds: how many were linked (empty when none were)."""
    def with_uv(lock_file: Path) -> None:
        uv.install(lock_file, platform, tree, settings=inputs.index,
                   index=dep_spec.index_options(spec, inputs.environ), cwd=spec.directory)

    seeded = seed(inputs.cache, locked, platform.key(), tree)
    if seeded is None:
        with_uv(pylock)
        return ""
    rest = [p for p in locked if p.name not in seeded.linked]
    if reporter is not None:
        reporter.step(f"installing {plural(len(rest), 'package')} of {spec.name} for "
                      f"{platform.label} ({len(seeded.linked)} linked from an earlier set)")
    if rest:
        # Beside the lock: the paths of built wheels in it are relative to its directory.
        partial = pylock.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{pylock.name}")
        try:
            text = without(pylock.read_text(encoding="utf-8"), seeded.linked)
            partial.write_text(text, encoding="utf-8")
            if sorted(p.name for p in lock.parse(text, pylock.parent)) == \
                    sorted(p.name for p in rest):
                with_uv(partial)
        finally:
            partial.unlink(missing_ok=True)
    if not matches(tree, locked):  # not what a whole install makes: make that instead
        shutil.rmtree(tree)
        tree.mkdir()
        with_uv(pylock)
        return ""
    return f": {len(rest)} installed, {len(seeded.linked)} linked from an earlier set"


def without(text: str, names: Iterable[str]) -> str:
    """A uv pylock.toml without the packages named: its `[[packages]]` tables are cut out."""
    drop = set(names)
    head, *blocks = text.split("\n[[packages]]\n")
    kept = [b for b in blocks if _block_name(b) not in drop]
    return "\n[[packages]]\n".join([head, *kept])


def matches(tree: Path, locked: tuple[Locked, ...]) -> bool:
    """Whether `tree` holds exactly one dist-info directory per package of `locked`."""
    found = sorted(canonicalize_name(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
                   for p in tree.glob("*.dist-info"))
    return found == sorted(p.name for p in locked)


def _block_name(block: str) -> str | None:
    for line in block.splitlines():
        if line.startswith("name = "):
            return canonicalize_name(json.loads(line.removeprefix("name = ")))
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
