"""Poetry projects: `[tool.poetry.dependencies]` as the requirements uv resolves, and the
versions of a `poetry.lock` beside it as constraints, so the versions shipped are the locked ones.

Poetry's own constraint language is translated to PEP 440: `^1.2.3` is `>=1.2.3,<2.0.0`,
`~1.2.3` is `>=1.2.3,<1.3.0`, a bare `1.2.3` is `==1.2.3`, `*` is anything. A dependency table
may carry `version`, `extras`, `markers`, `python`, `optional` (left out: extras are not
installed), `path` (a local library: `develop = true` or not, it is built and installed as a
wheel, never as a link), `git` (with `rev`, `tag` or `branch`, `subdirectory`) or `url`. Poetry 2
projects list their requirements in `[project] dependencies`; `[tool.poetry.dependencies]` then
only gives sources (a path) for some of them. Only the main group is packaged.

Pure: parses TOML text into requirement lines; relative paths stay relative to the project's
directory, where uv runs (DependencySpec.directory).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

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


def read(pyproject: Path) -> Requirements:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    lock = pyproject.with_name(LOCK)
    return Requirements(requirements=requirements(data, pyproject),
                        constraints=constraints(lock.read_text(encoding="utf-8"), lock)
                        if lock.is_file() else "")


def requirements(data: dict[str, Any], where: Path) -> str:
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    listed = data.get("project", {}).get("dependencies")
    lines: list[str] = []
    if listed is not None:  # Poetry 2: [project] lists them; tool.poetry only adds sources
        for text in listed:
            name = re.split(r"[\s\[<>=!~;@(]", text.strip(), maxsplit=1)[0]
            source = _source_of(poetry, name)
            lines.append(_line(name, source, where) if source is not None else text)
    else:
        for name, value in poetry.items():
            if name.lower() == "python":
                continue
            for entry in value if isinstance(value, list) else [value]:
                if isinstance(entry, dict) and entry.get("optional"):
                    continue
                lines.append(_line(name, entry, where))
    return "".join(f"{line}\n" for line in lines)


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


def constraints(text: str, lock: Path) -> str:
    """`name==version` for every package of the main group that poetry.lock pins from an index
    (local directories, files and git sources are the requirements' business)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{lock}: not valid TOML: {e}",
                          hint="run `poetry lock` to write it again") from e
    lines = []
    for package in data.get("package", []):
        groups = package.get("groups") or [package.get("category", "main")]
        if "main" not in groups or package.get("source", {}).get("type") in (
                "directory", "file", "git", "url"):
            continue
        lines.append(f"{package['name']}=={package['version']}\n")
    return "".join(lines)
