"""What every deployer shares: the manifest it reads, the plan lines it renders, what it reports.

Pure data and pure functions: no I/O and no cloud SDK here. A deployer plans with frozen data (each
step knows how to describe itself as a `Change`), then an executor applies the steps; `--dry-run`
hands the same plan to a display-only executor, so what is shown is exactly what would be done.
Environment values never appear in a `Change` (only names), and `Secrets.scrub` removes the values
of secret-looking variables from any cloud error message before it reaches the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fpack import manifest
from fpack.cloud.safety import Backoff, Secrets
from fpack.errors import BuildError, DeployError
from fpack.manifest import Manifest

__all__ = ["Backoff", "Change", "Deployment", "Manifest", "Orphans", "Outcome", "Secrets",
           "env_changes", "read_manifest"]

# "delete" and "keep" are for functions fpack deployed that fpack.toml no longer names: deleted
# with --prune, kept (and named in the plan) without it.
Action = Literal["create", "update", "unchanged", "delete", "keep"]
# What a deploy does about such functions: "ignore" (a --function deploy does not look for them),
# "keep" (a whole-project deploy lists them), "delete" (--prune).
Orphans = Literal["ignore", "keep", "delete"]


@dataclass(frozen=True, kw_only=True)
class Change:
    """One line of a plan: a resource and what happens to it."""

    resource: str  # e.g. "function photos-hello", "layer photos-deps", "alias live"
    action: Action
    detail: str = ""  # what differs, by name only (never a value)

    def line(self) -> str:
        verb = {"create": "create", "update": "update", "unchanged": "leave", "delete": "delete",
                "keep": "keep"}[self.action]
        return f"{verb:<7} {self.resource}" + (f"  ({self.detail})" if self.detail else "")


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What a deploy did to (or found on) one function or image: printed by --json."""

    function: str
    target: str
    name: str  # the cloud's name: Lambda function, Cloud Function, image reference
    action: Action
    version: str | None = None
    url: str | None = None
    digest: str | None = None
    changes: tuple[Change, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"function": self.function, "target": self.target, "name": self.name,
                "action": self.action, "version": self.version, "url": self.url,
                "digest": self.digest, "changes": [c.line() for c in self.changes]}


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A deploy's result: the plan's lines, and per function what was (or would be) done."""

    dry_run: bool
    changes: tuple[Change, ...]
    deployments: tuple[Deployment, ...]


def read_manifest(data: Mapping[str, Any], root: Path) -> Manifest:
    """A manifest dict (as `fpack build --json` prints it) as typed data; paths made absolute."""
    try:
        return manifest.from_json(data, root)
    except BuildError as e:
        raise DeployError(e.message, hint=e.hint) from e


def env_changes(want: Mapping[str, str], have: Mapping[str, str]) -> tuple[str, ...]:
    """The names of environment variables added, changed or removed (values are never shown)."""
    return tuple(sorted(k for k in {*want, *have} if want.get(k) != have.get(k)))
