"""fpack.toml -> a typed, validated `Project`.

Reads one file and checks it against the schema in fpack.config_schema; every error names the file,
the table and the key, says what was expected and, for near misses, what was probably meant. No
other I/O: finding source files and checking that handlers exist happen later, over a snapshot of
the tree.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, get_args

from fpack.config_schema import (
    HANDLER_RE,
    NAME_RE,
    PY_RE,
    Reader,
    quote,
    suggest,
    toml_value,
)
from fpack.deps import lockfiles, workspace
from fpack.errors import ConfigError
from fpack.platforms import ARCHES, DEFAULT_PYTHON, RUNTIMES, TARGETS, Arch, Target, runtime_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

Trigger = Literal["http", "storage", "queue", "schedule", "stream"]
Style = Literal["portable", "lambda", "functions-framework", "asgi", "wsgi"]
Flavor = Literal["http", "lambda"]
# Each alias's members, typed as the alias (get_args gives tuple[Any, ...]), for `Reader.choice`.
TRIGGERS: Final[tuple[Trigger, ...]] = get_args(Trigger)
STYLES: Final[tuple[Style, ...]] = get_args(Style)
FLAVORS: Final[tuple[Flavor, ...]] = get_args(Flavor)
# [targets.aws] sdk: "bundle" ships boto3 and its kin like any dependency; "runtime" leaves them
# to the Lambda runtime when the project accepts its version (deps/sdk.py).
SdkMode = Literal["bundle", "runtime"]
# The web framework styles fpack/runtime/web.py bridges (its WEB_STYLES; a test keeps them
# equal): not imported from there, which would load the runtime package with every command.
WEB_STYLES: Final = ("asgi", "wsgi")
SDK_MODES: Final[tuple[SdkMode, ...]] = get_args(SdkMode)
CONFIG_NAME: Final = "fpack.toml"
# Found in a project's (or a function's) directory, first match wins; several locks are refused
# (`_found_spec`). pylock.NAME.toml files count as pylock.toml.
DEPENDENCY_FILES: Final = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "Pipfile.lock",
                           "requirements.txt", "pyproject.toml")
SNAP_START_PYTHON: Final = (3, 12)  # the first Python runtime Lambda SnapStart supports

# Which targets each style can run on (docker is refined by flavor in `style_fits`).
STYLE_TARGETS: Final[dict[Style, tuple[Target, ...]]] = {
    "portable": ("aws", "gcp", "docker"),
    "lambda": ("aws", "docker"),
    "functions-framework": ("gcp", "docker"),
    "asgi": ("aws", "gcp", "docker"),  # web apps: http only
    "wsgi": ("aws", "gcp", "docker"),
}


@dataclass(frozen=True, kw_only=True)
class Function:
    """One `[[functions]]` table of fpack.toml, with its defaults filled in."""

    name: str
    module: str
    attr: str
    trigger: Trigger = "http"
    style: Style = "portable"
    memory: int = 256
    timeout: int = 30
    env: Mapping[str, str] = field(default_factory=dict)
    # Deploy wiring (fpack deploy): what triggers the function in the cloud.
    url: bool = False  # http on aws: a public Function URL
    bucket: str | None = None  # storage: the S3 / Cloud Storage bucket whose objects trigger it
    queue: str | None = None  # queue on aws: the SQS queue ARN
    topic: str | None = None  # queue or schedule on gcp: the Pub/Sub topic
    # schedule: an EventBridge rate() or cron() expression (aws as is; gcp converts it to the
    # Cloud Scheduler job's unix-cron, fpack/schedules.py, which also takes a 5-field unix-cron)
    schedule: str | None = None
    max_instances: int | None = None  # gcp: the service's max instance count
    base_path: str = ""  # asgi/wsgi: the prefix a custom domain's mapping leaves in the path
    # Monorepos: a function of its own directory (relative to the project root, "" for the root
    # itself). Its handler module, include and exclude are relative to it, and its dependency spec
    # is found there; `dependencies` is that spec resolved (the project's for a function without
    # `dir`), `member` the uv workspace member it is when the spec is the workspace's uv.lock.
    dir: str = ""
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    dependencies: Path | None = None
    member: str | None = None
    # Scaling, applied by deploy and removed when removed (`_scaling`). concurrency: at most this
    # many instances (aws reserved concurrency; gcp and Cloud Run max instances). warm: this many
    # kept ready (aws provisioned concurrency on the alias; gcp and Cloud Run min instances).
    concurrency: int | None = None
    warm: int | None = None
    # stream on aws: the Kinesis or DynamoDB stream ARN its event source mapping reads, where a
    # new mapping starts ("latest", or "trim_horizon": the oldest record kept), records per batch.
    stream: str | None = None
    start: Literal["latest", "trim_horizon"] = "latest"
    batch_size: int = 100  # Lambda's default for both stream sources

    @property
    def handler(self) -> str:
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True, kw_only=True)
class AwsTarget:
    """fpack.toml's `[targets.aws]`."""

    runtime: str
    arch: Arch = "x86_64"
    layer: bool = False
    region: str | None = None
    role: str | None = None
    build_image: str | None = None
    base_image: str | None = None
    alias: str = "live"  # deploy moves this alias to each new version
    artifact_bucket: str | None = None  # S3 bucket for zips over the direct-upload limit
    create_bucket: bool = False  # create artifact_bucket when it does not exist
    compile: bool = False  # ship bytecode compiled by the target's Python (deps/bytecode.py)
    snap_start: bool = False  # Lambda SnapStart on published versions (python3.12+, zips only)
    slim: bool = False  # drop what no import needs at run time (deps/slim.py)
    slim_keep: tuple[str, ...] = ()  # kept anyway: dotted module paths or globs
    sdk: SdkMode = "bundle"  # "runtime": boto3 & co. from the Lambda runtime (deps/sdk.py)


