"""The AWS Lambda target: a deployment zip per function and, in layer mode, one dependency layer.

Layout follows Lambda's: the function zip's root is /var/task (sources, the vendored fpack runtime,
the generated `fpack_entry.py`, and the dependencies unless they are in the layer); the layer zip
holds the dependencies under `python/`, which Lambda extracts to /opt/python, on sys.path.
Planning is pure (`plan`): the zips' entries, keys and manifests, from the build plan and the
prepared dependencies; Lambda's unzipped limit is checked there, before anything is written. The
executor (fpack/executor.py) writes them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from fpack import limits
from fpack.archive import ARCHIVE_VERSION
from fpack.deps.engine import Dependencies
from fpack.errors import BuildError
from fpack.layout import Bytecode, FileEntry, Splice, ZipPlan, file_inputs, source_entries
from fpack.manifest import AwsFunction, AwsLayer
from fpack.plan import BuildPlan, FunctionPlan, bytecode_image, package_inputs, setting_inputs
from fpack.report import Reporter, human_size
from fpack.sources import SourceFile, digest
from fpack.templating import render

DIRECT_UPLOAD_MAX: Final = limits.LAMBDA_DIRECT_UPLOAD_MAX
UNZIPPED_MAX: Final = limits.LAMBDA_UNZIPPED_MAX


def entry_source(plan: BuildPlan, fp: FunctionPlan) -> str:
    fn = fp.function
    return render(
        "aws_entry.py.j2",
        plan.inputs.cache,
        name=fn.name,
        module=fn.module,
        handler=fn.attr,
        attr=fp.entry_attr,
        module_name=fp.entry_module,
        trigger=fn.trigger,
        style=fn.style,
        base_path=fn.base_path,
    )


def _key(plan: BuildPlan, *parts: str) -> str:
    return hashlib.sha256(
        "\0".join((ARCHIVE_VERSION, plan.inputs.epoch_setting, *parts)).encode()).hexdigest()


def _code_size(files: tuple[SourceFile, ...], entry: str) -> int:
    return sum(f.size for f in files) + len(entry.encode())


def plan(bp: BuildPlan, deps: Dependencies) -> tuple[ZipPlan, ...]:
    """Every zip of `bp`: the layer first (functions name it), then one per function. Pure;
    raises BuildError when a function and its layers would be over Lambda's unzipped limit."""
    code = (*bp.sources, *bp.runtime)
    entries = {fp.function.name: entry_source(bp, fp) for fp in bp.functions}
    _check_unzipped(bp, deps, code, entries)
    layers = (_layer(bp, deps),) if bp.layer is not None and deps.archive is not None else ()
    paths = tuple(layer.path for layer in layers)
    return (*layers, *(_function(bp, fp, deps, code=code, entry=entries[fp.function.name],
                                 layers=paths) for fp in bp.functions))


def _function(bp: BuildPlan, fp: FunctionPlan, deps: Dependencies, *,
              code: tuple[SourceFile, ...], entry: str, layers: tuple[Path, ...]) -> ZipPlan:
    embedded = bp.layer is None
    compiled = bp.project.aws.compile
    files = (*source_entries(code), FileEntry(name=f"{fp.entry_module}.py", data=entry.encode()))
    spliced = embedded and deps.archive is not None
    manifest = AwsFunction(
        function=fp.function.name, target="aws", runtime=bp.platform.runtime.name,
        arch=bp.platform.arch, handler=fp.handler_setting, path=fp.artifact, sha256="", size=0,
        unpacked_size=_code_size(code, entry) + (deps.unpacked_size if embedded else 0),
        layers=layers, packages=deps.packages, slim=deps.slim if embedded else None,
        sdk=deps.sdk)  # layer or not, the function runs on the runtime's SDK
    return ZipPlan(
        path=fp.artifact,
        # Bytecode is the target Python's: a compiled zip is keyed by the platform too.
        key=_key(bp, "function", digest(code), entry, deps.key if embedded else "", str(compiled),
                 *((bp.platform.key(),) if compiled else ())),
        inputs={**file_inputs(files), **setting_inputs(bp, compile=compiled),
                **(package_inputs(deps) if embedded else {})},
        files=files,
        splices=(Splice(archive=deps.archive),) if spliced and deps.archive else (),
        bytecode=Bytecode(platform=bp.platform, image=bytecode_image(bp, bp.project.aws))
        if compiled else None,
        warn_above=DIRECT_UPLOAD_MAX, manifest=manifest)


def _layer(bp: BuildPlan, deps: Dependencies) -> ZipPlan:
    assert bp.layer is not None
    assert deps.archive is not None
    manifest = AwsLayer(
        function=bp.layer.stem, target="aws", runtime=bp.platform.runtime.name,
        arch=bp.platform.arch, handler=None, path=bp.layer, sha256="", size=0,
        unpacked_size=deps.unpacked_size, packages=deps.packages, slim=deps.slim, sdk=deps.sdk)
    return ZipPlan(path=bp.layer, key=_key(bp, "layer", deps.key),
                   inputs={**package_inputs(deps), **setting_inputs(bp)}, files=(),
                   splices=(Splice(archive=deps.archive, prefix="python/"),),
                   warn_above=DIRECT_UPLOAD_MAX, manifest=manifest)


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
            hint=limits.lambda_remedies(slim=plan.project.aws.slim, sdk=plan.project.aws.sdk,
                                        largest=tuple(p.name for p in largest)),
        )


def plan_artifacts(bp: BuildPlan, deps: Dependencies, reporter: Reporter) -> tuple[ZipPlan, ...]:
    """The TargetBuilder step: aws needs nothing from the world beyond the dependencies."""
    del reporter
    return plan(bp, deps)
