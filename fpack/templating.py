"""Rendering the jinja2 templates in templates/ (entry shims, Dockerfiles, the init scaffold)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2


def template_dir() -> Path:
    """templates/ beside the package in a checkout, or fpack/templates in an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("fpack's templates/ directory is missing: reinstall fpack")


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - we render Python, TOML and Dockerfiles, never HTML
    )


def render(template: str, /, **context: Any) -> str:
    return _env().get_template(template).render(**context)
