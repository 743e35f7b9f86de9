"""A FastAPI app: path parameters, a pydantic request model, a binary (PNG) response, a cookie,
and a lifespan start-up hook whose state every request sees."""

import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Optional  # FastAPI reads annotations at run time: no X | None on 3.9

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

STARTS: list[int] = []  # one entry per lifespan start-up in this process


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    STARTS.append(1)
    app.state.warehouse = "north"
    yield {"currency": "EUR"}  # copied into each request's state


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/items/{item_id}")
def read_item(item_id: int, q: Optional[str] = None) -> dict[str, object]:  # noqa: UP045
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
def create_item(item: Item, request: Request) -> dict[str, object]:
    return {"item": item.model_dump(), "currency": request.state.currency,
            "warehouse": request.app.state.warehouse, "starts": len(STARTS)}


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@app.get("/image.png")
def image(size: int = 4) -> Response:
    return Response(content=_png(size, size), media_type="image/png")


@app.post("/login")
def login(response: Response) -> dict[str, bool]:
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark")
    return {"ok": True}


@app.get("/whoami")
def whoami(request: Request) -> dict[str, Optional[str]]:  # noqa: UP045
    return {"session": request.cookies.get("session"), "root_path": request.scope["root_path"],
            "url": request.url_for("read_item", item_id=1).path}
