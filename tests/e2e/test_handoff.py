"""The hand-off to Terraform, CDK and SAM: the README's Terraform snippet's hash expressions,
applied to the example's built zips, give each manifest's `code_sha256`.

Terraform is not installed here, so its `filebase64sha256(path)` is applied as Terraform defines
it: the base64 of the file's raw SHA-256 digest (not of the hex string). The snippet's paths are
the README's own, read from it, so a README that names a zip fpack does not build fails here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, fpack

pytestmark = pytest.mark.e2e
HASH = re.compile(r'source_code_hash\s*=\s*filebase64sha256\("([^"]+)"\)')


def filebase64sha256(path: Path) -> str:
    """Terraform's filebase64sha256: base64(sha256(file bytes)), the raw 32-byte digest."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def terraform_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```hcl\n(.*?)```", readme, re.DOTALL)
    return block


def test_the_readme_terraform_hashes_are_the_manifests_code_sha256(example: Path) -> None:
    built = json.loads(fpack(example, "build", "--target", "aws", "--json").stdout)
    manifests = {m["path"]: m for m in built}
    paths = HASH.findall(terraform_snippet())
    assert paths == ["dist/aws/photos-deps.zip", "dist/aws/hello.zip"]

    for path in paths:
        manifest = manifests[path]
        assert filebase64sha256(example / path) == manifest["code_sha256"]
        assert base64.b64decode(manifest["code_sha256"]).hex() == manifest["sha256"]
        on_disk = json.loads((example / path).with_suffix(".manifest.json").read_text())
        assert on_disk["code_sha256"] == manifest["code_sha256"]
        keys = list(on_disk)
        assert keys[keys.index("sha256") + 1] == "code_sha256"  # a fixed place in the file
