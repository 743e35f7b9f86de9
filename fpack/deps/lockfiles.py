"""Other tools' locks: `poetry.lock`, `pdm.lock`, `pylock.toml` (PEP 751, also `pylock.NAME.toml`)
and `Pipfile.lock`, each read with its project file, as the text uv resolves for the target.

Each format is read by a real parser (tomllib for the TOML ones, json for Pipfile.lock); no
library is needed: the formats are plain data, and the libraries that exist (poetry-core, pdm,
plette, pip's pylock support) are whole resolvers or installers, not light readers.

**How a lock becomes a resolution.** uv resolves for the target's platform, wheels only, as for
every other spec (deps/resolution.py); the lock decides what it may choose:
- pdm.lock (`inherit_metadata`, PDM's default: every package carries its groups and marker),
  pylock.toml and Pipfile.lock list every package that is installed, each with the marker under
  which it is. They become one requirement per package, pinned: `name==version ; marker
  --hash=sha256:... `, resolved with `--no-deps`. That is how their own installers use them (`pdm
  sync`, PEP 751's installer rules, `pipenv sync`: no resolution, each package whose marker holds),
  and it is more exact than constraints: the set shipped is exactly the lock's packages whose
  markers hold on the target, uv only picks the file, and the file must be one the lock hashed. A
  package listed twice (two versions under disjoint markers) is two lines.
- poetry.lock records no marker per package before lock-version 2.1 (Poetry 1.x), only markers on
  the edges between packages. So a Poetry project is resolved from its pyproject.toml's
  requirements (main group, plus the groups and extras `[project] groups` names), with every
  locked version as a constraint; uv walks the graph and evaluates the edges' markers for the
  target. The resolution may not leave the lock: a package the lock does not pin, or at another
  version, or a file it did not hash, stops the build (`policy`).
Local directories become path requirements (built into wheels, deps/builder.py), VCS entries `name
@ git+URL@commit`, archives `name @ URL`.

**Groups** (`[project] groups` in fpack.toml): the main (default) dependencies are always packaged;
each name adds a group or an extra: Poetry's `[tool.poetry.group.NAME]`, `[dependency-groups]`
and extras; PDM's groups (optional dependencies and dependency groups alike, as `pdm install -G`);
a pylock.toml's `dependency-groups` and `extras` (decided in its markers, PEP 751's `'NAME' in
extras`); a Pipfile.lock's sections (`develop`, custom categories). A name the lock does not know
stops the build with the names it does.

**Staleness**, decided offline from the files alone:
- poetry.lock: `[metadata] content-hash` is what Poetry computes (poetry/packages/locker.py,
  `Locker._get_content_hash`, Poetry 2.x, whose legacy branch is Poetry 1.x's): the sha256 of
  `json.dumps(relevant, sort_keys=True)`, where `relevant` holds `[project]`'s `requires-python`,
  `dependencies` and `optional-dependencies`, `[dependency-groups]`, and `[tool.poetry]`'s
  `dependencies`, `source`, `extras`, `dev-dependencies` and `group` (a Poetry-1-only project:
  the `[tool.poetry]` keys alone, at the top level, legacy keys kept even when absent). A lock
  written by Poetry before 2.3 (its first line says which) hashed no `[dependency-groups]`:
  either hash is accepted then, as Poetry does. Reproduced exactly.
- pdm.lock: `[metadata] content_hash` is `sha256:` + the sha256 of `json.dumps(data,
  sort_keys=True)` over pyproject.toml's `[[tool.pdm.source]]`, `[project] dependencies`,
  dependency groups (`[dependency-groups]` then `[tool.pdm.dev-dependencies]`, names normalised
  as PDM does), `optional-dependencies`, `requires-python` and `[tool.pdm.resolution]`
  (pdm/project/project_file.py, `PyProject.content_hash`, PDM 2.29). Reproduced exactly. A lock
  written with PDM's opt-in `lock_inputs` (no content_hash) is compared by requirements instead,
  as for pylock.toml.
- Pipfile.lock: `_meta.hash.sha256` is the sha256 of `json.dumps(data, sort_keys=True,
  separators=(",", ":"))` over the Pipfile's `[[source]]` (PyPI's when it has none), `[requires]`,
  `[packages]` as `default`, `[dev-packages]` as `develop` and every custom category (plette's
  `Pipfile.get_hash`; pipenv 2026 canonicalises the package names first, pipenv/utils/pipfile.py
  `calculate_hash`: either hash is accepted). Reproduced exactly.
- pylock.toml records no hash of its inputs (PEP 751 has none), so when a pyproject.toml is beside
  it, every requirement of its `[project] dependencies` must be locked at a version the
  requirement's specifier allows (a requirement with a marker may be absent: the lock may be for
  an environment it excludes), as FP502 does for requirements.txt. What this cannot see: a
  requirement removed, or a specifier narrowed around the locked version.
The command that refreshes each: `poetry lock`, `pdm lock`, `pipenv lock`; for pylock.toml the
command its header names (uv writes it), else by `created-by` (`uv export --format pylock.toml`,
`pdm export -f pylock`, `pip lock`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from fpack.errors import ConfigError

if TYPE_CHECKING:
    from fpack.deps.hashes import HashPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LockKind = Literal["poetry", "pdm", "pylock", "pipfile"]
KINDS: Final[tuple[LockKind, ...]] = ("poetry", "pdm", "pylock", "pipfile")
# Lock files fpack finds by name in a directory; `pylock.NAME.toml` is found by pattern.
NAMES: Final = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "Pipfile.lock")
_PIPFILE_SECTIONS: Final = frozenset(
    ("source", "packages", "dev-packages", "requires", "scripts", "pipfile", "pipenv"))
_PYPI_SOURCE: Final = {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}


@dataclass(frozen=True, kw_only=True)
class Pins:
    """What a lock allows a resolution to contain: per package (canonical name), its versions and
    the sha256 of its files. Packages from directories and VCS have no entry: they are let
    through, as in pip's hash-checking mode."""

    versions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    hashes: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Derived:
    """What a lock file becomes for uv: requirements and constraints that pin what it pins."""

    requirements: str  # what uv resolves
    constraints: str  # the versions no resolution may leave ("" when the pins say it all)
    complete: bool  # every package is pinned as a requirement: resolve with --no-deps
    pins: Pins
    refresh: str  # the command that rewrites the lock


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def is_lock(path: Path) -> bool:
    return path.name in NAMES or _is_pylock(path.name)


