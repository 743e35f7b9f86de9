"""`python -m fpack` and the `fpack` command: a build whose stamp still holds is answered here,
from stat calls and hashes, before the CLI and its imports are loaded (fpack/stamp.py)."""

from __future__ import annotations

import sys


def main() -> None:
    from fpack import stamp  # noqa: PLC0415 - the fast path imports only the standard library

    verdict = stamp.up_to_date(sys.argv[1:])
    if verdict is not None:
        for warning in verdict.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(verdict.message)
        sys.exit(0)
    from fpack.cli import run  # noqa: PLC0415

    run()


if __name__ == "__main__":
    main()
