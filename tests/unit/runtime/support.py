"""Shared helpers for the runtime tests: loading the golden event samples under tests/events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(platform: str, name: str) -> Any:  # JSON of any shape
    """tests/events/<platform>/<name>.json, parsed."""
    return json.loads((EVENTS / platform / f"{name}.json").read_text(encoding="utf-8"))
