"""A typed adapter over google-cloud-functions (v2, REST transport) for `fpack deploy --target gcp`.

The SDK is imported lazily, in `connect`. Credentials are Application Default Credentials, except
for a plain-http endpoint on loopback (a local emulator or the tests' fake), which gets anonymous
credentials; anonymous credentials are refused anywhere else. The endpoint is
`[targets.gcp] api_endpoint`, else FPACK_GCP_API_ENDPOINT, else Google's. Transient errors (429,
500, 503) and the long-running operations are retried/polled here with the injected `sleep`.
Functions are listed by label (`labeled`) and deleted (`delete`) only for --prune.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from fpack.cloud.google_api import (  # noqa: F401 - anonymous_if_loopback: its users' name
    GoogleApi,
    Sleep,
    anonymous_if_loopback,
    sdk_client,
)
from fpack.cloud.safety import Secrets
from fpack.errors import DeployError

# What Cloud Functions (and Cloud Run) report for a max instance count nobody set: a function
# whose fpack.toml sets none is left alone at it, rather than patched on every deploy.
DEFAULT_MAX_INSTANCES: Final = 100


@dataclass(frozen=True, kw_only=True)
class Trigger:
    event_type: str
    region: str
    pubsub_topic: str | None = None
    bucket: str | None = None


@dataclass(frozen=True, kw_only=True)
class FunctionConfig:
    """What fpack sets on a Cloud Function, and reads back to compare."""

    runtime: str
    entry_point: str
    build_env: Mapping[str, str] = field(default_factory=dict)
    memory: str = "256M"
    timeout: int = 60
    env: Mapping[str, str] = field(default_factory=dict)
    max_instances: int | None = None
    min_instances: int | None = None  # kept warm; None: scale to zero
    trigger: Trigger | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LiveFunction:
    name: str
    config: FunctionConfig
    url: str | None
    state: str


def endpoint_for(configured: str | None, environ: Mapping[str, str]) -> str | None:
    return configured or environ.get("FPACK_GCP_API_ENDPOINT") or None


class GcpClient(GoogleApi):
    PRODUCT = "Cloud Functions"

    @classmethod
    def connect(cls, endpoint: str | None, *, secrets: Secrets | None = None,
                sleep: Sleep = time.sleep) -> GcpClient:
        from google.cloud import functions_v2  # noqa: PLC0415 - heavy; only deploy pays for it

        sdk = sdk_client(functions_v2.FunctionServiceClient, endpoint,
                         "[targets.gcp] api_endpoint")
        return cls(sdk, sleep=sleep, secrets=secrets)

    def get(self, name: str) -> LiveFunction | None:
        got = self.find(f"get {name}", self.sdk.get_function, request={"name": name})
        return None if got is None else _live(got)

    def labeled(self, parent: str, key: str, value: str) -> list[LiveFunction]:
        """The functions under `parent` whose label `key` is `value` (AIP-160 filter; the labels
        are checked again here, so a looser filter on the server side cannot widen the set)."""
        request = {"parent": parent, "filter": f'labels.{key}="{value}"'}
        found = self.call(f"list functions in {parent}",
                          lambda: list(self.sdk.list_functions(request=request)))
        return [_live(f) for f in found if f.labels.get(key) == value]

    def delete(self, name: str) -> None:
        """Delete a function and wait for it; one already gone counts as done."""
        self.remove(f"delete {name}", self.sdk.delete_function, request={"name": name})

    def upload(self, parent: str, bundle: Path) -> dict[str, str]:
        """Upload a bundle to a fresh signed URL; returns the storage source to build from."""
        got = self.call("generateUploadUrl", self.sdk.generate_upload_url,
                        request={"parent": parent})
        put_bundle(got.upload_url, bundle, secrets=self.secrets)
        source = got.storage_source
        return {"bucket": source.bucket, "object_": source.object_}

    def create(self, parent: str, function_id: str, config: FunctionConfig,
               source: dict[str, str]) -> LiveFunction:
        body = _function_body(f"{parent}/functions/{function_id}", config, source)
        op = self.call(f"create {function_id}", self.sdk.create_function,
                       request={"parent": parent, "function": body, "function_id": function_id})
        return self._wait(f"create {function_id}", op)

    def update(self, name: str, config: FunctionConfig, source: dict[str, str] | None,
               mask: tuple[str, ...]) -> LiveFunction:
        body = _function_body(name, config, source)
        op = self.call(f"update {name}", self.sdk.update_function,
                       request={"function": body, "update_mask": {"paths": list(mask)}})
        return self._wait(f"update {name}", op)

    def _wait(self, what: str, op: Any) -> LiveFunction:
        """Poll the long-running operation with our sleep, then take its result."""
        return _live(self.finish(what, op))



def instances_differ(want: int | None, have: int | None, default: int | None = None) -> bool:
    """Whether a live instance count must change: an unset `want` accepts unset or `default`."""
    if want is None:
        return have is not None and have != default
    return want != have


def put_bundle(url: str, bundle: Path, *, secrets: Secrets) -> None:
    """PUT the zip to a signed upload URL (the URL itself is the credential: never shown)."""
    request = urllib.request.Request(url, data=bundle.read_bytes(), method="PUT",  # noqa: S310
                                     headers={"content-type": "application/zip"})
    where = urlsplit(url).netloc
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 - the API's URL
            response.read()
    except urllib.error.HTTPError as e:
        raise DeployError(f"uploading {bundle.name} to {where} failed: HTTP {e.code} "
                          f"{secrets.scrub(e.reason)}") from e
    except OSError as e:
        raise DeployError(f"uploading {bundle.name} to {where} failed: {e}") from e


def _function_body(name: str, c: FunctionConfig, source: dict[str, str] | None) -> dict[str, Any]:
    build: dict[str, Any] = {"runtime": c.runtime, "entry_point": c.entry_point,
                             "environment_variables": dict(c.build_env)}
    if source is not None:
        build["source"] = {"storage_source": source}
    service: dict[str, Any] = {"available_memory": c.memory, "timeout_seconds": c.timeout,
                               "environment_variables": dict(c.env)}
    # Left out (None), a count in the update mask is cleared: the platform's default again.
    if c.max_instances is not None:
        service["max_instance_count"] = c.max_instances
    if c.min_instances is not None:
        service["min_instance_count"] = c.min_instances
    body: dict[str, Any] = {"name": name, "build_config": build, "service_config": service}
    if c.labels:
        body["labels"] = dict(c.labels)
    if c.trigger is not None:
        body["event_trigger"] = _trigger_body(c.trigger)
    return body


def _trigger_body(t: Trigger) -> dict[str, Any]:
    body: dict[str, Any] = {"event_type": t.event_type, "trigger_region": t.region}
    if t.pubsub_topic:
        body["pubsub_topic"] = t.pubsub_topic
    if t.bucket:
        body["event_filters"] = [{"attribute": "bucket", "value": t.bucket}]
    return body


def _live(f: Any) -> LiveFunction:
    trigger = None
    if f.event_trigger and f.event_trigger.event_type:
        et = f.event_trigger
        bucket = next((x.value for x in et.event_filters if x.attribute == "bucket"), None)
        trigger = Trigger(event_type=et.event_type, region=et.trigger_region,
                          pubsub_topic=et.pubsub_topic or None, bucket=bucket)
    sc = f.service_config
    config = FunctionConfig(
        runtime=f.build_config.runtime, entry_point=f.build_config.entry_point,
        build_env=dict(f.build_config.environment_variables), memory=sc.available_memory,
        timeout=sc.timeout_seconds, env=dict(sc.environment_variables),
        max_instances=sc.max_instance_count or None, min_instances=sc.min_instance_count or None,
        trigger=trigger, labels=dict(f.labels),
    )
    return LiveFunction(name=f.name, config=config, url=sc.uri or None, state=f.state.name)
