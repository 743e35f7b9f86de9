"""Shared helpers for the runtime tests: loading the golden input events (tests/events)."""

from __future__ import annotations

from typing import Any

from tests import events


def load_event(platform: str, name: str) -> Any:  # JSON of any shape
    """The input event the tests call `platform`/`name` (a sample fpack ships), parsed."""
    return events.load(platform, name)
