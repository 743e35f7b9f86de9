"""Source-only packages built in a container of the target, the glibc audit, and a build container
that reaches a private HTTPS index through a proxy with a CA made by the test.

Every package here is made by the test (a C extension with no wheel anywhere) and served from a
local path or an index on 127.0.0.1; every artifact is run on its target in a lab container,
which calls the extension's C function.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from fpack import inputs as build_inputs
from fpack.deps import engine
from fpack.deps import settings as dep_settings
from fpack.deps import spec as dep_spec
from fpack.errors import DependencyError
from fpack.platforms import RUNTIMES, Platform
from tests.integration import deps_support, lab

pytestmark = pytest.mark.lab

BUILD_IMAGES = {"x86_64": lab.BUILD_IMAGES["3.11"], "arm64": lab.BUILD_IMAGES["3.11-arm64"]}


class Steps:
    """A reporter that remembers its progress lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        self.lines.append(message)

    def done(self, message: str) -> None:
        self.lines.append(message)

    def warn(self, message: str) -> None:
        self.lines.append(message)


def make_project(root: Path, requirements: str, *, module: str, arch: str = "x86_64",
                 runtime: str = "python3.11", extra: str = "") -> Path:
    """A project whose one lambda-style handler calls `module`.add (a C function)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "fpack.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "cext"

        [functions.add]
        handler = "app:add"
        style = "lambda"

        [targets.aws]
        runtime = "{runtime}"
        arch = "{arch}"
        build_image = "{BUILD_IMAGES[arch]}"
        {extra}
    """))
    (root / "app.py").write_text(textwrap.dedent(f"""\
        import platform

        import {module}


        def add(event, context):
            return {{"sum": {module}.add(event["a"], event["b"]), "machine": platform.machine(),
                    "from": {module}.__file__.rsplit("/", 2)[-2]}}
    """))
    (root / "requirements.txt").write_text(requirements)
    return root


def only_function(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (fn,) = [m for m in manifests if m["kind"] == "function"]
    return fn


def test_local_c_extension_is_built_for_x86_64_once_and_runs(tmp_path: Path) -> None:
    deps_support.c_package(tmp_path / "src" / "labext", "fpack-labext-local")
    project = make_project(tmp_path / "p", "../src/labext\n", module="fpack_labext_local")
    fn = only_function(lab.build(project, "aws"))
    (pkg,) = [p for p in fn["packages"] if p["name"] == "fpack-labext-local"]
    assert pkg["source"] == "built in fpack-lab/build:3.11"
    assert pkg["wheel"] == "fpack_labext_local-1.0-cp311-cp311-linux_x86_64.whl"
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 11)], [{"a": 2, "b": 3}], tmp_path / "run")
    assert run.results == [{"sum": 5, "machine": "x86_64", "from": "task"}]
    # A new resolution finds the same source: the wheelhouse answers, nothing is compiled again.
    again = lab.fpack(project, "build", "--target", "aws", "--refresh")
    assert "resolving" in again.stderr
    assert "building" not in again.stderr
    # An edit to the local source is seen without --refresh, and rebuilt.
    c_file = tmp_path / "src" / "labext" / "src" / "fpack_labext_local.c"
    c_file.write_text(c_file.read_text().replace("a + b", "a + b + 1000"))
    fn = only_function(lab.build(project, "aws"))
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 11)], [{"a": 2, "b": 3}], tmp_path / "run2")
    assert run.results == [{"sum": 1005, "machine": "x86_64", "from": "task"}]


def test_sdist_only_package_from_a_loopback_index_is_built_for_arm64(tmp_path: Path) -> None:
    source = deps_support.c_package(tmp_path / "src" / "armext", "fpack-labext-arm")
    sdist = deps_support.build_dist(source, tmp_path / "dists", kind="sdist")
    deps_support.write_index(tmp_path / "index", [sdist])
    with deps_support.serve_index(tmp_path / "index") as index:
        project = make_project(tmp_path / "p", f"--extra-index-url {index.url}\n"
                               "fpack-labext-arm==1.0\n", module="fpack_labext_arm", arch="arm64")
        fn = only_function(lab.build(project, "aws"))
        # the build container fetched the sdist from the index the requirements file names
        assert index.fetched_by("pip/", sdist.name)
    (pkg,) = [p for p in fn["packages"] if p["name"] == "fpack-labext-arm"]
    assert pkg["source"] == "built in fpack-lab/build:3.11-arm64"
    assert pkg["wheel"] == "fpack_labext_arm-1.0-cp311-cp311-linux_aarch64.whl"
    run = lab.run_lambda(fn, project, lab.ARM64_IMAGES[(3, 11)], [{"a": 40, "b": 2}],
                         tmp_path / "run", platform="linux/arm64")
    assert run.results == [{"sum": 42, "machine": "aarch64", "from": "task"}]