def _is_pylock(name: str) -> bool:
    """PEP 751's names: pylock.toml, or pylock.NAME.toml with NAME without dots."""
    if name == "pylock.toml":
        return True
    middle = name.removeprefix("pylock.").removesuffix(".toml")
    return name.startswith("pylock.") and name.endswith(".toml") and bool(middle) and \
        "." not in middle


def kind_of(path: Path) -> LockKind | None:
    if path.name == "poetry.lock":
        return "poetry"
    if path.name == "pdm.lock":
        return "pdm"
    if path.name in ("Pipfile.lock", "Pipfile"):
        return "pipfile"
    return "pylock" if _is_pylock(path.name) else None


def found_in(directory: Path) -> list[Path]:
    """Every lock file in `directory`, in NAMES order (pylock.NAME.toml after pylock.toml)."""
    found = [directory / n for n in NAMES if (directory / n).is_file()]
    named = sorted(p for p in directory.glob("pylock.*.toml")
                   if _is_pylock(p.name) and p.is_file())
    return [*found, *named]


def project_of(kind: LockKind, lock: Path) -> Path:
    """The project file a lock is made from (it may not exist: pylock.toml stands alone)."""
    return lock.with_name("Pipfile") if kind == "pipfile" else lock.with_name("pyproject.toml")


def several(directory: Path, locks: Iterable[Path]) -> ConfigError:
    names = [p.name for p in locks]
    return ConfigError(
        f"{directory}: {len(names)} lock files ({', '.join(names)}): fpack cannot tell which one "
        "the dependencies come from",
        hint=f'name one in fpack.toml, e.g. dependencies = "{names[0]}" in [project] (or in '
        "the function's table), or delete the others")


# --- reading ------------------------------------------------------------------------------------


def toml(path: Path, refresh: str = "") -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}",
                          hint=f"run `{refresh}` to write it again" if refresh else None) from e


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON: {e}",
                          hint="run `pipenv lock` to write it again") from e
    if not isinstance(data, dict) or not isinstance(data.get("default", {}), dict):
        raise ConfigError(f"{path}: not a Pipfile.lock (no \"default\" section)",
                          hint="run `pipenv lock` to write it again")
    return data


