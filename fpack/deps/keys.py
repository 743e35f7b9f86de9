"""The dependency engine's cache keys, in one light module.

The engine makes cache entries under these keys and `fpack check` reads them: both import this
module, so neither keeps a copy that can drift, and the check does not pay for importing the
builder, the ELF audit or the container adapter. Pure: what comes from the environment
(FPACK_BUILD_IMAGE, the index settings, SOURCE_DATE_EPOCH) is handed in from `fpack.inputs`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from fpack.archive import ARCHIVE_VERSION
from fpack.deps.spec import DependencySpec
from fpack.platforms import Platform

RESOLVE_FORMAT: Final = "2"  # 2: locks may name wheels built from source
# 2: no .lock, no machine-specific installer records. 3: each RECORD lists exactly the files
# shipped (2 kept the lines of the dropped bin/ scripts, whose hashes cover the host's shebang).
TREE_FORMAT: Final = "3"


def sha(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def build_image(platform: Platform, configured: str | None, override: str | None) -> str:
    """The build image: `override` (FPACK_BUILD_IMAGE), else the target's build_image, else the
    runtime table's."""
    chosen = override or configured or platform.runtime.build_image
    return chosen.replace("{arch}", platform.machine)


def compiles_tree(target: str, compile: bool) -> bool:
    """Whether `compile = true` compiles the installed dependency tree. Not for gcp: its bundle
    ships requirements (or wheels), never the tree, and Google's build compiles what pip installs;
    there compile = true covers the bundle's own modules only."""
    return compile and target != "gcp"


def resolve_key(spec: DependencySpec, platform: Platform, image: str, uv_version: str,
                index_fingerprint: str) -> str:
    """What decides a resolution: the spec's files, the platform, uv, the index, the image."""
    return sha(spec.key(), platform.key(), uv_version, index_fingerprint, image, RESOLVE_FORMAT)


# A local file named in a lock, with the sha256 that pins its content: `path = "/abs/x.whl"` (or
# `url = "file:///abs/x.whl"`), then, within the same inline table, `hashes = { sha256 = "…" }`.
_PINNED_FILE: Final = re.compile(
    r'(?P<field>path|url) = "(?P<where>(?:file://)?/[^"]*/)(?P<name>[^"/]+)"'
    r'(?P<rest>[^{}]*hashes = \{ sha256 = "[0-9a-f]{64}")')


def lock_identity(lock_text: str) -> str:
    """A lock as its tree key sees it: a local file it names by path with a sha256 (a wheel built
    in fpack's wheelhouse, a wheel in the checkout) is named by its file name alone, because its
    content is pinned by the hash and its directory differs on every machine (the cache root, the
    checkout path). So runners with other cache directories and checkouts share trees."""
    return _PINNED_FILE.sub(lambda m: f'{m["field"]} = "{m["name"]}"{m["rest"]}', lock_text)


def tree_key(lock_text: str, platform: Platform, compile_bytecode: bool) -> str:
    """What decides an installed tree: the exact lock (`lock_identity`: the files it pins, not
    where this machine keeps them), the platform, whether pycs are shipped."""
    return sha(lock_identity(lock_text), platform.key(), TREE_FORMAT,
               f"compile={compile_bytecode}")


def archive_key(tree: str, epoch_setting: str) -> str:
    """What decides the tree's zip: the tree, the zip writer's format and the timestamp. The
    format is the archive module's own ARCHIVE_VERSION: bumping it rebuilds cached archives."""
    return sha(tree, ARCHIVE_VERSION, epoch_setting)
