"""The Cloud Functions (2nd gen) target: one source bundle per function, which Google's Python
buildpack installs and functions-framework serves.

Layout of dist/gcp/<function>.zip, whose root is the function's source directory:
    <the project's sources>           as for every target
    fpack/__init__.py, fpack/runtime/ the portable runtime, vendored
    main.py                           generated: the entry point functions-framework loads
    requirements.txt                  every package pinned to the version and wheel (sha256)
                                      that fpack resolved and audited for the runtime,
                                      functions-framework included: the deploy resolves nothing
    wheels/*.whl                      vendor = true only: those wheels, installed by the buildpack
                                      with `--no-index --find-links wheels` when the deploy sets
                                      the build variable GOOGLE_VENDOR_PIP_DEPENDENCIES=wheels
The buildpack's pip command: https://github.com/GoogleCloudPlatform/buildpacks
(pkg/python/python.go).
Limits are checked before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Final, Literal

from fpack import limits
from fpack.archive import ARCHIVE_VERSION, ZipWriter
from fpack.artifact import Artifact
from fpack.config import Trigger
from fpack.deps import builder, bytecode, uv, wheels
from fpack.deps import spec as dep_spec
from fpack.deps.cache import Cache, default_root
from fpack.deps.engine import Dependencies, Package
from fpack.errors import BuildError, ConfigError
from fpack.outputs import Outputs
from fpack.plan import BuildPlan, FunctionPlan
from fpack.report import Reporter, human_size
from fpack.sources import SourceFile, digest
from fpack.templating import render

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SignatureType = Literal["http", "cloudevent"]
FRAMEWORK: Final = "functions-framework"
# What is resolved with the project's dependencies for the bundle.
FRAMEWORK_REQUIREMENTS: Final = (FRAMEWORK,)
VENDOR_DIR: Final = "wheels"
VENDOR_ENV: Final = "GOOGLE_VENDOR_PIP_DEPENDENCIES"
# Bump when the bytes of a bundle change for the same inputs (layout, templates, requirements).
BUNDLE_FORMAT: Final = "1"

SOURCE_ZIPPED_MAX: Final = limits.GCF_ZIPPED_MAX
SOURCE_UNZIPPED_MAX: Final = limits.GCF_UNZIPPED_MAX


def signature_type(trigger: Trigger) -> SignatureType:
    """What functions-framework is told: http for http functions, cloudevent for the others."""
    return "http" if trigger == "http" else "cloudevent"


def entry_source(fp: FunctionPlan) -> str:
    fn = fp.function
    return render("gcp_main.py.j2", name=fn.name, module=fn.module, handler=fn.attr,
                  attr=fp.entry_attr, trigger=fn.trigger, style=fn.style,
                  signature=signature_type(fn.trigger), base_path=fn.base_path)


# --- dependencies: the project's, plus functions-framework ------------------------------------


def with_framework(spec: dep_spec.DependencySpec, config_path: Path,
                   cache: Cache) -> dep_spec.DependencySpec:
    """`spec` with functions-framework added, as one requirements file in the cache: the framework
    is resolved together with the project's dependencies, for the same platform, so its version
    is pinned and audited like theirs."""
    lines = (*_spec_lines(spec, config_path), *FRAMEWORK_REQUIREMENTS)
    text = "# fpack: the project's dependencies and functions-framework, resolved together\n"
    text += "".join(f"{line}\n" for line in lines)
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    path = cache.file("resolve", f"gcp-requirements.{key}", ".txt")
    if not path.is_file():
        cache.write_file("resolve", f"gcp-requirements.{key}", ".txt", text.encode())
    shown = f"{spec.path.name} + " if spec.path else ""
    return replace(dep_spec.read(path, config_path), label=f"{shown}functions-framework")


def _spec_lines(spec: dep_spec.DependencySpec, config_path: Path) -> tuple[str, ...]:
    match spec.kind:
        case "none":
            return ()
        case "requirements":
            assert spec.path is not None
            return (f"-r {spec.path.resolve()}",)
        case "pyproject":
            assert spec.path is not None
            return _pyproject_dependencies(spec.path, config_path)
        case "uvlock":
            assert spec.path is not None
            return _without_hashes(uv.export_uvlock(spec.path))


def _without_hashes(requirements: str) -> tuple[str, ...]:
    """The requirement lines of an exported uv.lock, without their `--hash` options: hashes on
    some lines would put the whole file in hash-checking mode, and functions-framework has none
    there. The wheels chosen are checked against the index's hashes all the same."""
    logical = requirements.replace("\\\n", " ")
    lines = []
    for line in logical.splitlines():
        text = " ".join(w for w in line.split("#", 1)[0].split() if not w.startswith("--hash"))
        if text:
            lines.append(text)
    return tuple(lines)


