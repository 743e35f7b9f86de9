"""The container adapter without an engine: which engine it talks to (DOCKER_HOST, contexts,
Podman), and the tar streams that carry files into and out of containers instead of bind mounts."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from fpack import container
from fpack.errors import ContainerError


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Docker CLI configuration, and no engine variable from the caller's shell."""
    config = tmp_path / "docker-config"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return config


def _context(config: Path, name: str, host: str) -> None:
    """What `docker context create NAME --docker host=HOST` writes."""
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}))


def test_docker_host_wins(docker_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _context(docker_config, "ci", "tcp://ci.example:2375")
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "ci"}))
    monkeypatch.setenv("DOCKER_HOST", "ssh://builder@remote.example")
    found = container.engine()
    assert (found.url, found.source) == ("ssh://builder@remote.example", "DOCKER_HOST")


def test_the_context_docker_context_use_chose(docker_config: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _context(docker_config, "ci", "tcp://ci.example:2375")
    _context(docker_config, "other", "unix:///run/other.sock")
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "ci"}))
    found = container.engine()
    assert (found.url, found.source) == ("tcp://ci.example:2375", "Docker context 'ci'")
    monkeypatch.setenv("DOCKER_CONTEXT", "other")  # the variable beats config.json, as in the CLI
    assert container.engine().url == "unix:///run/other.sock"


def test_a_context_that_does_not_exist_is_named(docker_config: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    with pytest.raises(ContainerError) as e:
        container.engine()
    assert "the Docker context 'gone' (DOCKER_CONTEXT) does not exist" in str(e.value)
    assert "docker context ls" in str(e.value)


def test_podman_when_there_is_no_docker_socket(docker_config: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    podman = tmp_path / "podman.sock"
    monkeypatch.setattr(container, "DEFAULT_SOCKET", tmp_path / "docker.sock")
    monkeypatch.setattr(container, "PODMAN_SOCKETS", (tmp_path / "none.sock", podman))
    assert container.engine() == container.Engine(params={}, source="the default socket")
    podman.touch()
    assert container.engine() == container.Engine(params={"base_url": f"unix://{podman}"},
                                                  source="the Podman socket")
    (tmp_path / "docker.sock").touch()  # Docker's own socket, when there is one, comes first
    assert container.engine().source == "the default socket"


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "configure").write_text("#!/bin/sh\n")
    (root / "pkg" / "configure").chmod(0o755)
    (root / "pkg" / "secret.txt").write_text("only the owner\n")
    (root / "pkg" / "secret.txt").chmod(0o600)
    (root / "link").symlink_to("pkg/configure")
    return root


def test_copied_in_files_are_roots_with_their_modes_and_links(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    (tmp_path / "bundle-link.pem").symlink_to(ca)
    stream = io.BytesIO()
    container._tar(stream, {"src/tree": tree, "etc/fpack/ca-bundle.pem":
                            tmp_path / "bundle-link.pem"})
    stream.seek(0)
    with tarfile.open(fileobj=stream) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["etc/fpack/ca-bundle.pem", "src/tree", "src/tree/link",
                               "src/tree/pkg", "src/tree/pkg/configure", "src/tree/pkg/secret.txt"]
    assert {(m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, "root")}
    assert members["src/tree/pkg/configure"].mode == 0o755
    assert members["src/tree/pkg/secret.txt"].mode == 0o600  # as on the host: no wider
    assert members["src/tree/link"].issym() and members["src/tree/link"].linkname == \
        "pkg/configure"
    # the named path itself is followed: a CA bundle is often a link into /etc/ssl
    assert members["etc/fpack/ca-bundle.pem"].isfile()


def _archive(*members: tuple[str, bytes | None], link: str | None = None) -> io.BytesIO:
    """A tar as `get_archive` streams it: the directory asked for at the top."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o4755
                tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("out/escape")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    stream.seek(0)
    return stream


def test_copied_out_files_land_under_the_destination(tmp_path: Path) -> None:
    stream = _archive(("out", None), ("out/x-1.0-py3-none-any.whl", b"wheel"),
                      ("out/tree/pkg", None), ("out/tree/pkg/m.cpython-311.pyc", b"pyc"),
                      link="/etc/passwd")
    written = container._extract(stream, tmp_path / "dest", "/out")
    assert [p.relative_to(tmp_path / "dest").as_posix() for p in written] == [
        "tree/pkg/m.cpython-311.pyc", "x-1.0-py3-none-any.whl"]
    assert (tmp_path / "dest" / "x-1.0-py3-none-any.whl").stat().st_mode & 0o7777 == 0o755
    assert not (tmp_path / "dest" / "escape").exists()  # links are not outputs: left behind


def test_a_name_that_climbs_out_is_refused(tmp_path: Path) -> None:
    stream = _archive(("out", None), ("out/../../evil", b"x"))
    with pytest.raises(ContainerError, match="would land outside the destination"):
        container._extract(stream, tmp_path / "dest", "/out")
    assert not (tmp_path / "evil").exists()


def test_what_cannot_be_copied_in_is_refused_before_any_engine(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="does not exist"):
        container._check_copy("/src", tmp_path / "missing", read_only=False)
    with pytest.raises(ContainerError, match="must be absolute"):
        container._check_copy("src", tmp_path, read_only=False)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ContainerError, match="into a read-only container"):
        container._check_copy("/etc/f", tmp_path / "f", read_only=True)
