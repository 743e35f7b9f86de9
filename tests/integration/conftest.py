"""The lab for integration tests: a Docker engine and the Debian-built images of lab/setup.sh.

Under CI a missing lab is a failure, not a skip: a green run must mean the artifacts ran.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration import lab


def _lab_problem() -> str | None:
    try:
        lab.client().ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach Docker means no lab
        return f"Docker is not reachable ({e})"
    missing = lab.missing_images()
    return f"lab images missing: {', '.join(missing)}" if missing else None


@pytest.fixture(scope="session", autouse=True)
def docker_lab() -> None:
    problem = _lab_problem()
    if problem is None:
        return
    message = f"{problem}; run lab/setup.sh --arm64 (as root) first"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's own example project, to build and edit freely."""
    dest = tmp_path_factory.mktemp("example") / "photos"
    dest.mkdir()
    shutil.copytree(lab.ROOT / "example", dest / "example")
    for name in ("fpack.toml", "requirements.txt"):
        shutil.copy(lab.ROOT / name, dest / name)
    return dest
