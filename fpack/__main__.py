"""`python -m fpack` and the `fpack` command. A build whose stamp still holds is answered here,
from stat calls and hashes (fpack/stamp.py); any other build whose words are all understood runs
without Typer (fpack/build_command.py); everything else goes through the CLI (fpack/cli.py)."""

from __future__ import annotations

import atexit
import os
import sys
import time
from typing import TextIO

# How long fpack's own threads get to finish the step they are on, once the command is done.
FINISH_SECONDS = 10.0


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


def entry() -> None:
    """The `fpack` command and `python -m fpack`: `main`, then `exit`."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as e:
        code = e.code
    exit_now(code)


def exit_now(code: str | int | None) -> None:
    """End the process as sys.exit(code) would, without tearing the interpreter down: freeing
    every module and object one by one took 12 to 30 ms after a build had finished, a tenth
    of a small one. What a normal exit does that matters is done first: the atexit handlers
    (temporary directories still alive among them), and stdout and stderr flushed. A thread
    still running that is not a daemon would be waited for, so then the normal exit runs.
    fpack's own threads are daemons; after an interrupt some may still be finishing a step
    (a zip, a cache entry): they are given a few seconds to, as a pool's workers would be,
    so that what they write is not cut off half-way."""
    threading = sys.modules.get("threading")  # not imported: no thread was started
    if threading is not None:
        others = [t for t in threading.enumerate()
                  if t.is_alive() and t is not threading.main_thread()]
        if any(not t.daemon for t in others):
            sys.exit(code)
        deadline = time.monotonic() + FINISH_SECONDS
        for t in others:
            if t.name.startswith("fpack-"):
                t.join(max(0.0, deadline - time.monotonic()))
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("a message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    if not all([_flushed(sys.stdout), _flushed(sys.stderr)]):
        status = status or 120  # as Python's own exit does when it cannot flush stdout
    os._exit(status)


def _flushed(stream: TextIO | None) -> bool:
    if stream is None or stream.closed:  # `fpack ... >&-`: nothing to flush, as Python's exit
        return True
    try:
        stream.flush()
    except (OSError, ValueError):  # a closed pipe: `fpack ... | head`
        return False
    return True


if __name__ == "__main__":
    entry()
