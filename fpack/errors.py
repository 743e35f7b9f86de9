"""The errors users see: one small hierarchy whose messages say where, what, expected and the fix.

Each class carries its exit code, so the commands have one exit path (`shown_failure`) and never
decide codes case by case. Library code raises these with `raise ... from e` so `--debug` shows
the cause.
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


def shown_failure(e: Exception, *, debug: bool) -> int:
    """Print what went wrong as the user should see it and return the command's exit code: an
    FpackError's message and hint, or, for anything else (a bug), what to do about it. The
    traceback only with --debug. Both command paths end here (cli.main, build_command.main)."""
    import sys  # noqa: PLC0415 - kept out of the import of every module that raises these
    import traceback  # noqa: PLC0415

    if debug:
        traceback.print_exc()
    if isinstance(e, FpackError):
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"error: fpack failed unexpectedly: {type(e).__name__}: {e}\n"
          "  hint: run again with --debug for the traceback, and report it", file=sys.stderr)
    return 1
