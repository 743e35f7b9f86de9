"""fpack: package one portable Python function for AWS Lambda, Google Cloud Functions and Docker.

User code imports the portable API from here (`from fpack import Request, Response`). This file
imports fpack.runtime and nothing else, and only when one of its names is first asked for
(PEP 562): the command line, which never needs it, starts 50 ms sooner, and so does an up-to-date
build (fpack/stamp.py). It is copied into every artifact together with fpack/runtime/.
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: importing typing alone costs 10 ms, on every start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from fpack.runtime import (
        Headers,
        Message,
        Query,
        Record,
        Request,
        Response,
        ScheduleEvent,
        StorageEvent,
    )

__version__ = "0.1.0"

__all__ = [
    "Headers",
    "Message",
    "Query",
    "Record",
    "Request",
    "Response",
    "ScheduleEvent",
    "StorageEvent",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fpack import runtime  # noqa: PLC0415 - on first use: see the module's docstring

        value = getattr(runtime, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fpack' has no attribute {name!r}")
