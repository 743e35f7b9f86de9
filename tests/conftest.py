"""Shared by every test: no test may read the real fpack cache or real cloud credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/fpack-tests")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/fpack-tests")
    # One cache per test session: shared by its tests (speed), never the user's real one.
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fpack-cache"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
