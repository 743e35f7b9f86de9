"""Read-only access to the dependency engine's cache, for `fpack check`: the resolution of the
spec for a platform and, once a build has installed it, the measured size of every package.

The cache keys are the engine's own (`fpack.deps.keys`); the engine itself is not imported: it
would pull in the builder, the container adapter and the ELF audit, too much for a check that runs
on every commit. When the engine has no resolution for the
current spec (it changed since the last build), the check resolves wheels-only itself and keeps
the result under its own name, `resolve/check.<key>.toml`: the index is asked once per change of
the spec, and the engine's own entries are written only by the engine, after its hash checks.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from fpack.deps import keys, lock, uv
from fpack.deps.cache import Cache
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs
from fpack.platforms import Platform
from fpack.report import Reporter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


build_image = keys.build_image
tree_key = keys.tree_key
uv_version = uv.cached_version


@dataclass(frozen=True, kw_only=True)
class Pin:
    name: str
    version: str
    wheel_size: int  # bytes of the wheel file; 0 when unknown
    needs_build: bool  # the lock names a source (sdist, directory, VCS), not a wheel


@dataclass(frozen=True, kw_only=True)
class Resolution:
    pins: tuple[Pin, ...]
    installed: dict[str, int] | None  # name -> unpacked bytes, once a build installed the tree
    installed_total: int | None


@dataclass(frozen=True, kw_only=True)
class Unresolved:
    error: DependencyError
    no_wheel: str | None  # the package that has no wheel for the platform, when that is why


def resolve_key(spec: DependencySpec, platform: Platform, image: str,
                inputs: BuildInputs) -> str:
    return keys.resolve_key(spec, platform, image, uv.cached_version(inputs.cache),
                            inputs.index.fingerprint())


def resolution(spec: DependencySpec, platform: Platform, *, image: str, compile_bytecode: bool,
               inputs: BuildInputs, reporter: Reporter) -> Resolution | Unresolved:
    """What the engine resolved (or the check's own wheels-only resolution) and measured."""
    cache = inputs.cache
    key = resolve_key(spec, platform, image, inputs)
    text = _read(cache.file("resolve", f"pylock.{key}", ".toml"))
    if text is None:
        text = _read(cache.file("resolve", f"check.{key}", ".toml"))
    if text is None:
        found = _resolve(spec, platform, inputs, reporter)
        if isinstance(found, Unresolved):
            return found
        text = found
        cache.write_file("resolve", f"check.{key}", ".toml", text.encode())
    installed, total = _installed(cache, keys.tree_key(text, platform, compile_bytecode))
    return Resolution(pins=_pins(text, cache.root / "resolve"), installed=installed,
                      installed_total=total)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _resolve(spec: DependencySpec, platform: Platform, inputs: BuildInputs,
             reporter: Reporter) -> str | Unresolved:
    assert spec.path is not None
    reporter.step(f"resolving {spec.name} for {platform.label} (it changed since the last "
                  "build or check)")
    try:
        requirements, constraints = uv.derived(spec)
        return uv.resolve(spec, platform, index=inputs.index, requirements=requirements,
                          constraints=constraints).text
    except DependencyError as e:
        m = uv.NO_WHEEL.search(str(e))
        return Unresolved(error=e, no_wheel=m.group(1) if m else None)


def _pins(text: str, base: Path) -> tuple[Pin, ...]:
    """The lock's packages (read by the engine's own parser) with their wheels' sizes."""
    packages = tomllib.loads(text).get("packages", [])
    sizes: dict[str, int] = {str(canonicalize_name(p["name"])): _size(p) for p in packages}
    pins = []
    for locked in lock.parse(text, base):
        size = sizes.get(locked.name, 0)
        if not size and not locked.needs_build and "://" not in locked.location:
            size = _file_size(Path(locked.location))  # a local wheel, e.g. one built from source
        pins.append(Pin(name=locked.name, version=locked.version or "", wheel_size=size,
                        needs_build=locked.needs_build))
    return tuple(pins)


def _size(pkg: dict[str, Any]) -> int:
    entry = pkg["wheels"][0] if pkg.get("wheels") else pkg.get("archive") or {}
    return int(entry.get("size", 0))


def _file_size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _installed(cache: Cache, key: str) -> tuple[dict[str, int] | None, int | None]:
    """Per-package and total unpacked bytes, measured when a build installed the tree."""
    meta = cache.file("trees", key, ".json")
    if cache.tree(key) is None or not meta.is_file():
        return None, None
    data = json.loads(meta.read_text(encoding="utf-8"))
    return {p["name"]: int(p["size"]) for p in data["packages"]}, int(data["unpacked_size"])