@dataclass(frozen=True, kw_only=True)
class GcpTarget:
    """fpack.toml's `[targets.gcp]`."""

    runtime: str
    region: str | None = None
    project: str | None = None
    vendor: bool = False
    build_image: str | None = None
    base_image: str | None = None
    api_endpoint: str | None = None  # Cloud Functions API; FPACK_GCP_API_ENDPOINT overrides
    compile: bool = False  # ship bytecode compiled by the target's Python (deps/bytecode.py)


@dataclass(frozen=True, kw_only=True)
class CloudRun:
    """[targets.docker] cloud_run: deploy runs each http image as a Cloud Run service here."""

    project: str
    region: str
    api_endpoint: str | None = None  # Cloud Run Admin API; FPACK_CLOUD_RUN_API_ENDPOINT overrides

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"


@dataclass(frozen=True, kw_only=True)
class DockerTarget:
    """fpack.toml's `[targets.docker]`."""

    runtime: str
    flavor: Flavor = "http"
    arch: Arch = "x86_64"
    base_image: str | None = None
    build_image: str | None = None
    repository: str | None = None
    compile: bool = False  # ship bytecode compiled by the target's Python (deps/bytecode.py)
    cloud_run: CloudRun | None = None  # deploy the http images as Cloud Run services
    slim: bool = False  # drop what no import needs at run time (deps/slim.py)
    slim_keep: tuple[str, ...] = ()  # kept anyway: dotted module paths or globs


@dataclass(frozen=True, kw_only=True)
class CheckSettings:
    """[check]: what `fpack check` (and the secrets refusal of `fpack build`) lets through."""

    allow: tuple[str, ...] = ()  # globs of packaged files allowed to look like secrets


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """[cache]: the shared cache CI runners pull from and push to (FPACK_CACHE_URL wins)."""

    url: str | None = None  # s3://bucket/prefix or gs://bucket/prefix


@dataclass(frozen=True, kw_only=True)
class Project:
    """A whole fpack.toml, checked: the project, its functions and its targets."""

    root: Path
    config_path: Path
    name: str
    python: tuple[int, int]
    dependencies: Path | None
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]
    functions: Mapping[str, Function]
    aws: AwsTarget
    gcp: GcpTarget
    docker: DockerTarget
    targets: tuple[Target, ...] = ()  # the [targets.X] tables fpack.toml has, in TARGETS order
    check: CheckSettings = field(default_factory=CheckSettings)
    # [project] groups: the dependency groups and extras a lock's set adds to its main ones
    # (deps/lockfiles.py; the spec reads them with the lock, deps/spec.py)
    groups: tuple[str, ...] = ()
    cache: CacheSettings = field(default_factory=CacheSettings)


