"""A target's choices that change its dependency tree, read from its [targets.T] table.

Apart from the engine because the CLI needs them before the engine is imported: a set's
resolution is started as soon as the sets are known (deps/ahead.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fpack.deps import keys
from fpack.platforms import Target

if TYPE_CHECKING:
    from fpack.config import AwsTarget, DockerTarget, GcpTarget, Project


@dataclass(frozen=True, kw_only=True)
class Settings:
    """A target's choices that change its dependency tree."""

    build_image: str | None = None  # the target's build_image setting (FPACK_BUILD_IMAGE wins)
    compile: bool = False  # ship bytecode compiled by the target's Python
    cache_url: str | None = None  # fpack.toml's [cache] url (FPACK_CACHE_URL wins)
    slim: bool = False  # ship a slimmed variant of the tree (deps/slim.py)
    slim_keep: tuple[str, ...] = ()  # kept by slimming anyway: dotted module paths or globs
    sdk: str = "bundle"  # "runtime": leave boto3 & co. to the Lambda runtime (deps/sdk.py)


def settings_for(project: Project, target: Target) -> Settings:
    """The dependency settings of `target` in `project` (its [targets.T] table)."""
    table: AwsTarget | GcpTarget | DockerTarget
    match target:
        case "aws":
            table = project.aws
        case "gcp":
            table = project.gcp
        case "docker":
            table = project.docker
    # gcp's bundle ships requirements, never the tree: nothing to slim there.
    slimmed, keep = (False, ()) if target == "gcp" else (project.aws.slim, project.aws.slim_keep)
    if target == "docker":
        slimmed, keep = project.docker.slim, project.docker.slim_keep
    return Settings(build_image=table.build_image,
                    compile=keys.compiles_tree(target, table.compile),
                    cache_url=project.cache.url, slim=slimmed,
                    slim_keep=keep if slimmed else (),
                    # Only Lambda's runtimes carry the SDK: the other targets always bundle.
                    sdk=project.aws.sdk if target == "aws" else "bundle")
