"""fpack's own modules compiled to bytecode before anything is timed, as an installed fpack's are
(pip compiles a wheel's modules when it installs them). In a checkout they may not be: with
PYTHONDONTWRITEBYTECODE set, every module edited since its pyc was written is compiled again on
every run, which here cost each `fpack build` 0.06 s after ten modules were edited."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure(python: str) -> None:
    """Write the missing or stale pycs of fpack/ with `python` (the interpreter that runs it)."""
    done = subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "fpack")],
                          capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"compiling fpack's modules failed:\n{done.stdout}{done.stderr}")
