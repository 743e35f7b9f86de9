"""The one executor of artifact plans: writes each zip through `Outputs`, builds each image.

A plan that is fresh (its key matches what `Outputs` recorded, or its content-hash tag is in the
engine) is not rebuilt. Everything else is decided in the plan; what happens here is I/O: the
bytecode compile (the target's Python, perhaps in a container), the zip writer, the Docker build.
A step that ran is checked for having made what it was asked for: a compile that wrote no pyc for
modules that exist is an error, not a quiet success.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fpack import parallel
from fpack.archive import ZipWriter
from fpack.errors import BuildError
from fpack.layout import ArtifactPlan, Bytecode, FileEntry, ImagePlan, ZipPlan
from fpack.report import Reporter, human_size

if TYPE_CHECKING:
    from fpack.manifest import Manifest
    from fpack.outputs import Outputs


@dataclass(frozen=True, kw_only=True)
class Built:
    """One artifact the executor made, or found up to date."""

    manifest: Manifest
    rebuilt: bool  # False: the artifact was up to date and left as it was


def run(plans: Sequence[ArtifactPlan], outputs: Outputs, reporter: Reporter, *,
        epoch: int, jobs: int = 1) -> list[Built]:
    """Make every planned artifact that is not fresh, zips `jobs` at a time; the caller
    commits `outputs`. Images are built one after another: the engine parallelises each build's
    own work, and images of one dependency set share a build context's deps/."""
    zips = [i for i, p in enumerate(plans) if isinstance(p, ZipPlan)]
    done: dict[int, Built] = parallel.map_all(
        lambda i: _zip(plans[i], outputs, reporter, epoch=epoch),  # type: ignore[arg-type]
        zips, jobs=jobs)
    with tempfile.TemporaryDirectory(prefix="fpack-image-") as context:
        for i, p in enumerate(plans):
            if isinstance(p, ImagePlan):
                done[i] = _image(p, outputs, _context_dir(Path(context), p), reporter,
                                 epoch=epoch)
    return [done[i] for i in range(len(plans))]


def _context_dir(root: Path, p: ImagePlan) -> Path:
    """One build context per dependency set: its deps/ is laid out once, for all its images."""
    name = hashlib.sha256(str(p.deps_archive).encode()).hexdigest()[:16]
    return root / name


# --- zips -------------------------------------------------------------------------------------


def _zip(p: ZipPlan, outputs: Outputs, reporter: Reporter, *, epoch: int) -> Built:
    written = outputs.fresh(p.path, p.key)
    rebuilt = written is None
    if written is None:
        reporter.step(f"packaging {p.path.name}")
        writer = writer_for(p, epoch=epoch)
        if p.bytecode is not None:
            for name, pyc in compile_entries(p.files, p.bytecode).items():
                writer.add_bytes(name, pyc)
        _check_limits(p, writer)
        written = outputs.zip(writer, p.path, p.key, p.inputs)
    if p.warn_above is not None and written.size > p.warn_above:
        reporter.warn(f"{p.path.name} is {human_size(written.size)} zipped, over the "
                      f"{human_size(p.warn_above)} direct-upload limit: deploy will upload it "
                      "through S3")
    return Built(manifest=replace(p.manifest, sha256=written.sha256, size=written.size),
                 rebuilt=rebuilt)


def writer_for(p: ZipPlan, *, epoch: int) -> ZipWriter:
    """The zip's entries before bytecode: its files, and the cached archives spliced raw."""
    writer = ZipWriter(p.path, epoch=epoch)
    for f in p.files:
        writer.add_bytes(f.name, f.data, f.mode)
    for s in p.splices:
        writer.add_zip(s.archive, prefix=s.prefix)
    return writer


def compile_entries(files: Sequence[FileEntry], how: Bytecode) -> dict[str, bytes]:
    """Unchecked-hash pycs of the `.py` entries, by the target's Python (archive name -> bytes)."""
    from fpack.deps import bytecode  # noqa: PLC0415 - pulls in the container adapter

    sources = {f.name: f.data for f in files if f.name.endswith(".py")}
    pycs = bytecode.pycs_for(sources, how.platform, how.image)
    if sources and not pycs:
        raise _no_bytecode(f"{len(sources)} module(s)", how)
    return pycs


