"""`fpack init`: a new project from templates/init, never overwriting the user's files.

`fpack init --monorepo` scaffolds a uv workspace instead (templates/init/monorepo): two functions,
each in a directory of its own and a workspace member, both calling one shared library
(libs/common, a hatchling src-layout project), with the workspace's uv.lock written from a template
too, so that the scaffold builds at once, offline and without running uv.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from fpack.errors import UsageError
from fpack.templating import render

FILES: Final = (
    ("fpack.toml", "init/fpack.toml.j2"),
    ("app.py", "init/app.py.j2"),
    ("requirements.txt", "init/requirements.txt.j2"),
)
# The monorepo's two functions, each a workspace member at services/NAME; and its Python (the
# fpack.toml's, the members' requires-python and the lock's).
SERVICES: Final = ("orders", "payments")
MONOREPO_PYTHON: Final = "3.12"


def monorepo_files() -> tuple[tuple[str, str, dict[str, str]], ...]:
    """(path in the new project, template, the variables beyond the common ones) per file."""
    per_service = tuple(
        (f"services/{s}/{f}", f"init/monorepo/service/{f}.j2", {"service": s})
        for s in SERVICES
        for f in ("pyproject.toml", "app.py")
    )
    return (
        ("fpack.toml", "init/monorepo/fpack.toml.j2", {}),
        ("pyproject.toml", "init/monorepo/pyproject.toml.j2", {}),
        ("uv.lock", "init/monorepo/uv.lock.j2", {}),
        *per_service,
        ("libs/common/pyproject.toml", "init/monorepo/libs/common/pyproject.toml.j2", {}),
        ("libs/common/src/common/__init__.py",
         "init/monorepo/libs/common/src/common/__init__.py.j2", {}),
    )


def init(directory: Path, *, name: str | None = None, monorepo: bool = False) -> list[Path]:
    """Write the scaffold into `directory` (created if need be) and return the files written, in
    order. Raises UsageError naming the first file that already exists, before writing any."""
    directory = directory.resolve()
    files: tuple[tuple[str, str, dict[str, str]], ...] = (
        monorepo_files() if monorepo else tuple((f, t, {}) for f, t in FILES)
    )
    existing = [directory / f for f, _, _ in files if (directory / f).exists()]
    if existing:
        raise UsageError(
            f"{existing[0]} already exists; fpack init never overwrites files",
            hint="run it in an empty directory, or remove the file first",
        )
    name = project_name(directory, name)
    common: dict[str, Any] = {"name": name}
    if monorepo:
        common |= {"services": list(SERVICES), "python": MONOREPO_PYTHON}
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for filename, template, extra in files:
        path = directory / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, **common, **extra), encoding="utf-8")
        created.append(path)
    return created


def project_name(directory: Path, name: str | None) -> str:
    """The name given, else the directory's, made a valid project name."""
    name = name or re.sub(r"[^A-Za-z0-9_-]", "-", directory.name).strip("-") or "app"
    if not name[0].isalpha():
        name = f"fn-{name}"
    return name
