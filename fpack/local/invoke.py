"""`fpack invoke`: run a built artifact once, in a container of its target's runtime, and answer.

Everything happens inside one container with the network off; the host only lays files out and
reads one result line. Per target:
    aws zip       the zip in /var/task and its layers in /opt, read-only, on [targets.aws]
                  base_image (default: Lambda's image), as Lambda's unprivileged user; fpack's
                  Runtime API (guest/lambda_rapi.py) hands the event to a bootstrap that runs the
                  handler as Lambda's Python runtime does
    docker image  the image itself: lambda flavor through the same Runtime API to the image's own
                  awslambdaric entry point; http flavor with one request (guest/http_probe.py) to
                  the server its entry point starts
    gcp bundle    the bundle in /workspace under functions-framework, its pinned requirements
                  installed for the Cloud Functions platform by the dependency engine, one request
The artifact is built first when it is stale (`build_stale`), as `fpack deploy` builds.
`events` turns the event file into what each runtime takes and the answer into one shape.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from fpack import container, guest
from fpack.config import Function, Project
from fpack.container import Mount
from fpack.deps import engine
from fpack.deps import spec as dep_spec
from fpack.errors import ContainerError, UsageError
from fpack.inputs import BuildInputs
from fpack.local import events
from fpack.local.events import Family, Reply
from fpack.manifest import AwsFunction, AwsLayer, DockerImage, GcpBundle, Manifest, from_json
from fpack.platforms import ARCHES, RUNTIMES, Platform, Target
from fpack.report import Reporter

RUN_DIR: Final = "/fpack-run"
LAMBDA_USER: Final = "993:990"  # Lambda runs functions as sbx_user1051, not root
SERVE_PORT: Final = 9000  # inside the container: lambda_rapi's invoke endpoint
HTTP_PORT: Final = 8080  # inside the container: $PORT of http images and functions-framework
RESULT_MARK: Final = "FPACK-RESULT "


@dataclass(frozen=True, kw_only=True)
class LocalRun:
    """One container run, decided before anything starts."""

    image: str
    platform: str | None
    entrypoint: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    user: str | None = None
    read_only: bool = False
    timeout: float = 60.0


@dataclass(frozen=True, kw_only=True)
class Invoked:
    reply: Reply
    logs: str  # the function's and its runtime's output


def manifest_path(project: Project, target: Target, name: str, out: Path) -> Path:
    return out / target / f"{name}.manifest.json"


def load_manifest(project: Project, target: Target, name: str, out: Path) -> Manifest:
    """The manifest the last `fpack build` wrote for function `name`, typed."""
    if name not in project.functions:
        raise UsageError(f"{name}: no such function in {project.config_path}; defined: "
                         f"{', '.join(project.functions)}")
    path = manifest_path(project, target, name, out)
    try:
        return from_json(json.loads(path.read_text(encoding="utf-8")), project.root, path)
    except FileNotFoundError as e:
        raise UsageError(f"{path}: no such file: function {name} was not built for {target}",
                         hint=f"run `fpack build --target {target} --function {name}` first") from e
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the manifest ({e})",
                         hint=f"run `fpack build --target {target}` again") from e


def build_stale(project: Project, target: Target, name: str, *, inputs: BuildInputs, out: Path,
                reporter: Reporter) -> Manifest:
    """Build function `name` for `target` if it is stale, as `fpack deploy` does (a fresh
    artifact is left alone), then read the manifest the build wrote: what runs locally is what
    the sources say now, never an artifact older than them."""
    if name not in project.functions:
        raise UsageError(f"{name}: no such function in {project.config_path}; defined: "
                         f"{', '.join(project.functions)}")
    from fpack import build  # noqa: PLC0415 - the build machinery is heavy

    # An artifact built with --arch keeps its arch: rebuilding it for the project's would run
    # another artifact than the one the user made (and fail for an arm64 base image).
    try:
        arch = load_manifest(project, target, name, out).arch
    except UsageError:
        arch = None
    build.build(project, target, inputs=inputs, out=out, reporter=reporter, only=(name,),
                arch="arm64" if arch == "arm64" else "x86_64" if arch == "x86_64" else None)
    return load_manifest(project, target, name, out)


def family(target: Target, manifest: Manifest) -> Family:
    """How events reach the artifact: through the Lambda Runtime API, or over HTTP."""
    if target == "aws" or (isinstance(manifest, DockerImage) and manifest.flavor == "lambda"):
        return "lambda"
    return "http"


def read_event(event_file: Path | None, sample: str | None, fam: Family, trigger: str) -> Any:
    if event_file is not None and sample is not None:
        raise UsageError("--event and --sample: give one of them")
    if event_file is None:
        return events.sample(sample or trigger, fam)
    try:
        return json.loads(event_file.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"--event {event_file}: cannot read: {e.strerror}") from e
    except ValueError as e:
        raise UsageError(f"--event {event_file}: not JSON: {e}") from e


def invoke(project: Project, target: Target, name: str, *, inputs: BuildInputs, out: Path,
           reporter: Reporter, event_file: Path | None = None,
           sample: str | None = None) -> Invoked:
    """Build function `name` for `target` if it is stale, run its artifact once with the event,
    and read its answer."""
    if event_file is not None and sample is not None:  # a usage error, before any build
        raise UsageError("--event and --sample: give one of them")
    manifest = build_stale(project, target, name, inputs=inputs, out=out, reporter=reporter)
    fn = project.functions[name]
    fam = family(target, manifest)
    event = read_event(event_file, sample, fam, fn.trigger)
    payload: Any = events.for_lambda(event, fn.trigger) if fam == "lambda" \
        else events.for_http(event, fn.trigger)
    with tempfile.TemporaryDirectory(prefix="fpack-invoke-") as tmp:
        work = Path(tmp)
        _write(work / "run" / "event.json", json.dumps(payload).encode())
        run = prepare(project, fn, manifest, inputs=inputs, work=work, fam=fam,
                      reporter=reporter)
        reporter.step(f"invoking {name} ({target}) in {run.image}")
        outcome, logs = execute(run)
    reply = events.lambda_reply(outcome, fn.trigger) if fam == "lambda" \
        else events.http_reply(outcome, fn.trigger)
    return Invoked(reply=reply, logs=logs)


def prepare(project: Project, fn: Function, manifest: Manifest, *, inputs: BuildInputs,
            work: Path, fam: Family, reporter: Reporter, serving: bool = False) -> LocalRun:
    """The container run of one artifact: once with an event, or (`serving`) as a server."""
    (work / "run").mkdir(parents=True, exist_ok=True)
    match manifest:
        case AwsFunction():
            return aws_run(project, fn, manifest, work, serving=serving)
        case DockerImage():
            return docker_run(fn, manifest, work, fam, serving=serving)
        case GcpBundle():
            return gcp_run(project, fn, manifest, work, inputs=inputs, reporter=reporter,
                           serving=serving)
        case AwsLayer():
            raise UsageError(f"{manifest.function} is a layer, not a function",
                             hint="invoke a function that uses it")


def driver(fam: Family, work: Path, timeout: float, fn: Function, *,
           serving: bool = False) -> tuple[str, ...]:
    """The in-container program in front of the runtime, copied in: for one run, it delivers
    the event and prints the outcome; for serving, Lambda needs the Runtime API, HTTP nothing."""
    if fam == "lambda":
        shutil.copy(guest.path("lambda_rapi.py"), work / "run" / "lambda_rapi.py")
        mode = ("serve", "--port", str(SERVE_PORT)) if serving else \
            ("invoke", "--event", f"{RUN_DIR}/event.json")
        return ("python3", f"{RUN_DIR}/lambda_rapi.py", *mode, "--timeout", str(timeout),
                "--function-name", fn.name, "--")
    if serving:
        return ()
    shutil.copy(guest.path("http_probe.py"), work / "run" / "http_probe.py")
    return ("python3", f"{RUN_DIR}/http_probe.py", "--request", f"{RUN_DIR}/event.json",
            "--timeout", str(timeout), "--")


def lambda_env(project: Project, fn: Function, handler: str) -> dict[str, str]:
    """The variables Lambda sets for every function, and the function's own."""
    region = project.aws.region or "us-east-1"
    return {"AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region, "_HANDLER": handler, "LAMBDA_TASK_ROOT": "/var/task",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}", "TZ": ":UTC",
            **fn.env}


