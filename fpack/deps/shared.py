"""The engine's entries in and out of the shared cache (`remote.Store`), kind by kind.

    resolve/<resolve key>   pylock.toml with local paths relative to anchors ({fpack:cache}: the
                            cache root, {fpack:spec}: the spec's directory), the built wheels it
                            names (files of the entry: a lock records their sha256, so they
                            travel with it), the local directories it was built from (relative
                            to the spec's directory) and their digests
    built/<build key>       a wheel built from source, and its build.json (no local path)
    trees/<tree key>        the tree's meta (packages, sizes) and the tree as a zip
    archives/<archive key>  the deterministic zip spliced into artifacts

A pulled entry becomes a local entry exactly as a made one does (scratch name, rename, marker
last, under the same lock); the engine then trusts it as it trusts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from fpack.deps import builder, lock, remote
from fpack.deps.cache import Cache
from fpack.report import Reporter

LOCK_FILE: Final = "pylock.toml"
TREE_FILE: Final = "tree.zip"
ARCHIVE_FILE: Final = "archive.zip"


class _Missing(Exception):
    """The remote had no valid entry: the scratch directory must not become one."""


def anchors(cache: Cache, directory: Path | None) -> list[tuple[str, Path]]:
    """Where a lock's local paths may point, by anchor name (a path and its resolved form)."""
    out: list[tuple[str, Path]] = []
    for name, path in (("cache", cache.root), ("spec", directory)):
        if path is None:
            continue
        # abspath, not resolve(): a lock names the cache as it was given (and the resolved form
        # is added beside it)
        absolute = Path(os.path.abspath(path))  # noqa: PTH100
        out += [(name, absolute)] + ([(name, absolute.resolve())]
                                     if absolute.resolve() != absolute else [])
    return out


@contextlib.contextmanager
def _scratch(cache: Cache, kind: str) -> Iterator[Path]:
    base = cache.root / kind
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-pull-", dir=base) as tmp:
        yield Path(tmp)


def built_keys(text: str, cache: Cache, base: Path) -> list[str]:
    """The wheelhouse keys of the built wheels a lock names."""
    wheels = str(Path(os.path.abspath(cache.root)) / builder.KIND) + "/"  # noqa: PTH100 - as above
    return [pkg.location[len(wheels):].split("/", 1)[0] for pkg in lock.parse(text, base)
            if pkg.kind == "archive" and pkg.location.startswith(wheels)]


# --- resolutions -----------------------------------------------------------------------------


def pull_lock(store: remote.Store, cache: Cache, key: str, directory: Path | None,
              reporter: Reporter) -> tuple[str, list[dict[str, str]]] | None:
    """A resolution from the shared cache, anchored here: (pylock text, local directories with
    their digests), the built wheels it names put in the wheelhouse first. None on a miss, or
    when this wheelhouse holds another build of one of its wheels (then the lock is made here,
    around the local wheel)."""
    with _scratch(cache, "resolve") as tmp:
        info = store.pull("resolve", key, tmp, reporter)
        if info is None:
            return None
        text = remote.anchored_lock((tmp / LOCK_FILE).read_text(encoding="utf-8"),
                                    dict(reversed(anchors(cache, directory))))
        if text is None:
            return None
        for built in info.get("built", []):
            if not _adopt_built(cache, str(built["key"]), str(built["wheel"]), tmp):
                return None
    local = [{"path": os.path.normpath(str((directory or Path()) / e["path"])),
              "digest": str(e["digest"])} for e in info.get("local", [])]
    return text, local


def _adopt_built(cache: Cache, build_key: str, wheel: str, pulled: Path) -> bool:
    """Wheelhouse entry `build_key` from a pulled resolution's files: kept if the wheelhouse has
    it already with the same bytes, made if it has none; False if it has another build."""
    got = pulled / f"{build_key}--{wheel}"
    meta = pulled / f"{build_key}--{builder.META}"
    if not got.is_file() or not meta.is_file():
        return False
    with cache.lock(f"wheel-{build_key}"):
        if (hit := builder.cached(cache, build_key)) is not None:
            return hit.wheel.name == wheel and \
                remote.sha256_file(hit.wheel) == remote.sha256_file(got)
        with cache.new_entry(builder.KIND, build_key) as out:
            shutil.copyfile(got, out / wheel)
            shutil.copyfile(meta, out / builder.META)
    return builder.cached(cache, build_key) is not None


def push_lock(store: remote.Store, cache: Cache, key: str, path: Path, *,
              directory: Path | None, local: Sequence[dict[str, str]],
              reporter: Reporter) -> None:
    """Share a resolution made here, with the built wheels it names (one entry: the lock and
    the wheels whose hashes it records travel together), if it names no local path outside
    the cache and the spec's directory."""
    if store.readonly or not store.up or store.pushed("resolve", key):
        return
    text = path.read_text(encoding="utf-8")
    portable = remote.portable_lock(text, anchors(cache, directory))
    if portable is None or (local and directory is None):
        return
    relative = [{"path": os.path.relpath(e["path"], directory), "digest": e["digest"]}
                for e in local] if directory is not None else []
    with tempfile.TemporaryDirectory(prefix="fpack-push-") as tmp:
        files = {LOCK_FILE: Path(tmp) / LOCK_FILE}
        files[LOCK_FILE].write_text(portable, encoding="utf-8")
        built = []
        for build_key in built_keys(text, cache, path.parent):
            hit = builder.cached(cache, build_key)
            if hit is None:
                return
            files[f"{build_key}--{hit.wheel.name}"] = hit.wheel
            files[f"{build_key}--{builder.META}"] = _portable_build_meta(hit.wheel.parent,
                                                                         Path(tmp), build_key)
            built.append({"key": build_key, "wheel": hit.wheel.name})
        store.push("resolve", key, files, {"built": built, "local": relative}, reporter)


