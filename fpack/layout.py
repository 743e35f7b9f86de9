"""An artifact's plan as frozen data: every entry with its bytes, name and mode, its cache key, the
inputs that key covers (for `--dry-run`'s reasons), its limits and the manifest it will have.

The target modules make these (pure); `executor` writes them; `--dry-run` renders them. The bytes
in a `FileEntry` are the ones that were hashed into the key: a file that changes while a build runs
cannot make the artifact disagree with its key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fpack.manifest import AwsFunction, AwsLayer, DockerImage, GcpBundle
from fpack.platforms import Platform
from fpack.sources import SourceFile


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """One file an artifact holds, with its bytes."""

    name: str  # the member's name in the archive (or its path in a Docker build context)
    data: bytes
    mode: int = 0o644
    sha256: str = ""  # of `data`, when already known (a snapshot's file): not hashed again


def source_entries(files: Iterable[SourceFile], prefix: str = "") -> tuple[FileEntry, ...]:
    """Snapshot files as entries under `prefix`, with the digests the snapshot computed."""
    return tuple(FileEntry(name=prefix + f.path, data=f.data, mode=f.mode, sha256=f.sha256)
                 for f in files)


@dataclass(frozen=True, kw_only=True)
class Splice:
    """The members of a cached zip (a dependency archive), copied raw under `prefix`."""

    archive: Path
    prefix: str = ""


@dataclass(frozen=True, kw_only=True)
class Bytecode:
    """Compile the artifact's own modules (the `.py` file entries) by the target's Python into
    unchecked-hash pycs, in `image` when that Python is not on this machine."""

    platform: Platform
    image: str


@dataclass(frozen=True, kw_only=True)
class SizeLimit:
    """A platform limit the finished archive must fit; `message` has `{size}` for its size."""

    measure: Literal["zipped", "unzipped"]
    limit: int
    message: str
    hint: str


@dataclass(frozen=True, kw_only=True)
class ZipPlan:
    """A zip to write: its files, the archives spliced in, and the key of its bytes."""

    path: Path
    key: str  # every input of the zip's bytes: an unchanged key means an unchanged zip
    inputs: Mapping[str, str]  # what the key covers, by name (for the reasons of a rebuild)
    files: tuple[FileEntry, ...]
    splices: tuple[Splice, ...] = ()
    bytecode: Bytecode | None = None
    limits: tuple[SizeLimit, ...] = ()
    warn_above: int | None = None  # zipped bytes past which the target wants another upload path
    manifest: AwsFunction | AwsLayer | GcpBundle  # sha256 and size filled in once written


@dataclass(frozen=True, kw_only=True)
class ImagePlan:
    """A Docker build context and what to tag the image: its files, the dependency archives
    unpacked under `deps/` and `runtime/`, and the content-hash tag that makes it fresh."""

    key: str
    inputs: Mapping[str, str]
    context: tuple[FileEntry, ...]  # Dockerfile, .dockerignore, runtime/…, app/…
    deps_archive: Path | None
    client_archive: Path | None
    bytecode: Bytecode | None
    base_image: str
    platform: Platform
    manifest: DockerImage  # image id, size and digest filled in once built

    @property
    def path(self) -> Path:
        return self.manifest.manifest_path


ArtifactPlan = ZipPlan | ImagePlan


def file_inputs(entries: Iterable[FileEntry]) -> dict[str, str]:
    """Name -> content digest of each entry, for the reasons: `file app.py` changed."""
    return {f"file {e.name}": f"{e.mode:o}:{e.sha256 or hashlib.sha256(e.data).hexdigest()}"
            for e in entries}
