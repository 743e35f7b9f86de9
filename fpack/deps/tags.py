"""Which wheels can run on a target platform, told by their file names' tags (PEP 425, the
manylinux policies), and the wheels a spec names directly (a path or URL ending in `.whl`).

A wheel the spec names itself is taken as it is by the resolver: nothing else could stand in for
it. One that cannot run on the target (built for macOS, for x86_64 where the target is arm64, for
CPython 3.12 where it runs 3.11, for a newer glibc) is found here from the requirement's text,
before uv runs, so `fpack check` reports it (FP301) and a build stops with the requirement, the
platform and why, never with uv's words about a temporary directory.

Pure but for reading the spec's own files (requirements files, pyproject.toml).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from fpack.deps.names import NotAWheel, Tag, wheel_name
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.platforms import Platform

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The glibc each legacy manylinux tag stands for (PEP 600).
_LEGACY: Final = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX: Final = re.compile(r"^manylinux_(\d+)_(\d+)_")
_OS: Final = (("macosx_", "macOS"), ("win", "Windows"), ("musllinux_", "musl Linux (Alpine)"),
              ("ios_", "iOS"), ("android_", "Android"))
_COMMENT: Final = re.compile(r"(^|\s)#.*$")
_CPU: Final = re.compile(r"^(?:manylinux_\d+_\d+|manylinux\d+|linux)_(.+)$")


def glibc_of(tag: Tag) -> tuple[int, int] | None:
    """The glibc a manylinux tag needs; None for other platforms."""
    legacy = tag.platform.split("_", 1)[0]
    if legacy in _LEGACY:
        return _LEGACY[legacy]
    m = _MANYLINUX.match(tag.platform)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _python_fits(tag: Tag, platform: Platform) -> bool:
    """Its Python: the target's version exactly, a major-only py3 tag, or abi3 from below."""
    want = platform.python
    interpreter = tag.interpreter
    if not (interpreter.startswith(("cp", "py")) and interpreter[2:].isdigit()):
        return False
    digits = interpreter[2:]
    version = (int(digits[0]), int(digits[1:] or "0"))
    exact = version == want or (interpreter.startswith("py") and len(digits) == 1
                                and version[0] == want[0])
    return exact or (tag.abi == "abi3" and version[0] == want[0] and version <= want)


def _linux(tag: Tag) -> bool:
    return tag.platform.startswith(("linux_", "manylinux"))


def _machine_fits(tag: Tag, platform: Platform) -> bool:
    return tag.platform == "any" or (_linux(tag) and tag.platform.endswith("_" + platform.machine))


def _glibc_fits(tag: Tag, platform: Platform) -> bool:
    need = glibc_of(tag)
    return need is None or need <= platform.glibc


def fits(tag: Tag, platform: Platform) -> bool:
    """Whether a wheel tag runs on the target: its Python (or abi3 below it), Linux on its CPU,
    and (manylinux) no newer glibc than the target's."""
    return _python_fits(tag, platform) and _machine_fits(tag, platform) and \
        _glibc_fits(tag, platform)