def aws_run(project: Project, fn: Function, manifest: AwsFunction, work: Path, *,
            serving: bool = False) -> LocalRun:
    """A zip laid out as Lambda lays it out, run by the bootstrap behind the Runtime API."""
    unzip(manifest.path, work / "task")
    (work / "opt").mkdir()
    for layer in manifest.layers:
        unzip(layer, work / "opt")
    platform = _platform("aws", manifest)
    image = project.aws.base_image or platform.runtime.base_image
    handler = manifest.handler or ""
    command = (*driver("lambda", work, fn.timeout, fn, serving=serving), "python3",
               f"{RUN_DIR}/lambda_rapi.py", "bootstrap", handler)
    return LocalRun(
        image=image, platform=platform.docker_platform, entrypoint=command,
        env=lambda_env(project, fn, handler), user=LAMBDA_USER, read_only=True,
        mounts=_mounts(work, {"task": "/var/task", "opt": "/opt", "run": RUN_DIR}),
        timeout=fn.timeout + 60,
    )


def _platform(target: Target, manifest: Manifest) -> Platform:
    """The manifest's runtime and arch as the platform table knows them."""
    runtime = RUNTIMES[target].get(manifest.runtime)
    if runtime is None or manifest.arch not in ARCHES:
        raise UsageError(f"{manifest.function}: the manifest names {manifest.runtime} "
                         f"{manifest.arch}, which this version of fpack does not know",
                         hint=f"run `fpack build --target {target}` again")
    return Platform(runtime=runtime, arch="arm64" if manifest.arch == "arm64" else "x86_64")


