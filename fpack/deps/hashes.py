"""Hash-checking for requirements files: what `--hash` and `--require-hashes` ask, and the check.

uv's resolver does not check the hashes written in its input (only its installer does, and fpack
installs from the lock uv wrote), so fpack checks them itself, as pip would: every file the
resolution picked for the target must match one of the hashes given for its package, and once any
requirement carries a hash (or `--require-hashes` is given) every package must carry one. A package
built from source is checked by its source archive. A local directory or a git checkout has no file
to hash and, as in pip's hash-checking mode, cannot be hash-pinned: it is let through.

A lock (poetry.lock, pdm.lock, pylock.toml, Pipfile.lock: deps/lockfiles.py) states a stricter
policy: the resolution may hold only the packages it pins, at the versions it pins, from files
it hashed; a package it does not pin means it is out of date for the target (`locked`).

Pure: parses text and compares digests, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from fpack.deps.lock import Locked
from fpack.deps.names import canonical
from fpack.errors import DependencyError

_COMMENT: Final = re.compile(r"(^|\s+)#.*$")
_HASH: Final = re.compile(r"--hash(?:=|\s+)(\S+)")


@dataclass(frozen=True, kw_only=True)
class HashPolicy:
    """Which sha256 digests each package may have, and whether every package needs some."""

    source: str  # the file that states the policy, for messages
    required: bool = False
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # A lock's: the versions it pins per package (any other package or version is refused), and
    # the command that writes it again.
    locked: Mapping[str, frozenset[str]] | None = None
    refresh: str = ""


def logical_lines(text: str) -> list[str]:
    """Lines of a requirements file with comments dropped and `\\` continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        if joined := (pending + line).strip():
            out.append(joined)
        pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def policy(source: str, texts: Iterable[str]) -> HashPolicy:
    """The hash policy stated by requirements files (the main one and every one it includes)."""
    required = False
    allowed: dict[str, set[str]] = {}
    for text in texts:
        for line in logical_lines(text):
            if line.startswith("--require-hashes"):
                required = True
                continue
            digests = [_digest(value) for value in _HASH.findall(line)]
            if not digests or line.startswith("-"):
                continue
            required = True  # pip: one --hash turns hash-checking mode on for everything
            name = _name(_HASH.sub("", line))
            if name is not None:
                allowed.setdefault(name, set()).update(d for d in digests if d)
    return HashPolicy(source=source, required=required,
                      allowed={k: frozenset(v) for k, v in allowed.items()})


def _digest(value: str) -> str:
    algorithm, _, digest = value.partition(":")
    # Only sha256 is compared: it is what indexes publish and what pylock.toml records.
    return digest.lower() if algorithm == "sha256" else ""


def _name(requirement: str) -> str | None:
    # Loaded here: a requirements file without hashes never needs packaging's parser (20 ms).
    from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

    try:
        return canonical(Requirement(requirement.strip()).name)
    except InvalidRequirement:
        return None  # a path or URL without a name: a directory, checked by no hash


def verify(rules: HashPolicy, packages: Iterable[Locked], where: str) -> None:
    """Raise DependencyError for the first package the policy refuses; `where` names the target."""
    if not rules.required and not rules.allowed and rules.locked is None:
        return
    for pkg in packages:
        if pkg.kind in ("directory", "vcs"):
            continue
        version = f" {pkg.version}" if pkg.version else ""
        if rules.locked is not None:
            _in_lock(rules, rules.locked, pkg, where)
        given = rules.allowed.get(pkg.name)
        if given is None and rules.required:
            raise DependencyError(
                f"{rules.source}: hash-checking mode is on (--require-hashes, or a --hash option "
                f"on a requirement), but {pkg.name}{version} has no --hash",
                hint="pin every package, dependencies included, with the hashes of its files "
                "(`uv pip compile --generate-hashes` writes them), or drop every --hash option",
            )
        if given is not None and pkg.sha256 not in given:
            raise DependencyError(
                f"{rules.source}: {pkg.name}{version}: the file chosen {where} ({pkg.filename}, "
                f"sha256:{pkg.sha256}) matches none of the {len(given)} hash(es) given for it",
                hint=f"run `{rules.refresh}` to lock the files the index has now" if rules.refresh
                else "add the hash of that file (`uv pip compile --generate-hashes "
                "--python-platform ...` for the target lists it), or remove the --hash options "
                f"of {pkg.name}",
            )


def _in_lock(rules: HashPolicy, locked: Mapping[str, frozenset[str]], pkg: Locked,
             where: str) -> None:
    versions = locked.get(pkg.name)
    hint = f"run `{rules.refresh}`, then build again"
    if versions is None:
        raise DependencyError(
            f"{rules.source}: {pkg.name} {pkg.version or ''} is needed {where}, and the lock does "
            "not pin it".replace("  ", " "),
            hint=f"{hint} (the lock was written for another platform, or before this "
            "requirement)")
    if pkg.version and versions and pkg.version not in versions:
        raise DependencyError(
            f"{rules.source}: {pkg.name}: the lock pins {' or '.join(sorted(versions))}, and "
            f"the resolution {where} chose {pkg.version}", hint=hint)
