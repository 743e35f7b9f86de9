"""Guest code keeps the runtime's rules: what runs inside containers and artifacts parses for
Python 3.9 and imports only the standard library (fpack/guest/DESIGN.md, fpack/runtime/DESIGN.md);
the build scripts are pinned to the cache format that names what they build."""

from __future__ import annotations

import hashlib

from fpack import guest
from fpack.deps import builder, bytecode

# sha256 of each build script, with the cache format its output is stored under. A change to a
# script fails here: if it changes what a build produces, bump the format, then the hash.
SCRIPTS = {
    "build_wheel.sh": ("b8843ed0f050c882262651047583c92f188504b4cdef442ed485a3ffa39a412a",
                       "BUILD_FORMAT 1"),
    "compile.sh": ("9517dcdc1569452e30a2c37e33bfb81f03291a208c67ab53ade8aab111a592aa",
                   "compiled trees are keyed by keys.TREE_FORMAT"),
}


def test_the_build_scripts_are_the_ones_their_cache_keys_name() -> None:
    assert (builder.SCRIPT, bytecode.SCRIPT) == ("build_wheel.sh", "compile.sh")
    assert f"BUILD_FORMAT {builder.BUILD_FORMAT}" == SCRIPTS["build_wheel.sh"][1]
    for name, (sha256, _) in SCRIPTS.items():
        text = guest.text(name)
        assert hashlib.sha256(text.encode()).hexdigest() == sha256, (
            f"fpack/guest/{name} changed: if builds now produce something else, bump the cache "
            "format that names their output, then update the sha256 here")
        assert text.startswith("set -eu\n") and "\r" not in text
