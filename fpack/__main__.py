"""`python -m fpack`: the same as the `fpack` command."""

from fpack.cli import run

run()
