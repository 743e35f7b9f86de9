"""Poetry projects: `[tool.poetry.dependencies]` as the requirements uv resolves, and the
versions of a `poetry.lock` beside it as constraints, so the versions shipped are the locked ones.

Poetry's own constraint language is translated to PEP 440: `^1.2.3` is `>=1.2.3,<2.0.0`,
`~1.2.3` is `>=1.2.3,<1.3.0`, a bare `1.2.3` is `==1.2.3`, `*` is anything. A dependency table
may carry `version`, `extras`, `markers`, `python`, `optional` (left out: extras are not
installed), `path` (a local library: `develop = true` or not, it is built and installed as a
wheel, never as a link), `git` (with `rev`, `tag` or `branch`, `subdirectory`) or `url`. Poetry 2
projects list their requirements in `[project] dependencies`; `[tool.poetry.dependencies]` then
only gives sources (a path) for some of them. Only the main group is packaged.

Groups and extras (`[project] groups` in fpack.toml) add `[tool.poetry.group.NAME.dependencies]`
(`[tool.poetry.dev-dependencies]` is the group "dev"), `[dependency-groups] NAME` (PEP 735), and the
extra NAME (`[tool.poetry.extras]`, or Poetry 2's `[project.optional-dependencies]`).

How poetry.lock then decides the versions, and how its content-hash is checked: deps/lockfiles.py.

Pure: parses TOML text into requirement lines; relative paths stay relative to the project's
directory, where uv runs (DependencySpec.directory).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fpack.deps.lockfiles import Derived, Pins
from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK: Final = "poetry.lock"
_VERSION: Final = re.compile(r"^\d+(\.\d+)*$")
_OPERATOR: Final = re.compile(r"^(==|!=|<=|>=|<|>|~=|===)\s*(.+)$")


@dataclass(frozen=True, kw_only=True)
class Requirements:
    requirements: str  # requirement lines for uv
    constraints: str  # `name==version` of every package poetry.lock pins ("" without a lock)


def is_poetry(data: dict[str, Any]) -> bool:
    """Whether a parsed pyproject.toml declares Poetry dependencies (besides `python`)."""
    deps = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return any(name.lower() != "python" for name in deps)


def read(pyproject: Path, groups: tuple[str, ...] = ()) -> Requirements:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    lock = pyproject.with_name(LOCK)
    return Requirements(requirements=requirements(data, pyproject, groups),
                        constraints=constraints(lock.read_text(encoding="utf-8"), lock)
                        if lock.is_file() else "")


def requirements(data: dict[str, Any], where: Path, groups: tuple[str, ...] = ()) -> str:
    """The main group's requirement lines, then those of each group or extra in `groups`."""
    tool = data.get("tool", {}).get("poetry", {})
    poetry = tool.get("dependencies", {})
    project = data.get("project", {})
    listed = project.get("dependencies")
    lines: list[str] = []
    if listed is not None:  # Poetry 2: [project] lists them; tool.poetry only adds sources
        lines += _pep508(listed, poetry, where)
    else:
        lines += _table(poetry, where, skip_optional=True)
    known = group_names(data)
    for group in groups:
        if group not in known:
            raise ConfigError(
                f"{where}: [project] groups names \"{group}\", which is neither a group nor an "
                f"extra of this Poetry project (it has: "
                f"{', '.join(f'{g!r}' for g in sorted(known)) or 'none'})",
                hint="correct [project] groups in fpack.toml")
        lines += _group(data, group, where)
    unique = list(dict.fromkeys(lines))
    return "".join(f"{line}\n" for line in unique)


def group_names(data: dict[str, Any]) -> set[str]:
    """The dependency groups and extras a Poetry project declares."""
    tool = data.get("tool", {}).get("poetry", {})
    names = set(tool.get("group", {})) | set(data.get("dependency-groups", {}))
    names |= set(tool.get("extras", {})) | set(data.get("project", {}).get(
        "optional-dependencies", {}))
    return names | ({"dev"} if "dev-dependencies" in tool else set())


