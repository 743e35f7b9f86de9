"""`[targets.aws] sdk = "runtime"`: leave the AWS SDK out of a dependency tree when the Lambda
runtime provides a version the project accepts.

The Python runtimes put boto3, botocore, s3transfer and jmespath on sys.path after the function's
own directories (/var/task, then the layers' /opt/python, then the runtime's libraries), so a
function that ships none of them imports the runtime's. Leaving them out saves about 25 MB
unzipped (botocore alone is most of it, botocore#1629), but only works when every requirement on
them in the set accepts what the runtime has. The four leave together or stay together: a
botocore shipped without the boto3 it pairs with shadows the runtime's botocore under the
runtime's boto3, a known failure (aws-samples/voice-of-customer-analytics#194).

What decides it is read from the installed tree (every dist's `Requires-Dist` on the four, markers
evaluated for the target) and the project's direct requirements. Pure but for the readers of the
tree and the spec's files; `decide` is the decision alone.
"""

from __future__ import annotations

import csv
import posixpath
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from fpack.platforms import Platform

if TYPE_CHECKING:  # packaging's requirement parser costs 20 ms: loaded for sdk = "runtime" only
    from packaging.requirements import Requirement
    from packaging.specifiers import Specifier

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SdkMode = Literal["bundle", "runtime"]
SDK_MODES: Final[tuple[SdkMode, ...]] = ("bundle", "runtime")
# The packages the runtime provides, in the order messages name them.
PACKAGES: Final = ("boto3", "botocore", "s3transfer", "jmespath")
# Bumped when the rules below change what leaves a tree: part of the derived tree's key.
RULES_VERSION: Final = "1"


@dataclass(frozen=True, kw_only=True)
class RuntimeSdk:
    """The SDK a Lambda Python runtime has shipped at least since its release: a floor, since
    Lambda updates the runtime's SDK in place (within the 1.x series boto3 has always had)."""

    boto3: str
    botocore: str
    source: str  # where the figure comes from, as the table's comment says

    def version(self, name: str) -> Version | None:
        """The floor of `name` in this runtime: boto3 and botocore only (see `_OTHERS`)."""
        return Version(self.boto3) if name == "boto3" else \
            Version(self.botocore) if name == "botocore" else None


# Sources. The only per-runtime figures AWS published are the "AWS SDK for Python" column of the
# Lambda runtimes page, kept in its documentation's Git history (awsdocs/aws-lambda-developer-
# guide, doc_source/lambda-runtimes.md; published at
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html). python3.9 first appears
# there in revision c70b3a8 (2021-09-20) with boto3-1.17.100 botocore-1.20.100 (later revisions
# list 1.18.55/1.21.55 and 1.20.32/1.23.32: the SDK only moved up). The repository stopped in
# 2023 before python3.10 was listed, and today's page
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html#python-sdk-included) gives no
# table: "the version ... depends on the runtime version and your AWS Region", find it by
# printing boto3.__version__ in a function. No per-runtime figure could be sourced for python3.10
# to python3.14, so they carry the oldest figure sourced, python3.9's: a true floor for runtimes
# released later (their SDK was newer at release), only more cautious than their real one.
_PY39: Final = RuntimeSdk(boto3="1.17.100", botocore="1.20.100",
                          source="lambda-runtimes.md c70b3a8 (2021-09-20), python3.9")
_OLDEST: Final = RuntimeSdk(boto3="1.17.100", botocore="1.20.100",
                            source="no per-runtime figure published; python3.9's, the oldest "
                            "sourced")
RUNTIME_SDKS: Final[Mapping[str, RuntimeSdk]] = {
    "python3.9": _PY39,
    "python3.10": _OLDEST,
    "python3.11": _OLDEST,
    "python3.12": _OLDEST,
    "python3.13": _OLDEST,
    "python3.14": _OLDEST,
}
# s3transfer and jmespath come along: the runtime has the versions its boto3 requires, which
# fpack does not know exactly (boto3 1.17.100 accepts s3transfer 0.4.x and jmespath 0.7.1 to
# 1.0). So a requirement on them that names a version is not taken as satisfied (`_OTHERS`).
_OTHERS: Final = ("s3transfer", "jmespath")


