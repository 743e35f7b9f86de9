"""The Docker target: one image per function, built with the Docker SDK from a rendered Dockerfile.

The build context is laid out on the host and holds everything the image needs, so the build runs
with the network off, behind any proxy, and gives the same layers for the same inputs:
    deps/     the dependency tree resolved and audited for the image's platform (engine.prepare)
    runtime/  fpack's portable runtime, plus the runtime's own client (awslambdaric for the lambda
              flavor, functions-framework for that style), resolved for the same platform
    app/      the project's sources and, for the lambda flavor, the generated entry module
The Dockerfile copies them in that order, from what changes least to what changes most, so a handler
edit rebuilds only the last layer. There is no RUN step (no pip, no shell): an arm64 image builds
without emulation, and the base may be any image with a `python3` on its PATH. Every file's mtime is
pinned to SOURCE_DATE_EPOCH so that unchanged inputs give unchanged layers.

Tags: `<repository>/<function>:<content hash>` and `:latest`; the hash covers the Dockerfile, every
file of the context and the base image's id, so an image already tagged with it is not rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from fpack import container
from fpack.config import Function
from fpack.deps import engine
from fpack.deps import spec as dep_spec
from fpack.deps.engine import Dependencies, Package
from fpack.errors import BuildError, ConfigError
from fpack.layout import Bytecode, FileEntry, ImagePlan, file_inputs, source_entries
from fpack.manifest import DockerImage
from fpack.plan import BuildPlan, FunctionPlan, bytecode_image, package_inputs, setting_inputs
from fpack.platforms import Platform
from fpack.report import Reporter
from fpack.sources import SourceFile, digest
from fpack.targets.aws import entry_source
from fpack.templating import render

IMAGE_FORMAT: Final = "2"  # bump when the layout or the Dockerfiles change meaning
DEPS_DIR: Final = "/opt/fpack/deps"
RUNTIME_DIR: Final = "/opt/fpack/runtime"
APP_DIR: Final = {"http": "/app", "lambda": "/var/task"}  # Lambda's LAMBDA_TASK_ROOT
USER: Final = "65532:65532"  # the conventional "nonroot" uid/gid of distroless images
# What the image's entry point needs besides fpack's runtime, pinned: images stay reproducible.
# awslambdaric 4.x publishes no Python 3.9 wheels: https://pypi.org/project/awslambdaric/#files
RUNTIME_CLIENTS: Final = {
    "lambda": 'awslambdaric==4.2.2; python_version >= "3.10"\n'
              'awslambdaric==3.1.1; python_version < "3.10"\n',
    # watchdog 7.1.0 publishes two wheels for one platform, which the engine refuses (see gcp.py)
    "functions-framework": "functions-framework==3.10.2\nwatchdog!=7.1.0\n",
    # styles asgi / wsgi: the server fpack.runtime.appserver runs the web app under. Their newest
    # releases need Python 3.10: https://pypi.org/project/uvicorn/ https://pypi.org/project/gunicorn/
    "asgi": 'uvicorn==0.54.0; python_version >= "3.10"\n'
            'uvicorn==0.39.0; python_version < "3.10"\n',
    "wsgi": 'gunicorn==27.0.1; python_version >= "3.10"\n'
            'gunicorn==23.0.0; python_version < "3.10"\n',
}  # fmt: skip
# A repository as Docker reads it: lower-case path components, an optional registry port.
_REFERENCE: Final = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """Everything about one function's image that is decided before anything is built."""

    dockerfile: str
    entry: str | None  # the generated entry module's source (lambda flavor), else None
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]


def base_image(plan: BuildPlan) -> str:
    """[targets.docker] base_image, else the real default for the flavor and Python."""
    if plan.project.docker.base_image:
        return plan.project.docker.base_image
    if plan.project.docker.flavor == "lambda":
        return f"public.ecr.aws/lambda/python:{plan.platform.python_version}"
    return plan.platform.runtime.base_image


