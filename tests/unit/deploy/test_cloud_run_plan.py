"""The Cloud Run service plan as data: fpack.toml and a pushed image in, the service it should be;
that and the live service in, create, update (which fields) or leave alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fpack import config
from fpack.cloud.run_client import LiveService
from fpack.deploy import cloud_run_plan as crp
from fpack.errors import ConfigError, DeployError

TOML = """
[project]
name = "Photos"

[functions.hello]
handler = "app:hello"
memory = 1024
timeout = 45
url = true
concurrency = 8
warm = 1
env = { MODE = "prod" }

[functions.consume]
handler = "app:consume"
trigger = "queue"

[targets.docker]
cloud_run = { project = "demo", region = "europe-west1" }
"""
IMAGE = "europe-west1-docker.pkg.dev/demo/photos/hello@sha256:" + "ab" * 32


def project(tmp_path: Path, toml: str = TOML) -> config.Project:
    (tmp_path / "fpack.toml").write_text(toml)
    return config.load(tmp_path / "fpack.toml")


@pytest.fixture
def spec(tmp_path: Path) -> crp.ServiceSpec:
    p = project(tmp_path)
    assert p.docker.cloud_run is not None
    return crp.spec(p, p.docker.cloud_run, p.functions["hello"], IMAGE)


def live(spec: crp.ServiceSpec, **changes: object) -> LiveService:
    return LiveService(name=spec.name, config=replace(spec.config, **changes),  # type: ignore[arg-type]
                       url="https://photos-hello-x.a.run.app")


def test_spec_pins_the_digest_with_the_function_settings(spec: crp.ServiceSpec) -> None:
    assert spec.name == "projects/demo/locations/europe-west1/services/photos-hello"
    c = spec.config
    assert (c.image, c.port, c.memory, c.timeout) == (IMAGE, 8080, "1024Mi", 45)
    assert (c.max_instances, c.min_instances, dict(c.env)) == (8, 1, {"MODE": "prod"})
    assert c.labels == {"fpack-project": "photos", "fpack-function": "hello",
                        "fpack-target": "docker"}
    assert spec.public


def test_create_then_unchanged_then_only_what_differs(spec: crp.ServiceSpec) -> None:
    first = crp.plan(spec, crp.ServiceLive(service=None))
    assert [c.line() for c in first.changes()] == [
        f"create  service photos-hello  ({IMAGE})",
        "create  invoker allUsers on service photos-hello  (public)"]
    same = crp.plan(spec, crp.ServiceLive(service=live(spec), public=True))
    assert same.action == "unchanged" and not same.service.revision
    older = live(spec, image="x@sha256:00", env={"MODE": "dev"}, min_instances=None,
                 labels={"team": "a"})
    step = crp.plan(spec, crp.ServiceLive(service=older, public=True)).service
    assert step.change().line() == ("update  service photos-hello  "
                                    "(image, min instances, environment: MODE, labels)")
    labels_only = crp.plan(spec, crp.ServiceLive(service=live(spec, labels={}), public=True))
    assert labels_only.service.fields == ("labels",) and not labels_only.service.revision


def test_removed_counts_and_url_are_planned_away(tmp_path: Path) -> None:
    p = project(tmp_path, TOML.replace("url = true\nconcurrency = 8\nwarm = 1\n", ""))
    assert p.docker.cloud_run is not None
    s = crp.spec(p, p.docker.cloud_run, p.functions["hello"], IMAGE)
    was = LiveService(name=s.name, url=None,
                      config=replace(s.config, max_instances=8, min_instances=1))
    plan = crp.plan(s, crp.ServiceLive(service=was, public=True))
    assert [c.line() for c in plan.changes()] == [
        "update  service photos-hello  (max instances, min instances)",
        "delete  invoker allUsers on service photos-hello  (url = true removed)"]
    # Cloud Run's own default max instance count is what "none set" reads back as.
    default = replace(was, config=replace(s.config, max_instances=100))
    assert crp.plan(s, crp.ServiceLive(service=default)).action == "unchanged"


def test_reserved_env_is_refused(tmp_path: Path) -> None:
    p = project(tmp_path, TOML.replace('MODE = "prod"', 'PORT = "9000"'))
    assert p.docker.cloud_run is not None
    with pytest.raises(ConfigError) as e:
        crp.spec(p, p.docker.cloud_run, p.functions["hello"], IMAGE)
    assert "[functions.hello] env sets PORT: Cloud Run sets it in every container" in str(e.value)


@pytest.mark.parametrize(("labels", "owner"), [
    ({"goog-managed-by": "cloudfunctions"}, "cloudfunctions"),
    ({"fpack-project": "photos", "fpack-function": "hello"}, "fpack deploy --target gcp"),
    ({"fpack-project": "shop", "fpack-target": "docker"}, "the fpack project shop"),
])
def test_a_service_someone_else_runs_is_refused(spec: crp.ServiceSpec, labels: dict[str, str],
                                                owner: str) -> None:
    with pytest.raises(DeployError) as e:
        crp.plan(spec, crp.ServiceLive(service=live(spec, labels=labels)))
    assert f"exists and is managed by {owner}: fpack will not replace it" in str(e.value)


def test_orphans_are_only_this_projects_docker_services(tmp_path: Path) -> None:
    p = project(tmp_path)
    parent = "projects/demo/locations/europe-west1/services"

    def found(sid: str, **labels: str) -> LiveService:
        return LiveService(name=f"{parent}/{sid}", url=None,
                           config=crp.ServiceConfig(image="", labels=labels))

    services = [
        found("photos-hello", **{"fpack-project": "photos", "fpack-target": "docker",
                                 "fpack-function": "hello"}),
        found("photos-old", **{"fpack-project": "photos", "fpack-target": "docker",
                               "fpack-function": "old"}),
        found("photos-consume", **{"fpack-project": "photos", "fpack-target": "docker",
                                   "fpack-function": "consume"}),
        found("photos-fn", **{"fpack-project": "photos", "fpack-function": "fn"}),  # gcp's
        found("photos-hand"),
    ]
    got = crp.orphans(p, {f"{parent}/photos-hello"}, services)
    assert [(o.service_id, o.gone) for o in got] == [("photos-consume", False),
                                                     ("photos-old", True)]
    assert [crp.OrphanStep(orphan=o, delete=False).change().line() for o in got] == [
        "keep    service photos-consume  (no longer an http function; --prune deletes it)",
        "keep    service photos-old  (not in fpack.toml; --prune deletes it)"]
