"""Unit tests touch no Docker, no subprocess and no network beyond loopback: a guard makes them
fail loudly if they try (a unit test that quietly runs uv is an integration test in disguise)."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _no_world(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_subprocess(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"unit tests must not start processes: {args[:1]}")

    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or (
            isinstance(address, tuple) and address[0] in _LOOPBACK
        ):
            if self.family == socket.AF_UNIX and "docker" in str(address):
                raise AssertionError("unit tests must not talk to Docker")
            return real_connect(self, address)
        raise AssertionError(f"unit tests must not use the network: {address}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_subprocess)
    monkeypatch.setattr(socket.socket, "connect", loopback_only)