def _pyproject_dependencies(path: Path, config_path: Path) -> tuple[str, ...]:
    project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    if "dependencies" in project.get("dynamic", []):
        raise ConfigError(
            f'{path}: [project] dynamic = ["dependencies"]: the gcp target needs them listed, to '
            "resolve them together with functions-framework",
            hint=f"list them in [project] dependencies, or point `dependencies` in {config_path} "
            "at a requirements.txt",
        )
    return tuple(str(d) for d in project.get("dependencies", []))


def requirements_text(plan: BuildPlan, packages: tuple[Package, ...], *, vendor: bool) -> str:
    """requirements.txt: every package at its exact version and, when every wheel has a sha256,
    that very wheel (`--hash`), so the buildpack's pip installs what fpack audited."""
    if FRAMEWORK not in {p.name for p in packages}:
        raise BuildError(
            f"{FRAMEWORK} is not among the resolved packages, so the bundle could not start",
            hint="build through `fpack build --target gcp`, which adds it to the resolution",
        )
    foreign = [p for p in packages if p.source != "index"]
    if foreign and not vendor:
        listing = ", ".join(f"{p.name} {p.version} ({p.source})" for p in foreign)
        raise BuildError(
            f"{plan.project.config_path}: [targets.gcp] vendor = false, but {listing} does not "
            "come from the package index: Google's build could not install the wheel fpack "
            "pinned and audited",
            hint="set vendor = true in [targets.gcp] to ship the wheels in the bundle",
        )
    hashed = all(p.sha256 for p in packages)
    lines = [f"# Generated by fpack for {plan.platform.label}. Do not edit: the exact versions\n"
             "# fpack resolved and audited for this runtime, functions-framework included.\n"]
    lines += (f"{p.name}=={p.version} \\\n    --hash=sha256:{p.sha256}\n" if hashed
              else f"{p.name}=={p.version}\n" for p in sorted(packages, key=lambda p: p.name))
    return "".join(lines)


# --- the bundles ------------------------------------------------------------------------------


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join((ARCHIVE_VERSION, BUNDLE_FORMAT,
                                     os.environ.get("SOURCE_DATE_EPOCH", ""),
                                     *parts)).encode()).hexdigest()