def find_config(start: Path) -> Path:
    """The nearest fpack.toml at or above `start`."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent directory",
        hint="run `fpack init` to create one, or pass --config PATH",
    )


def load(path: Path) -> Project:
    """Parse and validate fpack.toml at `path`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return _project(Reader(path), raw, path.parent.resolve())


def _project(r: Reader, raw: dict[str, Any], root: Path) -> Project:
    tables = ["project", "functions", "targets", "check", "cache"]
    for key in sorted(set(raw) - set(tables)):
        raise r.fail(
            "",
            f"unknown table [{key}].{suggest(key, tables)} "
            "Allowed: [project], [functions.NAME], [targets.aws|gcp|docker], [check], [cache].",
        )
    proj = r.table(raw.get("project", {}), "[project]", "project")
    name = proj.get("name", root.name)
    if not NAME_RE.match(name):
        raise r.fail(
            "[project]",
            f' name = "{name}": expected letters, digits, "-" or "_", '
            "starting with a letter (it names the layer zip and images).",
        )
    python = _python(r, proj.get("python"))
    dependencies = _dependencies(r, root, proj.get("dependencies"))
    functions = _functions(r, raw.get("functions"), root, dependencies)
    targets = raw.get("targets", {})
    if not isinstance(targets, dict):
        raise r.fail(
            "", "[targets]: expected tables [targets.aws], [targets.gcp], [targets.docker]"
        )
    for key in targets:
        if key not in ("aws", "gcp", "docker"):
            raise r.fail(
                "",
                f"unknown target [targets.{key}].{suggest(key, ['aws', 'gcp', 'docker'])}"
                ' Allowed: "aws", "gcp", "docker".',
            )
    return Project(
        root=root,
        config_path=r.path,
        name=name,
        python=python,
        dependencies=dependencies,
        include=tuple(proj["include"]) if "include" in proj else None,
        exclude=tuple(proj.get("exclude", [])),
        functions=functions,
        aws=_aws(r, targets.get("aws", {}), python),
        gcp=_gcp(r, targets.get("gcp", {}), python),
        docker=_docker(r, targets.get("docker", {}), python),
        targets=tuple(t for t in TARGETS if t in targets),
        check=_check(r, raw.get("check", {})),
        groups=tuple(proj.get("groups", [])),
        cache=_cache(r, raw.get("cache", {})),
    )


def _cache(r: Reader, raw: Any) -> CacheSettings:
    t = r.table(raw, "[cache]", "cache")
    url = t.get("url")
    if url is not None and not url.startswith(("s3://", "gs://")):
        raise r.fail("[cache]", f' url = "{url}": expected "s3://BUCKET/PREFIX" or '
                     '"gs://BUCKET/PREFIX".')
    return CacheSettings(url=url)


def _check(r: Reader, raw: Any) -> CheckSettings:
    t = r.table(raw, "[check]", "check")
    return CheckSettings(allow=tuple(t.get("allow", [])))


def _python(r: Reader, value: str | None) -> tuple[int, int]:
    if value is None:
        return DEFAULT_PYTHON
    m = PY_RE.match(value)
    supported = [f"3.{v.python[1]}" for v in RUNTIMES["aws"].values()]
    if not m or value not in supported:
        raise r.fail("[project]", f' python = "{value}": expected one of {quote(supported)}.')
    return (3, int(m.group(1)))


def _functions(r: Reader, raw: Any, root: Path, dependencies: Path | None
               ) -> dict[str, Function]:
    if not raw:
        raise r.fail(
            "",
            "no functions: add at least one [functions.NAME] table with a handler, "
            'e.g.\n  [functions.hello]\n  handler = "app:hello"',
        )
    if not isinstance(raw, dict):
        raise r.fail("", "[functions]: expected tables [functions.NAME]")
    return {name: _function(r, name, table, root, dependencies) for name, table in raw.items()}


