"""What a build produces: an Artifact and its manifest (the JSON written beside it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from fpack.deps.engine import Package

Kind = Literal["function", "layer", "image"]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    function: str  # the function's name; for a layer, the layer's name
    target: str
    kind: Kind
    runtime: str
    arch: str
    handler: str | None
    path: Path
    sha256: str
    size: int
    unpacked_size: int
    layers: tuple[Path, ...] = ()
    packages: tuple[Package, ...] = ()
    rebuilt: bool = True
    # An image (kind "image") lives in the Docker engine: `path` is its manifest, the one file
    # a build writes for it.
    image: str | None = None  # the content-hash tag, <repository>/<function>:<hash>
    image_id: str | None = None
    base_image: str | None = None
    tags: tuple[str, ...] = ()
    flavor: str | None = None
    digest: str | None = None  # sha256:… in the repository, once the image has been pushed
    # A Cloud Functions bundle: how functions-framework calls its entry point, and the build
    # environment variables the deploy must set (GOOGLE_VENDOR_PIP_DEPENDENCIES when vendored).
    signature_type: str | None = None
    build_env: tuple[tuple[str, str], ...] = ()

    def manifest_path(self) -> Path:
        if self.kind == "image":
            return self.path
        return self.path.with_name(self.path.stem + ".manifest.json")

    def manifest(self, root: Path) -> dict[str, Any]:
        """The manifest, with paths relative to the project `root` (so it is reproducible)."""

        def rel(p: Path) -> str:
            return (p.relative_to(root) if p.is_relative_to(root) else p).as_posix()

        data: dict[str, Any] = {
            "function": self.function, "target": self.target, "kind": self.kind,
            "runtime": self.runtime, "arch": self.arch, "handler": self.handler,
            "path": rel(self.path), "sha256": self.sha256, "size": self.size,
            "unpacked_size": self.unpacked_size,
        }
        if self.kind == "image":
            del data["path"]
            data.update(image=self.image, image_id=self.image_id, tags=list(self.tags),
                        base_image=self.base_image, flavor=self.flavor,
                        digest=self.digest)
        if self.kind == "function" and self.target == "aws":
            data["layers"] = [rel(p) for p in self.layers]
        if self.kind == "function" and self.target == "gcp":
            data.update(signature_type=self.signature_type, build_env=dict(self.build_env))
        data["packages"] = [
            {k: v for k, v in asdict(p).items() if k != "size"} for p in self.packages
        ]
        return data

    def manifest_json(self, root: Path) -> str:
        return json.dumps(self.manifest(root), indent=2) + "\n"
