"""Guest code: the scripts fpack copies into containers and runs there, never on the host.

Each script here runs on the container's own Python (3.9 or newer) or shell, with the standard
library only, and never imports fpack: a container has no fpack installed (DESIGN.md has the
rules; tests/unit/test_guest_code.py keeps them). This module is the host's side of the folder:
where a script is, and its text. It is never copied in.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """Where guest script `name` (e.g. "lambda_rapi.py") is, to copy it into a container."""
    return _HERE / name


def text(name: str) -> str:
    """Guest script `name` as text, byte for byte as in the file, e.g. for `sh -c`."""
    return path(name).read_bytes().decode("utf-8")
