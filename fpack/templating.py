"""Rendering the jinja2 templates in templates/ (entry shims, Dockerfiles, the init scaffold).

A build renders the same few small templates with the same values every time it runs, and
importing Jinja2 and compiling a template costs about 45 ms here, a tenth of a build that finds
everything else cached. Given a cache, `render` keeps each output under `rendered/`, keyed by
the template's bytes, the values and the Jinja2 installed: Jinja2 is imported only to render
something new.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import jinja2

    from fpack.deps.cache import Cache

RENDER_FORMAT: Final = "1"  # bump when render's output for the same key could change


def template_dir() -> Path:
    """templates/ beside the package in a checkout, or fpack/templates in an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("fpack's templates/ directory is missing: reinstall fpack")


@functools.cache
def _env() -> jinja2.Environment:
    import jinja2  # noqa: PLC0415 - imported to render something new, not for every build

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - we render Python, TOML and Dockerfiles, never HTML
    )


def render(template: str, cache: Cache | None = None, /, **context: Any) -> str:
    """`template` rendered with `context`; from `cache` when it was rendered so before."""
    if cache is None:
        return _env().get_template(template).render(**context)
    try:
        values = json.dumps(context, sort_keys=True)
    except TypeError:  # a value JSON cannot spell: no key for it, rendered every time
        return _env().get_template(template).render(**context)
    key = hashlib.sha256("\0".join((
        RENDER_FORMAT, template, _template_digest(template), values, _jinja_release(),
    )).encode()).hexdigest()[:32]
    path = cache.file("rendered", key, ".txt")
    try:
        text = path.read_bytes().decode("utf-8")  # bytes: the text exactly as rendered
    except (OSError, UnicodeDecodeError):  # not rendered yet, or gone since (gc)
        pass
    else:
        cache.use(path)  # for `fpack cache gc`: used now
        return text
    text = _env().get_template(template).render(**context)
    cache.write_file("rendered", key, ".txt", text.encode())
    return text


@functools.cache
def _template_digest(template: str) -> str:
    return hashlib.sha256((template_dir() / template).read_bytes()).hexdigest()


@functools.cache
def _jinja_release() -> str:
    """The installed Jinja2's dist-info name (its version), found without importing it."""
    spec = importlib.util.find_spec("jinja2")
    if spec is None or spec.origin is None:
        return ""
    site = Path(spec.origin).parent.parent
    return ",".join(sorted(p.name for p in site.glob("[jJ]inja2-*.dist-info")))