def derive(kind: LockKind, lock: Path, groups: tuple[str, ...] = ()) -> Derived:
    """What uv resolves for the lock at `lock`, with the project file beside it."""
    if kind == "poetry":
        from fpack.deps import poetry  # noqa: PLC0415 - one module per Poetry's own language

        return poetry.derive(lock, groups)
    if kind == "pdm":
        return _pdm(lock, groups)
    if kind == "pipfile":
        return _pipfile(lock, groups)
    return _pylock(lock, groups)


def check_usable(kind: LockKind, lock: Path, groups: tuple[str, ...] = ()) -> None:
    """Raise ConfigError (naming the file and the fix) for a lock fpack cannot build from: not
    parseable, of a version it does not read, without the project file it needs, without the
    groups asked for. Reading it is the check."""
    if kind == "poetry" and not project_of(kind, lock).is_file():
        raise ConfigError(f"{lock}: no pyproject.toml beside it: Poetry reads the two together",
                          hint="restore pyproject.toml, or point `dependencies` in fpack.toml at "
                          "another dependency file")
    if kind == "pipfile" and not lock.with_name("Pipfile.lock").is_file():
        raise ConfigError(f"{lock}: no Pipfile.lock beside it: fpack builds from the lock",
                          hint=f"run `pipenv lock` in {lock.parent}")
    derive(kind, lock, groups)


def policy(lock: Path, groups: tuple[str, ...] = ()) -> HashPolicy:
    """What a resolution from `lock` may contain (deps/hashes.py); a lock out of date with its
    project file stops the build here, with the command that refreshes it."""
    from fpack.deps.hashes import HashPolicy  # noqa: PLC0415 - config imports this module

    kind = kind_of(lock)
    assert kind is not None
    if (why := stale(kind, lock)) is not None:
        raise stale_error(kind, lock, why)
    found = derive(kind, lock, groups)
    return HashPolicy(source=str(lock), allowed=found.pins.hashes, locked=found.pins.versions,
                      refresh=found.refresh)


def stale_error(kind: LockKind, lock: Path, why: str) -> ConfigError:
    return ConfigError(f"{lock} is out of date with {project_of(kind, lock).name} ({why})",
                       hint=f"run `{refresh_command(kind, lock)}` in {lock.parent}, then build "
                       "again")


def stale(kind: LockKind, lock: Path) -> str | None:
    """Why the lock is out of date with its project file, or None when it is not (or there is
    no project file to compare with)."""
    project = project_of(kind, lock)
    if not project.is_file():
        return None
    if kind == "poetry":
        from fpack.deps import poetry  # noqa: PLC0415

        return poetry.stale(lock, project)
    if kind == "pdm":
        return _pdm_stale(toml(lock, "pdm lock"), toml(project), lock.name)
    if kind == "pipfile":
        recorded = str(_json(lock).get("_meta", {}).get("hash", {}).get("sha256", ""))
        return None if recorded in pipfile_hashes(toml(project)) else (
            "its _meta hash is not the Pipfile's: packages, sources or requires changed")
    return _unlocked(toml(project).get("project", {}), _pylock_versions(toml(lock)), lock.name)


def _pdm_stale(data: dict[str, Any], pyproject: dict[str, Any], name: str) -> str | None:
    recorded = str(data.get("metadata", {}).get("content_hash", ""))
    if not recorded:  # PDM's opt-in lock_inputs: compared by requirements
        return _unlocked(pyproject.get("project", {}), _pdm_versions(data), name)
    if recorded != pdm_content_hash(pyproject):
        return ("its content_hash is not pyproject.toml's: dependencies, groups, sources or "
                "requires-python changed since it was written")
    return None


def refresh_command(kind: LockKind, lock: Path) -> str:
    commands = {"poetry": "poetry lock", "pdm": "pdm lock", "pipfile": "pipenv lock"}
    return commands.get(kind) or pylock_command(lock.read_text(encoding="utf-8"), lock.name)