def _group(data: dict[str, Any], name: str, where: Path) -> list[str]:
    tool = data.get("tool", {}).get("poetry", {})
    poetry = tool.get("dependencies", {})
    lines = _table(tool.get("group", {}).get(name, {}).get("dependencies", {}), where)
    if name == "dev":
        lines += _table(tool.get("dev-dependencies", {}), where)
    lines += _pep508(_included(data.get("dependency-groups", {}), name, set()), poetry, where)
    for extra in tool.get("extras", {}).get(name, []):
        entry = next((v for k, v in poetry.items() if _canonical(k) == _canonical(extra)), None)
        if entry is not None:
            lines += _table({extra: entry}, where)
    lines += _pep508(data.get("project", {}).get("optional-dependencies", {}).get(name, []),
                     poetry, where)
    return lines


def _included(groups: dict[str, Any], name: str, seen: set[str]) -> list[str]:
    """A PEP 735 group's requirement strings, `{include-group = ...}` followed."""
    if name in seen:
        return []
    seen.add(name)
    out: list[str] = []
    for item in groups.get(name, []):
        if isinstance(item, dict) and "include-group" in item:
            out += _included(groups, str(item["include-group"]), seen)
        elif isinstance(item, str):
            out.append(item)
    return out


def _pep508(listed: list[str], poetry: dict[str, Any], where: Path) -> list[str]:
    lines = []
    for text in listed:
        name = re.split(r"[\s\[<>=!~;@(]", text.strip(), maxsplit=1)[0]
        source = _source_of(poetry, name)
        lines.append(_line(name, source, where) if source is not None else text)
    return lines


def _table(table: dict[str, Any], where: Path, *, skip_optional: bool = False) -> list[str]:
    lines = []
    for name, value in table.items():
        if name.lower() == "python":
            continue
        for entry in value if isinstance(value, list) else [value]:
            if skip_optional and isinstance(entry, dict) and entry.get("optional"):
                continue
            lines.append(_line(name, entry, where))
    return lines


def _source_of(poetry: dict[str, Any], name: str) -> dict[str, Any] | None:
    for key, value in poetry.items():
        if _canonical(key) == _canonical(name) and isinstance(value, dict) and \
                any(k in value for k in ("path", "git", "url")):
            return value
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _line(name: str, entry: Any, where: Path) -> str:
    """One requirement line for one Poetry dependency entry."""
    shown = f"{where}: [tool.poetry.dependencies] {name}"
    if isinstance(entry, str):
        return name + specifier(entry, shown)
    if not isinstance(entry, dict):
        raise ConfigError(f"{shown}: expected a version string or a table")
    extras = f"[{','.join(entry['extras'])}]" if entry.get("extras") else ""
    markers = [m for m in (entry.get("markers"),
                           _python_marker(entry["python"], shown) if "python" in entry else None)
               if m]
    marker = f" ; {' and '.join(f'({m})' for m in markers)}" if markers else ""
    if "path" in entry:
        path = str(entry["path"])
        if path.endswith((".whl", ".tar.gz", ".zip")):
            return f"{name}{extras} @ {Path(path).as_posix()}{marker}"
        # A bare path: uv reads it against the project's directory and builds the library.
        return f"{path if path.startswith(('.', '/')) else './' + path}{marker}"
    if "git" in entry:
        ref = entry.get("rev") or entry.get("tag") or entry.get("branch")
        url = "git+" + str(entry["git"]) + (f"@{ref}" if ref else "")
        if entry.get("subdirectory"):
            url += f"#subdirectory={entry['subdirectory']}"
        return f"{name}{extras} @ {url}{marker}"
    if "url" in entry:
        return f"{name}{extras} @ {entry['url']}{marker}"
    return f"{name}{extras}{specifier(str(entry.get('version', '*')), shown)}{marker}"


