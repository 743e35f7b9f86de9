"""Dependencies for one platform, from spec to a cached archive: resolve, install, audit, zip.

Each stage is keyed by what determines it, so a build with nothing changed reads three small cache
files and touches neither uv nor the network:
    resolve key = spec files + platform + uv version + index settings  -> pylock.toml
    tree key    = pylock text + platform + tree format                 -> installed tree + meta.json
    archive key = tree key + archive format + SOURCE_DATE_EPOCH        -> deterministic zip
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from fpack.archive import ZipWriter
from fpack.deps import audit, uv
from fpack.deps.cache import Cache
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.platforms import Platform
from fpack.report import Reporter, human_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TREE_FORMAT: Final = "1"
ARCHIVE_FORMAT: Final = "1"
# Console scripts carry the build host's interpreter path in their shebang: useless on the target
# and a source of irreproducibility. Byte code is compiled for the target separately, or not at all.
_DROP_DIRS: Final = ("bin",)


@dataclass(frozen=True, kw_only=True)
class Package:
    name: str
    version: str
    wheel: str
    sha256: str
    size: int  # unpacked bytes
    source: str = "index"


@dataclass(frozen=True, kw_only=True)
class Dependencies:
    platform: Platform
    packages: tuple[Package, ...]
    archive: Path | None  # the installed tree as a zip with no prefix; None without dependencies
    unpacked_size: int
    key: str


def _sha(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def prepare(
    spec: DependencySpec,
    platform: Platform,
    cache: Cache,
    reporter: Reporter,
    *,
    refresh: bool = False,
) -> Dependencies:
    """The dependencies of `spec` for `platform`, from the cache when nothing changed."""
    if spec.kind == "none":
        return Dependencies(
            platform=platform,
            packages=(),
            archive=None,
            unpacked_size=0,
            key=_sha("none", platform.key()),
        )
    resolve_key = _sha(spec.key(), platform.key(), uv.version(), uv.index_fingerprint())
    lock = _lock(spec, platform, cache, resolve_key, reporter, refresh)
    tree_key = _sha(lock.read_text(encoding="utf-8"), platform.key(), TREE_FORMAT)
    meta = _tree_meta(lock, platform, cache, tree_key, reporter)
    archive = _archive(cache, tree_key, reporter)
    packages = tuple(Package(**p) for p in meta["packages"])
    return Dependencies(
        platform=platform,
        packages=packages,
        archive=archive,
        unpacked_size=int(meta["unpacked_size"]),
        key=tree_key,
    )


def _lock(
    spec: DependencySpec,
    platform: Platform,
    cache: Cache,
    key: str,
    reporter: Reporter,
    refresh: bool,
) -> Path:
    path = cache.file("resolve", f"pylock.{key}", ".toml")
    if path.is_file() and not refresh:
        return path
    with cache.lock(f"resolve-{key}"):
        if path.is_file() and not refresh:
            return path
        reporter.step(f"resolving {spec.path.name if spec.path else ''} for {platform.label}")
        text = uv.resolve(spec, platform, refresh=refresh)
        return cache.write_file("resolve", f"pylock.{key}", ".toml", text.encode())


def _tree_meta(
    lock: Path, platform: Platform, cache: Cache, key: str, reporter: Reporter
) -> dict[str, Any]:
    meta_path = cache.file("trees", key, ".json")
    if cache.tree(key) is not None and meta_path.is_file():
        return dict(json.loads(meta_path.read_text()))
    with cache.lock(f"tree-{key}"):
        if cache.tree(key) is not None and meta_path.is_file():
            return dict(json.loads(meta_path.read_text()))
        locked = _read_lock(lock)
        reporter.step(f"installing {len(locked)} packages for {platform.label}")
        with cache.new_tree(key) as tmp:
            uv.install(lock, platform, tmp)
            _clean_tree(tmp)
            _audit(tmp, platform)
            meta = _describe(tmp, locked)
            cache.write_file("trees", key, ".json", json.dumps(meta, indent=1).encode())
        reporter.done(f"installed {len(locked)} packages ({human_size(meta['unpacked_size'])})")
        return meta


def _audit(tree: Path, platform: Platform) -> None:
    """Refuse a tree with any shared object the target cannot load: the field's most common
    failure (GLIBC_2.28 not found, invalid ELF header) caught on the build machine instead."""
    problems = audit.audit(tree, machine=platform.machine, glibc=platform.glibc,
                           os_libraries=audit.MANYLINUX_LIBRARIES,
                           glibcxx=platform.runtime.glibcxx)
    if problems:
        listing = "\n".join(f"  - {p.message}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DependencyError(
            f"{len(problems)} shared object(s) cannot run on {platform.label}:\n{listing}{more}")


def _read_lock(lock: Path) -> dict[str, dict[str, Any]]:
    """name -> {version, wheel, sha256} for every package pinned in a pylock.toml."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for pkg in data.get("packages", []):
        wheels = pkg.get("wheels") or []
        if len(wheels) != 1:
            raise DependencyError(
                f"{pkg['name']}: expected one wheel in the resolution, found {len(wheels)}",
                hint="run the build again with --refresh",
            )
        url = wheels[0].get("url") or wheels[0].get("path") or ""
        out[_norm(pkg["name"])] = {
            "version": pkg["version"],
            "wheel": url.rsplit("/", 1)[-1],
            "sha256": wheels[0].get("hashes", {}).get("sha256", ""),
        }
    return out


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _clean_tree(tree: Path) -> None:
    for name in _DROP_DIRS:
        shutil.rmtree(tree / name, ignore_errors=True)
    for cache_dir in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache_dir, ignore_errors=True)


def _describe(tree: Path, locked: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Package list with unpacked sizes (from each dist-info RECORD) and the tree's total size."""
    packages = []
    for info in sorted(tree.glob("*.dist-info")):
        name = _norm(info.name[: -len(".dist-info")].rsplit("-", 1)[0])
        size = _record_size(tree, info / "RECORD")
        pin = locked.get(name)
        if pin is None:
            raise DependencyError(
                f"{info.name} was installed but is not in the resolution",
                hint="run the build again with --refresh",
            )
        packages.append(asdict(Package(name=name, size=size, **pin)))
    total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    return {"packages": packages, "unpacked_size": total}


def _record_size(tree: Path, record: Path) -> int:
    total = 0
    with record.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if row and (tree / row[0]).is_file():
                total += (tree / row[0]).stat().st_size
    return total


def _archive(cache: Cache, tree_key: str, reporter: Reporter) -> Path:
    key = _sha(tree_key, ARCHIVE_FORMAT, os.environ.get("SOURCE_DATE_EPOCH", ""))
    path = cache.file("archives", key, ".zip")
    if path.is_file():
        return path
    tree = cache.tree(tree_key)
    assert tree is not None
    with cache.lock(f"archive-{key}"):
        if path.is_file():
            return path
        reporter.step("compressing dependencies (once per dependency set)")
        writer = ZipWriter(path)
        writer.add_tree(tree)
        writer.write()
    return path
