"""The one adapter over the Docker SDK for running containers, and what every build container gets.

`container()` creates a container and always removes it, on the failure path too (a failed start,
a timeout, Ctrl-C). `build_settings()` is the one place that decides what crosses from the host into
a build container: the CA bundle pip and uv trust (mounted read-only), proxy variables, index
settings and SOURCE_DATE_EPOCH. Users behind a corporate proxy or a private index get the same
resolution inside the container as on their machine. Values may hold credentials: nothing here
logs them, and `redact` is applied to anything shown to the user.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from fpack.errors import ContainerError
from fpack.proc import redact

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

CA_IN_CONTAINER: Final = "/etc/fpack/ca-bundle.pem"
PROXY_ENV: Final = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
)
INDEX_ENV: Final = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INSECURE_HOST",
)
# Where pip, requests and uv look for a CA bundle, in the order a user would expect to win.
CA_ENV: Final = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "UV_CERT", "CURL_CA_BUNDLE")


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


def pip_config_cert() -> Path | None:
    """The `cert` setting of pip's configuration files, if any (global, user, PIP_CONFIG_FILE)."""
    home = Path.home()
    files = [
        Path("/etc/pip.conf"),
        Path("/etc/xdg/pip/pip.conf"),
        home / ".pip/pip.conf",
        home / ".config/pip/pip.conf",
    ]
    if env := os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(env))
    cert = None
    for path in files:  # later files override earlier ones, as in pip
        parser = configparser.ConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(path)
            for section in ("global", "install"):
                if parser.has_option(section, "cert"):
                    cert = Path(parser.get(section, "cert"))
    return cert


def host_ca_bundle() -> Path | None:
    for name in CA_ENV:
        if (value := os.environ.get(name)) and Path(value).is_file():
            return Path(value)
    cert = pip_config_cert()
    return cert if cert is not None and cert.is_file() else None


def build_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """What a build container needs to reach the same package index as the host, reproducibly."""
    environ = os.environ if environ is None else environ
    env = {k: environ[k] for k in (*PROXY_ENV, *INDEX_ENV) if environ.get(k)}
    env["SOURCE_DATE_EPOCH"] = environ.get("SOURCE_DATE_EPOCH", "315532800")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    mounts: tuple[Mount, ...] = ()
    ca = host_ca_bundle()
    if ca is not None:
        mounts = (Mount(source=ca.resolve(), target=CA_IN_CONTAINER),)
        for name in (
            "PIP_CERT",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "UV_CERT",
            "CURL_CA_BUNDLE",
        ):
            env[name] = CA_IN_CONTAINER
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