def docker_run(fn: Function, manifest: DockerImage, work: Path, fam: Family, *,
               serving: bool = False) -> LocalRun:
    """The image itself, its own entry point started behind the driver."""
    info = container.image_info(container.client(), manifest.image_id)
    if info is None:
        raise UsageError(f"image {manifest.image} ({manifest.image_id[:19]}) is not in the "
                         "Docker engine", hint="run `fpack build --target docker` again")
    platform = _platform("docker", manifest).docker_platform
    timeout = fn.timeout if fam == "lambda" else 60
    env = lambda_env_minimal(fn) if fam == "lambda" else {}
    return LocalRun(
        image=info.id, platform=platform,
        entrypoint=(*driver(fam, work, timeout, fn, serving=serving), *info.entrypoint,
                    *info.cmd), env=env,
        user=info.user or None, read_only=fam == "lambda",
        mounts=_mounts(work, {"run": RUN_DIR}), timeout=timeout + 60,
    )


def lambda_env_minimal(fn: Function) -> dict[str, str]:
    return {"AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_REGION": "us-east-1"}


def gcp_run(project: Project, fn: Function, manifest: GcpBundle, work: Path, *,
            inputs: BuildInputs, reporter: Reporter, serving: bool = False) -> LocalRun:
    """A source bundle as Cloud Functions runs it: its requirements installed (here by the
    dependency engine, for the runtime's platform), functions-framework serving the file the
    bundle's build_env names (GOOGLE_FUNCTION_SOURCE; main.py, Google's default, without it)."""
    unzip(manifest.path, work / "workspace")
    platform = _platform("gcp", manifest)
    runtime = platform.runtime
    handler = manifest.handler or fn.name
    requirements = (work / "workspace" / "requirements.txt").read_bytes()
    _unpack_deps(_bundle_deps(project, requirements, platform, inputs, reporter), work / "deps")
    signature = "http" if fn.trigger == "http" else "cloudevent"
    command = (*driver("http", work, 60, fn, serving=serving), "python3", "-m",
               "functions_framework",
               "--target", handler, "--source", f"/workspace/{_function_source(manifest)}",
               "--signature-type", signature)
    return LocalRun(
        image=project.gcp.base_image or runtime.base_image, platform=platform.docker_platform,
        entrypoint=command, user="65532:65532",
        env={"PYTHONPATH": "/workspace:/layers/deps", "HOME": "/tmp",  # noqa: S108 - no home
             "K_SERVICE": fn.name,
             "FUNCTION_TARGET": handler, **fn.env},
        mounts=_mounts(work, {"workspace": "/workspace", "deps": "/layers/deps", "run": RUN_DIR}),
    )


