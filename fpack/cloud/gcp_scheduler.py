"""A typed adapter over Cloud Scheduler v1 and Pub/Sub v1 (REST) for `fpack deploy --target gcp`:
the job that fires a schedule function, and the topic that job publishes to.

No SDK beyond google-auth, whose `AuthorizedSession` (requests, imported lazily in `connect`)
signs each call. Credentials as GcpClient's: Application Default Credentials, or anonymous ones
for a plain-http loopback endpoint only (`anonymous_if_loopback`, shared). Endpoints follow an
overridden Cloud Functions endpoint (`endpoints_for`). 429, 500 and 503 are retried with the
injected `sleep`; every message is scrubbed of secrets before it is raised as a DeployError.
- Jobs: https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs
- Topics: https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.topics
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from fpack.cloud.google_api import anonymous_if_loopback
from fpack.cloud.safety import Backoff, Secrets
from fpack.errors import DeployError

Sleep = Callable[[float], None]
SCHEDULER: Final = "https://cloudscheduler.googleapis.com"
PUBSUB: Final = "https://pubsub.googleapis.com"
SCOPES: Final = ("https://www.googleapis.com/auth/cloud-platform",)
TRANSIENT: Final = (429, 500, 503)
TIMEOUT: Final = 60  # seconds per request: these are small JSON calls
HINTS: Final = {
    "Cloud Scheduler": "enable the API (gcloud services enable cloudscheduler.googleapis.com) and "
                       "let the deploying account manage jobs (roles/cloudscheduler.admin)",
    "Pub/Sub": "enable the API (gcloud services enable pubsub.googleapis.com) and let the "
               "deploying account create topics (roles/pubsub.editor)",
}


@dataclass(frozen=True, kw_only=True)
class Job:
    """What fpack sets on a Cloud Scheduler job, and reads back to compare."""

    schedule: str  # unix-cron
    time_zone: str
    topic: str  # projects/P/topics/T
    data: str  # the message payload, base64 (as the API carries it)
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    scheduler: str  # scheme://host[:port], no path
    pubsub: str


class Response(Protocol):
    """What is read of a requests.Response."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class Session(Protocol):
    """What is used of google-auth's AuthorizedSession (a requests.Session)."""

    def request(self, method: str, url: str, **kwargs: Any) -> Response: ...


def endpoints_for(functions: str | None) -> Endpoints:
    """Google's endpoints, or ones derived from an overridden Cloud Functions endpoint: a private
    `...cloudfunctions...` host becomes the same host for each API; anything else (an emulator,
    the tests' fake) serves all three APIs itself."""
    if functions is None:
        return Endpoints(scheduler=SCHEDULER, pubsub=PUBSUB)
    parts = urlsplit(functions if "://" in functions else f"https://{functions}")
    host = parts.hostname or ""

    def base(api: str) -> str:
        netloc = parts.netloc.replace(host, host.replace("cloudfunctions", api))
        return f"{parts.scheme}://{netloc}"

    return Endpoints(scheduler=base("cloudscheduler"), pubsub=base("pubsub"))