def pylock_command(text: str, name: str) -> str:
    """The command that wrote a pylock.toml: the one its header names (uv's "autogenerated by uv
    via the following command"), else the usual one of its `created-by` tool."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("#") and line.rstrip().endswith("via the following command:"):
            command = lines[i + 1].lstrip("#").strip()
            if command:
                return command
    try:
        creator = str(tomllib.loads(text).get("created-by", ""))
    except tomllib.TOMLDecodeError:
        creator = ""
    return {"uv": f"uv export --format pylock.toml -o {name}",
            "pdm": f"pdm export -f pylock -o {name}",
            "pip": f"pip lock -o {name}"}.get(creator, f"{creator or 'the tool that wrote it'} "
                                                      f"(to write {name} again)")


def _unlocked(project: dict[str, Any], versions: Mapping[str, frozenset[str]],
              lock: str) -> str | None:
    """The first requirement of [project] dependencies the lock does not satisfy, said."""
    from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

    for text in project.get("dependencies", []):
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        have = versions.get(canonical(req.name))
        if have is None:
            if req.marker is None:
                return f"{req} is not in {lock}"
            continue
        if have and not any(req.specifier.contains(v, prereleases=True) for v in have):
            return f"{lock} pins {req.name}=={', '.join(sorted(have))}, outside {req}"
    return None


# --- hashes of project files, as each tool computes them -----------------------------------------


def pdm_content_hash(pyproject: dict[str, Any]) -> str:
    project = pyproject.get("project", {})
    settings = pyproject.get("tool", {}).get("pdm", {})
    dev: dict[str, list[Any]] = {}
    for group, deps in pyproject.get("dependency-groups", {}).items():
        dev[_pdm_name(group)] = list(deps)
    for group, deps in settings.get("dev-dependencies", {}).items():
        dev.setdefault(_pdm_name(group), []).extend(deps)
    data = {
        "sources": settings.get("source", []),
        "dependencies": project.get("dependencies", []),
        "dev-dependencies": dev,
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
        "resolution": settings.get("resolution", {}),
    }
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _pdm_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).lower()  # pdm.utils.normalize_name


def pipfile_hashes(pipfile: dict[str, Any]) -> tuple[str, str]:
    """The Pipfile's hash as pipenv 2026 computes it (names canonical) and as plette does."""
    def digest(normal: bool) -> str:
        def section(values: dict[str, Any]) -> dict[str, Any]:
            return {canonical(k): v for k, v in values.items()} if normal else dict(values)

        data: dict[str, Any] = {
            "_meta": {"sources": pipfile.get("source", [_PYPI_SOURCE]),
                      "requires": pipfile.get("requires", {})},
            "default": section(pipfile.get("packages", {})),
            "develop": section(pipfile.get("dev-packages", {})),
        }
        for category, values in pipfile.items():
            if category not in _PIPFILE_SECTIONS and category not in ("default", "develop"):
                data[category] = section(values)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return digest(normal=True), digest(normal=False)


# --- pins as requirement lines -------------------------------------------------------------------


class _Lines:
    """Requirement lines and the pins they make, collected package by package."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.versions: dict[str, set[str]] = {}
        self.hashes: dict[str, set[str]] = {}

    def pin(self, name: str, version: str | None, marker: str | None, hashes: Iterable[str],
            *, extras: Iterable[str] = ()) -> None:
        key = canonical(name)
        digests = sorted({h for h in hashes if h})
        shown = name + (f"[{','.join(sorted(extras))}]" if extras else "")
        line = f"{shown}=={version}" if version else shown
        line += f" ; {marker}" if marker else ""
        line += "".join(f" --hash=sha256:{d}" for d in digests)
        if line not in self.lines:
            self.lines.append(line)
        if version:
            self.versions.setdefault(key, set()).add(version)
        self.hashes.setdefault(key, set()).update(digests)

    def direct(self, line: str, marker: str | None, name: str = "") -> None:
        """A directory, VCS or URL requirement: its version is the source's (`name`: an archive,
        allowed at whatever version it has)."""
        text = line + (f" ; {marker}" if marker else "")
        if text not in self.lines:
            self.lines.append(text)
        if name:
            self.versions.setdefault(canonical(name), set())

    def derived(self, refresh: str) -> Derived:
        return Derived(
            requirements="".join(f"{line}\n" for line in self.lines), constraints="",
            complete=True, refresh=refresh,
            pins=Pins(versions={k: frozenset(v) for k, v in self.versions.items()},
                      hashes={k: frozenset(v) for k, v in self.hashes.items() if v}))


def _sha256(value: Any) -> str:
    algorithm, _, digest = str(value or "").partition(":")
    return digest.lower() if algorithm == "sha256" else ""


def _local(path: str) -> str:
    """A path requirement uv reads against the project's directory (where it runs)."""
    posix = Path(path).as_posix()
    return posix if posix.startswith(("./", "../", "/")) else f"./{posix}"


