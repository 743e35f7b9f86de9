"""Every container fpack starts works on an engine that cannot see this machine's files.

A second dockerd (lab/remote-engine.sh) runs in its own mount namespace with a private /tmp, on
loopback TCP: what a CI runner's Docker-in-Docker or `DOCKER_HOST=ssh://…` looks like. A bind
mount of a pytest temporary directory gives its containers an empty directory, so anything fpack
still mounted would fail (or, worse, quietly do nothing, as `compile = true` did). fpack is run
against it through DOCKER_HOST: source-only packages built for x86_64 (the index behind a proxy,
over TLS signed by the test's CA: the CA bundle, proxy and index settings must reach the
container) and arm64, a `compile = true` build with every local python3.11 hidden (so the
bytecode is compiled in a container), and a Docker image build. Each artifact then runs on the
main engine as in the other lab tests: the engine that built it is not the one that runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from fpack import container
from tests.integration import deps_support, lab
from tests.integration.test_deps import INDEX_HOST, make_project, only_function
from tests.integration.test_docker import CHECK_PYCS, request, serving

pytestmark = pytest.mark.lab

SCRIPT = lab.ROOT / "lab" / "remote-engine.sh"
PORT = int(os.environ.get("FPACK_REMOTE_ENGINE_PORT", "23750"))
# Only what these tests run there: the two build images and the docker target's base image.
IMAGES = (lab.BUILD_IMAGES["3.11"], lab.BUILD_IMAGES["3.11-arm64"], lab.IMAGES[(3, 11)])
START_TIMEOUT = 120  # seconds: dockerd answers in a few
LOAD_TIMEOUT = 1800  # seconds: ~1.6 GB of images through docker save | docker load, once


def _script(*args: str, timeout: float) -> str:
    """lab/remote-engine.sh ARGS, bounded; its stdout, or a failure that says what and where."""
    env = {**os.environ, "FPACK_REMOTE_ENGINE_PORT": str(PORT)}
    try:
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"lab/remote-engine.sh {' '.join(args)} did not finish within {timeout:.0f} "
                    f"s; see /var/lib/fpack-lab-remote/{PORT}/dockerd.log")
    if proc.returncode != 0:
        pytest.fail(f"lab/remote-engine.sh {' '.join(args)} failed (exit {proc.returncode}):\n"
                    f"{proc.stderr.strip()}")
    return proc.stdout


def _lab_problem() -> str | None:
    if os.geteuid() != 0:
        return "the second engine needs root (unshare, mount, dockerd)"
    missing = [c for c in ("unshare", "dockerd", "ip") if shutil.which(c) is None]
    return f"missing {', '.join(missing)}" if missing else None


def _main_engine_is_untouched() -> None:
    """The main engine still answers and still has its bridge: the second one took nothing."""
    assert lab.client().ping(), "the main Docker engine stopped answering"
    link = subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert link.returncode == 0, f"the main engine's docker0 is gone: {link.stderr.strip()}"


@pytest.fixture(scope="session")
def remote_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DOCKER_HOST of the second engine, with the lab images it needs; stopped afterwards if
    this session started it (its images stay in its data root for the next run)."""
    if problem := _lab_problem():
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    was_running = subprocess.run([str(SCRIPT), "status", str(PORT)], capture_output=True,
                                 timeout=30, check=False).returncode == 0
    started = _script("start", str(PORT), timeout=START_TIMEOUT)
    host = started.strip().removeprefix("DOCKER_HOST=")
    try:
        _main_engine_is_untouched()
        _script("load", *IMAGES, timeout=LOAD_TIMEOUT)
        # What makes it a test of anything: this engine does not see the host's temporary files.
        seen = tmp_path_factory.mktemp("unseen")
        (seen / "marker").write_text("on the host")
        out = _remote(host).containers.run(
            lab.IMAGES[(3, 11)], ["ls", "-A", "/seen"], remove=True, network_mode="none",
            volumes={str(seen): {"bind": "/seen", "mode": "ro"}})
        assert out.decode().strip() == "", \
            f"the second engine sees {seen}: it is not separate from the host's /tmp"
        yield host
    finally:
        if not was_running:
            _script("stop", str(PORT), timeout=60)
        _main_engine_is_untouched()


def _remote(host: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=host, timeout=300)