def why_not(filename: str, platform: Platform) -> str | None:  # noqa: PLR0911 - one per reason
    """None when the wheel `filename` has a tag that runs on `platform`; else why not, in words
    (what the wheel is built for that the target is not)."""
    try:
        tags = wheel_name(filename).tags
    except NotAWheel as e:
        return f"its file name is not a wheel's ({e})"
    if any(fits(t, platform) for t in tags):
        return None
    interpreters = sorted({t.interpreter for t in tags})
    platforms = sorted({t.platform for t in tags})
    if not any(_python_fits(t, platform) for t in tags):
        return (f"the wheel is built for {' or '.join(map(_python_name, interpreters))} "
                f"({', '.join(interpreters)}), not Python {platform.python_version}")
    if not any(t.platform == "any" or _linux(t) for t in tags):
        return f"the wheel is built for {_os_name(platforms)} ({', '.join(platforms)}), not Linux"
    if not any(_machine_fits(t, platform) for t in tags):
        machines = dict.fromkeys(m.group(1) for t in tags if (m := _CPU.match(t.platform)))
        return (f"the wheel is built for {' or '.join(machines) or 'another CPU'} "
                f"({', '.join(platforms)}), not {platform.arch} ({platform.machine})")
    if not any(_glibc_fits(t, platform) for t in tags):
        need = min(g for t in tags if (g := glibc_of(t)) is not None)
        have = platform.glibc
        return (f"the wheel needs glibc {need[0]}.{need[1]} or newer ({', '.join(platforms)}); "
                f"the target has glibc {have[0]}.{have[1]}")
    shown = ", ".join(sorted(str(t) for t in tags))
    return f"none of the wheel's tags ({shown}) fits Python {platform.python_version} on it"


def wanted(platform: Platform) -> str:
    """What a wheel for `platform` is, for a hint."""
    return (f"a wheel for CPython {platform.python_version} on Linux {platform.arch} "
            f"({platform.manylinux_tag} or older) or a pure-Python one (py3-none-any)")


def _python_name(interpreter: str) -> str:
    digits = interpreter[2:]
    if interpreter.startswith("cp") and digits.isdigit():
        return f"CPython {digits[0]}.{digits[1:]}"
    if interpreter.startswith("py") and digits.isdigit():
        return f"Python {digits[0]}" + (f".{digits[1:]}" if digits[1:] else "")
    return interpreter


def _os_name(platforms: list[str]) -> str:
    names = [next((n for prefix, n in _OS if p.startswith(prefix)), p) for p in platforms]
    return " or ".join(dict.fromkeys(names))


# --- the wheels a spec names ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DirectWheel:
    """A requirement that is a wheel file or URL: where it is written, and the wheel's name."""

    path: Path  # the file that says it
    line: int  # 1-based
    requirement: str  # as written, without options and comments
    filename: str  # the wheel's file name, e.g. demo-1.0-cp312-cp312-macosx_11_0_arm64.whl
    marker: str = ""  # its environment marker, if any


@dataclass(frozen=True, kw_only=True)
class Misfit:
    """A wheel the spec names that cannot run on the target, and why not."""

    wheel: DirectWheel
    why: str  # `why_not`'s answer

    @property
    def name(self) -> str:
        try:
            return wheel_name(self.wheel.filename).name
        except NotAWheel:
            return self.wheel.filename


def direct_wheels(spec: DependencySpec) -> tuple[DirectWheel, ...]:
    """Every requirement of `spec` that names a wheel file or URL: in its requirements files
    (and those they include), or in pyproject.toml's dependencies (PEP 508 `name @ URL`, Poetry's
    `{ path = ... }` / `{ url = ... }`)."""
    found: list[DirectWheel] = []
    for name, _ in spec.files:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the spec's reader reports an unreadable file, naming it
        if spec.kind == "requirements":
            found += _from_requirements(path, text)
        elif path.name == "pyproject.toml":
            found += _from_pyproject(path, text)
    return tuple(found)


def misfits(spec: DependencySpec, platform: Platform) -> tuple[Misfit, ...]:
    """The direct wheels of `spec` that cannot run on `platform` (markers that leave a
    requirement out on the target are honoured)."""
    out = []
    for wheel in direct_wheels(spec):
        if wheel.marker and not _applies(wheel.marker, platform):
            continue
        why = why_not(wheel.filename, platform)
        if why is not None:
            out.append(Misfit(wheel=wheel, why=why))
    return tuple(out)


