"""`python -m fpack` and the `fpack` command. A build whose stamp still holds is answered here,
from stat calls and hashes (fpack/stamp.py); any other build whose words are all understood runs
without Typer (fpack/build_command.py); everything else goes through the CLI (fpack/cli.py)."""

from __future__ import annotations

import sys


def main() -> None:
    from fpack import stamp  # noqa: PLC0415 - the fast path imports only the standard library

    argv = sys.argv[1:]
    verdict = stamp.up_to_date(argv)
    if verdict is not None:
        for warning in verdict.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(verdict.message)
        sys.exit(0)
    from fpack import build_command  # noqa: PLC0415

    options = build_command.parse(argv)
    if options is not None:
        sys.exit(build_command.main(options))
    from fpack.cli import run  # noqa: PLC0415

    run()


if __name__ == "__main__":
    main()