def _no_bytecode(what: str, how: Bytecode) -> BuildError:
    """A compile that reported success but wrote no pyc: an error, never a quiet success."""
    return BuildError(f"compiling {what} with Python {how.platform.python_version} produced no "
                      "bytecode",
                      hint="run again with --debug; set compile = false to build without it")


def _check_limits(p: ZipPlan, writer: ZipWriter) -> None:
    for limit in p.limits:
        size = writer.compressed_size() if limit.measure == "zipped" else writer.unpacked_size
        if size > limit.limit:
            raise BuildError(limit.message.format(size=human_size(size)), hint=limit.hint)


# --- images -----------------------------------------------------------------------------------


def _image(p: ImagePlan, outputs: Outputs, context: Path, reporter: Reporter, *,
           epoch: int) -> Built:
    from fpack import container  # noqa: PLC0415 - the Docker SDK is heavy
    from fpack.targets.docker import check_arch  # noqa: PLC0415

    tags = p.manifest.tags
    found = container.image_info(container.client(), tags[0])
    rebuilt = found is None
    if found is None:
        reporter.step(f"building image {tags[0]} ({p.platform.docker_platform}, "
                      f"from {p.base_image})")
        lay_out(p, context, epoch=epoch)
        found = container.build_image(context, base_image=p.base_image, tags=tags,
                                      platform=p.platform.docker_platform, labels={})
    else:
        container.tag_image(tags[0], tags[1])
    check_arch(found, p.platform, p.base_image)
    outputs.record(p.path, p.key, p.inputs)
    reporter.done(f"{tags[0]}: {human_size(found.size)}")
    name = tags[0].rpartition(":")[0]
    manifest = replace(p.manifest, sha256=found.id.removeprefix("sha256:"), size=found.size,
                       image_id=found.id, digest=found.digest_in(name))
    return Built(manifest=manifest, rebuilt=rebuilt)


def lay_out(p: ImagePlan, context: Path, *, epoch: int) -> None:
    """The build context: deps/ (once per build: every image of a build shares it), runtime/
    and app/ and the Dockerfile, every mtime pinned (COPY records them in the layer)."""
    if not (context / "deps").is_dir():
        _unpack(p.deps_archive, context / "deps")
    for name in ("runtime", "app"):
        shutil.rmtree(context / name, ignore_errors=True)
    _unpack(p.client_archive, context / "runtime")
    for f in p.context:
        _write(context / f.name, f.data, f.mode)
    (context / "app").mkdir(exist_ok=True)
    if p.bytecode is not None:
        _compile(context, p.bytecode)
    _pin_times(context, epoch)


def _compile(context: Path, how: Bytecode) -> None:
    """The function's code and the runtime compiled like the dependencies: unchecked-hash pycs
    by the image's Python version, so the first request does not pay for compiling them (the
    image runs as a user who could not write them back anyway)."""
    from fpack.deps import bytecode  # noqa: PLC0415

    for part in ("app", "runtime"):
        tree = context / part
        bytecode.compile_tree(tree, how.platform, how.image)
        if any(tree.rglob("*.py")) and not any(tree.rglob("*.pyc")):
            raise _no_bytecode(f"{part}/ of the image", how)


def _unpack(archive: Path | None, dest: Path) -> None:
    """Extract a dependency archive with the modes it records (zipfile alone drops them)."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive is None:
        return
    import zipfile  # noqa: PLC0415 - only an image's context unpacks an archive

    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if not info.is_dir():
                _write(dest / info.filename, z.read(info), (info.external_attr >> 16) or 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o755 if mode & 0o111 else 0o644)


def _pin_times(root: Path, epoch: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.utime(Path(dirpath) / name, (epoch, epoch), follow_symlinks=False)
        Path(dirpath).chmod(0o755)
    os.utime(root, (epoch, epoch))
