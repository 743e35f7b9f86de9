"""fpack: package one portable Python function for AWS Lambda, Google Cloud Functions and Docker.

User code imports the portable API from here. This file imports fpack.runtime and nothing else:
it is copied into every artifact together with fpack/runtime/.
"""

from __future__ import annotations

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
