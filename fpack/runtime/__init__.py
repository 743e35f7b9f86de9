"""fpack's runtime: the portable API and one adapter per platform (aws, gcp, server).

Standard library only, and nothing from the rest of fpack: this package is copied into every
artifact. Importing it loads only the API; each platform's entry shim imports its own adapter.
"""

from __future__ import annotations

from fpack.runtime.api import (
    Headers,
    Message,
    Query,
    Record,
    Request,
    Response,
    ScheduleEvent,
    StorageEvent,
)

__all__ = [
    "Headers",
    "Message",
    "Query",
    "Record",
    "Request",
    "Response",
    "ScheduleEvent",
    "StorageEvent",
]