def repository(plan: BuildPlan) -> str:
    """Where the images are tagged: [targets.docker] repository, else the project's name."""
    configured = plan.project.docker.repository
    repo = configured if configured is not None else plan.project.name.lower()
    if not _REFERENCE.match(repo):
        raise ConfigError(
            f'{plan.project.config_path}: [targets.docker] repository = "{repo}": expected an '
            'image repository in lower case, e.g. "ghcr.io/me/photos" or "localhost:5000/photos"')
    return repo


def client_kind(plan: BuildPlan, fn: Function) -> str | None:
    """Which runtime client the image needs (a key of RUNTIME_CLIENTS), if any."""
    if plan.project.docker.flavor == "lambda":
        return "lambda"
    if fn.style in ("asgi", "wsgi"):
        return fn.style  # the lambda flavor runs web apps through the aws runtime's bridges
    return "functions-framework" if fn.style == "functions-framework" else None


def command(plan: BuildPlan, fp: FunctionPlan) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ENTRYPOINT, CMD) of the function's image."""
    fn = fp.function
    if plan.project.docker.flavor == "lambda":
        return ("python3", "-m", "awslambdaric"), (fp.handler_setting,)
    if fn.style == "functions-framework":
        source = f"{APP_DIR['http']}/{fn.module.replace('.', '/')}.py"
        signature = "http" if fn.trigger == "http" else "cloudevent"
        return ("python3", "-m", "functions_framework"), (
            "--target", fn.attr, "--source", source, "--signature-type", signature)
    return ("python3", "-m", "fpack.runtime.server"), (
        fn.handler, "--trigger", fn.trigger, "--style", fn.style,
        *(("--base-path", fn.base_path) if fn.base_path else ()))


def image_spec(plan: BuildPlan, fp: FunctionPlan, base: str) -> ImageSpec:
    """The Dockerfile and entry module of one function: pure, so it is tested as data."""
    flavor = plan.project.docker.flavor
    entrypoint, cmd = command(plan, fp)
    app = APP_DIR[flavor]
    labels = {"org.opencontainers.image.title": fp.function.name,
              "dev.fpack.function": fp.function.name, "dev.fpack.trigger": fp.function.trigger,
              "dev.fpack.flavor": flavor, "dev.fpack.handler": fp.handler_setting}
    dockerfile = render(
        f"Dockerfile.{flavor}.j2", plan.inputs.cache, name=fp.function.name,
        base_image=base,
        pythonpath=f"{app}:{RUNTIME_DIR}:{DEPS_DIR}", deps_dir=DEPS_DIR, runtime_dir=RUNTIME_DIR,
        app_dir=app, user=USER, entrypoint=json.dumps(list(entrypoint)), cmd=json.dumps(list(cmd)),
        env=[(k, json.dumps(v)) for k, v in sorted(fp.function.env.items())],
        labels=[(k, json.dumps(v)) for k, v in sorted(labels.items())],
    )
    entry = entry_source(plan, fp) if flavor == "lambda" else None
    return ImageSpec(dockerfile=dockerfile, entry=entry, entrypoint=entrypoint, cmd=cmd)


def content_hash(spec: ImageSpec, *, code: Iterable[SourceFile], deps_key: str,
                 client_key: str, base_id: str, platform: Platform, epoch_setting: str,
                 compiled: bool = False) -> str:
    """The tag: every input of the image, so equal tags mean equal images."""
    parts = (IMAGE_FORMAT, epoch_setting, spec.dockerfile, spec.entry or "", digest(code),
             deps_key, client_key, base_id, platform.key(), "pyc" if compiled else "")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Base:
    """What the engine knows of the base image and the repository, read before planning."""

    image: str
    image_id: str
    repository: str


def plan_artifacts(bp: BuildPlan, deps: Dependencies, reporter: Reporter) -> tuple[ImagePlan, ...]:
    """The TargetBuilder step: the base image's id and the runtime clients, then plan."""
    base = base_image(bp)
    repo = repository(bp)
    c = container.client()
    container.ensure_image(c, base, bp.platform.docker_platform)
    base_info = container.image_info(c, base)
    assert base_info is not None
    clients = {kind: _runtime_client(bp, kind, reporter)
               for kind in {client_kind(bp, fp.function) for fp in bp.functions} if kind}
    return plan(bp, deps, Base(image=base, image_id=base_info.id, repository=repo), clients)


