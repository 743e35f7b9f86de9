"""Event functions: a storage trigger that draws a thumbnail with Pillow, a queue consumer and a
schedule tick. They write their results under $PHOTOS_OUT (default /tmp/photos) so a test can see
the side effects."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

import fpack


def _out() -> Path:
    path = Path(os.environ.get("PHOTOS_OUT", "/tmp/photos"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def thumbnail(event: fpack.StorageEvent) -> None:
    """Draw a 32x32 thumbnail whose colour comes from the object's key."""
    if event.kind == "deleted":
        (_out() / "deleted.txt").open("a").write(f"{event.bucket}/{event.key}\n")
        return
    rgb = hashlib.sha256(event.key.encode()).digest()[:3]
    pixels = np.full((32, 32, 3), list(rgb), dtype=np.uint8)
    name = event.key.replace("/", "_") + ".png"
    Image.fromarray(pixels).save(_out() / name)


class Order(BaseModel):
    id: int
    photos: list[str]


def consume(message: fpack.Message) -> None:
    """Record a valid order; an invalid one raises, so the queue retries only that message."""
    order = Order.model_validate_json(message.data)
    with (_out() / "orders.jsonl").open("a") as f:
        f.write(json.dumps({"id": order.id, "count": len(order.photos)}) + "\n")


def tick(event: fpack.ScheduleEvent) -> None:
    (_out() / "ticks.txt").open("a").write(event.time.isoformat() + "\n")
