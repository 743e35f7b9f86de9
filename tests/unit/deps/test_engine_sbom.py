"""The CycloneDX SBOM of an artifact: what is inside it, nothing else, the same bytes each time."""

from __future__ import annotations

import json
from pathlib import Path

from fpack import __version__, inputs
from fpack.deps import sbom
from fpack.deps.engine import Package
from fpack.manifest import AwsFunction, AwsLayer, DockerImage

PILLOW = Package(name="pillow", version="11.0.0",
                 wheel="pillow-11.0.0-cp312-cp312-manylinux_2_28_x86_64.whl", sha256="a" * 64,
                 size=10)
EXT = Package(name="ext", version="1.0", wheel="ext-1.0-cp312-cp312-linux_x86_64.whl",
              sha256="b" * 64, size=5, source="built in fpack-lab/build:3.12")


EPOCH = inputs.read({}).epoch  # no SOURCE_DATE_EPOCH: 1980-01-01
COMMON: dict[str, object] = {
    "function": "resize", "target": "aws", "runtime": "python3.12", "arch": "x86_64",
    "handler": "fpack_entry.resize", "sha256": "f" * 64, "size": 1, "unpacked_size": 2,
    "packages": (PILLOW, EXT)}


def artifact(**changes: object) -> AwsFunction:
    fields = {**COMMON, "path": Path("/p/dist/aws/resize.zip"), **changes}
    return AwsFunction(**fields)  # type: ignore[arg-type]


def layer(**changes: object) -> AwsLayer:
    fields = {**COMMON, "function": "photos-deps", "handler": None,
              "path": Path("/p/dist/aws/photos-deps.zip"), **changes}
    return AwsLayer(**fields)  # type: ignore[arg-type]


def image(**changes: object) -> DockerImage:
    fields = {**COMMON, "target": "docker", "handler": "app:resize",
              "manifest_path": Path("/p/dist/docker/resize.manifest.json"),
              "image": "photos/resize:0123456789ab", "image_id": "sha256:ab",
              "tags": ("photos/resize:0123456789ab", "photos/resize:latest"),
              "base_image": "python:3.12-slim-bookworm", "flavor": "http", **changes}
    return DockerImage(**fields)  # type: ignore[arg-type]


def test_a_function_zip_lists_its_packages_and_the_runtime() -> None:
    doc = json.loads(sbom.render(artifact(), epoch=EPOCH))
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "resize"
    assert doc["metadata"]["component"]["hashes"] == [{"alg": "SHA-256", "content": "f" * 64}]
    by_name = {c["name"]: c for c in doc["components"]}
    assert set(by_name) == {"pillow", "ext", "fpack-runtime"}
    assert by_name["fpack-runtime"]["version"] == __version__
    ext = by_name["ext"]
    assert ext["purl"] == "pkg:pypi/ext@1.0?file_name=ext-1.0-cp312-cp312-linux_x86_64.whl"
    assert ext["hashes"] == [{"alg": "SHA-256", "content": "b" * 64}]
    assert {"name": "fpack:source", "value": "built in fpack-lab/build:3.12"} in ext["properties"]
    (root,) = [d for d in doc["dependencies"] if d["ref"] == "fpack:aws/resize"]
    assert len(root["dependsOn"]) == 3


def test_a_function_using_layers_lists_no_packages_its_layer_does() -> None:
    layered = artifact(layers=(Path("/p/dist/aws/photos-deps.zip"),))
    assert [c["name"] for c in json.loads(sbom.render(layered, epoch=EPOCH))["components"]] == [
        "fpack-runtime"]
    assert sorted(c["name"] for c in json.loads(sbom.render(layer(), epoch=EPOCH))["components"]
                  ) == ["ext", "pillow"]


def test_the_same_artifact_gives_the_same_bytes() -> None:
    assert sbom.render(artifact(), epoch=EPOCH) == sbom.render(artifact(), epoch=EPOCH)
    doc = json.loads(sbom.render(artifact(), epoch=EPOCH))
    assert doc["metadata"]["timestamp"] == "1980-01-01T00:00:00+00:00"
    epoch = inputs.read({"SOURCE_DATE_EPOCH": "1700000000"}).epoch
    assert json.loads(sbom.render(artifact(), epoch=epoch))["metadata"]["timestamp"] == (
        "2023-11-14T22:13:20+00:00")
    other = json.loads(sbom.render(artifact(sha256="e" * 64), epoch=EPOCH))
    assert other["serialNumber"] != doc["serialNumber"]


def test_an_image_lists_its_packages_and_the_runtime() -> None:
    doc = json.loads(sbom.render(image(), epoch=EPOCH))
    assert sorted(c["name"] for c in doc["components"]) == ["ext", "fpack-runtime", "pillow"]
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    assert props["fpack:kind"] == "image"
    assert props["fpack:image"] == "photos/resize:0123456789ab"


def test_it_is_written_beside_the_artifact() -> None:
    assert sbom.path_for(artifact()) == Path("/p/dist/aws/resize.cdx.json")
    assert sbom.path_for(layer()) == Path("/p/dist/aws/photos-deps.cdx.json")
    assert sbom.path_for(image()) == Path("/p/dist/docker/resize.cdx.json")