def _function(r: Reader, name: str, raw: Any, root: Path, dependencies: Path | None
              ) -> Function:
    where = f"[functions.{name}]"
    if not NAME_RE.match(name):
        raise r.fail(
            where, ': expected a name of letters, digits, "-" or "_" starting with a letter.'
        )
    t = r.table(raw, where, "functions")
    if "handler" not in t:
        raise r.fail(
            where, ': missing key "handler": expected "module:attribute", e.g. "app:hello".'
        )
    handler = t["handler"]
    if not HANDLER_RE.match(handler):
        # Lambda writes "module.function": refused rather than guessed (a dotted module path
        # is also valid), but the spelling fpack wants is given, ready to paste.
        dotted = handler.rpartition(".")
        fixed = f"{dotted[0]}:{dotted[2]}" if dotted[1] and ":" not in handler else ""
        raise r.fail(
            where,
            f' handler = "{handler}": expected "module:attribute"'
            + (f'. Did you mean "{fixed}"? (fpack separates the module from the function '
               "with a colon, where Lambda uses a dot)" if fixed and HANDLER_RE.match(fixed)
               else ', e.g. "app.images:resize" (a dotted module path, a colon, a function '
               "name)."),
        )
    module, attr = handler.split(":")
    trigger = r.choice(where, "trigger", t.get("trigger", "http"), TRIGGERS)
    style = r.choice(where, "style", t.get("style", "portable"), STYLES)
    for key in ("memory", "timeout"):
        if key in t and t[key] <= 0:
            raise r.fail(where, f" {key} = {t[key]}: expected a positive integer.")
    return Function(
        name=name,
        module=module,
        attr=attr,
        trigger=trigger,
        style=style,
        memory=t.get("memory", 256),
        timeout=t.get("timeout", 30),
        env=dict(t.get("env", {})),
        **_wiring(r, where, trigger, t),
        **_web(r, where, style, trigger, t),
        **_scaling(r, where, t),
        **_place(r, where, t, root, dependencies),
    )


def _place(r: Reader, where: str, t: dict[str, Any], root: Path, project_deps: Path | None
           ) -> dict[str, Any]:
    """Where a function's files and dependency spec are: its `dir`, or the project's root."""
    out: dict[str, Any] = {}
    directory = root
    if "dir" in t:
        rel = t["dir"].strip().rstrip("/")
        path = (root / rel).resolve()
        if not rel or rel == "." or Path(rel).is_absolute() or not path.is_relative_to(root):
            raise r.fail(where, f' dir = "{t["dir"]}": expected a directory inside the project '
                         f'({root}), relative to fpack.toml, e.g. "services/orders".')
        if not path.is_dir():
            raise r.fail(where, f' dir = "{t["dir"]}": no such directory {path}. Create it, or '
                         "correct the path (it is relative to fpack.toml).")
        directory = path
        out["dir"] = path.relative_to(root).as_posix()
    if "include" in t:
        out["include"] = tuple(t["include"])
    if "exclude" in t:
        out["exclude"] = tuple(t["exclude"])
    if "dependencies" in t:
        out["dependencies"] = _named_spec(r, where, directory, t["dependencies"])
    elif "dir" in t:
        out["dependencies"] = _found_spec(directory)
    else:
        out["dependencies"] = project_deps
    spec = out["dependencies"]
    if spec is not None and spec.name == "pyproject.toml":
        found = workspace.member_of(spec, root)
        if found is not None:  # a uv workspace member: its set is read from the workspace's lock
            out["dependencies"], out["member"] = found
    return out


def _web(
    r: Reader, where: str, style: Style, trigger: Trigger, t: dict[str, Any]
) -> dict[str, Any]:
    """An ASGI/WSGI app answers http requests; base_path is where it is mounted (theirs only)."""
    if style in WEB_STYLES and trigger != "http":
        raise r.fail(
            where,
            f' style = "{style}": a web app serves http requests, and this '
            f'function\'s trigger is "{trigger}". Use trigger = "http".',
        )
    if "base_path" not in t:
        return {}
    base = t["base_path"]
    if style not in WEB_STYLES:
        raise r.fail(
            where,
            f' base_path = "{base}": only for style = "asgi" or "wsgi", and this '
            f'function\'s style is "{style}".',
        )
    if not base.startswith("/") or "?" in base or "#" in base:
        raise r.fail(
            where,
            f' base_path = "{base}": expected a URL path starting with "/", '
            'e.g. "/api" (the custom domain\'s base path mapping).',
        )
    return {"base_path": "/" + base.strip("/") if base.strip("/") else ""}


# Which trigger each deploy wiring key belongs to: a key for another trigger is a mistake.
WIRING_TRIGGERS: Final[dict[str, tuple[Trigger, ...]]] = {
    "url": ("http",),
    "bucket": ("storage",),
    "queue": ("queue",),
    "topic": ("queue", "schedule"),
    "schedule": ("schedule",),
    "stream": ("stream",),
    "start": ("stream",),
    "batch_size": ("stream",),
}
STREAM_STARTS: Final = ("latest", "trim_horizon")
BATCH_SIZE_MAX: Final = 10_000  # Kinesis and DynamoDB Streams mappings, per Lambda's API


