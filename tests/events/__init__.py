"""The tests' input events: the samples `fpack invoke --sample` ships (fpack/local/samples/), kept
once, under the names the tests have always used. The expected portable objects stay in the tests
themselves (e.g. tests/unit/runtime/test_aws_events.py), asserted whole.
"""

from __future__ import annotations

import json
from typing import Any

from fpack.local.events import SAMPLES_DIR

# (platform, the tests' name) -> the sample's name in fpack/local/samples/
SAMPLE_OF = {
    ("aws", "apigw_v1"): "apigw-v1",
    ("aws", "apigw_v2"): "apigw-v2",
    ("aws", "function_url"): "function-url",
    ("aws", "s3_put"): "s3",
    ("aws", "s3_delete"): "s3-delete",
    ("aws", "sqs"): "sqs",
    ("aws", "eventbridge_schedule"): "eventbridge",
    ("gcp", "storage_finalized"): "gcs",
    ("gcp", "storage_deleted"): "gcs-delete",
    ("gcp", "pubsub_message"): "pubsub",
    ("gcp", "scheduler_pubsub"): "scheduler",
}


def load(platform: str, name: str) -> Any:  # JSON of any shape
    """The event the tests call `platform`/`name`, parsed from its packaged sample."""
    sample = SAMPLE_OF[platform, name]
    return json.loads((SAMPLES_DIR / f"{sample}.json").read_text(encoding="utf-8"))