def _portable_build_meta(entry: Path, tmp: Path, build_key: str) -> Path:
    """build.json with a local directory's path cut to its name (it names this machine)."""
    meta = json.loads((entry / builder.META).read_text(encoding="utf-8"))
    source = dict(meta.get("source", {}))
    location = str(source.get("location", ""))
    if location and "://" not in location:
        source["location"] = location.rstrip("/").rsplit("/", 1)[-1]
    meta["source"] = source
    out = tmp / f"{build_key}-{builder.META}"
    out.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    return out


# --- built wheels ----------------------------------------------------------------------------


def pull_built(store: remote.Store, cache: Cache, build_key: str, reporter: Reporter) -> bool:
    """Wheelhouse entry `build_key` from the shared cache, unless it is here already."""
    if builder.cached(cache, build_key) is not None:
        return True
    with cache.lock(f"wheel-{build_key}"):
        if builder.cached(cache, build_key) is not None:
            return True
        try:
            with cache.new_entry(builder.KIND, build_key) as out:
                info = store.pull("built", build_key, out, reporter)
                if info is None or not (out / builder.META).is_file():
                    raise _Missing
        except _Missing:
            return False
    return builder.cached(cache, build_key) is not None


def push_built(store: remote.Store, cache: Cache, build_key: str, reporter: Reporter) -> None:
    if store.readonly or not store.up or store.pushed("built", build_key):
        return
    hit = builder.cached(cache, build_key)
    if hit is None:
        return
    with tempfile.TemporaryDirectory(prefix="fpack-push-") as tmp:
        described = _portable_build_meta(hit.wheel.parent, Path(tmp), build_key)
        store.push("built", build_key, {hit.wheel.name: hit.wheel, builder.META: described},
                   {"wheel": hit.wheel.name}, reporter)


# --- trees and archives ----------------------------------------------------------------------


def pull_tree_meta(store: remote.Store, cache: Cache, key: str,
                   reporter: Reporter) -> dict[str, Any] | None:
    """The tree's meta alone (packages and sizes), when its archive is all the build needs."""
    with _scratch(cache, "trees") as tmp:
        info = store.pull("trees", key, tmp, reporter, files=False)
    return _meta(info)


def pull_tree(store: remote.Store, cache: Cache, key: str,
              reporter: Reporter) -> dict[str, Any] | None:
    """Tree `key` unpacked from the shared cache into the local cache (the caller holds the
    tree's lock), and its meta; None on a miss."""
    try:
        with _scratch(cache, "trees") as tmp, cache.new_tree(key) as tree:
            meta = _meta(store.pull("trees", key, tmp, reporter))
            if meta is None or not unzip_tree(tmp / TREE_FILE, tree):
                raise _Missing
            cache.write_file("trees", key, ".json", json.dumps(meta, indent=1).encode())
    except _Missing:
        return None
    return meta


def _meta(info: dict[str, Any] | None) -> dict[str, Any] | None:
    meta = (info or {}).get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("packages"), list) \
            and isinstance(meta.get("unpacked_size"), int):
        return meta
    return None


def push_tree(store: remote.Store, key: str, meta: dict[str, Any], tree: Path, *,
              archive: Path | None, reporter: Reporter) -> None:
    """Share a tree made here: its meta and its files as a zip (the archive when there is one:
    any archive of the tree holds exactly its files)."""
    if store.readonly or not store.up or store.pushed("trees", key):
        return
    with tempfile.TemporaryDirectory(prefix="fpack-push-") as tmp:
        if archive is None:
            from fpack.archive import ZipWriter  # noqa: PLC0415

            archive = Path(tmp) / TREE_FILE
            writer = ZipWriter(archive, epoch=0)
            writer.add_tree(tree)
            writer.write()
        store.push("trees", key, {TREE_FILE: archive}, {"meta": meta}, reporter)


def unzip_tree(archive: Path, dest: Path) -> bool:
    """Unpack a tree's zip with its modes; False if it names anything outside `dest`."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            name = info.filename
            if name.startswith("/") or ".." in name.split("/"):
                return False
            target = dest / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            target.chmod(0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
    return True


def pull_archive(store: remote.Store, cache: Cache, key: str, reporter: Reporter) -> Path | None:
    path = cache.file("archives", key, ".zip")
    with _scratch(cache, "archives") as tmp:
        if store.pull("archives", key, tmp, reporter) is None:
            return None
        os.replace(tmp / ARCHIVE_FILE, path)
    return path


def push_archive(store: remote.Store, key: str, path: Path, reporter: Reporter) -> None:
    if store.readonly or not store.up or store.pushed("archives", key):
        return
    store.push("archives", key, {ARCHIVE_FILE: path}, {}, reporter)
