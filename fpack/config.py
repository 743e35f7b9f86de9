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

from fpack import schedules
from fpack.config_schema import (
    HANDLER_RE,
    NAME_RE,
    PY_RE,
    Reader,
    quote,
    suggest,
    toml_value,
)
from fpack.errors import ConfigError
from fpack.platforms import ARCHES, DEFAULT_PYTHON, RUNTIMES, TARGETS, Arch, Target, runtime_name
from fpack.runtime.web import WEB_STYLES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

Trigger = Literal["http", "storage", "queue", "schedule"]
Style = Literal["portable", "lambda", "functions-framework", "asgi", "wsgi"]
Flavor = Literal["http", "lambda"]
# Each alias's members, typed as the alias (get_args gives tuple[Any, ...]), for `Reader.choice`.
TRIGGERS: Final[tuple[Trigger, ...]] = get_args(Trigger)
STYLES: Final[tuple[Style, ...]] = get_args(Style)
FLAVORS: Final[tuple[Flavor, ...]] = get_args(Flavor)
CONFIG_NAME: Final = "fpack.toml"
DEPENDENCY_FILES: Final = ("uv.lock", "requirements.txt", "pyproject.toml")

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

    @property
    def handler(self) -> str:
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True, kw_only=True)
class AwsTarget:
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


@dataclass(frozen=True, kw_only=True)
class GcpTarget:
    runtime: str
    region: str | None = None
    project: str | None = None
    vendor: bool = False
    build_image: str | None = None
    base_image: str | None = None
    api_endpoint: str | None = None  # Cloud Functions API; FPACK_GCP_API_ENDPOINT overrides
    compile: bool = False  # ship bytecode compiled by the target's Python (deps/bytecode.py)


@dataclass(frozen=True, kw_only=True)
class DockerTarget:
    runtime: str
    flavor: Flavor = "http"
    arch: Arch = "x86_64"
    base_image: str | None = None
    build_image: str | None = None
    repository: str | None = None
    compile: bool = False  # ship bytecode compiled by the target's Python (deps/bytecode.py)


@dataclass(frozen=True, kw_only=True)
class CheckSettings:
    """[check]: what `fpack check` (and the secrets refusal of `fpack build`) lets through."""

    allow: tuple[str, ...] = ()  # globs of packaged files allowed to look like secrets


@dataclass(frozen=True, kw_only=True)
class Project:
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
    tables = ["project", "functions", "targets", "check"]
    for key in sorted(set(raw) - set(tables)):
        raise r.fail(
            "",
            f"unknown table [{key}].{suggest(key, tables)} "
            "Allowed: [project], [functions.NAME], [targets.aws|gcp|docker], [check].",
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
    functions = _functions(r, raw.get("functions"))
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
        dependencies=_dependencies(r, root, proj.get("dependencies")),
        include=tuple(proj["include"]) if "include" in proj else None,
        exclude=tuple(proj.get("exclude", [])),
        functions=functions,
        aws=_aws(r, targets.get("aws", {}), python),
        gcp=_gcp(r, targets.get("gcp", {}), python),
        docker=_docker(r, targets.get("docker", {}), python),
        targets=tuple(t for t in TARGETS if t in targets),
        check=_check(r, raw.get("check", {})),
    )


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


def _functions(r: Reader, raw: Any) -> dict[str, Function]:
    if not raw:
        raise r.fail(
            "",
            "no functions: add at least one [functions.NAME] table with a handler, "
            'e.g.\n  [functions.hello]\n  handler = "app:hello"',
        )
    if not isinstance(raw, dict):
        raise r.fail("", "[functions]: expected tables [functions.NAME]")
    return {name: _function(r, name, table) for name, table in raw.items()}


def _function(r: Reader, name: str, raw: Any) -> Function:
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
        raise r.fail(
            where,
            f' handler = "{handler}": expected "module:attribute", e.g. '
            '"app.images:resize" (a dotted module path, a colon, a function name).',
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
    )


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
}


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
        schedules.check_form(t["schedule"], where=f"{r.path}: {where}")
    keys = ("url", "bucket", "queue", "topic", "schedule", "max_instances")
    return {k: t[k] for k in keys if k in t}


def _runtime(
    r: Reader, where: str, target: Target, value: str | None, python: tuple[int, int]
) -> str:
    name = value if value is not None else runtime_name(target, python)
    return r.choice(where, "runtime", name, tuple(RUNTIMES[target]))


def _aws(r: Reader, raw: Any, python: tuple[int, int]) -> AwsTarget:
    t = r.table(raw, "[targets.aws]", "aws")
    return AwsTarget(
        runtime=_runtime(r, "[targets.aws]", "aws", t.get("runtime"), python),
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
    return DockerTarget(
        runtime=runtime_name("docker", py),
        flavor=r.choice("[targets.docker]", "flavor", t.get("flavor", "http"), FLAVORS),
        arch=r.choice("[targets.docker]", "arch", t.get("arch", "x86_64"), ARCHES),
        base_image=t.get("base_image"),
        build_image=t.get("build_image"),
        repository=t.get("repository"),
        compile=t.get("compile", False),
    )


def _dependencies(r: Reader, root: Path, value: str | None) -> Path | None:
    if value is not None:
        path = root / value
        if not path.is_file():
            raise r.fail(
                "[project]",
                f' dependencies = "{value}": no such file {path}. Expected '
                "a requirements file, a pyproject.toml or a uv.lock.",
            )
        return path
    for name in DEPENDENCY_FILES:
        if (root / name).is_file() and (name != "pyproject.toml" or _has_deps(root / name)):
            return root / name
    return None


def _has_deps(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(data.get("project", {}).get("dependencies"))


def style_fits(style: Style, target: Target, flavor: Flavor | None = None) -> bool:
    """Whether a handler of `style` can run on `target` (and docker `flavor`)."""
    if target not in STYLE_TARGETS[style]:
        return False
    if target == "docker" and style == "lambda":
        return flavor == "lambda"
    if target == "docker" and style == "functions-framework":
        return flavor == "http"
    return True