def _unknown_groups(lock: Path, asked: Iterable[str], known: Iterable[str], fix: str
                    ) -> ConfigError:
    missing = sorted(set(asked) - set(known))
    names = ", ".join(f'"{g}"' for g in sorted(set(known))) or "none"
    return ConfigError(
        f"{lock}: [project] groups names {', '.join(repr(g) for g in missing)}, which the lock "
        f"does not have (it has: {names})", hint=fix)


# --- pdm.lock ------------------------------------------------------------------------------------


def _pdm(lock: Path, groups: tuple[str, ...]) -> Derived:
    data = toml(lock, "pdm lock")
    meta = data.get("metadata", {})
    version = str(meta.get("lock_version", ""))
    if version.split(".", maxsplit=1)[0] != "4":
        raise ConfigError(f'{lock}: lock_version = "{version}": fpack reads PDM\'s lock_version '
                          '4 (PDM 2.x)', hint="run `pdm lock` with PDM 2 to write it again")
    packages = data.get("package", [])
    if packages and not all("groups" in p for p in packages):
        raise ConfigError(
            f"{lock}: written without PDM's inherit_metadata strategy, so its packages carry no "
            "groups and markers, and fpack cannot tell which of them the target needs",
            hint="run `pdm lock --strategy inherit_metadata` (PDM's default since 2.11)")
    wanted = {"default", *(_pdm_name(g) for g in groups)}
    locked = {_pdm_name(g) for g in meta.get("groups", ["default"])}
    if not wanted <= locked:
        raise _unknown_groups(lock, wanted, locked,
                              "add the group to pyproject.toml and run `pdm lock -G :all`, or "
                              "correct [project] groups in fpack.toml")
    out = _Lines()
    for p in packages:
        if not wanted & {_pdm_name(g) for g in p.get("groups", [])}:
            continue
        name, marker = str(p["name"]), p.get("marker")
        if "path" in p:
            out.direct(_local(str(p["path"])), marker)
        elif "git" in p:
            sub = f"#subdirectory={p['subdirectory']}" if p.get("subdirectory") else ""
            out.direct(f"{name} @ git+{p['git']}@{p.get('revision') or p.get('ref', '')}{sub}",
                       marker)
        elif "url" in p:
            out.direct(f"{name} @ {p['url']}", marker, name)
        else:
            out.pin(name, str(p["version"]), marker,
                    (_sha256(f.get("hash")) for f in p.get("files", [])))
    return out.derived("pdm lock")


