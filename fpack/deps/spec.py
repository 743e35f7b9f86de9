"""What the project asks for: the dependency file and every file that decides its meaning.

A requirements file may pull in others (`-r`, `-c`); all of them are part of the cache key, so an
edit to an included file re-resolves. pyproject.toml and uv.lock are handed to uv as they are.
Other tools' locks (poetry.lock, pdm.lock, pylock.toml, Pipfile.lock: deps/lockfiles.py) are read
with their project file, both in the key; a pyproject.toml with a lock beside it is read through
that lock, never around it. A lock fpack cannot use stops here, naming the file and the fix.
`[project] groups` in fpack.toml (read from `config_path`: the groups and extras a lock's set adds
to its main dependencies) is part of a lock's key.
Index options written in requirements files (`--index-url`, `--extra-index-url`, `--find-links`)
are read back out (`index_options`) for the steps that do not read the file: installing the lock,
which names files by URL without credentials, and building in a container.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from fpack.deps import lockfiles
from fpack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SpecKind = Literal["requirements", "pyproject", "poetry", "uvlock", "pdm", "pylock", "pipfile",
                   "none"]
_INCLUDE: Final = re.compile(r"^\s*(-r|-c|--requirement|--constraint)(?:\s+|=)(\S+)")
_EVERY: Final = ("-r", "-c", "--requirement", "--constraint")
_REQUIREMENTS_ONLY: Final = ("-r", "--requirement")  # a -c file constrains, it requires nothing
_INDEX: Final = re.compile(
    r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links)(?:\s+|=)(\S+)\s*$")
_LONG: Final = {"-i": "--index-url", "-f": "--find-links"}
_ENV: Final = re.compile(r"\$\{([A-Za-z0-9_]+)\}")  # pip's (and uv's) ${VAR} in requirement files


@dataclass(frozen=True, kw_only=True)
class DependencySpec:
    """A group's dependency file, its kind, and the files its resolution rests on."""

    kind: SpecKind
    path: Path | None
    files: tuple[tuple[str, str], ...]  # (path, sha256) of every file that decides the resolution
    # How messages name a spec fpack derived from the user's (e.g. requirements.txt plus
    # functions-framework for gcp), when `path` is a file in fpack's cache the user never wrote.
    label: str = ""
    member: str | None = None  # uvlock: the workspace member whose dependencies are the set
    # Where relative paths in the spec (local libraries) are read from: the spec's directory,
    # or, for a spec fpack derived into its cache, the directory of the user's own spec.
    base: Path | None = None
    groups: tuple[str, ...] = ()  # a lock's groups and extras besides the main ones

    @property
    def directory(self) -> Path | None:
        return self.base or (self.path.parent if self.path else None)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.member:
            return f"{self.member} ({self.path.name if self.path else ''})"
        return self.path.name if self.path else ""

    @property
    def shown(self) -> str:
        if self.label:
            return self.label
        if self.member:
            return f"{self.path} (member {self.member})"
        return str(self.path) if self.path else ""

    def key(self) -> str:
        """The set's identity: its files' content, named relative to the spec's directory, so
        that two functions whose specs say the same thing share one resolution, and the key is
        the same in every checkout. (What local libraries a spec names is checked separately:
        their content is not part of a spec, see engine._healthy.)"""
        h = hashlib.sha256(self.kind.encode())
        if self.member:
            h.update(f"\0member\0{self.member}".encode())
        if self.groups:
            h.update(f"\0groups\0{','.join(self.groups)}".encode())
        base = str(self.path.parent) if self.path else ""
        for name, digest in self.files:
            h.update(f"\0{os.path.relpath(name, base) if base else name}\0{digest}".encode())
        return h.hexdigest()


def kind_of(path: Path) -> SpecKind:
    if path.name == "uv.lock":
        return "uvlock"
    if path.name == "pyproject.toml":
        return "pyproject"
    return lockfiles.kind_of(path) or "requirements"