def build(plan: BuildPlan, deps: Dependencies, out: Outputs, reporter: Reporter) -> list[Artifact]:
    """Write the bundle of every function of `plan` into `out` (committed by the caller)."""
    vendor = plan.project.gcp.vendor
    code = (*plan.sources, *plan.runtime)
    _check_reserved(plan, vendor)
    requirements = requirements_text(plan, deps.packages, vendor=vendor)
    shipped = wheels.fetch(deps, Cache(default_root()), reporter) if vendor else ()
    build_env = ((VENDOR_ENV, VENDOR_DIR),) if vendor else ()
    artifacts: list[Artifact] = []
    for fp in plan.functions:
        main = entry_source(fp)
        compiled = plan.project.gcp.compile
        key = _key("gcp", digest(code), main, requirements, "vendor" if vendor else "",
                   "pyc" if compiled else "")
        written = out.fresh(fp.artifact, key)
        if written is None:
            reporter.step(f"packaging {fp.artifact.name}")
            writer = _bundle(code, main, requirements, shipped)
            if compiled:
                for name, pyc in _bytecode(plan, code, main).items():
                    writer.add_bytes(name, pyc)
            _check_size(fp, writer, vendor)
            written = out.zip(writer, fp.artifact, key)
        artifacts.append(Artifact(
            function=fp.function.name, target="gcp", kind="function",
            runtime=plan.platform.runtime.name, arch=plan.platform.arch,
            handler=fp.handler_setting, path=fp.artifact, sha256=written.sha256,
            size=written.size,
            unpacked_size=_unpacked_size(code, main, requirements, shipped),
            packages=deps.packages, signature_type=signature_type(fp.function.trigger),
            build_env=build_env,
        ))
    return artifacts


def _bundle(code: tuple[SourceFile, ...], main: str, requirements: str,
            shipped: tuple[wheels.Wheel, ...]) -> ZipWriter:
    writer = ZipWriter()
    for f in code:
        writer.add_bytes(f.path, f.abspath.read_bytes(), f.mode)
    writer.add_bytes("main.py", main.encode())
    writer.add_bytes("requirements.txt", requirements.encode())
    for wheel in shipped:
        writer.add_bytes(f"{VENDOR_DIR}/{wheel.filename}", wheel.path.read_bytes())
    return writer


def _bytecode(plan: BuildPlan, code: tuple[SourceFile, ...], main: str) -> dict[str, bytes]:
    """The bundle's own modules as unchecked-hash pycs of the runtime's exact Python: pip
    compiles the dependencies it installs during Google's build, but the function's own modules
    would be compiled again by every new instance on its first request."""
    sources = {f.path: f.abspath.read_bytes() for f in code}
    sources["main.py"] = main.encode()
    image = builder.image_for(plan.platform, plan.project.gcp.build_image)
    return bytecode.pycs_for(sources, plan.platform, image)


def _unpacked_size(code: tuple[SourceFile, ...], main: str, requirements: str,
                   shipped: tuple[wheels.Wheel, ...]) -> int:
    return (sum(f.size for f in code) + len(main.encode()) + len(requirements.encode())
            + sum(w.path.stat().st_size for w in shipped))


def _check_reserved(plan: BuildPlan, vendor: bool) -> None:
    """The bundle's generated names must not be the project's own files."""
    reserved = ("main.py", "requirements.txt", *((f"{VENDOR_DIR}/",) if vendor else ()))
    for f in plan.sources:
        clash = next((r for r in reserved if f.path == r or (r.endswith("/")
                                                             and f.path.startswith(r))), None)
        if clash is not None:
            raise ConfigError(
                f"{plan.project.config_path}: [project] include packages {f.path}, but the gcp "
                f"target generates {clash} at the root of every bundle (Cloud Functions loads "
                "main.py and installs requirements.txt from there)",
                hint=f'rename {f.path}, or add it to [project] exclude = ["{f.path}"]',
            )


def _check_size(fp: FunctionPlan, writer: ZipWriter, vendor: bool) -> None:
    zipped, unzipped = writer.compressed_size(), writer.unpacked_size
    hint = ("drop dependencies the function does not need, set vendor = false in [targets.gcp] "
            "so that Google's build installs them, or use the docker target" if vendor else
            "leave out files the function does not need ([project] include and exclude), or use "
            "the docker target")
    for size, limit, what in ((zipped, SOURCE_ZIPPED_MAX, "zipped"),
                              (unzipped, SOURCE_UNZIPPED_MAX, "unzipped")):
        if size > limit:
            raise BuildError(
                f"{fp.function.name}: the Cloud Functions source bundle would be "
                f"{human_size(size)} {what}; Cloud Functions accepts at most {human_size(limit)} "
                f"({limit} bytes) {what}", hint=hint)