def _wiring(r: Reader, where: str, trigger: Trigger, t: dict[str, Any]) -> dict[str, Any]:
    for key, triggers in WIRING_TRIGGERS.items():
        if key in t and trigger not in triggers:
            raise r.fail(
                where,
                f" {key} = {toml_value(t[key])}: only for trigger = "
                f'{quote(triggers)}, and this function\'s trigger is "{trigger}".',
            )
    if "max_instances" in t and t["max_instances"] <= 0:
        raise r.fail(where, f" max_instances = {t['max_instances']}: expected a positive integer.")
    if "queue" in t and not t["queue"].startswith("arn:"):
        raise r.fail(
            where,
            f' queue = "{t["queue"]}": expected an SQS queue ARN, e.g. '
            '"arn:aws:sqs:us-east-1:123456789012:orders".',
        )
    if "schedule" in t:  # its form only: what a target cannot run is that deploy's error
        from fpack import schedules  # noqa: PLC0415 - only a schedule trigger has one

        schedules.check_form(t["schedule"], where=f"{r.path}: {where}")
    _stream_wiring(r, where, t)
    keys = ("url", "bucket", "queue", "topic", "schedule", "max_instances", "stream", "start",
            "batch_size")
    return {k: t[k] for k in keys if k in t}


def _arn_resource(value: str | None, service: str) -> str | None:
    """The resource of an ARN of `service` ("stream/clicks"), or None when it is not one:
    arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, the account 12 digits."""
    parts = (value or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws") \
            or parts[2] != service or not parts[3] or len(parts[4]) != 12 \
            or not parts[4].isdigit():
        return None
    return parts[5] or None


def _stream_wiring(r: Reader, where: str, t: dict[str, Any]) -> None:
    """stream, start, batch_size (trigger "stream"), and an SNS topic ARN (queue on aws)."""
    stream = t.get("stream")
    kinesis = (_arn_resource(stream, "kinesis") or "").split("/")
    dynamodb = (_arn_resource(stream, "dynamodb") or "").split("/")
    if stream is not None and not (
            (len(kinesis) == 2 and kinesis[0] == "stream" and kinesis[1])
            or (len(dynamodb) == 4 and dynamodb[0] == "table" and dynamodb[2] == "stream"
                and dynamodb[1] and dynamodb[3])):
        table = len(dynamodb) == 2 and dynamodb[0] == "table"  # the table's ARN, not its stream's
        hint = (f" That is the table's ARN: the mapping reads its stream's, which ends in "
                f"/stream/LABEL (aws dynamodb describe-table --table-name {dynamodb[1]} "
                "--query Table.LatestStreamArn).") if table else ""
        raise r.fail(where, f' stream = "{stream}": expected a Kinesis stream ARN, e.g. '
                     '"arn:aws:kinesis:us-east-1:123456789012:stream/clicks", or a DynamoDB '
                     'stream ARN, e.g. "arn:aws:dynamodb:us-east-1:123456789012:table/orders/'
                     f'stream/2024-01-01T00:00:00.000".{hint}')
    if "start" in t:
        r.choice(where, "start", t["start"], STREAM_STARTS)
    if "batch_size" in t and not 1 <= t["batch_size"] <= BATCH_SIZE_MAX:
        raise r.fail(where, f" batch_size = {t['batch_size']}: expected 1 to {BATCH_SIZE_MAX:,} "
                     "records (Lambda's limit for Kinesis and DynamoDB Streams).")
    topic = t.get("topic")
    if topic is None or not topic.startswith("arn:"):
        return  # a Pub/Sub topic (gcp)
    name = _arn_resource(topic, "sns")
    if not name or "/" in name or ":" in name:
        sqs = " An SQS queue's ARN goes in queue = ..." if _arn_resource(topic, "sqs") else ""
        raise r.fail(where, f' topic = "{topic}": expected an SNS topic ARN, e.g. '
                     '"arn:aws:sns:us-east-1:123456789012:orders", or a Pub/Sub topic name '
                     f"(gcp).{sqs}")
    if t.get("trigger") != "queue":
        raise r.fail(where, f' topic = "{topic}": an SNS topic delivers messages to a queue '
                     "function on aws, and this function's trigger is "
                     f'"{t.get("trigger")}". Use trigger = "queue", or a Pub/Sub topic name '
                     "for a schedule function on gcp.")


def _scaling(r: Reader, where: str, t: dict[str, Any]) -> dict[str, Any]:
    """concurrency and warm: positive counts, warm within concurrency. On gcp, concurrency is
    what max_instances already says: one of the two, not both."""
    for key in ("concurrency", "warm"):
        if key in t and t[key] <= 0:
            raise r.fail(
                where,
                f" {key} = {t[key]}: expected a positive integer (remove the key for none).",
            )
    if "concurrency" in t and "max_instances" in t:
        raise r.fail(
            where,
            f" concurrency = {t['concurrency']} and max_instances = {t['max_instances']}: on gcp "
            "both set the max instance count; keep concurrency (it also reserves concurrency "
            "on aws) and remove max_instances.",
        )
    ceiling = t.get("concurrency", t.get("max_instances"))
    if "warm" in t and ceiling is not None and t["warm"] > ceiling:
        key = "concurrency" if "concurrency" in t else "max_instances"
        raise r.fail(
            where,
            f" warm = {t['warm']}: more instances kept warm than {key} = {ceiling} allows; "
            f"expected warm <= {key}.",
        )
    return {k: t[k] for k in ("concurrency", "warm") if k in t}


def _snap_start(r: Reader, t: dict[str, Any], runtime: str) -> bool:
    """SnapStart for Python needs python3.12 or later; it applies to zip packages only (an image
    deployed to Lambda is refused where that deploy starts, fpack/deploy/registry.py)."""
    if not t.get("snap_start", False):
        return False
    if RUNTIMES["aws"][runtime].python < SNAP_START_PYTHON:
        raise r.fail(
            "[targets.aws]",
            f' snap_start = true: Lambda SnapStart for Python needs python3.12 or later, and '
            f'runtime is "{runtime}". Set [project] python = "3.12" or later (or [targets.aws] '
            'runtime = "python3.12"), or remove snap_start.',
        )
    return True


def _cloud_run(r: Reader, t: dict[str, Any], flavor: Flavor, arch: Arch) -> CloudRun | None:
    if "cloud_run" not in t:
        return None
    where = "[targets.docker] cloud_run"
    c = r.table(t["cloud_run"], where, "cloud_run")
    for key in ("project", "region"):
        if key not in c:
            raise r.fail(
                where,
                f': missing key "{key}": expected e.g. cloud_run = {{ project = "my-project", '
                'region = "us-central1" }.',
            )
    if flavor != "http":
        raise r.fail(
            "[targets.docker]",
            f' flavor = "{flavor}": Cloud Run serves http images; cloud_run needs '
            'flavor = "http" (the default).',
        )
    if arch != "x86_64":
        raise r.fail(
            "[targets.docker]",
            f' arch = "{arch}": Cloud Run runs x86_64 images only; cloud_run needs '
            'arch = "x86_64" (the default).',
        )
    return CloudRun(project=c["project"], region=c["region"], api_endpoint=c.get("api_endpoint"))


def _runtime(
    r: Reader, where: str, target: Target, value: str | None, python: tuple[int, int]
) -> str:
    name = value if value is not None else runtime_name(target, python)
    return r.choice(where, "runtime", name, tuple(RUNTIMES[target]))


def _aws(r: Reader, raw: Any, python: tuple[int, int]) -> AwsTarget:
    t = r.table(raw, "[targets.aws]", "aws")
    runtime = _runtime(r, "[targets.aws]", "aws", t.get("runtime"), python)
    return AwsTarget(
        runtime=runtime,
        arch=r.choice("[targets.aws]", "arch", t.get("arch", "x86_64"), ARCHES),
        layer=t.get("layer", False),
        region=t.get("region"),
        role=t.get("role"),
        build_image=t.get("build_image"),
        base_image=t.get("base_image"),
        alias=t.get("alias", "live"),
        artifact_bucket=t.get("artifact_bucket"),
        create_bucket=t.get("create_bucket", False),
        compile=t.get("compile", False),
        snap_start=_snap_start(r, t, runtime),
        slim=t.get("slim", False),
        slim_keep=tuple(t.get("slim_keep", ())),
        sdk=r.choice("[targets.aws]", "sdk", t.get("sdk", "bundle"), SDK_MODES),
    )


def _gcp(r: Reader, raw: Any, python: tuple[int, int]) -> GcpTarget:
    t = r.table(raw, "[targets.gcp]", "gcp")
    return GcpTarget(
        runtime=_runtime(r, "[targets.gcp]", "gcp", t.get("runtime"), python),
        region=t.get("region"),
        project=t.get("project"),
        vendor=t.get("vendor", False),
        build_image=t.get("build_image"),
        base_image=t.get("base_image"),
        api_endpoint=t.get("api_endpoint"),
        compile=t.get("compile", False),
    )


def _docker(r: Reader, raw: Any, python: tuple[int, int]) -> DockerTarget:
    t = r.table(raw, "[targets.docker]", "docker")
    py = python if "python" not in t else _python(r, t["python"])
    flavor = r.choice("[targets.docker]", "flavor", t.get("flavor", "http"), FLAVORS)
    arch = r.choice("[targets.docker]", "arch", t.get("arch", "x86_64"), ARCHES)
    return DockerTarget(
        runtime=runtime_name("docker", py),
        flavor=flavor,
        arch=arch,
        base_image=t.get("base_image"),
        build_image=t.get("build_image"),
        repository=t.get("repository"),
        compile=t.get("compile", False),
        cloud_run=_cloud_run(r, t, flavor, arch),
        slim=t.get("slim", False),
        slim_keep=tuple(t.get("slim_keep", ())),
    )


def _dependencies(r: Reader, root: Path, value: str | None) -> Path | None:
    if value is not None:
        return _named_spec(r, "[project]", root, value)
    return _found_spec(root)


def _named_spec(r: Reader, where: str, directory: Path, value: str) -> Path:
    path = directory / value
    if not path.is_file():
        raise r.fail(
            where,
            f' dependencies = "{value}": no such file {path}. Expected '
            "a requirements file, a pyproject.toml or a uv.lock.",
        )
    return path


def _found_spec(directory: Path) -> Path | None:
    """The dependency file of `directory`, by precedence: a lock (uv.lock, poetry.lock, pdm.lock,
    pylock.toml or pylock.NAME.toml, Pipfile.lock), requirements.txt, then a pyproject.toml that
    lists dependencies. Two locks are ambiguous and refused: neither is silently ignored. A
    Poetry project's spec is its pyproject.toml, read with the poetry.lock beside it (its path
    dependencies are named there: deps/locals.py)."""
    locks = lockfiles.found_in(directory)
    if len(locks) > 1:
        raise lockfiles.several(directory, locks)
    if locks:
        lock = locks[0]
        if lock.name == "poetry.lock" and lock.with_name("pyproject.toml").is_file():
            return lock.with_name("pyproject.toml")
        return lock
    for name in DEPENDENCY_FILES:
        path = directory / name
        if path.is_file() and (name != "pyproject.toml" or _has_deps(path)):
            return path
    return None


def _has_deps(pyproject: Path) -> bool:
    """Whether a pyproject.toml lists dependencies: `[project] dependencies` or Poetry's."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return bool(data.get("project", {}).get("dependencies")) or \
        any(name.lower() != "python" for name in poetry)


# Triggers that only some targets have a source for; the others run on every target.
TRIGGER_TARGETS: Final[dict[Trigger, tuple[Target, ...]]] = {
    "stream": ("aws", "docker"),  # Lambda's Kinesis and DynamoDB mappings; docker: lambda flavor
}


def trigger_fits(trigger: Trigger, target: Target, flavor: Flavor | None = None) -> bool:
    """Whether something on `target` (and docker `flavor`) can deliver `trigger`'s events."""
    if target not in TRIGGER_TARGETS.get(trigger, TARGETS):
        return False
    return not (target == "docker" and trigger in TRIGGER_TARGETS and flavor != "lambda")


def style_fits(style: Style, target: Target, flavor: Flavor | None = None) -> bool:
    """Whether a handler of `style` can run on `target` (and docker `flavor`)."""
    if target not in STYLE_TARGETS[style]:
        return False
    if target == "docker" and style == "lambda":
        return flavor == "lambda"
    if target == "docker" and style == "functions-framework":
        return flavor == "http"
    return True