def runtime_sdk(runtime: str) -> RuntimeSdk:
    """The SDK floor of an aws runtime name (python3.9 ...); KeyError for one fpack lacks."""
    return RUNTIME_SDKS[runtime]


@dataclass(frozen=True, kw_only=True)
class Demand:
    """One requirement on an SDK package: who asks (a dist, or the project) and what."""

    by: str  # "aiobotocore 2.5.0", or the spec file's name for a direct requirement
    requirement: Requirement

    @property
    def text(self) -> str:
        return f"{self.by} requires {self.requirement.name}{self.requirement.specifier}"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What sdk = "runtime" does with one tree: the packages it leaves out (all the SDK
    packages present, or none) and, when it keeps them, why."""

    leave_out: tuple[str, ...]
    conflicts: tuple[str, ...] = ()  # "aiobotocore 2.5.0 requires botocore<1.30,>=1.29.161"
    present: tuple[str, ...] = ()  # the SDK packages the tree has

    def to_json(self) -> dict[str, object]:
        return {"leave_out": list(self.leave_out), "conflicts": list(self.conflicts),
                "present": list(self.present)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Decision:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            return tuple(str(v) for v in value) if isinstance(value, list) else ()
        return cls(leave_out=strings("leave_out"), conflicts=strings("conflicts"),
                   present=strings("present"))


def decide(demands: Iterable[Demand], present: Iterable[str], sdk: RuntimeSdk) -> Decision:
    """Leave every SDK package of the tree out when each demand on them holds for any version
    the runtime may have (at least its floor, below the next major); else keep them all."""
    have = tuple(n for n in PACKAGES if n in {canonicalize_name(p) for p in present})
    if not have:
        return Decision(leave_out=())
    conflicts = tuple(sorted({d.text for d in demands if not _holds(d.requirement, sdk)}))
    if conflicts:
        return Decision(leave_out=(), conflicts=conflicts, present=have)
    return Decision(leave_out=have, present=have)


def _holds(req: Requirement, sdk: RuntimeSdk) -> bool:
    """Whether `req` accepts every version in [floor, next major) of what the runtime has."""
    name = canonicalize_name(req.name)
    if name in _OTHERS:
        return not req.specifier  # the runtime's version is not known beyond boto3's range
    floor = sdk.version(name)
    if floor is None:
        return True
    if req.url is not None:
        return False
    ceiling = Version(f"{floor.major + 1}")
    return all(_clause_holds(s, floor, ceiling) for s in req.specifier)


def _clause_holds(spec: Specifier, floor: Version, ceiling: Version) -> bool:
    """One clause against every version from `floor` (included) to `ceiling` (excluded)."""
    op, text = spec.operator, spec.version
    wildcard = text.endswith(".*")
    try:
        bound = Version(text[:-2] if wildcard else text)
    except InvalidVersion:
        return False
    floor_in = spec.contains(floor, prereleases=True)
    holds = {
        ">=": floor_in, ">": floor_in,
        # < 2 holds for all of 1.x; < 1.30 does not, whatever the floor
        "<": bound >= ceiling, "<=": bound >= ceiling,
        # != 1.16.* (or != 1.16.3) holds above it; != 1.17.* not while the floor is 1.17.x
        "!=": floor_in and (bound < floor or bound >= ceiling),
        # == 1.* holds for the whole major; == 1.35.0 names one version, and the runtime's is
        # only known as a floor
        "==": wildcard and bound.release == (floor.major,),
        # ~= 1.17 is >= 1.17, == 1.*: holds when its prefix is the major alone
        "~=": len(bound.release) == 2 and bound.release[0] == floor.major and floor_in,
    }
    return holds.get(op, False)  # ===: one version again


def environment(platform: Platform) -> dict[str, str]:
    """The marker environment of the target (Lambda's Linux, its Python, its machine)."""
    version = platform.python_version
    return {"python_version": version, "python_full_version": f"{version}.0",
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "platform_machine": platform.machine, "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "platform_release": "",
            "platform_version": "", "implementation_version": f"{version}.0"}


def _applies(req: Requirement, env: Mapping[str, str], extras: Iterable[str]) -> bool:
    """Whether a requirement applies on the target. The tree does not record which extras were
    asked for, so a requirement under any extra the dist provides counts (cautious: it may keep
    the SDK when the extra was not asked for)."""
    from packaging.markers import InvalidMarker, UndefinedEnvironmentName  # noqa: PLC0415

    if req.marker is None:
        return True
    marker = req.marker
    try:
        return any(marker.evaluate({**env, "extra": extra}) for extra in ("", *extras))
    except (InvalidMarker, UndefinedEnvironmentName):
        return True  # a marker fpack cannot evaluate: count it, the cautious way


def tree_demands(tree: Path, platform: Platform) -> tuple[tuple[Demand, ...], tuple[str, ...]]:
    """(the demands on the SDK packages of every other dist in `tree`, the dists present)."""
    import email.parser  # noqa: PLC0415 - 14 ms, only for sdk = "runtime"

    env = environment(platform)
    demands: list[Demand] = []
    present: list[str] = []
    for info in sorted(tree.glob("*.dist-info")):
        meta_path = info / "METADATA"
        if not meta_path.is_file():
            continue
        meta = email.parser.Parser().parsestr(meta_path.read_text("utf-8", errors="replace"),
                                              headersonly=True)
        name = canonicalize_name(meta.get("Name") or info.name.rsplit("-", 1)[0])
        present.append(name)
        if name in PACKAGES:  # they leave or stay together: their own pins do not decide
            continue
        extras = meta.get_all("Provides-Extra") or []
        by = f"{name} {meta.get('Version', '')}".strip()
        demands += [Demand(by=by, requirement=req) for req in
                    _parsed(meta.get_all("Requires-Dist") or [])
                    if canonicalize_name(req.name) in PACKAGES and _applies(req, env, extras)]
    return tuple(demands), tuple(present)


def direct_demands(files: Iterable[str], platform: Platform) -> tuple[Demand, ...]:
    """The project's own requirements on the SDK packages, from the spec's files fpack can read
    them from: requirements files (their constraints files too: -c restricts the same way),
    pyproject.toml's `[project] dependencies` and Poetry's `[tool.poetry.dependencies]`, and a
    Pipfile's `[packages]`. Locks pin what was resolved, not what the project asks for: a
    locked boto3 is not a requirement on the runtime's."""
    env = environment(platform)
    demands: list[Demand] = []
    for name in files:
        path = Path(name)
        demands += [Demand(by=path.name, requirement=req) for req in _requirements_of(path)
                    if canonicalize_name(req.name) in PACKAGES and _applies(req, env, ())]
    return tuple(demands)


def _parsed(lines: Iterable[str]) -> list[Requirement]:
    """The lines that are requirements, parsed (others, such as options, are not ours)."""
    out = []
    for line in lines:
        req = _requirement(line)
        if req is not None:
            out.append(req)
    return out


def _requirement(text: str) -> Requirement | None:
    from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _requirements_of(path: Path) -> list[Requirement]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.name == "pyproject.toml":
        return _pyproject(text)
    if path.name == "Pipfile":
        return _pipfile(text)
    if path.suffix in (".lock", ".toml"):
        return []
    lines = (raw.split(" #", 1)[0].split(" --", 1)[0].strip() for raw in text.splitlines())
    return _parsed(line for line in lines if line and not line.startswith(("#", "-")))


def _pyproject(text: str) -> list[Requirement]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    out = _parsed(str(line) for line in data.get("project", {}).get("dependencies", []) or [])
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
    out += _constraints(poetry)
    return out


def _pipfile(text: str) -> list[Requirement]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    return _constraints(data.get("packages", {}) or {})


def _constraints(table: Mapping[str, object]) -> list[Requirement]:
    """Poetry's and Pipfile's `name = "constraint"` (or `{ version = ... }`) as requirements;
    Poetry's ^ and ~ become the ranges they mean."""
    out = []
    for name, value in table.items():
        if canonicalize_name(name) not in PACKAGES:
            continue
        raw = value.get("version", "*") if isinstance(value, dict) else value
        req = _requirement(f"{name}{_poetry_range(str(raw))}")
        if req is not None:
            out.append(req)
    return out


def _poetry_range(raw: str) -> str:
    raw = raw.strip()
    if raw in ("", "*"):
        return ""
    if raw[0] in "^~" and raw[1:2] != "=":
        try:
            version = Version(raw[1:])
        except InvalidVersion:
            return raw
        parts = list(version.release)
        if raw[0] == "^":  # ^1.35 is >=1.35,<2: up to the first non-zero part
            index = next((i for i, p in enumerate(parts) if p), len(parts) - 1)
        else:  # ~1.35 is >=1.35,<1.36
            index = min(1, len(parts) - 1)
        upper = [*parts[:index], parts[index] + 1]
        return f">={version},<{'.'.join(map(str, upper))}"
    if raw[0].isdigit():
        return f"=={raw}"
    return raw


def decide_tree(tree: Path, platform: Platform, files: Iterable[str]) -> Decision:
    """The decision for one installed tree, its platform and its spec's files."""
    demands, present = tree_demands(tree, platform)
    sdk = runtime_sdk(platform.runtime.name)
    return decide((*demands, *direct_demands(files, platform)), present, sdk)


def conflict_warning(decision: Decision) -> str:
    """The warning when sdk = "runtime" bundles the SDK anyway: who requires what."""
    shipped = _listing(decision.present)
    why = "; ".join(decision.conflicts)
    lone = ""
    if "botocore" in decision.present and "boto3" not in decision.present:
        lone = (" (botocore ships without boto3: the runtime's boto3 would run on it; add boto3 "
                "to the requirements so that the pair ships together)")
    return (f"sdk = runtime: {why}, which the runtime's SDK may not satisfy; {shipped} "
            f"{'is' if len(decision.present) == 1 else 'are'} bundled{lone}")


def _listing(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def provided_line(names: tuple[str, ...], runtime: str, saved: str, spec: str) -> str:
    """The build's one line when the SDK was left out (`saved`: the bytes, for people)."""
    ordered = tuple(sorted(names, key=lambda n: PACKAGES.index(n) if n in PACKAGES else 99))
    return (f"sdk = runtime: {_listing(ordered)} left out of {spec}, provided by the {runtime} "
            f"runtime ({saved} saved)")


@dataclass(frozen=True, kw_only=True)
class Provided:
    """What sdk = "runtime" left out of a tree, as the manifest records it."""

    runtime: str  # the aws runtime that provides them
    packages: tuple[tuple[str, str, int], ...]  # (name, version, unpacked bytes) left out
    saved: int  # bytes

    def to_json(self) -> dict[str, object]:
        return {"provided_by": self.runtime, "saved": self.saved,
                "packages": [{"name": n, "version": v, "size": s} for n, v, s in self.packages]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Provided:
        packages = data.get("packages") or []
        assert isinstance(packages, list)
        return cls(runtime=str(data.get("provided_by") or ""),
                   saved=int(str(data.get("saved") or 0)),
                   packages=tuple((str(p["name"]), str(p["version"]), int(p.get("size") or 0))
                                  for p in packages))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _, _ in self.packages)


def files_of(tree: Path, files: Iterable[str], names: Iterable[str]) -> set[str]:
    """The files of `tree` (relative paths, from `files`) that belong to the dists `names`:
    what their RECORDs list, their dist-info directories, and anything else under the
    top-level directories only they install (byte code compiled after installing is in no
    RECORD)."""
    wanted = {canonicalize_name(n) for n in names}
    ours: set[str] = set()
    tops: dict[str, set[str]] = {}  # top-level directory -> the dists whose RECORD names it
    infos: dict[str, str] = {}
    for info in tree.glob("*.dist-info"):
        name = canonicalize_name(info.name[: -len(".dist-info")].rsplit("-", 1)[0])
        infos[info.name] = name
        record = info / "RECORD"
        if not record.is_file():
            continue
        for row in csv.reader(record.read_text("utf-8", errors="replace").splitlines()):
            if not row or not row[0].strip():
                continue
            path = posixpath.normpath(row[0])
            if posixpath.isabs(path) or path.startswith(".."):
                continue
            if name in wanted:
                ours.add(path)
            if "/" in path and not path.split("/", 1)[0].endswith(".dist-info"):
                tops.setdefault(path.split("/", 1)[0], set()).add(name)
    only_ours = {top for top, owners in tops.items() if owners <= wanted}
    for rel in files:
        head = rel.split("/", 1)[0]
        if head in only_ours or infos.get(head) in wanted:
            ours.add(rel)
    return ours & set(files)