@contextlib.contextmanager
def created_there(host: str) -> Iterator[list[str]]:
    """The images of the containers created on the second engine inside the block, and a check
    that fpack removed every one (and its volumes) afterwards."""
    remote = _remote(host)
    since = int(time.time()) - 1
    images: list[str] = []
    yield images
    events = remote.events(since=since, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create"})
    images += [e.get("from", "") for e in events]
    assert remote.containers.list(all=True) == [], "fpack left containers on the engine"
    assert remote.volumes.list() == [], "fpack left volumes on the engine"


def _env(host: str, **extra: str) -> dict[str, str]:
    return {"DOCKER_HOST": host, **extra}


def test_a_source_only_package_is_built_for_x86_64_through_a_proxy_with_a_private_ca(
        tmp_path: Path, remote_engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = deps_support.c_package(tmp_path / "src" / "remote", "fpack-labext-remote")
    sdist = deps_support.build_dist(source, tmp_path / "dists", kind="sdist")
    backend = deps_support.setuptools_wheel(tmp_path / "backend")
    deps_support.write_index(tmp_path / "index", [sdist, backend])
    ca = deps_support.make_ca(tmp_path, (INDEX_HOST, "127.0.0.1"))
    bundle = tmp_path / "bundle.pem"  # under /tmp: the engine cannot see it, it must be copied
    bundle.write_bytes(ca.bundle.read_bytes() + Path("/etc/ssl/certs/ca-certificates.crt")
                       .read_bytes())
    project = make_project(tmp_path / "p", "fpack-labext-remote==1.0\n",
                           module="fpack_labext_remote")
    for name in [n for n in os.environ if n.startswith(("UV_", "PIP_")) or "proxy" in n.lower()]:
        monkeypatch.delenv(name)  # the fpack subprocess inherits os.environ
    with deps_support.serve_index(tmp_path / "index", tls=ca.server) as index, \
            created_there(remote_engine) as images:
        port = int(index.url.rsplit(":", 1)[1].split("/", 1)[0])
        with deps_support.connect_proxy({f"{INDEX_HOST}:443": ("127.0.0.1", port)}) as proxy:
            env = _env(remote_engine, PIP_INDEX_URL=f"https://{INDEX_HOST}/simple",
                       HTTPS_PROXY=proxy.url, https_proxy=proxy.url, PIP_CERT=str(bundle),
                       SSL_CERT_FILE=str(bundle), REQUESTS_CA_BUNDLE=str(bundle))
            proc = lab.fpack(project, "build", "--target", "aws", "--json", env=env)
    assert lab.BUILD_IMAGES["3.11"] in images, f"no build container ran on the engine: {images}"
    # The container's pip fetched the sdist and its build backend through the proxy, over TLS
    # signed by the test's CA: the bundle, the proxy and the index all reached it.
    assert index.fetched_by("pip/", sdist.name)
    assert index.fetched_by("pip/", backend.name)
    assert f"{INDEX_HOST}:443" in proxy.tunnels
    fn = only_function(json.loads(proc.stdout))
    (pkg,) = fn["packages"]
    assert (pkg["source"], pkg["wheel"]) == (
        "built in fpack-lab/build:3.11", "fpack_labext_remote-1.0-cp311-cp311-linux_x86_64.whl")
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 11)], [{"a": 20, "b": 22}], tmp_path / "run")
    assert run.results == [{"sum": 42, "machine": "x86_64", "from": "task"}]


def test_a_local_c_library_is_built_for_arm64(tmp_path: Path, remote_engine: str) -> None:
    """A directory source: copied (without build output) into the container, wheel copied out."""
    deps_support.c_package(tmp_path / "src" / "armlib", "fpack-labext-remote-arm")
    (tmp_path / "src" / "armlib" / "build").mkdir()
    (tmp_path / "src" / "armlib" / "build" / "stale.o").write_bytes(b"not an object")
    project = make_project(tmp_path / "p", "../src/armlib\n", module="fpack_labext_remote_arm",
                           arch="arm64")
    with created_there(remote_engine) as images:
        proc = lab.fpack(project, "build", "--target", "aws", "--json", env=_env(remote_engine))
    assert lab.BUILD_IMAGES["3.11-arm64"] in images, f"no arm64 build ran there: {images}"
    fn = only_function(json.loads(proc.stdout))
    (pkg,) = fn["packages"]
    assert (pkg["source"], pkg["wheel"]) == (
        "built in fpack-lab/build:3.11-arm64",
        "fpack_labext_remote_arm-1.0-cp311-cp311-linux_aarch64.whl")
    run = lab.run_lambda(fn, project, lab.ARM64_IMAGES[(3, 11)], [{"a": 40, "b": 2}],
                         tmp_path / "run", platform="linux/arm64")
    assert run.results == [{"sum": 42, "machine": "aarch64", "from": "task"}]


