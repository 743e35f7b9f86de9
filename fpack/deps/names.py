"""Project names and wheel file names, as the packaging specifications spell them.

- A project name is compared in its normalized form (PEP 503): runs of `-`, `_` and `.` become
  one `-`, and the name is lower case.
- A wheel's file name says what it is (the binary distribution format, PEP 427):
  `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, each tag part possibly a
  compressed set (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`, PEP 425) that stands
  for every combination of its members.

Every lock a build reads goes through these, for each of its packages. `packaging.utils` does
the same work, but importing it imports `packaging.tags`, and with it logging, platform,
sysconfig and packaging's manylinux detection: 13 ms of every build's start on Python 3.11.
What compares versions or parses requirements still uses packaging, where it is needed.
Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

_SEPARATORS: Final = re.compile(r"[-_.]+")
# A project name as a wheel's file name escapes it: letters, digits, `_` and `.`.
_WHEEL_NAME: Final = re.compile(r"[\w.]+")
_BUILD: Final = re.compile(r"\d")  # a build tag starts with a digit


class NotAWheel(ValueError):
    """A file name that does not follow the wheel naming convention; the message says how."""


class Tag(NamedTuple):
    """One compatibility tag (PEP 425), lower case, as packaging.tags.Tag holds it."""

    interpreter: str
    abi: str
    platform: str

    def __str__(self) -> str:
        return f"{self.interpreter}-{self.abi}-{self.platform}"


class WheelName(NamedTuple):
    """What a wheel's file name says: the normalized project name, the version as written
    (compare versions with packaging.version), the build tag ("" when none) and its tags."""

    name: str
    version: str
    build: str
    tags: frozenset[Tag]


def canonical(name: str) -> str:
    """A project name as names are compared (PEP 503): `Foo.Bar_baz` is `foo-bar-baz`."""
    return _SEPARATORS.sub("-", name).lower()


def same_version(a: str, b: str) -> bool:
    """Whether two version strings name one version (PEP 440: `1.0-rc1` is `1.0rc1`). Most
    often they are one string, and packaging.version is not imported for them."""
    if a == b:
        return True
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def wheel_name(filename: str) -> WheelName:
    """The parts of a wheel's file name; NotAWheel when it does not follow the convention."""
    if not filename.endswith(".whl"):
        raise NotAWheel(f"{filename}: a wheel's file name ends in .whl")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise NotAWheel(f"{filename}: expected name-version[-build]-python-abi-platform.whl")
    name, version, *build, python, abi, platform = parts
    if "__" in name or not _WHEEL_NAME.fullmatch(name):
        raise NotAWheel(f"{filename}: {name!r} is not a project name")
    if not version:
        raise NotAWheel(f"{filename}: the version is empty")
    if build and not _BUILD.match(build[0]):
        raise NotAWheel(f"{filename}: a build tag starts with a digit, not {build[0]!r}")
    sets = [python.lower().split("."), abi.lower().split("."), platform.lower().split(".")]
    if any(not member for members in sets for member in members):
        raise NotAWheel(f"{filename}: a tag has an empty part")
    tags = frozenset(Tag(i, a, p) for i in sets[0] for a in sets[1] for p in sets[2])
    return WheelName(name=canonical(name), version=version, build="".join(build), tags=tags)
