"""The Cloud Functions deploy plan as data: spec from fpack.toml and a manifest, live state in."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fpack import config
from fpack.cloud.gcp_client import LiveFunction, Trigger
from fpack.deploy import gcp
from fpack.deploy.models import read_manifest
from fpack.errors import ConfigError

TOML = """
[project]
name = "photos"

[functions.consume]
handler = "app:consume"
trigger = "queue"
topic = "orders"
memory = 512
max_instances = 3
env = { DB_PASSWORD = "hunter22" }

[targets.gcp]
project = "demo"
region = "europe-west1"
"""
MANIFEST = {"function": "consume", "target": "gcp", "kind": "function", "runtime": "python312",
            "arch": "x86_64", "handler": "consume", "path": "dist/gcp/consume.zip",
            "sha256": "ab" * 32, "size": 100, "build_env": {"GOOGLE_VENDOR_PIP_DEPENDENCIES":
                                                             "wheels"}}


@pytest.fixture
def spec(tmp_path: Path) -> gcp.GcpSpec:
    (tmp_path / "fpack.toml").write_text(TOML)
    project = config.load(tmp_path / "fpack.toml")
    return gcp.spec(project, read_manifest(MANIFEST, tmp_path))


def test_spec_carries_runtime_entry_point_vendor_env_and_trigger(spec: gcp.GcpSpec) -> None:
    assert spec.name == "projects/demo/locations/europe-west1/functions/photos-consume"
    c = spec.config
    assert (c.runtime, c.entry_point, c.memory, c.max_instances) == ("python312", "consume",
                                                                      "512M", 3)
    assert c.build_env == {"GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels",
                           "FPACK_BUNDLE_SHA256": "ab" * 32}
    assert c.trigger == Trigger(event_type="google.cloud.pubsub.topic.v1.messagePublished",
                                region="europe-west1",
                                pubsub_topic="projects/demo/topics/orders")


def test_create_unchanged_and_update_masks(spec: gcp.GcpSpec) -> None:
    assert gcp.plan_function(spec, None).action == "create"
    live = LiveFunction(name=spec.name, config=spec.config, url=None, state="ACTIVE")
    assert gcp.plan_function(spec, live).action == "unchanged"

    older = replace(spec.config, build_env={**spec.config.build_env, "FPACK_BUNDLE_SHA256": "0"},
                    env={"DB_PASSWORD": "old"})
    step = gcp.plan_function(spec, replace(live, config=older))
    assert step.change().line() == ("update  function photos-consume  "
                                    "(source, environment: DB_PASSWORD, build environment)")
    assert step.upload
    assert step.mask() == ("build_config.source", "service_config.environment_variables",
                           "build_config.environment_variables")


def test_a_pubsub_function_without_topic_cannot_be_deployed(tmp_path: Path) -> None:
    (tmp_path / "fpack.toml").write_text(TOML.replace('topic = "orders"\n', ""))
    project = config.load(tmp_path / "fpack.toml")
    with pytest.raises(ConfigError) as info:
        gcp.spec(project, read_manifest(MANIFEST, tmp_path))
    assert str(info.value) == (
        f'{tmp_path / "fpack.toml"}: [functions.consume]: trigger = "queue" needs "topic" to '
        'deploy to Cloud Functions, e.g. topic = "photos"')