def refuse(spec: DependencySpec, platform: Platform, target: str, root: Path) -> None:
    """Stop a build whose spec names a wheel that cannot run on the target, before uv runs."""
    found = misfits(spec, platform)
    if not found:
        return
    lines = [f"{_shown(m.wheel.path, root)}:{m.wheel.line}: {m.wheel.requirement}: {m.why}"
             for m in found]
    several = len(found) > 1
    raise DependencyError(
        f"{'these wheels' if several else 'this wheel'} cannot run on {target} "
        f"{platform.label}:\n" + "\n".join(f"  {line}" for line in lines),
        hint=f"name {wanted(platform)} instead, or require "
        f"{' and '.join(dict.fromkeys(m.name for m in found))} by name and version, so that "
        "fpack picks the wheel for the target")


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _applies(marker: str, platform: Platform) -> bool:
    env = {"python_version": platform.python_version,
           "python_full_version": f"{platform.python_version}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": platform.machine, "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": ""}
    from packaging.markers import InvalidMarker, Marker  # noqa: PLC0415 - a direct wheel's only

    try:
        return bool(Marker(marker).evaluate(env))
    except InvalidMarker:
        return True  # judged by the resolver, which names the file


def _wheel_name(location: str) -> str | None:
    """The wheel file a path or URL names (its last part, without a #fragment), or None."""
    part = urlsplit(location).path if "://" in location else location.split("#", 1)[0]
    name = unquote(part.rstrip("/").rsplit("/", 1)[-1])
    return name if name.endswith(".whl") else None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """A requirements file's lines, continuations joined and comments dropped, with their first
    line's number."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, (pending + line).strip()))
        pending = ""
    if pending:
        out.append((start, pending.strip()))
    return out


def _from_requirements(path: Path, text: str) -> list[DirectWheel]:
    found = []
    for number, line in _logical_lines(text):
        if not line or line.startswith("-"):
            continue  # options (-r, -c, --index-url, -e ...) name no wheel file
        # Options after the requirement (--hash=...) are not part of it.
        requirement = re.split(r"\s+--?[A-Za-z]", " " + line, maxsplit=1)[0].strip()
        first = re.split(r"[\s;]", requirement, maxsplit=1)[0]
        if "/" in first or "\\" in first or first.endswith(".whl"):
            # a bare path or URL (pip's form), maybe with `; marker`
            location, _, marker = (part.strip() for part in requirement.partition(";"))
        elif "@" not in requirement:
            continue  # a name and a version: no file named (PEP 508 puts a URL after "@")
        else:
            from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

            try:
                parsed = Requirement(requirement)
            except InvalidRequirement:
                continue  # the resolver reports it, naming the line
            location, marker = parsed.url or "", str(parsed.marker or "")
        wheel = _wheel_name(location)
        if wheel is not None:
            found.append(DirectWheel(path=path, line=number, requirement=requirement,
                                     filename=wheel, marker=marker))
    return found


def _from_pyproject(path: Path, text: str) -> list[DirectWheel]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []  # uv reports what is wrong with it, naming the file
    lines = text.splitlines()
    found = []
    for entry in data.get("project", {}).get("dependencies", []) or []:
        if "@" not in str(entry):
            continue  # no URL, no wheel file
        from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

        try:
            parsed = Requirement(str(entry))
        except InvalidRequirement:
            continue
        wheel = _wheel_name(parsed.url or "")
        if wheel is not None:
            found.append(DirectWheel(path=path, line=_line_of(lines, str(entry)),
                                     requirement=str(entry), filename=wheel,
                                     marker=str(parsed.marker or "")))
    poetry: dict[str, Any] = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
    for name, value in poetry.items():
        if isinstance(value, dict):
            location = str(value.get("path") or value.get("url") or "")
            wheel = _wheel_name(location)
            if wheel is not None:
                found.append(DirectWheel(path=path, line=_line_of(lines, location),
                                         requirement=f"{name} @ {location}", filename=wheel))
    return found


def _line_of(lines: list[str], needle: str) -> int:
    return next((i for i, line in enumerate(lines, start=1) if needle in line), 1)