GLIBC_MESSAGE = (
    "1 shared object(s) cannot run on python3.13 x86_64 (Amazon Linux 2023, glibc 2.34):\n"
    "  - fpack_labext_glibc.cpython-313-x86_64-linux-gnu.so (fpack-labext-glibc) needs "
    "GLIBC_2.38 from libc.so.6, but the target has glibc 2.34: pin an older version of "
    "fpack-labext-glibc that publishes manylinux_2_34 (or older) wheels, build it from source in "
    "the target's container, or choose a runtime with a newer glibc."
)


def test_object_needing_a_newer_glibc_is_refused_for_al2023_and_runs_where_glibc_has_it(
        tmp_path: Path) -> None:
    source = deps_support.c_package(tmp_path / "src" / "glibcext", "fpack-labext-glibc",
                                    strlcpy=True)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{source}\n")
    spec = dep_spec.read(requirements, tmp_path / "fpack.toml")
    cache = build_inputs.read({**os.environ, "FPACK_CACHE_DIR": str(tmp_path / "cache")})
    trixie = dep_settings.Settings(build_image=lab.BUILD_IMAGES["3.13"])  # Debian 13, glibc 2.41
    al2023 = Platform(runtime=RUNTIMES["aws"]["python3.13"], arch="x86_64")
    with pytest.raises(DependencyError) as refused:
        engine.prepare(spec, al2023, cache, Steps(), settings=trixie)
    assert refused.value.message == GLIBC_MESSAGE

    debian13 = dataclasses.replace(RUNTIMES["docker"]["3.13"], name="3.13-trixie",
                                   os="Debian 13", glibc=(2, 41), glibcxx=(3, 4, 33))
    steps = Steps()
    deps = engine.prepare(spec, Platform(runtime=debian13, arch="x86_64"), cache, steps,
                          settings=trixie)
    assert not any(line.startswith("building") for line in steps.lines)  # the wheelhouse's
    assert deps.archive is not None
    tree = tmp_path / "tree"
    lab.unzip(deps.archive, tree)
    out = lab.client().containers.run(
        lab.IMAGES[(3, 13)], ["python3", "-c", "import sys; sys.path.insert(0, '/deps'); "
                              "import fpack_labext_glibc as m; print(m.copy('glibc 2.41'))"],
        volumes={str(tree): {"bind": "/deps", "mode": "ro"}}, remove=True, network_mode="none")
    assert out.decode().strip() == "glibc 2.41"


# Resolvable only by the test's proxy; new for every run, as uv caches what an index lists.
INDEX_HOST = f"fpack-index-{uuid.uuid4().hex[:12]}.test"


def test_build_container_reaches_a_private_https_index_through_a_proxy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = deps_support.c_package(tmp_path / "src" / "tlsext", "fpack-labext-tls")
    sdist = deps_support.build_dist(source, tmp_path / "dists", kind="sdist")
    backend = deps_support.setuptools_wheel(tmp_path / "backend")
    deps_support.write_index(tmp_path / "index", [sdist, backend])
    ca = deps_support.make_ca(tmp_path, (INDEX_HOST, "127.0.0.1"))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.bundle.read_bytes() + Path("/etc/ssl/certs/ca-certificates.crt")
                       .read_bytes())
    project = make_project(tmp_path / "p", "fpack-labext-tls==1.0\n", module="fpack_labext_tls")
    with deps_support.serve_index(tmp_path / "index", tls=ca.server) as index:
        port = int(index.url.rsplit(":", 1)[1].split("/", 1)[0])
        with deps_support.connect_proxy({f"{INDEX_HOST}:443": ("127.0.0.1", port)}) as proxy:
            env = _isolated_env(monkeypatch, proxy.url, bundle)
            proc = lab.fpack(project, "build", "--target", "aws", "--json", env=env)
    fn = only_function(json.loads(proc.stdout))
    # The container's pip, not only the host's uv, fetched the sdist and its build backend from
    # a host name only the proxy knows, over TLS signed by the test's CA.
    assert index.fetched_by("pip/", sdist.name)
    assert index.fetched_by("pip/", backend.name)
    assert f"{INDEX_HOST}:443" in proxy.tunnels
    (pkg,) = fn["packages"]
    assert pkg["source"] == "built in fpack-lab/build:3.11"
    run = lab.run_lambda(fn, project, lab.IMAGES[(3, 11)], [{"a": 1, "b": 1}], tmp_path / "run")
    assert run.results == [{"sum": 2, "machine": "x86_64", "from": "task"}]


def _isolated_env(monkeypatch: pytest.MonkeyPatch, proxy: str, bundle: Path) -> dict[str, str]:
    """The environment of a user behind a proxy, with a private index and a private CA."""
    for name in [n for n in os.environ if n.startswith(("UV_", "PIP_")) or "proxy" in n.lower()]:
        monkeypatch.delenv(name)  # the fpack subprocess inherits os.environ
    return {"PIP_INDEX_URL": f"https://{INDEX_HOST}/simple", "HTTPS_PROXY": proxy,
            "https_proxy": proxy, "PIP_CERT": str(bundle), "SSL_CERT_FILE": str(bundle),
            "REQUESTS_CA_BUNDLE": str(bundle)}
