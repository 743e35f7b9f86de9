"""The one adapter over the Docker SDK for running containers, and what every build container gets.

`container()` creates a container and always removes it, on the failure path too (a failed start,
a timeout, Ctrl-C). `build_settings()` is the one place that decides what crosses from the host into
a build container: the CA bundle pip and uv trust (copied in), proxy variables, index settings and
SOURCE_DATE_EPOCH. Users behind a corporate proxy or a private index get the same resolution inside
the container as on their machine. Values may hold credentials: nothing here logs them, and
`redact` is applied to anything shown to the user.

Files cross through the Docker API, never through bind mounts: `copy_in` puts host files and
directories into the created container before it starts (one tar stream, `put_archive`), and
`copy_out` takes a directory back after it stops (`get_archive`). The engine may be on another
machine (`DOCKER_HOST=ssh://…`, a CI runner's Docker-in-Docker, Podman) and see none of this
machine's paths: a bind mount there silently gives the container an empty directory. Copying into
a container's filesystem writes no image layer (nothing is ever committed), so the CA bundle and
the sources never end up in an image. `engine()` says which engine: DOCKER_HOST, else the Docker
CLI's current context, else the default socket, else a Podman socket.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, Final, Literal

from fpack.errors import ContainerError
from fpack.inputs import CA_ENV, BuildInputs
from fpack.proc import redact

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

CA_IN_CONTAINER: Final = "/etc/fpack/ca-bundle.pem"
_API_TIMEOUT: Final = 900  # seconds per API call: a copy of a large tree to a remote engine is one
DEFAULT_SOCKET: Final = Path("/var/run/docker.sock")
# Where Podman's Docker-compatible API listens (`systemctl --user enable --now podman.socket`;
# the second is the system service's).
PODMAN_SOCKETS: Final = (Path(f"/run/user/{os.getuid()}/podman/podman.sock"),
                         Path("/run/podman/podman.sock"))


@dataclass(frozen=True, kw_only=True)
class Mount:
    """A bind mount: only for an engine that shares this machine's filesystem (the lab's own
    tests). fpack's containers take their files through `copy_in` instead."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Environment and files for a build container: `files` maps a path in the container to the
    host file copied there before it starts."""

    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)


def build_settings(inputs: BuildInputs) -> Settings:
    """What a build container needs to reach the same package index as the host, reproducibly:
    the proxy variables, the index settings as pip reads them, SOURCE_DATE_EPOCH and the CA
    bundle (copied to one fixed path, and named there by every variable a tool might read it
    from: the host's path means nothing on another machine)."""
    env = {**inputs.proxy, **inputs.index.pip_env()}
    env["SOURCE_DATE_EPOCH"] = str(inputs.epoch)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    files: dict[str, Path] = {}
    if inputs.ca_bundle is not None:
        files[CA_IN_CONTAINER] = inputs.ca_bundle.resolve()
        env.update(dict.fromkeys(CA_ENV, CA_IN_CONTAINER))
    return Settings(env=env, files=files)


# --- which engine ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Engine:
    """Where the Docker API is: the SDK client's arguments, and what chose them (for errors)."""

    params: Mapping[str, Any]  # base_url and tls for docker.DockerClient; empty: the SDK's default
    source: str

    @property
    def url(self) -> str:
        return str(self.params.get("base_url") or f"unix://{DEFAULT_SOCKET}")


def engine() -> Engine:
    """The engine the Docker CLI would talk to: DOCKER_HOST (with DOCKER_TLS_VERIFY and
    DOCKER_CERT_PATH, read by the SDK), else DOCKER_CONTEXT or the context `docker context use`
    chose (config.json's currentContext, its endpoint and TLS files read by the SDK's ContextAPI),
    else the default socket, else a Podman socket when only Podman is there."""
    import docker  # noqa: PLC0415 - heavy; only commands that run containers pay for it
    from docker.context import ContextAPI  # noqa: PLC0415
    from docker.context.config import get_current_context_name  # noqa: PLC0415

    params = docker.utils.kwargs_from_env()
    if "base_url" in params:
        return Engine(params=params, source="DOCKER_HOST")
    # The one variable read here: it names which engine, not an input of what is built.
    chosen = os.environ.get("DOCKER_CONTEXT")
    name = chosen or get_current_context_name()
    if name and name != "default":
        where = "DOCKER_CONTEXT" if chosen else "the Docker CLI's current context"
        context = ContextAPI.get_context(name)
        if context is None or not context.Host:
            raise ContainerError(
                f"the Docker context {name!r} ({where}) does not exist or names no engine",
                hint="list them with `docker context ls`; choose one with `docker context use "
                "NAME` or DOCKER_CONTEXT, or set DOCKER_HOST",
            )
        found: dict[str, Any] = {"base_url": context.Host}
        if context.TLSConfig is not None:
            found["tls"] = context.TLSConfig
        return Engine(params=found, source=f"Docker context {name!r}")
    if not DEFAULT_SOCKET.exists():
        for socket in PODMAN_SOCKETS:
            if socket.exists():
                return Engine(params={"base_url": f"unix://{socket}"}, source="the Podman socket")
    return Engine(params={}, source="the default socket")


def client() -> docker.DockerClient:
    import docker  # noqa: PLC0415 - heavy; only commands that run containers pay for it

    where = engine()
    try:
        # ssh:// through the ssh binary, as the Docker CLI does: ~/.ssh/config, agents and
        # known_hosts apply, and paramiko is not needed.
        c = docker.DockerClient(**where.params, timeout=_API_TIMEOUT,
                                use_ssh_client=where.url.startswith("ssh://"))
        c.ping()
    except Exception as e:
        raise ContainerError(
            f"cannot reach the Docker engine at {redact(where.url)} (from {where.source}): "
            f"{redact(str(e))}",
            hint="start Docker or Podman, or point DOCKER_HOST (or `docker context use`) at a "
            "running engine; fpack needs it for container builds, docker images and local runs",
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
    copy_in: Mapping[str, Path] | None = None,
    mounts: Sequence[Mount] = (),
    env: Mapping[str, str] | None = None,
    network: bool | Literal["host"] = True,
    user: str | None = None,
    workdir: str | None = None,
    ports: Mapping[str, int | tuple[str, int]] | None = None,
    **options: Any,
) -> Iterator[Container]:
    """A created container (not started), removed when the block exits however it exits.

    `copy_in` (with `settings.files`): container path -> host file or directory, copied in before
    the block runs, owned by root, modes and symlinks kept. A directory's contents
    land at its path. With `read_only=True` each directory becomes an anonymous volume (removed
    with the container): Docker refuses to extract into a read-only root filesystem; the files
    are root's, so a function running as another user still cannot change them.
    `mounts`: bind mounts, for an engine that shares this machine's filesystem only.
    `network`: True for Docker's default bridge, False for none, "host" for the host's network
    (build containers: an index or proxy on the host's loopback keeps its name and certificate).
    """
    files = {**settings.files, **(copy_in or {})}
    read_only = bool(options.get("read_only"))
    for target, source in files.items():
        _check_copy(target, source, read_only=read_only)
    c = client()
    ensure_image(c, image, platform)
    volumes = {
        str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in mounts
    }
    if read_only and files:
        from docker.types import Mount as DockerMount  # noqa: PLC0415

        options["mounts"] = [*options.get("mounts", ()),
                             *(DockerMount(target=t, source=None, type="volume") for t in files)]
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
        _put(created, files, into_volumes=read_only)
        yield created
    finally:
        if created is not None:
            with contextlib.suppress(Exception):
                created.remove(force=True, v=True)


def _check_copy(target: str, source: Path, *, read_only: bool) -> None:
    if not PurePosixPath(target).is_absolute() or ".." in PurePosixPath(target).parts:
        raise ContainerError(f"cannot copy {source} to {target!r} in a container: the path in "
                             "the container must be absolute, without '..'")
    if not source.exists():
        raise ContainerError(f"cannot copy {source} into a container: it does not exist")
    if read_only and not source.is_dir():
        raise ContainerError(f"cannot copy the file {source} into a read-only container",
                             hint="copy the directory that holds it: a read-only container "
                             "takes copied directories as volumes")


def _put(ctr: Container, files: Mapping[str, Path], *, into_volumes: bool) -> None:
    """Copy `files` into the created container: one tar stream at / (its parents are made by
    the engine), or one per volume when the root filesystem is read-only."""
    if not files:
        return
    batches = [(t, {".": s}) for t, s in files.items()] if into_volumes else \
        [("/", {t.lstrip("/"): s for t, s in files.items()})]
    for where, members in batches:
        with tempfile.TemporaryFile(prefix="fpack-copy-in-") as stream:
            _tar(stream, members)
            stream.seek(0)
            try:
                ok = ctr.put_archive(where, stream)
            except Exception as e:
                raise ContainerError(f"copying {', '.join(sorted(files))} into the container "
                                     f"failed: {redact(str(e))}") from e
            if not ok:
                raise ContainerError(f"the Docker engine refused the copy of "
                                     f"{', '.join(sorted(files))} into the container")


def _tar(stream: IO[bytes], members: Mapping[str, Path]) -> None:
    """A tar of each host path under its name in the container: root's, modes and symlinks kept
    (a build's configure script stays executable), in sorted order (tarfile sorts directories)."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        # Modes exactly as on the host: a local run must fail on a file its user cannot read,
        # as the platform would.
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in members.items():
            # The path itself is followed (the CA bundle is often a symlink into /etc/ssl);
            # links inside a directory are copied as links.
            tar.add(str(source.resolve()), arcname=name, recursive=True, filter=owned_by_root)


def copy_out(ctr: Container, path: str, dest: Path) -> list[Path]:
    """The contents of the container's directory `path`, written under `dest` (made if missing)
    as this machine's user: the regular files and directories only, every name checked to stay
    inside `dest`. Works on a stopped container. Returns the files written, sorted."""
    import docker.errors  # noqa: PLC0415

    try:
        chunks, _ = ctr.get_archive(path)
        with tempfile.TemporaryFile(prefix="fpack-copy-out-") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.seek(0)
            return _extract(stream, dest, path)
    except docker.errors.NotFound as e:
        raise ContainerError(f"the container made no {path}",
                             hint="the step in the container did not write its output; run "
                             "again with --debug to see its log") from e
    except docker.errors.APIError as e:
        raise ContainerError(f"copying {path} out of the container failed: "
                             f"{redact(str(e.explanation or e))}") from e


def _extract(stream: IO[bytes], dest: Path, path: str) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[Path] = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            parts = PurePosixPath(info.name).parts[1:]  # the archive's top is `path` itself
            if not parts:
                continue
            target = root.joinpath(*parts)
            if ".." in parts or PurePosixPath(info.name).is_absolute() \
                    or not target.resolve().is_relative_to(root):
                raise ContainerError(f"copying {path} out of the container: {info.name!r} "
                                     "would land outside the destination")
            if info.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif info.isfile():
                data = tar.extractfile(info)
                assert data is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data.read())
                target.chmod(stat.S_IMODE(info.mode) & 0o755 | 0o600)
                written.append(target)
            # links, devices and fifos are not outputs fpack asks for: left behind
    return sorted(written)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    exit_code: int
    stdout: str
    stderr: str


def run(image: str, command: Sequence[str], *, timeout: float = 1800,
        outputs: Mapping[str, Path] | None = None, output_codes: Collection[int] = (0,),
        **kwargs: Any) -> RunResult:
    """Run a command in a fresh container to completion and collect its output.

    `outputs`: container directory -> host directory, copied out (`copy_out`) after the command
    exits with one of `output_codes`; a directory the command did not make is an error naming
    it."""
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
        code = int(status.get("StatusCode", 1))
        if code in output_codes:
            for inside, dest in (outputs or {}).items():
                copy_out(ctr, inside, dest)
        return RunResult(exit_code=code, stdout=out, stderr=err)


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
