"""Reading a PEP 751 lock (`pylock.toml`, as `uv pip compile` writes it) into typed entries.

Each `[[packages]]` entry says where its files come from: `wheels` (an index or find-links), `sdist`
(an index that has no usable wheel), `archive` (a direct URL or path: a wheel or a source archive),
`directory` (a local project) or `vcs` (a git URL at a commit). Everything but a wheel must be built
before it can be installed for the target; `needs_build` says which.

Pure: parses text, no I/O. Relative paths are made absolute against the lock's directory, given by
the caller, because uv writes them relative to where the lock was written.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from fpack.deps.names import NotAWheel, canonical, wheel_name
from fpack.errors import DependencyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SourceKind = Literal["wheel", "sdist", "archive", "directory", "vcs"]
_KEYS: Final = ("wheels", "sdist", "archive", "directory", "vcs")  # the source keys of an entry


@dataclass(frozen=True, kw_only=True)
class Locked:
    """One pinned package and the one file (or tree, or commit) it comes from."""

    name: str  # canonical
    version: str | None  # None for a local directory: its version is known once it is built
    kind: SourceKind
    location: str  # URL or absolute path: the wheel, the archive, the directory or the repository
    sha256: str = ""  # of the wheel or archive; empty for a directory or a repository
    commit: str = ""  # vcs only
    subdirectory: str = ""  # directory-in-a-repository or -archive, for vcs and archives

    @property
    def filename(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[-1]

    @property
    def needs_build(self) -> bool:
        """Whether this entry is source that must become a wheel before it can be installed."""
        return self.kind != "wheel" and not (
            self.kind == "archive" and self.filename.endswith(".whl"))


def parse(text: str, base: Path) -> tuple[Locked, ...]:
    """Every package of a pylock.toml, in lock order; `base` is the directory of the lock file."""
    return _parsed(text, base)


# A build reads the same lock in several places (is it healthy, which built wheels it names,
# the tree it makes, the seeded install): parsed once, as entries that cannot be changed.
@functools.lru_cache(maxsize=32)
def _parsed(text: str, base: Path) -> tuple[Locked, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DependencyError(f"uv wrote a lock fpack cannot read: {e}") from e
    return tuple(_entry(pkg, base) for pkg in data.get("packages", []))


def _entry(pkg: dict[str, Any], base: Path) -> Locked:
    name = canonical(str(pkg["name"]))
    version = pkg.get("version")
    present = [k for k in _KEYS if pkg.get(k)]
    if pkg.get("wheels"):
        present = ["wheels"]  # a resolution that admits source lists the sdist beside the wheel
    if len(present) != 1:
        raise DependencyError(
            f"{name}: expected one source in the resolution, found {_describe(pkg, present)}",
            hint="run the build again with --refresh",
        )
    match present[0]:
        case "wheels":
            return _file(name, version, "wheel", best_wheel(pkg["wheels"]), base)
        case "sdist":
            return _file(name, version, "sdist", pkg["sdist"], base)
        case "archive":
            return _file(name, version, "archive", pkg["archive"], base)
        case "directory":
            path = _absolute(str(pkg["directory"]["path"]), base)
            return Locked(name=name, version=version, kind="directory", location=path)
        case _:
            vcs = pkg["vcs"]
            return Locked(name=name, version=version, kind="vcs", location=str(vcs["url"]),
                          commit=str(vcs.get("commit-id", "")),
                          subdirectory=str(vcs.get("subdirectory", "")))


def best_wheel(wheels: list[dict[str, Any]]) -> dict[str, Any]:
    """The most specific of the wheels uv listed for one package: all of them fit the target
    (uv resolved for its platform), but some projects publish a pure-Python wheel beside a compiled
    one (simplejson) or one wheel under two equivalent tags (watchdog: manylinux2014 and
    manylinux_2_17). Compiled beats pure, then the file name decides, so the choice is stable."""

    def rank(entry: dict[str, Any]) -> tuple[bool, bool, bool, str]:
        filename = str(entry.get("url") or entry.get("path") or "").rsplit("/", 1)[-1]
        try:
            tags = wheel_name(filename).tags
        except NotAWheel:
            return (True, True, True, filename)
        pure = all(t.platform == "any" for t in tags)
        no_abi = all(t.abi == "none" for t in tags)
        # pip and uv rank manylinux_2_17 above its legacy alias manylinux2014: choose as they do,
        # so the wheel named here is the one an installer given this lock would pick.
        legacy = not any(t.platform.startswith(("manylinux_", "musllinux_")) for t in tags)
        return (pure, no_abi, legacy, filename)

    return min(wheels, key=rank)


def _file(name: str, version: str | None, kind: SourceKind, entry: dict[str, Any],
          base: Path) -> Locked:
    location = str(entry["url"]) if "url" in entry else _absolute(str(entry["path"]), base)
    return Locked(name=name, version=version, kind=kind, location=location,
                  sha256=str(entry.get("hashes", {}).get("sha256", "")),
                  subdirectory=str(entry.get("subdirectory", "")))


def _absolute(path: str, base: Path) -> str:
    return str(Path(path) if Path(path).is_absolute() else (base / path).resolve())


def _describe(pkg: dict[str, Any], present: list[str]) -> str:
    if not present:
        return "none"
    return " and ".join(present)