def _path_without_python311(bin_dir: Path) -> str:
    """A PATH on which no `python3.11` exists (this machine has one in pyenv and in /usr/bin):
    compile = true must then compile in the build image. uv still needs an interpreter to run
    its resolver: `python3` is one, under a name fpack's compiler lookup never takes."""
    bin_dir.mkdir()
    for name in ("git", "sh"):
        if found := shutil.which(name):
            (bin_dir / name).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    return str(bin_dir)


READ_PYC = textwrap.dedent("""\
    import importlib.util


    def pyc(event, context):
        import fpack_remote_pure
        cached = importlib.util.cache_from_source(fpack_remote_pure.__file__)
        data = open(cached, "rb").read(8)
        return {"magic": data[:4] == importlib.util.MAGIC_NUMBER,
                "flags": int.from_bytes(data[4:8], "little"),
                "name": fpack_remote_pure.NAME}
""")


def test_compile_true_compiles_in_a_container_of_the_engine_and_ships_the_bytecode(
        tmp_path: Path, remote_engine: str) -> None:
    pure = deps_support.pure_package(tmp_path / "src" / "pure", "fpack-remote-pure")
    wheel = deps_support.build_dist(pure, tmp_path / "dists", kind="wheel")
    deps_support.write_index(tmp_path / "index", [wheel])
    with deps_support.serve_index(tmp_path / "index") as index:
        project = make_project(tmp_path / "p", f"--extra-index-url {index.url}\n"
                               "fpack-remote-pure==1.0\n", module="fpack_remote_pure",
                               extra="compile = true")
        (project / "app.py").write_text(READ_PYC)
        toml = (project / "fpack.toml").read_text().replace('"app:add"', '"app:pyc"')
        (project / "fpack.toml").write_text(toml)
        path = _path_without_python311(tmp_path / "bin")
        with created_there(remote_engine) as images:
            proc = lab.fpack(project, "build", "--target", "aws", "--json",
                             env=_env(remote_engine, PATH=path))
    assert "compiling bytecode with Python 3.11" in proc.stderr
    # no source build here: the build image's container is the compile
    assert lab.BUILD_IMAGES["3.11"] in images, f"the compile did not run on the engine: {images}"
    fn = only_function(json.loads(proc.stdout))
    with zipfile.ZipFile(project / fn["path"]) as z:
        names = z.namelist()
    assert "__pycache__/fpack_remote_pure.cpython-311.pyc" in names, \
        f"no bytecode for the dependency in {fn['path']}: {sorted(names)[:20]}"
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 11)], [{}], tmp_path / "run")
    assert run.results == [{"magic": True, "flags": 1, "name": "fpack-remote-pure"}]