def read(path: Path | None, config_path: Path, member: str | None = None) -> DependencySpec:
    """The spec at `path` (None: the project has no dependencies); `member`: the uv workspace
    member whose dependencies a workspace's uv.lock gives."""
    if path is None:
        return DependencySpec(kind="none", path=None, files=())
    kind = kind_of(path)
    if kind == "pyproject" and member is None:
        beside = lockfiles.found_in(path.parent)
        if len(beside) > 1:
            raise lockfiles.several(path.parent, beside)
        if beside:  # a project with a lock is built from the lock
            path, kind = beside[0], kind_of(beside[0])
    if kind == "pyproject" and _is_poetry(path, config_path):
        kind = "poetry"  # Poetry's own tables, without a poetry.lock (deps/poetry.py)
    if kind == "pipfile":
        path = path.with_name("Pipfile.lock")
    groups = _groups(config_path) if kind in lockfiles.KINDS else ()
    if kind in lockfiles.KINDS and path.name != "pyproject.toml":
        lock_kind = lockfiles.kind_of(path)
        assert lock_kind is not None
        lockfiles.check_usable(lock_kind, path, groups)
        project = lockfiles.project_of(lock_kind, path)
        files = [path, *([project] if project.is_file() else [])]
    elif kind == "uvlock":
        # uv export reads the lock together with the project's pyproject.toml.
        files = [path, path.with_name("pyproject.toml")]
    elif kind == "requirements":
        files = [f for f, _ in _walk(path, lambda f: _text(f, config_path), _EVERY)]
    else:
        files = [path]
    return DependencySpec(
        kind=kind,
        path=path,
        files=tuple((str(f), hashlib.sha256(_read(f, config_path)).hexdigest()) for f in files),
        member=member if kind == "uvlock" else None,
        groups=groups,
    )


def _groups(config_path: Path) -> tuple[str, ...]:
    """fpack.toml's `[project] groups` (validated by config.load; () when there is none)."""
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()
    groups = raw.get("project", {}).get("groups", [])
    return tuple(str(g) for g in groups) if isinstance(groups, list) else ()


def _is_poetry(path: Path, config_path: Path) -> bool:
    from fpack.deps import poetry  # noqa: PLC0415 - only for a pyproject.toml

    try:
        data = tomllib.loads(_read(path, config_path).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # uv reports what is wrong with it, naming the file
    return poetry.is_poetry(data)


def _read(path: Path, config_path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(
            f"{config_path}: [project] dependencies: cannot read {path}: {e.strerror}",
            hint="point `dependencies` at a readable requirements.txt, pyproject.toml, uv.lock, "
            "poetry.lock, pdm.lock, pylock.toml or Pipfile.lock",
        ) from e


def _text(path: Path, config_path: Path) -> str:
    try:
        return _read(path, config_path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text; save the requirements file as UTF-8") from e


def _walk(path: Path, read: Callable[[Path], str],
          follow: tuple[str, ...]) -> list[tuple[Path, str]]:
    """A requirements file and, depth first, each file it includes with an option in `follow`
    (relative to the including file), once each: (absolute path, text)."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def visit(here: Path) -> None:
        here = Path(os.path.abspath(here))  # noqa: PTH100 - no syscall per part, unlike resolve()
        if here in seen:
            return
        seen.add(here)
        text = read(here)
        found.append((here, text))
        for line in text.splitlines():
            if (m := _INCLUDE.match(line)) and m.group(1) in follow:
                visit(here.parent / m.group(2))

    visit(path)
    return found


def requirement_texts(path: Path, texts: Mapping[str, str]) -> list[str] | None:
    """Of a requirements spec's files, read already (`texts`, by the paths `DependencySpec.files`
    names), its own file's text and those it includes with -r: its -c constraint files name
    packages a set may never hold. None if one of them is not in `texts`."""
    try:
        return [text for _, text in _walk(path, lambda f: texts[str(f)], _REQUIREMENTS_ONLY)]
    except KeyError:
        return None


def index_options(spec: DependencySpec, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The index options of a requirements spec and the files it includes, as uv arguments, with
    ${VAR} expanded from `environ` (they may carry credentials: never log or store them)."""
    if spec.kind != "requirements":
        return ()
    options: list[str] = []
    for name, _ in spec.files:
        with open(name, encoding="utf-8") as f:  # noqa: PTH123 - spec.files holds path strings
            options += parse_index_options(f.read(), environ)
    return tuple(options)


def parse_index_options(text: str, environ: Mapping[str, str]) -> list[str]:
    """`--index-url URL`-style pairs from the lines of one requirements file."""
    out: list[str] = []
    for line in text.splitlines():
        if m := _INDEX.match(line):
            value = _ENV.sub(lambda v: environ.get(v.group(1), ""), m.group(2))
            out += [_LONG.get(m.group(1), m.group(1)), value]
    return out
