"""What the Google API adapters (Cloud Functions, Cloud Run) share: connecting an SDK client to an
endpoint with the right credentials, and calling it with retries whose errors name the product.

Credentials are Application Default Credentials, except for a plain-http endpoint on loopback (a
local emulator or the tests' fakes), which gets anonymous ones; plain http anywhere else is
refused. The SDKs are imported by the callers, lazily: only deploy pays for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from fpack.cloud.safety import Backoff, Secrets
from fpack.errors import ConfigError, DeployError

Sleep = Callable[[float], None]
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
TRANSIENT: Final = ("TooManyRequests", "ResourceExhausted", "ServiceUnavailable",
                    "InternalServerError", "Aborted", "DeadlineExceeded")


def anonymous_if_loopback(endpoint: str, key: str = "[targets.gcp] api_endpoint") -> Any:
    """Anonymous credentials for plain http on loopback (an emulator, the tests' fakes); None
    (Application Default Credentials) for https; plain http anywhere else is refused. `key` names
    where the endpoint came from, for the error."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme != "http":
        return None  # https: Application Default Credentials, as for Google's own endpoint
    if parts.hostname not in LOOPBACK:
        raise ConfigError(f'{key} = "{endpoint}": plain http is allowed only '
                          "on loopback (127.0.0.1, localhost, ::1), where fpack sends no "
                          "credentials", hint="use an https:// endpoint")
    from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def sdk_client(factory: Callable[..., Any], endpoint: str | None, key: str) -> Any:
    """`factory(transport="rest", ...)` pointed at `endpoint` (None: Google's), with the
    credentials above; no credentials at all is a DeployError that says how to get them."""
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    options: dict[str, Any] = {}
    credentials = None
    if endpoint is not None:
        options["api_endpoint"] = endpoint
        credentials = anonymous_if_loopback(endpoint, key)
    try:
        return factory(transport="rest", client_options=options, credentials=credentials)
    except DefaultCredentialsError as e:
        raise DeployError("no Google credentials (Application Default Credentials)",
                          hint="run `gcloud auth application-default login`, or set "
                          "GOOGLE_APPLICATION_CREDENTIALS to a key file") from e


class GoogleApi:
    """An SDK client with retries: `call` retries transient errors with the injected `sleep`
    and turns the others into DeployErrors naming PRODUCT, scrubbed of secrets."""

    PRODUCT: ClassVar[str] = "Google Cloud"
    DENIED_HINT: ClassVar[str | None] = None  # what to grant when the API says PermissionDenied

    def __init__(self, sdk: Any, *, sleep: Sleep = time.sleep, backoff: Backoff | None = None,
                 secrets: Secrets | None = None) -> None:
        self.sdk = sdk
        self.sleep = sleep
        self.backoff = backoff or Backoff()
        self.secrets = secrets or Secrets()

    def call(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """`method(**kwargs)`, retried on transient errors; errors become DeployErrors."""
        from google.api_core import exceptions  # noqa: PLC0415

        for delay in (*self.backoff.delays()[:8], None):
            try:
                return method(**kwargs)
            except exceptions.GoogleAPICallError as e:  # noqa: PERF203 - a retry loop
                if type(e).__name__ in TRANSIENT and delay is not None:
                    self.sleep(delay)
                    continue
                hint = self.DENIED_HINT if isinstance(e, exceptions.PermissionDenied) else None
                raise DeployError(f"{self.PRODUCT}: {what} failed: "
                                  f"{self.secrets.scrub(str(e))}", hint=hint) from e
        raise AssertionError("unreachable: the last attempt raises or returns")

    def find(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """`call`, but None when the API answers NotFound (a get of what may not exist)."""
        from google.api_core import exceptions  # noqa: PLC0415

        try:
            return self.call(what, method, **kwargs)
        except DeployError as e:
            if isinstance(e.__cause__, exceptions.NotFound):
                return None
            raise

    def remove(self, what: str, method: Callable[..., Any], **kwargs: Any) -> None:
        """A delete, waited for; what is already gone counts as done."""
        from google.api_core import exceptions  # noqa: PLC0415

        try:
            self.finish(what, self.call(what, method, **kwargs))
        except DeployError as e:
            if not isinstance(e.__cause__, exceptions.NotFound):
                raise

    def finish(self, what: str, op: Any) -> Any:
        """Poll the long-running operation with our sleep; its result (raises if it failed)."""
        for delay in (*self.backoff.delays(), None):
            if self.call(what, op.done, retry=None):
                return self.call(what, op.result, timeout=0)
            if delay is not None:
                self.sleep(delay)
        raise DeployError(f"{self.PRODUCT}: {what} did not finish",
                          hint="run fpack deploy again: it continues where it stopped")
