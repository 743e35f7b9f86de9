"""The portable API that user functions see: requests, responses and the event kinds.

Standard library only, and no import from the rest of fpack: this module is copied into every
artifact and imported on every cold start. The adapters (aws.py, gcp.py, server.py) build these
objects from what each platform delivers; user code only reads them (and builds Responses).
Dataclasses are frozen so that a handler cannot change what the adapter later reads back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, cast, overload

_T = TypeVar("_T")

# What Headers() and Query() accept: pairs (repeats allowed), or a mapping whose values are a
# string or a list of strings (the shape of API Gateway's multiValue* fields).
PairsInput = Union[
    "_MultiMap", Mapping[str, Union[str, Sequence[str]]], Iterable[tuple[str, str]], None
]
StorageKind = Literal["created", "deleted"]
ChangeKind = Literal["insert", "modify", "remove"]  # a DynamoDB stream record's eventName, lowered

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"
_STATUS_MIN, _STATUS_MAX = 100, 599


def _pairs(source: PairsInput) -> list[tuple[str, str]]:
    if source is None:
        return []
    if isinstance(source, _MultiMap):
        return source.items()
    if isinstance(source, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in source.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((str(name), str(v)) for v in values)
        return pairs
    return [(str(name), str(value)) for name, value in source]


class _MultiMap:
    """Ordered name/value pairs, repeats allowed; lookups return the first value."""

    __slots__ = ("_index", "_items")

    def __init__(self, source: PairsInput = None) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(_pairs(source))
        index: dict[str, list[str]] = {}
        for name, value in self._items:
            index.setdefault(self._fold(name), []).append(value)
        self._index = index

    @staticmethod
    def _fold(name: str) -> str:
        return name

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """The first value for name, or default."""
        values = self._index.get(self._fold(name))
        return values[0] if values else default

    def getall(self, name: str) -> list[str]:
        """Every value for name, in order; [] when absent."""
        return list(self._index.get(self._fold(name), ()))

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in order, repeats included, names as received."""
        return list(self._items)

    def keys(self) -> list[str]:
        """Each distinct name once, spelled as first received."""
        seen: dict[str, str] = {}
        for name, _ in self._items:
            seen.setdefault(self._fold(name), name)
        return list(seen.values())

    def __getitem__(self, name: str) -> str:
        values = self._index.get(self._fold(name))
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._fold(name) in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _MultiMap) and type(other) is type(self):
            return self._index == other._index
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal maps must hash alike; they are not immutable keys

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items)!r})"


class Headers(_MultiMap):
    """HTTP headers: case-insensitive names, repeated headers kept (see getall)."""

    __slots__ = ()

    @staticmethod
    def _fold(name: str) -> str:
        return name.lower()


class Query(_MultiMap):
    """Query-string parameters (decoded): .get gives the first value, .getall every value."""

    __slots__ = ()


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


@dataclass(frozen=True)
class Request:
    """An HTTP request, the same on every platform. .raw is what the platform delivered."""

    method: str
    path: str
    query: Query = field(default_factory=Query)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    cookies: Mapping[str, str] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The body decoded with the Content-Type charset (UTF-8 when none); strict decoding."""
        return self.body.decode(_charset(self.headers.get("content-type")))

    def json(self) -> Any:  # JSON is any shape; the caller narrows it
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.text)


def _with_default_type(headers: PairsInput, content_type: str) -> Headers:
    result = Headers(headers)
    if "content-type" in result:
        return result
    return Headers([*result.items(), ("Content-Type", content_type)])


@dataclass(frozen=True)
class Response:
    """An HTTP response. cookies are Set-Cookie values, e.g. "sid=1; Path=/; HttpOnly"."""

    status: int = 200
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    cookies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Lenient about what people pass (a dict of headers, a list of cookies, a bytearray),
        # strict about what the adapters later read.
        headers: object = self.headers
        if not isinstance(headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        object.__setattr__(self, "cookies", tuple(self.cookies))
        body: object = self.body
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"Response.body must be bytes, got {type(body).__name__}")
        object.__setattr__(self, "body", bytes(body))
        status: object = self.status
        valid = isinstance(status, int) and not isinstance(status, bool)
        if not (valid and _STATUS_MIN <= cast(int, status) <= _STATUS_MAX):
            raise ValueError(f"Response.status must be an int from 100 to 599, got {status!r}")

    @classmethod
    def json(
        cls, obj: object, status: int = 200, headers: PairsInput = None, cookies: Sequence[str] = ()
    ) -> Response:
        """obj serialised as compact UTF-8 JSON, Content-Type application/json."""
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, _with_default_type(headers, JSON_TYPE), body, tuple(cookies))

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        headers: PairsInput = None,
        cookies: Sequence[str] = (),
        content_type: str = TEXT_TYPE,
    ) -> Response:
        """text encoded as UTF-8, Content-Type text/plain (or content_type, e.g. text/html)."""
        body = text.encode("utf-8")
        return cls(status, _with_default_type(headers, content_type), body, tuple(cookies))

    @classmethod
    def redirect(cls, location: str, status: int = 302, headers: PairsInput = None) -> Response:
        """A redirect to location (302 by default; 301, 303, 307 and 308 work too)."""
        return cls(status, Headers([*Headers(headers).items(), ("Location", location)]))

    @classmethod
    def from_value(cls, value: object) -> Response:
        """What an http handler returned, as a Response (see the portable handler contract)."""
        if isinstance(value, Response):
            return value
        if isinstance(value, (dict, list)):
            return cls.json(value)
        if isinstance(value, str):
            return cls.text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls(200, Headers([("Content-Type", BINARY_TYPE)]), bytes(value))
        if value is None:
            return cls(204)
        raise TypeError(
            "an http handler must return fpack.Response, dict, list, str, bytes or None, "
            f"got {type(value).__name__}"
        )

    def header_items(self) -> list[tuple[str, str]]:
        """Every header to send, one Set-Cookie per cookie included."""
        return [*self.headers.items(), *(("Set-Cookie", c) for c in self.cookies)]


@dataclass(frozen=True)
class StorageEvent:
    """An object was created (or overwritten) or deleted in a bucket. size is None on delete."""

    bucket: str
    key: str
    size: int | None
    kind: StorageKind
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Message:
    """One queue message (SQS, Pub/Sub). attributes are the sender's string attributes."""

    id: str
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """data decoded as UTF-8 (strict)."""
        return self.data.decode("utf-8")

    def json(self) -> Any:  # JSON is any shape; the caller narrows it
        """data parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.data)


@dataclass(frozen=True)
class ScheduleEvent:
    """A scheduled run. time is when it was scheduled (or published), timezone-aware UTC."""

    time: datetime
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Record:
    """One record of a stream batch (Kinesis, DynamoDB Streams), handed to the handler in order.

    id is the record's sequence number. Kinesis: key is the partition key, data the payload
    (base64-decoded), kind/new/old are None. DynamoDB: key is the item's primary key, new and old
    its images (either may be None, by the stream's view type and the change), all as plain
    Python values (N → int or Decimal, B → bytes, SS/NS/BS → set), data is empty. time is when the
    record reached the stream (timezone-aware UTC), None when the platform gave none.
    """

    id: str
    key: str | Mapping[str, Any]
    data: bytes = b""
    kind: ChangeKind | None = None
    new: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None
    time: datetime | None = None
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """data decoded as UTF-8 (strict)."""
        return self.data.decode("utf-8")

    def json(self) -> Any:  # JSON is any shape; the caller narrows it
        """data parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.data)
