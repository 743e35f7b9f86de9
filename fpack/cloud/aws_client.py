"""A typed adapter over boto3 for `fpack deploy --target aws`: Lambda, and the S3, SQS, EventBridge
and ECR calls that wire and feed it.

boto3 is imported lazily, in `connect`. Endpoints come from boto3 itself (AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_<SERVICE> variables, or the shared config), credentials from its
standard chain. Throttling is retried by botocore (adaptive mode); Lambda's "an update is in
progress" conflicts and the waits on a function's state are retried here with the injected `sleep`,
so tests never wait. Every SDK error becomes a `DeployError` naming the operation and resource.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from fpack.cloud.aws_wiring import WiringCalls
from fpack.cloud.safety import Backoff, Secrets
from fpack.errors import ConfigError, DeployError

Sleep = Callable[[float], None]
# Retried here with backoff: Lambda refuses a change while the previous one is still being applied.
# https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
_CONFLICT: Final = ("ResourceConflictException", "TooManyRequestsException")
_NOT_FOUND: Final = ("ResourceNotFoundException", "NoSuchKey", "404", "NotFound", "NoSuchBucket",
                     "RepositoryNotFoundException", "ProvisionedConcurrencyConfigNotFoundException")
# How long a published version may take to be optimised under SnapStart (Lambda runs the init and
# snapshots it; minutes for a large one) before deploy gives up and leaves the alias where it was.
SNAP_START_WAIT: Final = 900.0  # seconds of waiting between checks


@dataclass(frozen=True, kw_only=True)
class LambdaConfig:
    """A function's configuration (of $LATEST or one version), as the plan compares it."""

    arn: str  # unqualified
    version: str
    code_sha256: str
    package_type: Literal["Zip", "Image"]
    image_uri: str | None
    runtime: str | None
    handler: str | None
    arch: str
    memory: int
    timeout: int
    role: str
    env: Mapping[str, str]
    layers: tuple[str, ...]
    state: str
    last_update_status: str
    reason: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)  # the function's (not the version's)
    snap_start: bool = False  # SnapStart's ApplyOn is "PublishedVersions"
    optimization: str = "Off"  # SnapStart's OptimizationStatus: "On" once a version is snapshotted
    reserved: int | None = None  # reserved concurrency, the function's (not the version's)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What fpack sets on a function (besides its code)."""

    runtime: str | None  # None for images
    handler: str | None
    arch: str
    memory: int
    timeout: int
    role: str
    env: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    snap_start: bool = False  # zips only: SnapStart on the versions published from now on


@dataclass(frozen=True, kw_only=True)
class Code:
    """Where Lambda takes code from: a local zip, an uploaded S3 object, or an image."""

    zip_path: Path | None = None
    s3: tuple[str, str] | None = None  # (bucket, key)
    image_uri: str | None = None

    def params(self) -> dict[str, Any]:
        if self.image_uri is not None:
            return {"ImageUri": self.image_uri}
        if self.s3 is not None:
            return {"S3Bucket": self.s3[0], "S3Key": self.s3[1]}
        assert self.zip_path is not None
        return {"ZipFile": self.zip_path.read_bytes()}


@dataclass(frozen=True, kw_only=True)
class LayerVersion:
    arn: str
    version: int
    description: str


