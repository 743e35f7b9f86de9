"""What a build produced, one typed record per artifact: the manifest build writes beside it and
that deploy, invoke and serve read back.

A union by kind, so each field exists only where it means something: an AWS function zip has
its layers, a Cloud Functions bundle its signature type and build environment, an image its tags
and digest. `to_json` writes the keys design.md promises (in a fixed order, paths relative to the
project, so an unchanged artifact has an unchanged manifest); `from_json` reads them back, checked
once, paths absolute. Pure: no I/O here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from fpack.deps.engine import Package
from fpack.errors import BuildError

if TYPE_CHECKING:  # read where a manifest has them: most builds use neither
    from fpack.deps.sdk import Provided
    from fpack.deps.slim import Saving

Kind = Literal["function", "layer", "image"]
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True, kw_only=True)
class _Common:
    """What every manifest says: the artifact, its target and platform, sizes, packages."""

    function: str  # the function's name; for a layer, the layer's name
    target: str
    runtime: str
    arch: str
    handler: str | None
    sha256: str
    size: int
    unpacked_size: int
    packages: tuple[Package, ...] = ()
    slim: Saving | None = None  # what slim = true removed from the dependencies (aws, docker)
    # aws, sdk = "runtime": the packages left to the Lambda runtime, absent from `packages`
    sdk: Provided | None = None

    def _slim(self) -> dict[str, Any]:
        """`{"slim": ...}` last, only when slim = true: a manifest without it is unchanged."""
        return {"slim": self.slim.to_json()} if self.slim is not None else {}

    def _sdk(self) -> dict[str, Any]:
        """`{"sdk": ...}` after slim, only when sdk = "runtime" left the SDK out."""
        return {"sdk": self.sdk.to_json()} if self.sdk is not None else {}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"function": self.function, "target": self.target, "kind": kind,
                "runtime": self.runtime, "arch": self.arch, "handler": self.handler}

    def _sizes(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "unpacked_size": self.unpacked_size}

    def _packages(self) -> list[dict[str, Any]]:
        return [{"name": p.name, "version": p.version, "wheel": p.wheel, "sha256": p.sha256,
                 "source": p.source} for p in self.packages]


@dataclass(frozen=True, kw_only=True)
class _Zip(_Common):
    """A manifest of an artifact that is a zip file in dist/."""

    path: Path  # the zip in dist/<target>/

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.stem + MANIFEST_SUFFIX)

    @property
    def code_sha256(self) -> str:
        """The sha256 as Lambda's CodeSha256 spells it: base64 of the digest, not hex (also what
        Terraform's filebase64sha256() gives, for source_code_hash)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    def _aws_sizes(self) -> dict[str, Any]:
        """`_sizes` with `code_sha256` after `sha256`: what tools that deploy fpack's zips
        (Terraform, CDK, SAM) compare with Lambda, written out so they need not convert."""
        sizes = self._sizes()
        return {"sha256": sizes.pop("sha256"), "code_sha256": self.code_sha256, **sizes}


@dataclass(frozen=True, kw_only=True)
class AwsFunction(_Zip):
    """A Lambda function zip, and the layers it needs."""

    kind: ClassVar[Literal["function"]] = "function"
    layers: tuple[Path, ...] = ()  # the layer zips it needs, in the order deploy attaches them

    def to_json(self, root: Path) -> dict[str, Any]:
        return {**self._head(self.kind), "path": _rel(self.path, root), **self._aws_sizes(),
                "layers": [_rel(p, root) for p in self.layers], "packages": self._packages(),
                **self._slim(), **self._sdk()}


@dataclass(frozen=True, kw_only=True)
class AwsLayer(_Zip):
    """A Lambda layer zip of a dependency set."""

    kind: ClassVar[Literal["layer"]] = "layer"

    def to_json(self, root: Path) -> dict[str, Any]:
        return {**self._head(self.kind), "path": _rel(self.path, root), **self._aws_sizes(),
                "packages": self._packages(), **self._slim(), **self._sdk()}


