"""The AWS Lambda target: a deployment zip per function and, in layer mode, one dependency layer.

Layout follows Lambda's: the function zip's root is /var/task (sources, the vendored fpack runtime,
the generated `fpack_entry.py`, and the dependencies unless they are in the layer); the layer zip
holds the dependencies under `python/`, which Lambda extracts to /opt/python, on sys.path.
Limits are checked before anything is written.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final

from fpack import limits
from fpack.archive import ARCHIVE_VERSION, ZipWriter
from fpack.artifact import Artifact
from fpack.deps import builder, bytecode
from fpack.deps.engine import Dependencies
from fpack.errors import BuildError
from fpack.outputs import Outputs
from fpack.plan import BuildPlan, FunctionPlan
from fpack.report import Reporter, human_size
from fpack.sources import SourceFile, digest
from fpack.templating import render

DIRECT_UPLOAD_MAX: Final = limits.LAMBDA_DIRECT_UPLOAD_MAX
UNZIPPED_MAX: Final = limits.LAMBDA_UNZIPPED_MAX


def entry_source(plan: BuildPlan, fp: FunctionPlan) -> str:
    fn = fp.function
    return render(
        "aws_entry.py.j2",
        name=fn.name,
        module=fn.module,
        handler=fn.attr,
        attr=fp.entry_attr,
        module_name=fp.entry_module,
        trigger=fn.trigger,
        style=fn.style,
        base_path=fn.base_path,
    )


def _key(*parts: str) -> str:
    return hashlib.sha256(
        "\0".join((ARCHIVE_VERSION, os.environ.get("SOURCE_DATE_EPOCH", ""), *parts)).encode()
    ).hexdigest()


def _code_size(files: tuple[SourceFile, ...], entry: str) -> int:
    return sum(f.size for f in files) + len(entry.encode())


def build(plan: BuildPlan, deps: Dependencies, out: Outputs, reporter: Reporter) -> list[Artifact]:
    """Write every artifact of `plan` into `out` (committed by the caller)."""
    code = (*plan.sources, *plan.runtime)
    entries = {fp.function.name: entry_source(plan, fp) for fp in plan.functions}
    embedded = plan.layer is None
    _check_unzipped(plan, deps, code, entries)
    artifacts: list[Artifact] = []
    layers: tuple[Artifact, ...] = ()
    if plan.layer is not None and deps.archive is not None:
        layers = (_layer(plan, deps, out, reporter),)
        artifacts += layers
    for fp in plan.functions:
        entry = entries[fp.function.name]
        compiled = plan.project.aws.compile
        key = _key("function", digest(code), entry, deps.key if embedded else "", str(compiled))
        written = out.fresh(fp.artifact, key)
        if written is None:
            reporter.step(f"packaging {fp.artifact.name}")
            writer = ZipWriter()
            for f in code:
                writer.add_bytes(f.path, f.abspath.read_bytes(), f.mode)
            writer.add_bytes(f"{fp.entry_module}.py", entry.encode())
            if compiled:
                for name, pyc in _bytecode(plan, code, f"{fp.entry_module}.py", entry).items():
                    writer.add_bytes(name, pyc)
            if embedded and deps.archive is not None:
                writer.add_zip(deps.archive)
            written = out.zip(writer, fp.artifact, key)
        artifacts.append(
            Artifact(
                function=fp.function.name,
                target="aws",
                kind="function",
                runtime=plan.platform.runtime.name,
                arch=plan.platform.arch,
                handler=fp.handler_setting,
                path=fp.artifact,
                sha256=written.sha256,
                size=written.size,
                unpacked_size=_code_size(code, entry) + (deps.unpacked_size if embedded else 0),
                layers=tuple(a.path for a in layers),
                packages=deps.packages,
            )
        )
        _warn_direct_upload(artifacts[-1], reporter)
    return artifacts


def _bytecode(plan: BuildPlan, code: tuple[SourceFile, ...], entry_name: str,
              entry: str) -> dict[str, bytes]:
    """The function's own modules (sources, runtime, entry) compiled like its dependencies, by
    the target's Python, as unchecked-hash pycs: /var/task is read-only, so a module without one
    is compiled again on every cold start."""
    sources = {f.path: f.abspath.read_bytes() for f in code}
    sources[entry_name] = entry.encode()
    image = builder.image_for(plan.platform, plan.project.aws.build_image)
    return bytecode.pycs_for(sources, plan.platform, image)


def _layer(plan: BuildPlan, deps: Dependencies, out: Outputs, reporter: Reporter) -> Artifact:
    assert plan.layer is not None
    assert deps.archive is not None
    key = _key("layer", deps.key)
    written = out.fresh(plan.layer, key)
    if written is None:
        reporter.step(f"packaging layer {plan.layer.name}")
        writer = ZipWriter()
        writer.add_zip(deps.archive, prefix="python/")
        written = out.zip(writer, plan.layer, key)
    layer = Artifact(
        function=plan.layer.stem,
        target="aws",
        kind="layer",
        runtime=plan.platform.runtime.name,
        arch=plan.platform.arch,
        handler=None,
        path=plan.layer,
        sha256=written.sha256,
        size=written.size,
        unpacked_size=deps.unpacked_size,
        packages=deps.packages,
    )
    _warn_direct_upload(layer, reporter)
    return layer


def _check_unzipped(
    plan: BuildPlan, deps: Dependencies, code: tuple[SourceFile, ...], entries: dict[str, str]
) -> None:
    for fp in plan.functions:
        total = _code_size(code, entries[fp.function.name]) + deps.unpacked_size
        if total <= UNZIPPED_MAX:
            continue
        largest = sorted(deps.packages, key=lambda p: p.size, reverse=True)[:5]
        listing = ", ".join(f"{p.name} {human_size(p.size)}" for p in largest)
        raise BuildError(
            f"{fp.function.name}: {human_size(total)} unzipped (function and layers); AWS Lambda "
            f"allows {human_size(UNZIPPED_MAX)} ({UNZIPPED_MAX} bytes). "
            f"Largest packages: {listing}",
            hint="drop dependencies the function does not need, or use the docker target with "
            'flavor = "lambda" (container images may be 10 GB)',
        )


def _warn_direct_upload(artifact: Artifact, reporter: Reporter) -> None:
    if artifact.size > DIRECT_UPLOAD_MAX:
        reporter.warn(
            f"{artifact.path.name} is {human_size(artifact.size)} zipped, over the "
            f"{human_size(DIRECT_UPLOAD_MAX)} direct-upload limit: deploy will upload it "
            "through S3"
        )
