"""`fpack init`: a new project from templates/init, never overwriting the user's files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fpack.errors import UsageError
from fpack.templating import render

FILES: Final = (
    ("fpack.toml", "init/fpack.toml.j2"),
    ("app.py", "init/app.py.j2"),
    ("requirements.txt", "init/requirements.txt.j2"),
)


def init(directory: Path, *, name: str | None = None) -> list[Path]:
    directory = directory.resolve()
    existing = [directory / f for f, _ in FILES if (directory / f).exists()]
    if existing:
        raise UsageError(
            f"{existing[0]} already exists; fpack init never overwrites files",
            hint="run it in an empty directory, or remove the file first",
        )
    name = name or re.sub(r"[^A-Za-z0-9_-]", "-", directory.name).strip("-") or "app"
    if not name[0].isalpha():
        name = f"fn-{name}"
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for filename, template in FILES:
        path = directory / filename
        path.write_text(render(template, name=name), encoding="utf-8")
        created.append(path)
    return created