def _function_source(manifest: GcpBundle) -> str:
    """The file functions-framework loads, as Google's build picks it: GOOGLE_FUNCTION_SOURCE
    from the build environment the deploy sets, else main.py."""
    return manifest.build_env.get("GOOGLE_FUNCTION_SOURCE") or "main.py"


def _bundle_deps(project: Project, requirements: bytes, platform: Platform,
                 inputs: BuildInputs, reporter: Reporter) -> engine.Dependencies:
    """The bundle's requirements.txt, installed for `platform`; cached by content like any spec."""
    cache = inputs.cache
    name = "bundle-" + hashlib.sha256(requirements).hexdigest()[:16]
    path = cache.file("resolve", name, ".txt")
    if not path.is_file():
        path = cache.write_file("resolve", name, ".txt", requirements)
    spec = dep_spec.read(path, project.config_path)
    return engine.prepare(spec, platform, inputs, reporter)


def _unpack_deps(deps: engine.Dependencies, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if deps.archive is not None:
        unzip(deps.archive, dest)


def _mounts(work: Path, where: Mapping[str, str]) -> tuple[Mount, ...]:
    for path in (work, *work.rglob("*")):
        if path.is_dir():
            path.chmod(0o755)  # the function's user is not the host's
    return tuple(Mount(source=work / name, target=target) for name, target in where.items())


def unzip(archive: Path, dest: Path) -> None:
    """Extract with the modes recorded in the zip, as Lambda and Cloud Build do."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if info.is_dir():
                (dest / info.filename).mkdir(parents=True, exist_ok=True)
                continue
            mode = (info.external_attr >> 16) & 0o777
            _write(dest / info.filename, z.read(info), mode or 0o644)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def execute(run: LocalRun) -> tuple[dict[str, Any], str]:
    """Run the container to completion: (the driver's outcome, everything else it printed)."""
    options: dict[str, Any] = {"entrypoint": list(run.entrypoint)}
    if run.read_only:
        options.update(read_only=True, tmpfs={"/tmp": "rw,mode=1777"})  # noqa: S108 - Lambda's /tmp
    with container.container(run.image, [], platform=run.platform, env=dict(run.env),
                             # copied in, never bind-mounted: the engine may be remote
                             copy_in={m.target: m.source for m in run.mounts}, network=False,
                             user=run.user, **options) as ctr:
        ctr.start()
        try:
            status = ctr.wait(timeout=run.timeout)
        except Exception as e:
            raise ContainerError(f"{run.image}: no answer within {run.timeout:.0f} s") from e
        out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
        err = ctr.logs(stdout=False, stderr=True).decode(errors="replace")
    return parse_outcome(out, err, int(status.get("StatusCode", 1)), run.image)


def parse_outcome(out: str, err: str, status: int, image: str) -> tuple[dict[str, Any], str]:
    lines = out.splitlines()
    marked = [line for line in lines if line.startswith(RESULT_MARK)]
    logs = "\n".join([*(line for line in lines if not line.startswith(RESULT_MARK)), err]).strip()
    if not marked:
        tail = "\n".join(logs.splitlines()[-15:])
        raise ContainerError(f"{image}: the local run ended (exit status {status}) without a "
                             f"result:\n{tail}", hint="check that the image has python3 on its "
                             "PATH, and run `fpack build` again")
    return dict(json.loads(marked[-1][len(RESULT_MARK):])), logs
