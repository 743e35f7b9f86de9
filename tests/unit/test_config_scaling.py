"""fpack.toml's scaling and deploy-placement keys: per function `concurrency` and `warm`,
`[targets.aws] snap_start`, `[targets.docker] cloud_run`. Each refusal names the file, the table
and the key, what was expected and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpack import config
from fpack.config import CloudRun
from fpack.errors import ConfigError

HEAD = """
[project]
name = "photos"
python = "{python}"

[functions.hello]
handler = "app:hello"
"""


def load(tmp_path: Path, extra: str, python: str = "3.12") -> config.Project:
    path = tmp_path / "fpack.toml"
    path.write_text(HEAD.format(python=python) + extra)
    return config.load(path)


def error(tmp_path: Path, extra: str, python: str = "3.12") -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra, python)
    assert info.value.exit_code == 2
    return str(info.value).replace(str(tmp_path / "fpack.toml"), "fpack.toml")


def test_concurrency_and_warm_are_read_per_function(tmp_path: Path) -> None:
    fn = load(tmp_path, "concurrency = 10\nwarm = 2\n").functions["hello"]
    assert (fn.concurrency, fn.warm) == (10, 2)
    bare = load(tmp_path, "").functions["hello"]
    assert (bare.concurrency, bare.warm) == (None, None)  # none: removed by the next deploy


@pytest.mark.parametrize(("extra", "message"), [
    ("concurrency = 0\n", "fpack.toml: [functions.hello] concurrency = 0: expected a positive "
                          "integer (remove the key for none)."),
    ("warm = -1\n", "fpack.toml: [functions.hello] warm = -1: expected a positive integer "
                    "(remove the key for none)."),
    ("warm = true\n", "fpack.toml: [functions.hello] warm = true: expected an integer."),
    ("concurrency = 2\nwarm = 3\n", "fpack.toml: [functions.hello] warm = 3: more instances kept "
                                    "warm than concurrency = 2 allows; expected warm <= "
                                    "concurrency."),
    ("max_instances = 2\nwarm = 3\n", "fpack.toml: [functions.hello] warm = 3: more instances "
                                      "kept warm than max_instances = 2 allows; expected warm "
                                      "<= max_instances."),
    ("concurrency = 2\nmax_instances = 3\n",
     "fpack.toml: [functions.hello] concurrency = 2 and max_instances = 3: on gcp both set the "
     "max instance count; keep concurrency (it also reserves concurrency on aws) and remove "
     "max_instances."),
])
def test_scaling_refusals(tmp_path: Path, extra: str, message: str) -> None:
    assert error(tmp_path, extra) == message


def test_snap_start_needs_python_3_12(tmp_path: Path) -> None:
    assert load(tmp_path, '\n[targets.aws]\nsnap_start = true\n').aws.snap_start
    assert not load(tmp_path, "\n[targets.aws]\n").aws.snap_start
    assert error(tmp_path, "\n[targets.aws]\nsnap_start = true\n", python="3.11") == (
        'fpack.toml: [targets.aws] snap_start = true: Lambda SnapStart for Python needs '
        'python3.12 or later, and runtime is "python3.11". Set [project] python = "3.12" or '
        'later (or [targets.aws] runtime = "python3.12"), or remove snap_start.')
    explicit = '\n[targets.aws]\nruntime = "python3.12"\nsnap_start = true\n'
    assert load(tmp_path, explicit, python="3.11").aws.snap_start


def test_cloud_run_table(tmp_path: Path) -> None:
    docker = load(tmp_path, '\n[targets.docker]\ncloud_run = { project = "p", region = "r", '
                            'api_endpoint = "http://127.0.0.1:9" }\n').docker
    assert docker.cloud_run == CloudRun(project="p", region="r",
                                        api_endpoint="http://127.0.0.1:9")
    assert docker.cloud_run.parent == "projects/p/locations/r"
    assert load(tmp_path, "\n[targets.docker]\n").docker.cloud_run is None


@pytest.mark.parametrize(("docker", "message"), [
    ('cloud_run = { project = "p" }',
     'fpack.toml: [targets.docker] cloud_run: missing key "region": expected e.g. cloud_run = '
     '{ project = "my-project", region = "us-central1" }.'),
    ('cloud_run = { project = "p", region = "r", zone = "a" }',
     'fpack.toml: [targets.docker] cloud_run: unknown key "zone". Allowed keys: project, region, '
     "api_endpoint."),
    ('cloud_run = "p"', 'fpack.toml: [targets.docker] cloud_run = "p": expected a table.'),
    ('flavor = "lambda"\ncloud_run = { project = "p", region = "r" }',
     'fpack.toml: [targets.docker] flavor = "lambda": Cloud Run serves http images; cloud_run '
     'needs flavor = "http" (the default).'),
    ('arch = "arm64"\ncloud_run = { project = "p", region = "r" }',
     'fpack.toml: [targets.docker] arch = "arm64": Cloud Run runs x86_64 images only; cloud_run '
     'needs arch = "x86_64" (the default).'),
])
def test_cloud_run_refusals(tmp_path: Path, docker: str, message: str) -> None:
    assert error(tmp_path, f"\n[targets.docker]\n{docker}\n") == message
