"""The errors users see: one small hierarchy whose messages say where, what, expected and the fix.

Each class carries its exit code, so the CLI has a single exit path (`cli.main`) and never decides
codes case by case. Library code raises these with `raise ... from e` so `--debug` shows the cause.
"""

from __future__ import annotations

from typing import ClassVar


class FpackError(Exception):
    """Base class: a message for the user and an optional hint on how to fix it."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(FpackError):
    """fpack.toml or a file it names is wrong."""

    exit_code = 2


class UsageError(FpackError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class BuildError(FpackError):
    """A build step failed or an artifact would break a target's limits."""


class DependencyError(FpackError):
    """Dependencies cannot be resolved, fetched, built or audited for the target."""


class ContainerError(FpackError):
    """A container needed for a build or a local run failed."""


class DeployError(FpackError):
    """A cloud or registry refused or failed a deploy step."""


class CheckFailed(FpackError):
    """`fpack check` found problems (each already reported)."""
