"""FP3xx/FP4xx: every dependency has a wheel for each target platform checked (or a container
build is configured for it), and each target's artifacts fit its size limits, estimated from the
resolution without building (`resolutions` says where the answers come from). A wheel file or URL
the spec names itself is judged by its tags first (fpack/deps/tags.py), before any resolution.

Size estimates: a build that installed the tree measured every package's unpacked size, and that is
used when it exists; otherwise the wheels' own sizes (recorded in the lock) are a lower bound of the
unpacked size, since a wheel is a zip of it. With `sdk = "runtime"` the SDK's packages are left
out of an aws estimate, which is then a lower bound too (the build may have to keep them). A size
problem is therefore reported only when the artifact is certainly over, never on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpack import limits
from fpack.checks import Problem
from fpack.checks.resolutions import Resolution, Unresolved, build_image, resolution
from fpack.config import AwsTarget, DockerTarget, GcpTarget, Project
from fpack.deps import framework, tags
from fpack.deps import sdk as sdk_rules
from fpack.deps.keys import compiles_tree
from fpack.deps.spec import DependencySpec
from fpack.errors import DependencyError
from fpack.inputs import BuildInputs
from fpack.plan import platform_for
from fpack.platforms import Platform, Target
from fpack.report import Reporter, human_size
from fpack.sources import SourceFile

LAMBDA_UNZIPPED_MAX: Final = limits.LAMBDA_UNZIPPED_MAX
LAMBDA_IMAGE_MAX: Final = limits.LAMBDA_IMAGE_MAX
GCF_ZIPPED_MAX: Final = limits.GCF_ZIPPED_MAX
GCF_UNZIPPED_MAX: Final = limits.GCF_UNZIPPED_MAX


@dataclass(frozen=True, kw_only=True)
class Limit:
    what: str  # the artifact and its rule, as the message names them
    unzipped: int
    zipped: int | None = None


@dataclass(frozen=True, kw_only=True)
class Estimate:
    unzipped: int
    zipped: int  # a lower bound: the wheels a bundle carries as files; 0 when unknown
    exact: bool  # measured from an installed tree, not bounded from wheel sizes
    largest: tuple[tuple[str, int], ...]  # (package, bytes), biggest first


def check(project: Project, spec: DependencySpec, files: Sequence[SourceFile],
          runtime: Sequence[SourceFile], targets: Sequence[Target], *, inputs: BuildInputs,
          reporter: Reporter) -> list[Problem]:
    code = sum(f.size for f in (*files, *runtime))
    problems: list[Problem] = []
    for target in targets:
        table = _table(project, target)
        platform = platform_for(project, target)
        # gcp resolves the project's spec with functions-framework, as its build does: the
        # same spec finds the build's cached resolution, and checks what will be deployed.
        resolved = framework.with_framework(spec, project.config_path, inputs.cache) \
            if target == "gcp" and spec.kind != "none" else spec
        wrong = _direct_wheels(spec, target, platform)
        if wrong:  # what the spec itself names cannot run there: uv is not asked
            problems += wrong
            continue
        found = _resolution(resolved, platform, table, inputs, reporter,
                            compile_tree=compiles_tree(target, table.compile))
        problems += _wheels(spec, target, platform.label, found,
                            container_build=bool(table.build_image or inputs.build_image))
        if isinstance(found, Resolution):
            problems += _sizes(project, spec, target, found, code)
    return problems


def _direct_wheels(spec: DependencySpec, target: Target, platform: Platform) -> list[Problem]:
    """FP301 for each wheel file or URL the spec names that cannot run on the target (a
    container build cannot help: the wheel is taken as it is)."""
    return [Problem(path=m.wheel.path, line=m.wheel.line, code="FP301", message=(
        f"{m.name} ({m.wheel.requirement}) has no wheel for {target} {platform.label}: "
        f"{m.why}; name {tags.wanted(platform)}, or require {m.name} by name and version"))
        for m in tags.misfits(spec, platform)]


def _resolution(spec: DependencySpec, platform: Platform,
                table: AwsTarget | GcpTarget | DockerTarget, inputs: BuildInputs,
                reporter: Reporter, *, compile_tree: bool) -> Resolution | Unresolved:
    if spec.kind == "none":
        return Resolution(pins=(), installed={}, installed_total=0)
    try:
        image = build_image(platform, table.build_image, inputs.build_image)
        return resolution(spec, platform, image=image, compile_bytecode=compile_tree,
                          inputs=inputs,
                          reporter=reporter)
    except DependencyError as e:  # e.g. a cached lock the engine's parser refuses
        return Unresolved(error=e, no_wheel=None)


def _table(project: Project, target: Target) -> AwsTarget | GcpTarget | DockerTarget:
    match target:
        case "aws":
            return project.aws
        case "gcp":
            return project.gcp
        case "docker":
            return project.docker


def _wheels(spec: DependencySpec, target: Target, label: str, found: Resolution | Unresolved, *,
            container_build: bool) -> list[Problem]:
    """FP301 for what has no wheel (unless a container build is configured), FP302 for failures."""
    if isinstance(found, Unresolved) and found.no_wheel is None:
        assert spec.path is not None
        text = " ".join(line.strip() for line in str(found.error).splitlines() if line.strip())
        return [Problem(path=spec.path, line=1, code="FP302",
                        message=f"cannot resolve the dependencies for {label}: {text}")]
    if container_build:
        return []  # what has no wheel is built in a container of the target
    if isinstance(found, Unresolved):
        names = [found.no_wheel] if found.no_wheel else []
    else:
        names = [p.name for p in found.pins if p.needs_build]
    problems = []
    for name in names:
        path, line = requirement_line(spec, name)
        problems.append(Problem(path=path, line=line, code="FP301", message=(
            f"{name} has no wheel for {target} {label}; pin a version that publishes one, or "
            f'build it in a container: [targets.{target}] build_image = "IMAGE"')))
    return problems


def limit_for(project: Project, target: Target) -> Limit | None:
    match target:
        case "aws":
            return Limit(what="AWS Lambda (a function and its layers)",
                         unzipped=LAMBDA_UNZIPPED_MAX)
        case "gcp":
            return Limit(what="Cloud Functions (a source bundle)", unzipped=GCF_UNZIPPED_MAX,
                         zipped=GCF_ZIPPED_MAX)
        case "docker":
            if project.docker.flavor != "lambda":
                return None  # Cloud Run and Kubernetes set no image size limit
            return Limit(what="AWS Lambda (a container image)", unzipped=LAMBDA_IMAGE_MAX)


def estimate(project: Project, target: Target, found: Resolution, code: int) -> Estimate:
    """The artifacts' sizes: code plus what the target carries of the dependencies."""
    wheels = {p.name: p.wheel_size for p in found.pins}
    if target == "gcp":  # a bundle carries wheels only when vendored; Google installs the rest
        carried = wheels if project.gcp.vendor else {}
        return Estimate(unzipped=code + sum(carried.values()), zipped=sum(carried.values()),
                        exact=True, largest=_largest(carried))
    # sdk = "runtime" leaves boto3 and its kin to Lambda unless a requirement refuses the
    # runtime's version, which only the build decides: without them the figure is a lower bound.
    runtime_sdk = target == "aws" and project.aws.sdk == "runtime"
    if found.installed is not None and found.installed_total is not None:
        if runtime_sdk:
            left = {n: b for n, b in found.installed.items() if n not in sdk_rules.PACKAGES}
            return Estimate(unzipped=code + found.installed_total - sum(
                found.installed.values()) + sum(left.values()), zipped=0, exact=False,
                largest=_largest(left))
        return Estimate(unzipped=code + found.installed_total, zipped=0, exact=True,
                        largest=_largest(found.installed))
    if runtime_sdk:
        wheels = {n: b for n, b in wheels.items() if n not in sdk_rules.PACKAGES}
    return Estimate(unzipped=code + sum(wheels.values()), zipped=0, exact=False,
                    largest=_largest(wheels))