def _pdm_versions(data: dict[str, Any]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for p in data.get("package", []):
        found.setdefault(canonical(str(p["name"])), set()).update(
            [str(p["version"])] if "version" in p else [])
    return {k: frozenset(v) for k, v in found.items()}


# --- pylock.toml (PEP 751) -----------------------------------------------------------------------


def _pylock(lock: Path, groups: tuple[str, ...]) -> Derived:
    text = lock.read_text(encoding="utf-8")
    refresh = pylock_command(text, lock.name)
    data = toml(lock, refresh)
    version = str(data.get("lock-version", ""))
    if version.split(".", maxsplit=1)[0] != "1":
        raise ConfigError(f'{lock}: lock-version = "{version}": fpack reads PEP 751\'s '
                          "lock-version 1", hint=f"run `{refresh}` to write it again")
    extras = {canonical(str(e)) for e in data.get("extras", [])}
    dependency_groups = {canonical(str(g)) for g in data.get("dependency-groups", [])}
    asked = {canonical(g) for g in groups}
    if not asked <= extras | dependency_groups:
        raise _unknown_groups(lock, asked, extras | dependency_groups,
                              f"correct [project] groups in fpack.toml, or run `{refresh}` "
                              "with the group or extra")
    chosen_groups = frozenset(
        {canonical(str(g)) for g in data.get("default-groups", [])} | (asked & dependency_groups))
    chosen_extras = frozenset(asked & extras)
    out = _Lines()
    for p in data.get("packages", []):
        marker = lock_marker(str(p["marker"]), chosen_extras, chosen_groups) \
            if p.get("marker") else ""
        if marker is None:
            continue  # never installed with the extras and groups chosen
        name = str(p["name"])
        if p.get("directory"):
            out.direct(_local(str(p["directory"]["path"])), marker)
        elif p.get("vcs"):
            vcs = p["vcs"]
            sub = f"#subdirectory={vcs['subdirectory']}" if vcs.get("subdirectory") else ""
            out.direct(f"{name} @ {vcs.get('type', 'git')}+{vcs.get('url') or vcs.get('path')}"
                       f"@{vcs.get('commit-id', '')}{sub}", marker)
        elif p.get("archive"):
            archive = p["archive"]
            where = archive.get("url") or _local(str(archive.get("path", "")))
            out.direct(f"{name} @ {where}", marker, name)
            out.hashes.setdefault(canonical(name), set()).add(
                str(archive.get("hashes", {}).get("sha256", "")))
        else:
            files = [*p.get("wheels", []), *([p["sdist"]] if p.get("sdist") else [])]
            out.pin(name, str(p["version"]) if "version" in p else None, marker,
                    (str(f.get("hashes", {}).get("sha256", "")) for f in files))
    return out.derived(refresh)


def _pylock_versions(data: dict[str, Any]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for p in data.get("packages", []):
        found.setdefault(canonical(str(p["name"])), set()).update(
            [str(p["version"])] if "version" in p else [])
    return {k: frozenset(v) for k, v in found.items()}


def lock_marker(text: str, extras: frozenset[str], groups: frozenset[str]) -> str | None:
    """A PEP 751 package marker with its `extras` and `dependency_groups` terms decided (they say
    what the lock installs, not where): the rest for uv to evaluate on the target. "" when it
    always holds, None when it never does."""
    if "extras" not in text and "dependency_groups" not in text:
        return text
    from packaging.markers import InvalidMarker, Marker  # noqa: PLC0415

    try:
        tree = Marker(text)._markers
    except InvalidMarker as e:
        raise ConfigError(f'marker "{text}": not a PEP 508 marker: {e}') from e
    decided = _decide(tree, {"extras": extras, "dependency_groups": groups})
    if decided is True:
        return ""
    return None if decided is False else decided


def _decide(node: Any, sets: Mapping[str, frozenset[str]]) -> str | bool:
    if isinstance(node, tuple):
        lhs, op, rhs = node
        for variable, value in ((rhs, lhs), (lhs, rhs)):
            name = str(getattr(variable, "value", ""))
            if type(variable).__name__ == "Variable" and name in sets:
                present = canonical(str(value.value)) in sets[name]
                return present if op.value == "in" else not present
        return f"{lhs.serialize()} {op.serialize()} {rhs.serialize()}"
    # A list: terms joined by "and"/"or", "and" binding tighter (as packaging evaluates it).
    alternatives: list[list[str | bool]] = [[]]
    for item in node:
        if item == "or":
            alternatives.append([])
        elif item != "and":
            alternatives[-1].append(_decide(item, sets))
    said: list[str] = []
    for terms in alternatives:
        if any(t is False for t in terms):
            continue
        kept = [str(t) for t in terms if t is not True]
        if not kept:
            return True
        said.append(" and ".join(f"({t})" if " or " in t else t for t in kept))
    return " or ".join(said) if said else False


# --- Pipfile.lock --------------------------------------------------------------------------------


def _pipfile(path: Path, groups: tuple[str, ...]) -> Derived:
    lock = path.with_name("Pipfile.lock")
    data = _json(lock)
    sections = [k for k in data if k != "_meta"]
    if not set(groups) <= set(sections):
        raise _unknown_groups(lock, groups, [s for s in sections if s != "default"],
                              "correct [project] groups in fpack.toml (Pipfile.lock's section "
                              "names: develop for [dev-packages]), or run `pipenv lock`")
    out = _Lines()
    for section in ("default", *groups):
        for name, entry in data.get(section, {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f'{lock}: "{section}" "{name}": expected an object',
                                  hint="run `pipenv lock` to write it again")
            marker = entry.get("markers")
            extras = entry.get("extras", [])
            shown = name + (f"[{','.join(extras)}]" if extras else "")
            if "path" in entry:
                out.direct(_local(str(entry["path"])), marker)
            elif "git" in entry:
                sub = f"#subdirectory={entry['subdirectory']}" if entry.get("subdirectory") \
                    else ""
                ref = f"@{entry['ref']}" if entry.get("ref") else ""
                out.direct(f"{shown} @ git+{str(entry['git']).removeprefix('git+')}{ref}{sub}",
                           marker)
            elif "file" in entry:
                out.direct(f"{shown} @ {entry['file']}", marker, name)
            else:
                version = str(entry.get("version", "*"))
                out.pin(name, version.removeprefix("==") if version.startswith("==") else None,
                        marker, (_sha256(h) for h in entry.get("hashes", [])), extras=extras)
    return out.derived("pipenv lock")
