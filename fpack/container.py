"""The one adapter over the Docker SDK for running containers, and what every build container gets.

`container()` creates a container and always removes it, on the failure path too (a failed start,
a timeout, Ctrl-C). `build_settings()` is the one place that decides what crosses from the host into
a build container: the CA bundle pip and uv trust (mounted read-only), proxy variables, index
settings and SOURCE_DATE_EPOCH. Users behind a corporate proxy or a private index get the same
resolution inside the container as on their machine. Values may hold credentials: nothing here
logs them, and `redact` is applied to anything shown to the user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from fpack.errors import ContainerError
from fpack.inputs import CA_ENV, BuildInputs
from fpack.proc import redact

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

CA_IN_CONTAINER: Final = "/etc/fpack/ca-bundle.pem"


@dataclass(frozen=True, kw_only=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Environment and mounts for a build container."""

    env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()


def build_settings(inputs: BuildInputs) -> Settings:
    """What a build container needs to reach the same package index as the host, reproducibly:
    the proxy variables, the index settings as pip reads them, SOURCE_DATE_EPOCH and the CA
    bundle (mounted read-only, and named by every variable a tool might read it from)."""
    env = {**inputs.proxy, **inputs.index.pip_env()}
    env["SOURCE_DATE_EPOCH"] = str(inputs.epoch)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    mounts: tuple[Mount, ...] = ()
    if inputs.ca_bundle is not None:
        mounts = (Mount(source=inputs.ca_bundle.resolve(), target=CA_IN_CONTAINER),)
        env.update(dict.fromkeys(CA_ENV, CA_IN_CONTAINER))
    return Settings(env=env, mounts=mounts)


def client() -> docker.DockerClient:
    import docker  # noqa: PLC0415 - heavy; only commands that run containers pay for it

    try:
        c = docker.from_env(timeout=900)
        c.ping()
    except Exception as e:
        raise ContainerError(
            f"cannot reach the Docker engine ({redact(str(e))})",
            hint="start Docker (or set DOCKER_HOST); fpack needs it for container builds, "
            "docker images and local runs",
        ) from e
    return c


def ensure_image(c: docker.DockerClient, image: str, platform: str | None) -> None:
    """Pull `image` unless it is present (lab and mirror images are often only local)."""
    import docker.errors  # noqa: PLC0415

    try:
        c.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    try:
        c.images.pull(image, platform=platform)
    except docker.errors.APIError as e:
        raise ContainerError(
            f"cannot pull image {image}: {redact(str(e.explanation or e))}",
            hint="check the name and your registry login, or point the target's build_image / "
            "base_image at a mirror you can reach",
        ) from e


def _network_mode(network: bool | Literal["host"]) -> str | None:
    if network == "host":
        return "host"
    return None if network else "none"


@contextlib.contextmanager
def container(
    image: str,
    command: Sequence[str],
    *,
    platform: str | None = None,
    settings: Settings = Settings(),
    mounts: Sequence[Mount] = (),
    env: Mapping[str, str] | None = None,
    network: bool | Literal["host"] = True,
    user: str | None = None,
    workdir: str | None = None,
    ports: Mapping[str, int | tuple[str, int]] | None = None,
    **options: Any,
) -> Iterator[Container]:
    """A created container (not started), removed when the block exits however it exits.

    `network`: True for Docker's default bridge, False for none, "host" for the host's network
    (build containers: an index or proxy on the host's loopback keeps its name and certificate).
    """
    c = client()
    ensure_image(c, image, platform)
    volumes = {
        str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
        for m in (*settings.mounts, *mounts)
    }
    created = None
    try:
        created = c.containers.create(
            image,
            list(command),
            platform=platform,
            environment={**settings.env, **(env or {})},
            volumes=volumes,
            network_mode=_network_mode(network),
            user=user,
            working_dir=workdir,
            ports=dict(ports or {}),
            **options,
        )
        yield created
    finally:
        if created is not None:
            with contextlib.suppress(Exception):
                created.remove(force=True)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    exit_code: int
    stdout: str
    stderr: str


def run(image: str, command: Sequence[str], *, timeout: float = 1800, **kwargs: Any) -> RunResult:
    """Run a command in a fresh container to completion and collect its output."""
    with container(image, command, **kwargs) as ctr:
        ctr.start()
        try:
            status = ctr.wait(timeout=timeout)
        except Exception as e:
            raise ContainerError(
                f"{image}: {' '.join(command)[:80]} did not finish in {timeout:.0f} s"
            ) from e
        out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
        err = ctr.logs(stdout=False, stderr=True).decode(errors="replace")
        return RunResult(exit_code=int(status.get("StatusCode", 1)), stdout=out, stderr=err)


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    id: str
    size: int
    architecture: str
    layers: tuple[str, ...]  # the root filesystem's layer diff ids, base image first
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""
    # `repository@sha256:…` for every registry the image was pushed to (or pulled from).
    repo_digests: tuple[str, ...] = ()

    def digest_in(self, repository: str) -> str | None:
        """The image's digest in `repository`, when the engine recorded one."""
        for entry in self.repo_digests:
            repo, _, digest = entry.partition("@")
            if repo == repository:
                return digest
        return None


def image_info(c: docker.DockerClient, reference: str) -> BuiltImage | None:
    """What the engine knows of a local image, or None when it has no such image."""
    import docker.errors  # noqa: PLC0415

    try:
        attrs = c.images.get(reference).attrs
    except docker.errors.ImageNotFound:
        return None
    config = attrs.get("Config") or {}
    return BuiltImage(
        id=attrs["Id"],
        size=int(attrs.get("Size", 0)),
        architecture=attrs.get("Architecture", ""),
        layers=tuple(attrs.get("RootFS", {}).get("Layers", [])),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        user=config.get("User") or "",
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
    )


def build_image(
    context: Path,
    *,
    base_image: str,
    tags: Sequence[str],
    platform: str,
    labels: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
) -> BuiltImage:
    """`docker build` of a prepared context with no network (everything is in the context), the
    base image taken from the engine (pulled first when missing), every tag applied."""
    c = client()
    ensure_image(c, base_image, platform)
    stream = c.api.build(
        path=str(context),
        tag=tags[0],
        platform=platform,
        labels=dict(labels),
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
        network_mode="none",
    )
    image_id = None
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise ContainerError(f"docker build of {tags[0]} failed: {redact(str(detail).strip())}")
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        if on_line is not None and (text := str(chunk.get("stream", "")).strip()):
            on_line(text)
    if image_id is None:
        raise ContainerError(f"docker build of {tags[0]} ended without an image id")
    for tag in tags[1:]:
        repository, _, name = tag.rpartition(":")
        c.api.tag(image_id, repository, name)
    info = image_info(c, image_id)
    assert info is not None
    return info


def tag_image(reference: str, tag: str) -> None:
    """Point `tag` (repository:name) at the image `reference`."""
    repository, _, name = tag.rpartition(":")
    client().api.tag(reference, repository, name)
