"""The Cloud Scheduler / Pub/Sub adapter against a fake session with declared answers: the URLs
and bodies it sends, retries with the injected sleep, and whole error messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from fpack.cloud.gcp_scheduler import Endpoints, Job, SchedulerClient, endpoints_for
from fpack.cloud.safety import Secrets
from fpack.errors import ConfigError, DeployError

JOB = Job(schedule="*/5 * * * *", time_zone="Etc/UTC", topic="projects/p/topics/t", data="e30=",
          description="fpack")
NAME = "projects/p/locations/r/jobs/j"


@dataclass
class Answer:
    status_code: int
    body: Any = None

    @property
    def text(self) -> str:
        return "" if self.body is None else json.dumps(self.body)

    def json(self) -> Any:
        return self.body


@dataclass
class FakeSession:
    """Answers in order; records (method, url, kwargs)."""

    answers: list[Answer]
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        self.sent.append((method, url, kwargs))
        return self.answers.pop(0)


def client(*answers: Answer, secrets: Secrets | None = None) -> tuple[SchedulerClient, FakeSession,
                                                                      list[float]]:
    session, slept = FakeSession(list(answers)), []
    return (SchedulerClient(session, Endpoints(scheduler="https://s", pubsub="https://p"),
                            sleep=slept.append, secrets=secrets), session, slept)


@pytest.mark.parametrize(("functions", "scheduler", "pubsub"), [
    (None, "https://cloudscheduler.googleapis.com", "https://pubsub.googleapis.com"),
    ("http://127.0.0.1:8123", "http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ("cloudfunctions-psc1.p.googleapis.com", "https://cloudscheduler-psc1.p.googleapis.com",
     "https://pubsub-psc1.p.googleapis.com"),
    ("https://emulator.internal:9000/v2", "https://emulator.internal:9000",
     "https://emulator.internal:9000"),
])
def test_endpoints_follow_the_functions_endpoint(functions: str | None, scheduler: str,
                                                pubsub: str) -> None:
    assert endpoints_for(functions) == Endpoints(scheduler=scheduler, pubsub=pubsub)


def test_create_and_patch_send_the_job_resource() -> None:
    body = {"name": NAME, "description": "fpack", "schedule": "*/5 * * * *",
            "timeZone": "Etc/UTC", "pubsubTarget": {"topicName": "projects/p/topics/t",
                                                    "data": "e30="}}
    c, session, _ = client(Answer(200, {**body, "state": "ENABLED"}), Answer(200, body))
    assert c.create_job("projects/p/locations/r", "j", JOB) == JOB
    assert c.update_job(NAME, JOB, ("schedule", "pubsubTarget")) == JOB
    (m1, u1, k1), (m2, u2, k2) = session.sent
    assert (m1, u1, k1["json"]) == ("POST", "https://s/v1/projects/p/locations/r/jobs", body)
    assert (m2, u2, k2["params"]) == ("PATCH", f"https://s/v1/{NAME}",
                                      {"updateMask": "schedule,pubsubTarget"})


def test_missing_job_and_topic_and_an_existing_topic() -> None:
    c, session, _ = client(Answer(404, {"error": {"code": 404}}), Answer(404),
                           Answer(409, {"error": {"status": "ALREADY_EXISTS"}}))
    assert c.get_job(NAME) is None
    assert not c.topic_exists("projects/p/topics/t")
    c.create_topic("projects/p/topics/t")
    assert [(m, u) for m, u, _ in session.sent] == [
        ("GET", f"https://s/v1/{NAME}"), ("GET", "https://p/v1/projects/p/topics/t"),
        ("PUT", "https://p/v1/projects/p/topics/t")]


def test_transient_errors_are_retried_with_the_injected_sleep() -> None:
    c, session, slept = client(Answer(503), Answer(429), Answer(200, {"name": "t"}))
    assert c.topic_exists("projects/p/topics/t")
    assert (len(session.sent), slept) == (3, [1.0, 2.0])


def test_errors_name_the_api_and_call_scrubbed_with_a_hint() -> None:
    denied = {"error": {"code": 403, "status": "PERMISSION_DENIED",
                        "message": "caller hunter2-secret may not create jobs"}}
    c, _, _ = client(Answer(403, denied), secrets=Secrets(values=("hunter2-secret",)))
    with pytest.raises(DeployError) as info:
        c.create_job("projects/p/locations/r", "j", JOB)
    assert str(info.value) == (
        f"Cloud Scheduler: create job {NAME} failed: HTTP 403 PERMISSION_DENIED: caller *** may "
        "not create jobs\n"
        "  hint: enable the API (gcloud services enable cloudscheduler.googleapis.com) and let the "
        "deploying account manage jobs (roles/cloudscheduler.admin)")


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="plain http is allowed only on loopback"):
        SchedulerClient.connect("http://functions.example.com")


def test_loopback_gets_anonymous_credentials() -> None:
    c = SchedulerClient.connect("http://127.0.0.1:8123")
    assert type(c.session.credentials).__name__ == "AnonymousCredentials"


def test_delete_job_takes_an_absent_job_as_done() -> None:
    scheduler, session, _ = client(Answer(200, {}), Answer(404, {"error": {"message": "gone"}}))
    scheduler.delete_job(NAME)
    scheduler.delete_job(NAME)
    assert [(m, u) for m, u, _ in session.sent] == [("DELETE", f"https://s/v1/{NAME}")] * 2