def plan(bp: BuildPlan, deps: Dependencies, base: Base,
         clients: Mapping[str, Dependencies]) -> tuple[ImagePlan, ...]:
    """The image of every function (pure): its build context and content-hash tag."""
    return tuple(_image(bp, fp, deps, base, clients.get(client_kind(bp, fp.function) or ""))
                 for fp in bp.functions)


def _image(bp: BuildPlan, fp: FunctionPlan, deps: Dependencies, base: Base,
           client: Dependencies | None) -> ImagePlan:
    spec = image_spec(bp, fp, base.image)
    code = (*bp.sources, *bp.runtime)
    compiled = bp.project.docker.compile
    key = content_hash(spec, code=code, deps_key=deps.key, client_key=client.key if client else "",
                       base_id=base.image_id, platform=bp.platform,
                       epoch_setting=bp.inputs.epoch_setting, compiled=compiled)
    name = f"{base.repository}/{fp.function.name.lower()}"
    tags = (f"{name}:{key[:12]}", f"{name}:latest")
    context = _context(bp, spec)
    unpacked = deps.unpacked_size + sum(f.size for f in code) + len((spec.entry or "").encode()) \
        + (client.unpacked_size if client else 0)
    manifest = DockerImage(
        function=fp.function.name, target="docker", runtime=bp.platform.runtime.name,
        arch=bp.platform.arch, handler=fp.handler_setting, sha256="", size=0,
        unpacked_size=unpacked, packages=deps.packages + _client_packages(client),
        manifest_path=fp.manifest, image=tags[0], image_id="", tags=tags, base_image=base.image,
        flavor=bp.project.docker.flavor, slim=deps.slim)
    return ImagePlan(
        key=key, inputs={**file_inputs(context), **package_inputs(deps),
                         "base image": base.image_id, **setting_inputs(bp, compile=compiled)},
        context=context, deps_archive=deps.archive,
        client_archive=client.archive if client else None,
        bytecode=Bytecode(platform=bp.platform, image=bytecode_image(bp, bp.project.docker))
        if compiled else None,
        base_image=base.image, platform=bp.platform, manifest=manifest)


def _context(bp: BuildPlan, spec: ImageSpec) -> tuple[FileEntry, ...]:
    """The build context's own files (the dependency archives are unpacked beside them)."""
    files = [*source_entries(bp.runtime, "runtime/"), *source_entries(bp.sources, "app/")]
    if spec.entry is not None:
        files.append(FileEntry(name="app/fpack_entry.py", data=spec.entry.encode()))
    files.append(FileEntry(name="Dockerfile", data=spec.dockerfile.encode()))
    files.append(FileEntry(name=".dockerignore", data=render(
        "dockerignore.j2", bp.inputs.cache, compiled=bp.project.docker.compile).encode()))
    return tuple(files)


def _client_packages(client: Dependencies | None) -> tuple[Package, ...]:
    return client.packages if client is not None else ()


def check_arch(image: container.BuiltImage, platform: Platform, base: str) -> None:
    want = "amd64" if platform.arch == "x86_64" else "arm64"
    if image.architecture != want:
        raise BuildError(
            f"the image built from {base} is {image.architecture or 'of unknown architecture'}, "
            f"expected {want} for {platform.label}",
            hint=f"point [targets.docker] base_image at an image for {platform.docker_platform}, "
            "or pull the base image for that platform",
        )


def _runtime_client(bp: BuildPlan, kind: str, reporter: Reporter) -> Dependencies:
    """The runtime client's packages for the image's platform, through the same engine as the
    user's dependencies (cached, audited). Its requirements file lives in the cache, named by
    its content, so its resolution is cached like any other."""
    text = RUNTIME_CLIENTS[kind]
    cache = bp.inputs.cache
    name = f"client-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    path = cache.file("resolve", name, ".txt")
    if not path.is_file():
        path = cache.write_file("resolve", name, ".txt", text.encode())
    spec = dep_spec.read(path, bp.project.config_path)
    return engine.prepare(spec, bp.platform, bp.inputs, reporter)


