"""What every cloud adapter shares: which values are secret, and how long to wait between tries.

Pure: no I/O. `Secrets.scrub` is applied to every cloud error message before it is shown, so the
value of an environment variable with a secret-looking name never reaches the terminal; URL
credentials are dropped with the same `redact` fpack.proc uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from fpack.proc import redact

SECRET_NAME: Final = re.compile(r"SECRET|TOKEN|PASSWORD|KEY", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Secrets:
    """Values that must never be shown: those of environment variables with secret-looking names."""

    values: tuple[str, ...] = ()

    @staticmethod
    def of(envs: Iterable[Mapping[str, str]]) -> Secrets:
        found = {v for env in envs for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4}
        return Secrets(values=tuple(sorted(found, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "***")
        return redact(text)


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Delays for polling and retrying: from `first`, doubling up to `cap`, `attempts` tries."""

    first: float = 1.0
    cap: float = 15.0
    attempts: int = 60

    def delays(self) -> tuple[float, ...]:
        return tuple(min(self.cap, self.first * 2**i) for i in range(self.attempts))