def test_a_docker_image_is_built_there_from_a_context_and_serves(
        tmp_path: Path, remote_engine: str) -> None:
    """The image build streams its context through the SDK (no mount to begin with); compile =
    true adds bytecode compiled in a container of that engine. The image is then moved to the
    main engine and served there."""
    repository = f"fpack-test/remote-{uuid.uuid4().hex[:8]}"
    (tmp_path / "app.py").write_text(
        "import fpack\n\n\ndef hello(request: fpack.Request) -> dict:\n"
        "    return {'built': 'elsewhere'}\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "remote"\npython = "3.11"\n\n[functions.hello]\nhandler = "app:hello"\n'
        f'\n[targets.docker]\nbase_image = "{lab.IMAGES[(3, 11)]}"\n'
        f'build_image = "{lab.BUILD_IMAGES["3.11"]}"\nrepository = "{repository}"\n'
        'compile = true\n')
    path = _path_without_python311(tmp_path / "bin")
    with created_there(remote_engine):
        proc = lab.fpack(tmp_path, "build", "--target", "docker", "--json",
                         env=_env(remote_engine, PATH=path))
    (manifest,) = json.loads(proc.stdout)
    remote = _remote(remote_engine)
    assert remote.images.get(manifest["image"]).id == manifest["image_id"]
    with pytest.raises(docker.errors.ImageNotFound):
        lab.client().images.get(manifest["image"])  # built there, not here
    _move_image(remote_engine, manifest["image"])
    try:
        with serving(manifest["image"]) as (ctr, port):
            status, _, body = request(port, "GET", "/")
            assert (status, json.loads(body)) == (200, {"built": "elsewhere"})
            found = ctr.exec_run(["python3", "-c", CHECK_PYCS]).output.decode().split()
        assert found == ["app.cpython-311.pyc", "unchecked-hash", "api.cpython-311.pyc",
                         "unchecked-hash"]
    finally:
        with contextlib.suppress(docker.errors.APIError):
            lab.client().images.remove(manifest["image"], force=True)
        with contextlib.suppress(docker.errors.APIError):
            remote.images.remove(manifest["image"], force=True)


def _move_image(host: str, image: str, timeout: float = 600) -> None:
    """docker save on the second engine | docker load on the main one, bounded."""
    if not re.fullmatch(r"[\w./:-]+", image):
        raise AssertionError(f"unexpected image name {image!r}")
    try:
        proc = subprocess.run(["sh", "-c", 'DOCKER_HOST="$1" docker save "$2" | docker load -q',
                               "sh", host, image], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"moving {image} from {host} to the main engine took over {timeout:.0f} s")
    assert proc.returncode == 0, f"moving {image} to the main engine failed:\n{proc.stderr}"


def test_a_local_run_container_takes_its_directories_copied_in_read_only(
        tmp_path: Path, remote_engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `fpack invoke` and `fpack serve` need (fpack/local/ switches from `mounts=` to
    `copy_in=`): directories copied into a read-only container run by an unprivileged user, who
    can read them and not change them; the same directories bind-mounted arrive empty."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text("ANSWER = 42\n")
    monkeypatch.setenv("DOCKER_HOST", remote_engine)
    script = ("import sys; sys.path.insert(0, '/var/task'); import app; print(app.ANSWER)\n"
              "try:\n    open('/var/task/new', 'w')\nexcept OSError as e:\n    print(e.errno)\n")
    options: dict[str, Any] = {"read_only": True, "tmpfs": {"/tmp": "rw,mode=1777"}}
    with created_there(remote_engine):
        with container.container(lab.IMAGES[(3, 11)], ["python3", "-B", "-c", script],
                                 copy_in={"/var/task": task}, network=False,
                                 user=lab.LAMBDA_UID, **options) as ctr:
            ctr.start()
            assert ctr.wait(timeout=120)["StatusCode"] == 0, ctr.logs().decode()
            assert ctr.logs().decode().split() == ["42", "13"]  # read it; EACCES on a write
        with container.container(lab.IMAGES[(3, 11)], ["ls", "-A", "/var/task"],
                                 mounts=[container.Mount(source=task, target="/var/task")],
                                 network=False, **options) as ctr:
            ctr.start()
            ctr.wait(timeout=120)
            assert ctr.logs().decode().strip() == "", "the engine saw the host's directory"


def test_fpack_invoke_runs_an_aws_zip_on_the_engine(tmp_path: Path, remote_engine: str) -> None:
    (tmp_path / "app.py").write_text("def hello(event, context):\n    return {'ok': True}\n")
    (tmp_path / "fpack.toml").write_text(
        '[project]\nname = "inv"\n\n[functions.hello]\nhandler = "app:hello"\nstyle = "lambda"\n'
        f'\n[targets.aws]\nruntime = "python3.11"\nbase_image = "{lab.IMAGES[(3, 11)]}"\n')
    lab.fpack(tmp_path, "build", "--target", "aws", env=_env(remote_engine))
    proc = lab.fpack(tmp_path, "invoke", "hello", "--target", "aws", "--sample", "http",
                     env=_env(remote_engine), check=False)
    # today: "can't open file '/fpack-run/lambda_rapi.py'": the bind mount arrived empty
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == {"ok": True}
