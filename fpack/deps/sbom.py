"""A CycloneDX 1.6 JSON SBOM for one artifact (`fpack build --sbom`), written beside it.

The SBOM lists exactly what is inside the artifact: the function's own code (the metadata
component, with the artifact's sha256), the vendored fpack runtime, and every third-party package
bundled in it with its version, the wheel it was installed from (purl `file_name` qualifier and
sha256) and where that wheel came from (`fpack:source`: the index, a URL, or the image it was built
in). An AWS function zip whose dependencies live in a layer lists none: the layer's SBOM does.
With `sdk = "runtime"` boto3 and its kin are not components (the artifact does not hold them):
an `fpack:provided-by-runtime` property names each.

Deterministic, like the artifacts: the serial number is derived from the artifact's sha256 and the
timestamp is the build's SOURCE_DATE_EPOCH (else 1980-01-01), so an unchanged artifact has an
unchanged SBOM.
cyclonedx-python-lib is imported only when an SBOM is written.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fpack import __version__
from fpack.manifest import AwsFunction, AwsLayer, DockerImage

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

    from fpack.deps.engine import Package
    from fpack.manifest import Manifest

SUFFIX: Final = ".cdx.json"
_NAMESPACE: Final = uuid.UUID("5b8f2d7e-3c1a-4e8b-9a61-0f7c2d9e4b10")  # fpack's, for uuid5


def path_for(artifact: Manifest) -> Path:
    """dist/aws/hello.zip -> dist/aws/hello.cdx.json (an image's manifest path likewise)."""
    path = artifact.path or artifact.manifest_path
    stem = path.name.removesuffix(".manifest.json").rsplit(".", 1)[0]
    return path.with_name(stem + SUFFIX)


def bundled(artifact: Manifest) -> tuple[Package, ...]:
    """The packages physically inside `artifact` (none in a function zip that uses layers)."""
    return () if isinstance(artifact, AwsFunction) and artifact.layers else artifact.packages


def render(artifact: Manifest, *, epoch: int) -> str:
    """The SBOM of `artifact` as CycloneDX 1.6 JSON text, dated `epoch` (SOURCE_DATE_EPOCH)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property  # noqa: PLC0415
    from cyclonedx.model.bom import Bom  # noqa: PLC0415
    from cyclonedx.model.component import Component, ComponentType  # noqa: PLC0415
    from cyclonedx.output.json import JsonV1Dot6  # noqa: PLC0415

    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, artifact.sha256 or path_for(artifact).name))
    bom.metadata.timestamp = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    root = Component(
        type=ComponentType.APPLICATION, name=artifact.function, version=artifact.sha256[:12],
        bom_ref=f"fpack:{artifact.target}/{artifact.function}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256)] if artifact.sha256
        else [],
        properties=[Property(name=f"fpack:{k}", value=v) for k, v in _describe(artifact)],
    )
    bom.metadata.component = root
    parts = [_package(p) for p in bundled(artifact)]
    if artifact.kind in ("function", "image"):
        parts.append(Component(type=ComponentType.LIBRARY, name="fpack-runtime",
                               version=__version__, bom_ref="fpack:runtime",
                               description="the portable runtime fpack vendors into every "
                               "function"))
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(root, parts)
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"


def _package(pkg: Package) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType, Property  # noqa: PLC0415
    from cyclonedx.model.component import Component, ComponentType  # noqa: PLC0415
    from packageurl import PackageURL  # noqa: PLC0415

    purl = PackageURL(type="pypi", name=pkg.name, version=pkg.version,
                      qualifiers={"file_name": pkg.wheel} if pkg.wheel else None)
    return Component(
        type=ComponentType.LIBRARY, name=pkg.name, version=pkg.version, purl=purl,
        bom_ref=purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=pkg.sha256)] if pkg.sha256 else [],
        properties=[Property(name="fpack:source", value=pkg.source),
                    Property(name="fpack:wheel", value=pkg.wheel)],
    )


def _describe(artifact: Manifest) -> list[tuple[str, str]]:
    pairs = [("target", artifact.target), ("kind", artifact.kind),
             ("runtime", artifact.runtime), ("arch", artifact.arch)]
    if isinstance(artifact, AwsFunction):
        pairs += [("layer", layer.name) for layer in artifact.layers]
    if isinstance(artifact, DockerImage):
        pairs.append(("image", artifact.image))
    # sdk = "runtime": not components (they are not inside), but what the artifact runs on
    if isinstance(artifact, AwsFunction | AwsLayer) and artifact.sdk is not None:
        pairs += [("provided-by-runtime", f"{name} ({artifact.sdk.runtime})")
                  for name in artifact.sdk.names]
    return pairs