class SchedulerClient:
    def __init__(self, session: Session, endpoints: Endpoints, *, sleep: Sleep = time.sleep,
                 backoff: Backoff | None = None, secrets: Secrets | None = None) -> None:
        self.session = session
        self.endpoints = endpoints
        self.sleep = sleep
        self.backoff = backoff or Backoff()
        self.secrets = secrets or Secrets()

    @classmethod
    def connect(cls, endpoint: str | None, *, secrets: Secrets | None = None,
                sleep: Sleep = time.sleep) -> SchedulerClient:
        """A client for the APIs beside the Cloud Functions `endpoint` (None: Google's)."""
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415 - heavy

        session = AuthorizedSession(_credentials(endpoint))  # type: ignore[no-untyped-call]
        return cls(session, endpoints_for(endpoint), sleep=sleep, secrets=secrets)

    def get_job(self, name: str) -> Job | None:
        status, body = self._send("Cloud Scheduler", f"get job {name}", "GET",
                                  f"{self.endpoints.scheduler}/v1/{name}", accept=(404,))
        return None if status == 404 else job_of(body)

    def create_job(self, parent: str, job_id: str, job: Job) -> Job:
        name = f"{parent}/jobs/{job_id}"
        _, body = self._send("Cloud Scheduler", f"create job {name}", "POST",
                             f"{self.endpoints.scheduler}/v1/{parent}/jobs",
                             json=job_body(name, job))
        return job_of(body)

    def update_job(self, name: str, job: Job, mask: tuple[str, ...]) -> Job:
        _, body = self._send("Cloud Scheduler", f"update job {name}", "PATCH",
                             f"{self.endpoints.scheduler}/v1/{name}",
                             params={"updateMask": ",".join(mask)}, json=job_body(name, job))
        return job_of(body)

    def delete_job(self, name: str) -> None:
        """Delete a job; one already gone (404) counts as done."""
        self._send("Cloud Scheduler", f"delete job {name}", "DELETE",
                   f"{self.endpoints.scheduler}/v1/{name}", accept=(404,))

    def topic_exists(self, topic: str) -> bool:
        status, _ = self._send("Pub/Sub", f"get topic {topic}", "GET",
                               f"{self.endpoints.pubsub}/v1/{topic}", accept=(404,))
        return status != 404

    def create_topic(self, topic: str) -> None:
        """Create `topic`; one that exists already (409, e.g. made meanwhile) is fine."""
        self._send("Pub/Sub", f"create topic {topic}", "PUT",
                   f"{self.endpoints.pubsub}/v1/{topic}", accept=(409,), json={})

    def _send(self, api: str, what: str, method: str, url: str, *, accept: tuple[int, ...] = (),
              **kwargs: Any) -> tuple[int, Any]:
        """One call, retried on 429/500/503: (status, JSON body) for a 2xx or an `accept`ed
        status; any other status is a DeployError naming the API, the call and Google's reason."""
        for delay in (*self.backoff.delays()[:8], None):
            response = self._request(api, what, method, url, **kwargs)
            if response.status_code in TRANSIENT and delay is not None:
                self.sleep(delay)
                continue
            if response.status_code < 300 or response.status_code in accept:
                return response.status_code, _json(response)
            raise DeployError(f"{api}: {what} failed: HTTP {response.status_code} "
                              f"{self.secrets.scrub(_reason(response))}", hint=HINTS[api])
        raise AssertionError("unreachable: the last attempt raises or returns")

    def _request(self, api: str, what: str, method: str, url: str, **kwargs: Any) -> Response:
        from requests.exceptions import RequestException  # noqa: PLC0415 - with google-auth

        try:
            return self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except RequestException as e:
            raise DeployError(f"{api}: {what} failed: {self.secrets.scrub(str(e))}",
                              hint=f"check the network path to {urlsplit(url).netloc}") from e


def _credentials(endpoint: str | None) -> Any:
    """Anonymous for a plain-http loopback endpoint (refusing plain http elsewhere), else ADC."""
    if endpoint is not None and (anonymous := anonymous_if_loopback(endpoint)) is not None:
        return anonymous
    import google.auth  # noqa: PLC0415 - heavy; only deploy pays for it
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as e:
        raise DeployError("no Google credentials (Application Default Credentials)",
                          hint="run `gcloud auth application-default login`, or set "
                          "GOOGLE_APPLICATION_CREDENTIALS to a key file") from e
    return credentials


def job_body(name: str, job: Job) -> dict[str, Any]:
    """The REST Job resource fpack sends (camelCase, as the JSON API spells it)."""
    return {"name": name, "description": job.description, "schedule": job.schedule,
            "timeZone": job.time_zone,
            "pubsubTarget": {"topicName": job.topic, "data": job.data}}


def job_of(body: Any) -> Job:
    """A REST Job resource as the fields fpack compares (others, e.g. state, are left alone)."""
    target = body.get("pubsubTarget") or {}
    return Job(schedule=str(body.get("schedule", "")), time_zone=str(body.get("timeZone", "")),
               topic=str(target.get("topicName", "")), data=str(target.get("data", "")),
               description=str(body.get("description", "")))


def _json(response: Response) -> Any:
    try:
        return response.json() if response.text else {}
    except ValueError:
        return {}


def _reason(response: Response) -> str:
    """Google's error as `STATUS: message`, else the body's start."""
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('status', '')}: {error['message']}".lstrip(": ")
    return response.text[:300]
