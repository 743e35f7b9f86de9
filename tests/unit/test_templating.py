"""Rendered templates kept in the cache: Jinja2 is imported only to render something new
(fpack/templating.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import templating
from fpack.deps.cache import Cache

VALUES = {"name": "hello", "module": "app", "handler": "hello", "attr": "handler",
          "module_name": "fpack_entry", "trigger": "http", "style": "portable", "base_path": ""}


def test_a_render_seen_before_comes_from_the_cache(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path)
    first = templating.render("aws_entry.py.j2", cache, **VALUES)
    assert first == templating.render("aws_entry.py.j2", **VALUES)  # the same text either way

    def no_jinja() -> None:
        raise AssertionError("Jinja2 was asked to render what the cache holds")

    monkeypatch.setattr(templating, "_env", no_jinja)
    assert templating.render("aws_entry.py.j2", cache, **VALUES) == first
    with pytest.raises(AssertionError):  # another value: rendered afresh
        templating.render("aws_entry.py.j2", cache, **{**VALUES, "name": "other"})


def test_the_key_covers_the_template_and_jinja2(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path)
    templating.render("aws_entry.py.j2", cache, **VALUES)
    monkeypatch.setattr(templating, "_template_digest", lambda _t: "edited")
    templating.render("aws_entry.py.j2", cache, **VALUES)
    monkeypatch.setattr(templating, "_jinja_release", lambda: "Jinja2-9.0.dist-info")
    templating.render("aws_entry.py.j2", cache, **VALUES)
    assert len(list((tmp_path / "rendered").glob("*.txt"))) == 3
    assert templating._jinja_release().startswith(("jinja2-", "Jinja2-"))