@dataclass(frozen=True, kw_only=True)
class GcpBundle(_Zip):
    """A Cloud Functions source bundle."""

    kind: ClassVar[Literal["function"]] = "function"
    signature_type: str  # how functions-framework calls the entry point: http or cloudevent
    # Build environment variables the deploy must set (GOOGLE_VENDOR_PIP_DEPENDENCIES when the
    # bundle vendors its wheels).
    build_env: Mapping[str, str]

    def to_json(self, root: Path) -> dict[str, Any]:
        return {**self._head(self.kind), "path": _rel(self.path, root), **self._sizes(),
                "signature_type": self.signature_type, "build_env": dict(self.build_env),
                "packages": self._packages()}


@dataclass(frozen=True, kw_only=True)
class DockerImage(_Common):
    """An image lives in the Docker engine: its manifest is the one file a build writes for it."""

    kind: ClassVar[Literal["image"]] = "image"
    manifest_path: Path
    image: str  # the content-hash tag, <repository>/<function>:<hash>
    image_id: str
    tags: tuple[str, ...]
    base_image: str
    flavor: str
    digest: str | None = None  # sha256:… in the repository, once the image has been pushed

    @property
    def path(self) -> None:
        return None

    def to_json(self, root: Path) -> dict[str, Any]:
        return {**self._head(self.kind), **self._sizes(), "image": self.image,
                "image_id": self.image_id, "tags": list(self.tags),
                "base_image": self.base_image, "flavor": self.flavor, "digest": self.digest,
                "packages": self._packages(), **self._slim()}


Manifest = AwsFunction | AwsLayer | GcpBundle | DockerImage


def render(manifest: Manifest, root: Path) -> str:
    """The manifest file's text."""
    return json.dumps(manifest.to_json(root), indent=2) + "\n"


def _rel(path: Path, root: Path) -> str:
    return (path.relative_to(root) if path.is_relative_to(root) else path).as_posix()


def from_json(data: Mapping[str, Any], root: Path, manifest_path: Path | None = None) -> Manifest:
    """A manifest as `fpack build` wrote it (or `--json` printed it), typed; paths absolute."""
    try:
        return _typed(data, root, manifest_path)
    except (KeyError, TypeError, ValueError) as e:
        what = f"no {e} key" if isinstance(e, KeyError) else f"a malformed value ({e})"
        raise BuildError(f"build manifest of {data.get('function', '?')!r} has {what}",
                         hint="rebuild with this version of fpack") from e


def _saving(data: Mapping[str, Any]) -> Saving:
    from fpack.deps.slim import Saving  # noqa: PLC0415

    return Saving.from_json(data)


def _provided(data: Mapping[str, Any]) -> Provided:
    from fpack.deps.sdk import Provided  # noqa: PLC0415

    return Provided.from_json(data)


def _typed(data: Mapping[str, Any], root: Path, manifest_path: Path | None) -> Manifest:
    common: dict[str, Any] = {
        "function": str(data["function"]), "target": str(data.get("target", "")),
        "runtime": str(data["runtime"]), "arch": str(data.get("arch", "x86_64")),
        "handler": data.get("handler"), "sha256": str(data.get("sha256") or ""),
        "size": int(data.get("size") or 0), "unpacked_size": int(data.get("unpacked_size") or 0),
        "packages": tuple(Package(name=p["name"], version=p["version"], wheel=p["wheel"],
                                  sha256=p["sha256"], size=0, source=p.get("source", "index"))
                          for p in data.get("packages", ())),
        "slim": _saving(data["slim"]) if data.get("slim") else None,
        "sdk": _provided(data["sdk"]) if data.get("sdk") else None,
    }
    kind = data.get("kind", "function")
    if kind == "image":
        del common["sdk"]
        return DockerImage(**common, manifest_path=manifest_path or root / "manifest.json",
                           image=str(data["image"]), image_id=str(data["image_id"]),
                           tags=tuple(data.get("tags", ())), base_image=str(data["base_image"]),
                           flavor=str(data["flavor"]), digest=data.get("digest"))
    path = root / str(data["path"])
    if kind == "layer":
        return AwsLayer(**common, path=path)
    if common["target"] == "gcp" or "signature_type" in data:
        del common["slim"], common["sdk"]
        return GcpBundle(**common, path=path, signature_type=str(data["signature_type"]),
                         build_env={str(k): str(v) for k, v in
                                    (data.get("build_env") or {}).items()})
    return AwsFunction(**common, path=path, layers=tuple(root / p for p in data.get("layers", ())))