def _largest(sizes: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:3])


def _sizes(project: Project, spec: DependencySpec, target: Target, found: Resolution,
           code: int) -> list[Problem]:
    limit = limit_for(project, target)
    if limit is None:
        return []
    est = estimate(project, target, found, code)
    over = [(kind, size, cap) for kind, size, cap in (
        ("unzipped", est.unzipped, limit.unzipped), ("zipped", est.zipped, limit.zipped))
        if cap is not None and size > cap]
    problems = []
    for kind, size, cap in over:
        largest = ", ".join(f"{name} {human_size(n)}" for name, n in est.largest)
        where = requirement_line(spec, est.largest[0][0]) if est.largest else (
            spec.path or project.config_path, 1)
        bound = "" if est.exact or kind == "zipped" else "at least "
        problems.append(Problem(
            path=where[0], line=where[1], code="FP401" if kind == "unzipped" else "FP402",
            message=f"{target}: the artifacts would be {bound}{human_size(size)} {kind}; "
            f"{limit.what} allows at most {human_size(cap)} ({cap} bytes) {kind}. "
            f"Largest packages: {largest}"))
    return problems


def requirement_line(spec: DependencySpec, name: str) -> tuple[Path, int]:
    """Where the spec asks for `name`: a requirements line, or the pyproject.toml entry; else the
    spec's first line (the package came in as another's dependency)."""
    assert spec.path is not None
    separators = r"[-_.]+"
    words = re.split(separators, name)
    pattern = re.compile(r"^\s*[\"']?" + separators.join(map(re.escape, words))
                         + r"(?![A-Za-z0-9_.\-])", re.IGNORECASE)
    # A uv.lock spec names its pyproject.toml second: the user edits that one.
    files = sorted((Path(f) for f, _ in spec.files), key=lambda p: p.name == "uv.lock")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.match(line):
                return path, number
    return spec.path, 1