class AwsClient(WiringCalls):
    """The calls fpack makes, typed; `clients` maps a service name to a boto3 client."""

    def __init__(self, clients: Callable[[str], Any], *, sleep: Sleep = time.sleep,
                 backoff: Backoff | None = None, secrets: Secrets | None = None,
                 region: str = "us-east-1") -> None:
        self._clients = clients
        self.region = region
        self._cache: dict[str, Any] = {}
        self.sleep = sleep
        self.backoff = backoff or Backoff()
        self.secrets = secrets or Secrets()

    @classmethod
    def connect(cls, region: str | None, *, secrets: Secrets | None = None,
                sleep: Sleep = time.sleep) -> AwsClient:
        import boto3  # noqa: PLC0415 - heavy; only deploy pays for it
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.session.Session(region_name=region)
        if session.region_name is None:
            raise ConfigError("no AWS region: set [targets.aws] region in fpack.toml",
                              hint="or set AWS_REGION / AWS_DEFAULT_REGION")
        config = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10,
                        read_timeout=300, user_agent_extra="fpack")
        return cls(lambda service: session.client(service, config=config), sleep=sleep,
                   secrets=secrets, region=session.region_name)

    def client(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = self._clients(service)
        return self._cache[service]

    # --- the one path every call takes: retries for conflicts, errors made readable ------------

    def call(self, service: str, operation: str, *, what: str, missing_ok: bool = False,
             **params: Any) -> Any:
        """`operation` on `service`; None when the resource is missing and `missing_ok`."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        method = getattr(self.client(service), operation)
        for delay in (*self.backoff.delays(), None):
            try:
                return method(**params)
            except ClientError as e:  # noqa: PERF203 - a retry loop; the cost is the network's
                code = str(e.response.get("Error", {}).get("Code", ""))
                if missing_ok and code in _NOT_FOUND:
                    return None
                if code in _CONFLICT and delay is not None:
                    self.sleep(delay)
                    continue
                raise self._error(operation, what, e) from e
            except BotoCoreError as e:
                raise self._error(operation, what, e) from e
        raise AssertionError("unreachable: the last attempt raises or returns")

    def _error(self, operation: str, what: str, e: Exception) -> DeployError:
        hint = None
        name = type(e).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            hint = ("configure AWS credentials (aws configure, AWS_PROFILE, or the "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables)")
        elif name == "EndpointConnectionError":
            hint = "check the network, the region, and AWS_ENDPOINT_URL if you set it"
        message = self.secrets.scrub(str(e))
        return DeployError(f"AWS {operation} on {what} failed: {message}", hint=hint)

    # --- Lambda functions ------------------------------------------------------------------------

    def function(self, name: str, qualifier: str | None = None) -> LambdaConfig | None:
        params: dict[str, Any] = {"FunctionName": name}
        if qualifier is not None:
            params["Qualifier"] = qualifier
        got = self.call("lambda", "get_function", what=f"function {name}", missing_ok=True,
                        **params)
        if got is None:
            return None
        reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
        return replace(_config(got["Configuration"], got.get("Code", {})),
                       tags=dict(got.get("Tags") or {}),
                       reserved=None if reserved is None else int(reserved))

    def create_function(self, name: str, settings: Settings, code: Code,
                        tags: Mapping[str, str]) -> LambdaConfig:
        params = {"FunctionName": name, "Code": code.params(), "Publish": False, "Tags": dict(tags),
                  **_settings_params(settings, image=code.image_uri is not None)}
        if code.image_uri is not None:
            params["PackageType"] = "Image"
        got = self.call("lambda", "create_function", what=f"function {name}", **params)
        return _config(got, {"ImageUri": code.image_uri} if code.image_uri else {})

    def update_code(self, name: str, code: Code, arch: str) -> None:
        self.call("lambda", "update_function_code", what=f"function {name}", FunctionName=name,
                  Architectures=[arch], **code.params())

    def update_settings(self, name: str, settings: Settings, *, image: bool,
                        snap_start_changed: bool = False) -> None:
        """`snap_start_changed`: send SnapStart even when off, so that turning it off reaches
        Lambda (ApplyOn None); otherwise it is sent only when on, never to functions without it."""
        params = _settings_params(settings, image=image)
        params.pop("Architectures")  # set with the code: update_function_configuration refuses it
        if snap_start_changed and not image:
            params["SnapStart"] = _snap_start(settings.snap_start)
        self.call("lambda", "update_function_configuration", what=f"function {name}",
                  FunctionName=name, **params)

    def wait_ready(self, name: str) -> LambdaConfig:
        """Poll until the function is Active and its last update Successful; raise if it failed."""
        for delay in (*self.backoff.delays(), None):
            config = self.function(name)
            if config is None:
                raise DeployError(f"function {name} disappeared while fpack waited for it")
            if config.state == "Failed" or config.last_update_status == "Failed":
                raise DeployError(
                    f"AWS Lambda could not apply the update of function {name}: "
                    f"{self.secrets.scrub(config.reason) or 'no reason given'}",
                    hint="the alias still points at the previous version; fix the cause and "
                    "run fpack deploy again")
            if config.state == "Active" and config.last_update_status in ("Successful", ""):
                return config
            if delay is not None:
                self.sleep(delay)
        raise DeployError(f"function {name} was still updating after {self.backoff.attempts} "
                          "checks", hint="run fpack deploy again: it continues where it stopped")

    def publish_version(self, name: str, code_sha256: str) -> str:
        # CodeSha256 makes Lambda refuse to publish anything but the code fpack just checked.
        got = self.call("lambda", "publish_version", what=f"function {name}", FunctionName=name,
                        CodeSha256=code_sha256)
        return str(got["Version"])

    def version_config(self, name: str, version: str) -> LambdaConfig | None:
        got = self.call("lambda", "get_function_configuration",
                        what=f"version {version} of function {name}", missing_ok=True,
                        FunctionName=name, Qualifier=version)
        return None if got is None else _config(got, {})

    def wait_snap_start(self, name: str, version: str, *, alias: str,
                        timeout: float = SNAP_START_WAIT) -> LambdaConfig:
        """Poll a version published with SnapStart until Lambda has snapshotted it (State Active,
        OptimizationStatus On): only then may the alias serve it. Raises, naming the function and
        the version, when it failed, came out without SnapStart, or is not ready in `timeout`."""
        keep = f"the alias {alias} was not moved: it still serves the version it had"
        config: LambdaConfig | None = None
        for delay in (*_delays_within(self.backoff, timeout), None):
            config = self.version_config(name, version)
            if config is None:
                raise DeployError(f"version {version} of function {name} disappeared while fpack "
                                  "waited for its SnapStart snapshot", hint=keep)
            if config.state == "Failed":
                raise DeployError(
                    f"AWS Lambda could not make the SnapStart snapshot of version {version} of "
                    f"function {name}: {self.secrets.scrub(config.reason) or 'no reason given'}",
                    hint=f"{keep}; the snapshot runs the handler module's import code: fix what "
                    "fails there and run fpack deploy again")
            if config.state == "Active" and config.optimization == "On":
                return config
            if config.state == "Active" and not config.snap_start:
                # Active without ApplyOn PublishedVersions: no snapshot is coming; waiting is moot.
                raise DeployError(
                    f"version {version} of function {name} was published without SnapStart "
                    "(Lambda reports its SnapStart ApplyOn as None)",
                    hint=f"{keep}; check that the region and the endpoint (AWS_ENDPOINT_URL) "
                    "support SnapStart for Python, then run fpack deploy again")
            if delay is not None:
                self.sleep(delay)
        assert config is not None, "the loop checks at least once"
        raise DeployError(
            f"version {version} of function {name} was not optimised for SnapStart after "
            f"{timeout / 60:g} minute{'' if timeout == 60 else 's'} (State {config.state}, "
            f"OptimizationStatus {config.optimization})",
            hint=f"{keep}; run fpack deploy again: with nothing changed, Lambda publishes no other "
            "version and fpack waits for this one again")

    def alias_version(self, name: str, alias: str) -> str | None:
        got = self.call("lambda", "get_alias", what=f"alias {name}:{alias}", missing_ok=True,
                        FunctionName=name, Name=alias)
        return None if got is None else str(got["FunctionVersion"])

    def point_alias(self, name: str, alias: str, version: str, *, exists: bool) -> None:
        operation = "update_alias" if exists else "create_alias"
        self.call("lambda", operation, what=f"alias {name}:{alias}", FunctionName=name,
                  Name=alias, FunctionVersion=version)

    # --- ownership, and deleting what fpack.toml no longer names ----------------------------------

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        self.call("lambda", "tag_resource", what=f"function {arn.rsplit(':', 1)[1]}",
                  Resource=arn, Tags=dict(tags))

    def tags_of(self, arn: str) -> dict[str, str]:
        """A function's tags; empty when it is gone meanwhile."""
        got = self.call("lambda", "list_tags", what=f"function {arn.rsplit(':', 1)[1]}",
                        missing_ok=True, Resource=arn)
        return {} if got is None else dict(got.get("Tags") or {})

    def functions_named(self, prefix: str) -> dict[str, str]:
        """Name -> unqualified ARN of every function in the region whose name starts `prefix`."""
        found: dict[str, str] = {}
        marker: str | None = None
        while True:
            extra: dict[str, Any] = {"Marker": marker} if marker else {}
            got = self.call("lambda", "list_functions", what=f"functions {prefix}*", **extra)
            found.update((f["FunctionName"], f["FunctionArn"]) for f in got.get("Functions", [])
                         if str(f["FunctionName"]).startswith(prefix))
            marker = got.get("NextMarker")
            if not marker:
                return found

    def aliases(self, name: str) -> dict[str, str]:
        """Alias name -> alias ARN, for every alias of the function."""
        found: dict[str, str] = {}
        marker: str | None = None
        while True:
            extra: dict[str, Any] = {"Marker": marker} if marker else {}
            got = self.call("lambda", "list_aliases", what=f"function {name}", missing_ok=True,
                            FunctionName=name, **extra)
            if got is None:
                return found
            found.update((a["Name"], a["AliasArn"]) for a in got.get("Aliases", []))
            marker = got.get("NextMarker")
            if not marker:
                return found

    def delete_function(self, name: str) -> None:
        """Delete the function with its versions and aliases; one already gone counts as done."""
        self.call("lambda", "delete_function", what=f"function {name}", missing_ok=True,
                  FunctionName=name)

    # --- layers -------------------------------------------------------------------------------

    def layer_versions(self, name: str) -> list[LayerVersion]:
        found: list[LayerVersion] = []
        marker: str | None = None
        while True:
            extra = {"Marker": marker} if marker else {}
            got = self.call("lambda", "list_layer_versions", what=f"layer {name}",
                            missing_ok=True, LayerName=name, **extra)
            if got is None:
                return found
            found += [LayerVersion(arn=v["LayerVersionArn"], version=int(v["Version"]),
                                   description=v.get("Description", ""))
                      for v in got.get("LayerVersions", [])]
            marker = got.get("NextMarker")
            if not marker:
                return found

    def publish_layer(self, name: str, code: Code, *, description: str, runtime: str,
                      arch: str) -> LayerVersion:
        content = ({"S3Bucket": code.s3[0], "S3Key": code.s3[1]} if code.s3 else
                   {"ZipFile": code.params()["ZipFile"]})
        got = self.call("lambda", "publish_layer_version", what=f"layer {name}", LayerName=name,
                        Description=description, Content=content,
                        CompatibleRuntimes=[runtime], CompatibleArchitectures=[arch])
        return LayerVersion(arn=got["LayerVersionArn"], version=int(got["Version"]),
                            description=description)


def _settings_params(s: Settings, *, image: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Role": s.role, "MemorySize": s.memory, "Timeout": s.timeout,
        "Environment": {"Variables": dict(s.env)}, "Architectures": [s.arch],
    }
    if not image:
        params.update(Runtime=s.runtime, Handler=s.handler, Layers=list(s.layers))
        if s.snap_start:  # only when on: see `update_settings` for turning it off
            params["SnapStart"] = _snap_start(True)
    return params


def _snap_start(on: bool) -> dict[str, str]:
    return {"ApplyOn": "PublishedVersions" if on else "None"}


def _delays_within(backoff: Backoff, timeout: float) -> tuple[float, ...]:
    """The backoff's delays, then its cap repeated, until they add up to `timeout`."""
    delays: list[float] = []
    for delay in itertools.chain(backoff.delays(), itertools.repeat(backoff.cap)):
        if sum(delays) >= timeout or delay <= 0:  # a zero delay would never add up
            break
        delays.append(delay)
    return tuple(delays)


def _config(c: Mapping[str, Any], code: Mapping[str, Any]) -> LambdaConfig:
    arn = str(c["FunctionArn"])
    if arn.count(":") > 6:  # a qualified ARN: drop the version or alias
        arn = arn.rsplit(":", 1)[0]
    return LambdaConfig(
        arn=arn, version=str(c.get("Version", "$LATEST")), code_sha256=str(c.get("CodeSha256", "")),
        package_type="Image" if c.get("PackageType") == "Image" else "Zip",
        image_uri=code.get("ImageUri"), runtime=c.get("Runtime"), handler=c.get("Handler"),
        arch=(c.get("Architectures") or ["x86_64"])[0], memory=int(c.get("MemorySize", 128)),
        timeout=int(c.get("Timeout", 3)), role=str(c.get("Role", "")),
        env=dict(c.get("Environment", {}).get("Variables", {})),
        layers=tuple(layer["Arn"] for layer in c.get("Layers", [])),
        state=str(c.get("State") or "Active"),
        last_update_status=str(c.get("LastUpdateStatus") or ""),
        reason=str(c.get("LastUpdateStatusReason") or c.get("StateReason") or ""),
        snap_start=(c.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions",
        optimization=str((c.get("SnapStart") or {}).get("OptimizationStatus") or "Off"),
    )

