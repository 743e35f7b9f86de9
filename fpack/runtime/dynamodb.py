"""DynamoDB JSON → plain Python values, with the standard library only (no boto3 in artifacts).

DynamoDB Streams deliver item images in DynamoDB's typed JSON: every value is a one-key object
naming its type ({"S": "a"}, {"N": "1.5"}, {"M": {...}}). The data types, as documented:
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html

- S → str; N → int when the number is written as an integer, else Decimal (never float: DynamoDB
  numbers have 38 digits of precision, and a float would silently round them; boto3's
  TypeDeserializer gives Decimal too);
- B → bytes (base64 in the JSON); BOOL → bool; NULL → None;
- M → dict; L → list; SS / NS / BS → set of str / numbers / bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from fpack.runtime.core import EventShapeError

_INTEGER = re.compile(r"[+-]?\d+")


def item(image: object) -> dict[str, Any]:
    """An item image ({"name": {"S": "a"}, ...}) as {"name": "a", ...}."""
    if not isinstance(image, dict):
        raise EventShapeError(f"fpack: expected a DynamoDB item image (an object), got "
                              f"a {type(image).__name__}")
    return {str(name): value(typed, name) for name, typed in image.items()}


def value(typed: object, name: object = "?") -> Any:
    """One attribute value ({"N": "7"}) as a plain Python value (7)."""
    if not isinstance(typed, dict) or len(typed) != 1:
        raise EventShapeError(f'fpack: the DynamoDB attribute "{name}" is not a typed value '
                              '(an object with one key naming its type, e.g. {"S": "text"})')
    ((kind, raw),) = typed.items()
    convert = _CONVERTERS.get(kind)
    if convert is None:
        raise EventShapeError(f'fpack: the DynamoDB attribute "{name}" has type "{kind}"; '
                              f"expected one of {', '.join(_CONVERTERS)}")
    return convert(raw, name)


def number(text: object, name: object = "?") -> int | Decimal:
    """A DynamoDB number: int when written as one, else Decimal (exact, as DynamoDB stores it)."""
    if isinstance(text, str) and _INTEGER.fullmatch(text.strip()):
        return int(text)
    try:
        return Decimal(str(text))
    except InvalidOperation:
        raise EventShapeError(f'fpack: the DynamoDB attribute "{name}" is not a number') from None


def _binary(text: object, name: object = "?") -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise EventShapeError(f'fpack: the DynamoDB attribute "{name}" is marked binary (B) but '
                              "is not base64") from None


def _map(raw: object, name: object) -> dict[str, Any]:
    return item(raw)


def _list(raw: object, name: object) -> list[Any]:
    return [value(v, f"{name}[{i}]") for i, v in enumerate(_array(raw, name))]


def _array(raw: object, name: object) -> list[Any]:
    if not isinstance(raw, list):
        raise EventShapeError(f'fpack: the DynamoDB attribute "{name}" should hold a list')
    return raw


_CONVERTERS: dict[str, Callable[[Any, object], Any]] = {
    "S": lambda raw, name: str(raw),
    "N": number,
    "B": _binary,
    "BOOL": lambda raw, name: bool(raw),
    "NULL": lambda raw, name: None,
    "M": _map,
    "L": _list,
    "SS": lambda raw, name: {str(v) for v in _array(raw, name)},
    "NS": lambda raw, name: {number(v, name) for v in _array(raw, name)},
    "BS": lambda raw, name: {_binary(v, name) for v in _array(raw, name)},
}