def specifier(constraint: str, where: str) -> str:
    """A Poetry version constraint as a PEP 440 specifier ("" for any version)."""
    text = constraint.strip()
    if "||" in text or "|" in text:
        raise ConfigError(f'{where} = "{constraint}": fpack cannot translate an "or" of '
                          "versions to a single requirement",
                          hint="write one range (e.g. \">=1.2,<3\"), or list the dependency in "
                          "[project] dependencies")
    if text in ("", "*"):
        return ""
    parts = [p for p in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", text) if p]
    return ",".join(_one(p.strip(), where, constraint) for p in parts)


def _one(part: str, where: str, constraint: str) -> str:
    if part.startswith("^"):
        return _caret(part[1:], where, constraint)
    if part.startswith("~") and not part.startswith("~="):
        return _tilde(part[1:], where, constraint)
    if m := _OPERATOR.match(part):
        return f"{m.group(1)}{m.group(2).strip()}"
    if _VERSION.match(part) or part.endswith(".*"):
        return f"=={part}"
    raise ConfigError(f'{where} = "{constraint}": not a version constraint Poetry writes',
                      hint='use e.g. "^1.2", "~1.2.3", ">=1.2,<2" or "1.2.3"')


def _numbers(version: str, where: str, constraint: str) -> list[int]:
    if not _VERSION.match(version.strip()):
        raise ConfigError(f'{where} = "{constraint}": "{version}" is not a version')
    return [int(x) for x in version.strip().split(".")]


def _caret(version: str, where: str, constraint: str) -> str:
    """^1.2.3 <2.0.0; ^0.2.3 <0.3.0; ^0.0.3 <0.0.4; ^0 <1; ^0.0 <0.1 (Poetry's rules)."""
    n = _numbers(version, where, constraint)
    first = next((i for i, x in enumerate(n) if x != 0), len(n) - 1)
    upper = [*n[:first], n[first] + 1]
    return f">={version.strip()},<{'.'.join(map(str, upper))}"


def _tilde(version: str, where: str, constraint: str) -> str:
    """~1.2.3 <1.3.0; ~1.2 <1.3; ~1 <2."""
    n = _numbers(version, where, constraint)
    upper = [n[0] + 1] if len(n) == 1 else [n[0], n[1] + 1]
    return f">={version.strip()},<{'.'.join(map(str, upper))}"


def _python_marker(constraint: str, where: str) -> str:
    spec = specifier(str(constraint), f"{where} python")
    return " and ".join(f"python_version {_op(s)}" for s in spec.split(",") if s)


def _op(single: str) -> str:
    m = _OPERATOR.match(single)
    assert m is not None
    return f"{m.group(1)} '{m.group(2)}'"


def _lock_data(text: str, lock: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{lock}: not valid TOML: {e}",
                          hint="run `poetry lock` to write it again") from e
    version = str(data.get("metadata", {}).get("lock-version", "1.0"))
    if version.split(".", maxsplit=1)[0] not in ("1", "2"):
        raise ConfigError(f'{lock}: lock-version = "{version}": fpack reads the lock-versions of '
                          "Poetry 1 and 2 (1.x, 2.x)",
                          hint="run `poetry lock` with Poetry 1 or 2 to write it again")
    return data


def _from_index(package: dict[str, Any]) -> bool:
    return package.get("source", {}).get("type") not in ("directory", "file", "git", "url")


def constraints(text: str, lock: Path) -> str:
    """`name==version` for every package poetry.lock pins from an index, whatever its group: a
    constraint only bounds a package the requirements need (local directories, files and git
    sources are the requirements' business). A package locked at several versions (under
    disjoint markers) is constrained by marker when the lock records them (lock-version 2.1),
    else left to the pin check (deps/lockfiles.py)."""
    packages = [p for p in _lock_data(text, lock).get("package", []) if _from_index(p)]
    count: dict[str, int] = {}
    for package in packages:
        count[_canonical(package["name"])] = count.get(_canonical(package["name"]), 0) + 1
    lines = []
    for package in packages:
        line = f"{package['name']}=={package['version']}"
        if count[_canonical(package["name"])] > 1:
            if not isinstance(package.get("markers"), str):
                continue
            line += f" ; {package['markers']}"
        lines.append(f"{line}\n")
    return "".join(dict.fromkeys(lines))


def pins(text: str, lock: Path) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(versions, sha256 hashes) of every package poetry.lock pins to a file (an index's or an
    archive's), by canonical name: files per package (lock-version 2) or [metadata.files] (1.1)."""
    data = _lock_data(text, lock)
    legacy = data.get("metadata", {}).get("files", {})
    versions: dict[str, set[str]] = {}
    hashes: dict[str, set[str]] = {}
    for package in data.get("package", []):
        if package.get("source", {}).get("type") in ("directory", "git"):
            continue  # built from source, let through (deps/hashes.py)
        name = _canonical(package["name"])
        versions.setdefault(name, set()).add(str(package["version"]))
        files = package.get("files")
        if files is None:
            files = next((v for k, v in legacy.items() if _canonical(k) == name), [])
        for f in files:
            algorithm, _, digest = str(f.get("hash", "")).partition(":")
            if algorithm == "sha256" and digest:
                hashes.setdefault(name, set()).add(digest.lower())
    return ({k: frozenset(v) for k, v in versions.items()},
            {k: frozenset(v) for k, v in hashes.items()})


def derive(lock: Path, groups: tuple[str, ...] = ()) -> Derived:
    """The project's requirements, the lock's versions as constraints, and its pins."""
    pyproject = lock.with_name("pyproject.toml")
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    text = lock.read_text(encoding="utf-8")
    versions, hashes = pins(text, lock)
    return Derived(requirements=requirements(data, pyproject, groups),
                   constraints=constraints(text, lock), complete=False,
                   pins=Pins(versions=versions, hashes=hashes), refresh="poetry lock")


def content_hash(data: dict[str, Any], *, with_dependency_groups: bool = True) -> str:
    """poetry.lock's content-hash for a parsed pyproject.toml, as Poetry computes it."""
    project = data.get("project", {})
    groups = data.get("dependency-groups", {}) if with_dependency_groups else {}
    tool = data.get("tool", {}).get("poetry", {})
    legacy = ("dependencies", "source", "extras", "dev-dependencies")
    relevant_project = {k: project[k] for k in ("requires-python", "dependencies",
                                                "optional-dependencies")
                        if project.get(k) is not None}
    relevant_poetry = {}
    for key in (*legacy, "group"):
        value = tool.get(key)
        if value is None and (key not in legacy or relevant_project or groups):
            continue
        relevant_poetry[key] = value
    relevant: dict[str, Any] = {}
    if relevant_project:
        relevant["project"] = relevant_project
    if groups:
        relevant["dependency-groups"] = groups
    if relevant:
        relevant["tool"] = {"poetry": relevant_poetry}
    else:
        relevant = relevant_poetry  # Poetry 1's layout, kept by Poetry 2 for such projects
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def stale(lock: Path, pyproject: Path) -> str | None:
    """Why poetry.lock is out of date with pyproject.toml (None when its content-hash fits)."""
    text = lock.read_text(encoding="utf-8")
    recorded = str(_lock_data(text, lock).get("metadata", {}).get("content-hash", ""))
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    if recorded == content_hash(data):
        return None
    # Before Poetry 2.3 the hash left [dependency-groups] out: Poetry accepts that one then.
    writer = _OLD_WRITER.search(text.split("\n", 1)[0])
    if writer and _older(writer.group(1), (2, 3)) and \
            recorded == content_hash(data, with_dependency_groups=False):
        return None
    return ("its content-hash is not pyproject.toml's: dependencies, groups, extras or sources "
            "changed since it was written")


_OLD_WRITER: Final = re.compile(r"Poetry (\d+(?:\.\d+)*)")


def _older(version: str, than: tuple[int, int]) -> bool:
    return tuple(int(x) for x in version.split(".")[:2]) < than
