"""Monorepos (issue 12), proven on a real uv workspace: three services, two shared libraries (one
pure Python, one with a C extension, the pure one depending on the C one), built for every target
and run there.

The workspace is tests/integration/monorepo_fixture.py's: `orders` is a workspace member, `users`
and `billing` name the libraries by path in the same requirements.txt (so they share one
dependency set). Each handler calls into both libraries and answers with what proves the C code
ran on the target: `add(2, 3)` from the extension, the extension's file (its ABI and machine tag)
and the machine it ran on.

- aws: x86_64 (layer mode and single zips) on the lab's Python 3.11, arm64 (the C library built in
  the arm64 build image under qemu) on the lab's arm64 Python 3.11, as Lambda lays them out
  (/var/task, /opt), network off, read-only, unprivileged.
- gcp: vendored bundles installed as Google's buildpack installs them, network off, served by
  functions-framework (test_gcp.py's installer).
- docker: the http images, sent a request (test_docker.py's helpers).
Then: no link to the developer's tree in any artifact; byte-identical zips from another checkout
path with another cache; one layer (or identical dependency members) for a shared set; only what
changed is rewritten; the monorepo errors, whole.

The expensive builds happen once per module (module-scoped fixtures); arm64 is built once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fpack import container
from fpack.deps.elf import read_elf
from fpack.targets import docker as docker_target
from tests.integration import lab, test_docker, test_gcp
from tests.integration import monorepo_fixture as mono

pytestmark = pytest.mark.lab

EPOCH = "1700000000"
SERVICES = mono.SERVICES


# --------------------------------------------------------------------------------------------
# Fixtures: the workspace once (uv lock once), copies of it, and the builds the tests share.


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace, locked once; every test works on a copy."""
    return mono.make(tmp_path_factory.mktemp("template") / "mono")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's fpack cache: the first build of each platform builds the C library."""
    return tmp_path_factory.mktemp("fpack-cache")


@dataclass(frozen=True)
class Env:
    cache: Path

    def __call__(self, build_image: str = lab.BUILD_IMAGES["3.11"]) -> dict[str, str]:
        return {"FPACK_CACHE_DIR": str(self.cache), "SOURCE_DATE_EPOCH": EPOCH,
                "FPACK_BUILD_IMAGE": build_image}


@pytest.fixture(scope="module")
def env(cache: Path) -> Env:
    return Env(cache)


def copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("dist", "dist-*"))
    return dest


def build(project: Path, target: str, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    proc = lab.fpack(project, "build", "--target", target, "--json", *args, env=env)
    return list(json.loads(proc.stdout))


def by_function(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["function"]: m for m in manifests if m["kind"] != "layer"}


def layers(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in manifests if m["kind"] == "layer"}


@dataclass(frozen=True)
class Built:
    project: Path
    manifests: list[dict[str, Any]]

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        return by_function(self.manifests)

    @property
    def layers(self) -> dict[str, dict[str, Any]]:
        return layers(self.manifests)

    def zips(self) -> list[Path]:
        return sorted(self.project / m["path"] for m in self.manifests if "path" in m)


@pytest.fixture(scope="module")
def aws_layer(template: Path, env: Env, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """aws x86_64, layer = true: one layer per distinct dependency set; four steps at once
    (the other checkout builds one at a time: the bytes must not depend on it)."""
    project = copy(template, tmp_path_factory.mktemp("aws-layer") / "mono")
    return Built(project, build(project, "aws", env(), "-j", "4"))


@pytest.fixture(scope="module")
def aws_single(template: Path, env: Env, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """aws x86_64, layer = false: each zip carries its dependencies."""
    project = copy(template, tmp_path_factory.mktemp("aws-single") / "mono")
    (project / "fpack.toml").write_text(mono.fpack_toml(layer=False))
    return Built(project, build(project, "aws", env()))


@pytest.fixture(scope="module")
def aws_arm64(template: Path, env: Env, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """aws arm64, layer = true; the C library built in the arm64 build image (qemu)."""
    project = copy(template, tmp_path_factory.mktemp("aws-arm64") / "mono")
    return Built(project, build(project, "aws", env(lab.BUILD_IMAGES["3.11-arm64"]),
                                "--arch", "arm64"))


@pytest.fixture(scope="module")
def gcp_bundles(template: Path, env: Env, tmp_path_factory: pytest.TempPathFactory) -> Built:
    project = copy(template, tmp_path_factory.mktemp("gcp") / "mono")
    return Built(project, build(project, "gcp", env()))


@pytest.fixture(scope="module")
def docker_images(template: Path, env: Env, tmp_path_factory: pytest.TempPathFactory) -> Built:
    project = copy(template, tmp_path_factory.mktemp("docker") / "mono")
    return Built(project, build(project, "docker", env()))


# --------------------------------------------------------------------------------------------
# What each handler must answer.


def url_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = lab.event("aws", "function_url")
    event["rawQueryString"] = f"name={name}"
    event["queryStringParameters"] = {"name": name}
    return event


def check_answer(body: dict[str, Any], service: str, *, machine: str, where: str) -> None:
    """The handler's answer: both libraries ran, the C one compiled for `machine`, both
    imported from `where` (inside the artifact), as installed distributions."""
    tag = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}[machine]
    assert body["service"] == service
    assert body["add"] == 5 and body["mul"] == 42  # the C extension's functions
    assert body["native"] == f"_native.cpython-311-{tag}.so"
    assert body["machine"] == machine
    assert body["total"] == 10  # fpklab-text's sum, computed by fpklab-cmath's C add
    assert body["shout"] == "LAB!"
    assert body["dists"] == {"fpklab-cmath": "1.0", "fpklab-text": "1.0"}
    assert body["files"]["cmath"].startswith(f"{where}/fpklab_cmath/"), body["files"]
    assert body["files"]["text"].startswith(f"{where}/fpklab_text/"), body["files"]
    expected = {"orders": {"six": "1.16.0"}}.get(service, {"idna": "3.7"})
    assert body["third_party"] == expected


def run_aws(built: Built, tmp: Path, *, image: str, platform: str | None = None,
            ) -> dict[str, dict[str, Any]]:
    """Each function's answer to a Function URL request, run as Lambda runs it."""
    out = {}
    for service, manifest in built.functions.items():
        [result] = lab.run_lambda(manifest, built.project, image, [url_event("lab")],
                                  tmp / service, platform=platform).results
        assert result["statusCode"] == 200, result
        out[service] = json.loads(result["body"])
    return out


# --------------------------------------------------------------------------------------------
# 1. Every function's artifact runs on its target and calls into both libraries.


def test_aws_layers_one_per_dependency_set_and_every_function_runs(
        aws_layer: Built, tmp_path: Path) -> None:
    fns, found = aws_layer.functions, aws_layer.layers
    assert set(fns) == set(SERVICES)
    assert all(m["runtime"] == "python3.11" and m["arch"] == "x86_64"
               for m in aws_layer.manifests)
    # two distinct sets: orders' (the workspace member) and the one users and billing share
    assert len(found) == 2
    assert all(p.startswith("dist/aws/mono-deps-") and p.endswith(".zip") for p in found)
    assert len(fns["orders"]["layers"]) == 1 and fns["orders"]["layers"][0] in found
    assert fns["users"]["layers"] == fns["billing"]["layers"] != fns["orders"]["layers"]
    for service, manifest in fns.items():
        names = {p["name"] for p in manifest["packages"]}
        assert names == {"fpklab-cmath", "fpklab-text"} | mono.THIRD_PARTY[service]
        sources = {p["name"]: p["source"] for p in manifest["packages"]}
        assert sources["fpklab-cmath"] == f"built in {lab.BUILD_IMAGES['3.11']}"
        with zipfile.ZipFile(aws_layer.project / manifest["path"]) as z:
            names_in_zip = z.namelist()
        assert "app.py" in names_in_zip
        # the function's zip never repeats what its layer holds
        assert not [n for n in names_in_zip if n.startswith(("fpklab_", "six", "idna"))]
    answers = run_aws(aws_layer, tmp_path, image=lab.IMAGES[(3, 11)])
    for service, body in answers.items():
        check_answer(body, service, machine="x86_64", where="/opt/python")


def test_aws_single_zips_carry_the_libraries_and_run(aws_single: Built, tmp_path: Path) -> None:
    assert aws_single.layers == {}
    assert all(m["layers"] == [] for m in aws_single.functions.values())
    answers = run_aws(aws_single, tmp_path, image=lab.IMAGES[(3, 11)])
    for service, body in answers.items():
        check_answer(body, service, machine="x86_64", where="/var/task")


def test_aws_arm64_builds_the_c_library_for_aarch64_and_runs_under_qemu(
        aws_arm64: Built, tmp_path: Path) -> None:
    assert all(m["arch"] == "arm64" for m in aws_arm64.manifests)
    for manifest in aws_arm64.functions.values():
        cmath = next(p for p in manifest["packages"] if p["name"] == "fpklab-cmath")
        assert cmath["wheel"] == "fpklab_cmath-1.0-cp311-cp311-linux_aarch64.whl"
        assert cmath["source"] == f"built in {lab.BUILD_IMAGES['3.11-arm64']}"
    for path in aws_arm64.layers:
        tree = tmp_path / "layers" / Path(path).stem
        lab.unzip(aws_arm64.project / path, tree)
        machines = {p.name: info.machine for p in tree.rglob("*.so")
                    if (info := read_elf(p)) is not None}
        assert machines == {"_native.cpython-311-aarch64-linux-gnu.so": "aarch64"}
    answers = run_aws(aws_arm64, tmp_path / "run", image=lab.ARM64_IMAGES[(3, 11)],
                      platform="linux/arm64")
    for service, body in answers.items():
        check_answer(body, service, machine="aarch64", where="/opt/python")


def _source(manifest: dict[str, Any]) -> str:
    return str(manifest["build_env"].get("GOOGLE_FUNCTION_SOURCE", "main.py"))


@contextlib.contextmanager
def serve_bundles(built: Built, tmp: Path) -> Iterator[dict[str, str]]:
    """The vendored bundles installed as the buildpack installs them (network off), each served
    by functions-framework: function -> its URL."""
    image = lab.IMAGES[(3, 11)]
    bundles, venv, pip_cache = tmp / "bundles", tmp / "venv", tmp / "pip-cache"
    for d in (bundles, venv, pip_cache):
        d.mkdir(parents=True)
    urls = {}
    for i, (name, m) in enumerate(sorted(built.functions.items())):
        # one install per bundle: each has its own requirements.txt and wheels/
        lab.unzip(built.project / m["path"], bundles / name / name)
        (venv / name).mkdir()
        test_gcp._install(image, bundles / name, venv / name, pip_cache, vendor=True)
        urls[name] = str(8081 + i)
    script = " ".join(
        # the venv's scripts name /venv/bin/python (where _install made it): run its Python
        # as the buildpack does, GOOGLE_FUNCTION_SOURCE (if set) becomes FUNCTION_SOURCE
        f"(cd /bundles/{name}/{name} && FUNCTION_SOURCE={_source(m)} exec /venv/{name}/bin/python "
        f"-m functions_framework --target {m['handler']} --signature-type "
        f"{m['signature_type']} --host 0.0.0.0 --port {urls[name]}) &"
        for name, m in sorted(built.functions.items())) + " wait"
    ports = {f"{p}/tcp": ("127.0.0.1", None) for p in urls.values()}
    with container.container(
        image, ["sh", "-c", script],
        mounts=[container.Mount(source=bundles, target="/bundles"),
                container.Mount(source=venv, target="/venv")],
        ports=ports,  # type: ignore[arg-type]
    ) as ctr:
        ctr.start()
        ctr.reload()
        published = ctr.attrs["NetworkSettings"]["Ports"]
        served = {name: f"http://127.0.0.1:{published[f'{p}/tcp'][0]['HostPort']}"
                  for name, p in urls.items()}
        for url in served.values():
            test_gcp._wait_ready(url, ctr)
        yield served


def test_gcp_vendored_bundles_install_offline_and_serve(gcp_bundles: Built,
                                                        tmp_path: Path) -> None:
    fns = gcp_bundles.functions
    assert set(fns) == set(SERVICES)
    for manifest in fns.values():
        assert manifest["build_env"]["GOOGLE_VENDOR_PIP_DEPENDENCIES"] == "wheels"
        with zipfile.ZipFile(gcp_bundles.project / manifest["path"]) as z:
            wheels = {n.split("/", 1)[1].split("-", 1)[0] for n in z.namelist()
                      if n.startswith("wheels/") and n.endswith(".whl")}
            requirements = z.read("requirements.txt").decode()
        assert {"fpklab_cmath", "fpklab_text", "functions_framework"} <= wheels
        assert "fpklab-cmath==1.0" in requirements and "fpklab-text==1.0" in requirements
    with serve_bundles(gcp_bundles, tmp_path) as urls:
        for service, url in urls.items():
            status, body = test_gcp._send(url + "/items?name=lab", b"", {}, "GET")
            assert status == 200, body
            check_answer(json.loads(body), service, machine="x86_64",
                         where=f"/venv/{service}/lib/python3.11/site-packages")


def test_docker_http_images_serve_and_call_both_libraries(docker_images: Built) -> None:
    fns = docker_images.functions
    assert set(fns) == set(SERVICES)
    for service, manifest in fns.items():
        assert manifest["kind"] == "image" and manifest["flavor"] == "http"
        assert manifest["image"].startswith(f"fpack-test/mono/{service}:")
        with test_docker.serving(manifest["image"]) as (_, port):
            status, headers, body = test_docker.request(port, "GET", "/items?name=lab")
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        check_answer(json.loads(body), service, machine="x86_64", where=docker_target.DEPS_DIR)


# --------------------------------------------------------------------------------------------
# 2. Nothing in any artifact points back at the developer's tree.


def _forbidden(*paths: Path) -> list[bytes]:
    out = []
    for p in paths:
        out += [str(p).encode(), str(p.resolve()).encode()]
    return sorted(set(out))


def _members(archive: Path) -> Iterator[tuple[str, bytes]]:
    """Every member of a zip, and of the wheels inside it (a vendored gcp bundle)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            data = z.read(info)
            yield info.filename, data
            if info.filename.endswith(".whl"):
                with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                    for inner in wheel.infolist():
                        yield f"{info.filename}!{inner.filename}", wheel.read(inner)


def link_problems(name: str, data: bytes, forbidden: list[bytes]) -> list[str]:
    """What in one member would reach outside the artifact: a .pth line naming a path outside
    (absolute, climbing, or an import hook), an editable finder, a direct_url.json naming a local
    file, or the bytes of a path on the building machine."""
    base = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    problems = []
    if base.endswith(".pth"):
        for raw in data.decode("utf-8", "replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            # a path line must stay inside site-packages; an import line may only look there
            # (a namespace package's -nspkg.pth joins sitedir), never install a finder
            outside = line.startswith(("/", "..")) if not line.startswith("import") else \
                any(s in line for s in ("__editable__", "_finder", "file:", "'/", '"/'))
            if outside or "__editable__" in line:
                problems.append(f"{name}: .pth line {line!r}")
    if base.startswith("__editable__") or (base.startswith("_") and base.endswith("_finder.py")):
        problems.append(f"{name}: an editable finder")
    if base == "direct_url.json" and b"file://" in data:
        problems.append(f"{name}: {data.decode()!r}")
    problems += [f"{name}: holds {path.decode()}" for path in forbidden if path in data]
    return problems


def test_no_artifact_links_to_or_names_the_developer_tree(
        template: Path, cache: Path, aws_layer: Built, aws_single: Built, aws_arm64: Built,
        gcp_bundles: Built) -> None:
    checked, problems = 0, []
    for built in (aws_layer, aws_single, aws_arm64, gcp_bundles):
        forbidden = _forbidden(built.project, template, cache)
        for archive in built.zips():
            for name, data in _members(archive):
                checked += 1
                problems += [f"{archive.relative_to(built.project)}: {p}"
                             for p in link_problems(name, data, forbidden)]
    assert problems == []
    assert checked > 100  # the libraries' files were among them (the layers, the bundles' wheels)


DOCKER_SCAN = textwrap.dedent("""\
    import json, os, sys
    forbidden = [p.encode() for p in json.loads(sys.argv[1])]
    roots = [p for p in os.environ["PYTHONPATH"].split(":") if p] + [os.getcwd()]
    found = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                data = open(path, "rb").read()
                if f.endswith(".pth") or f.startswith("__editable__") or \\
                        (f.startswith("_") and f.endswith("_finder.py")):
                    found.append(path)
                if f == "direct_url.json" and b"file://" in data:
                    found.append(path)
                found += [path + " holds " + p.decode() for p in forbidden if p in data]
    print(json.dumps({"roots": roots, "found": found}))
""")


def test_docker_images_hold_no_link_to_the_developer_tree(template: Path, cache: Path,
                                                          docker_images: Built) -> None:
    forbidden = [p.decode() for p in _forbidden(docker_images.project, template, cache)]
    for manifest in docker_images.functions.values():
        out = lab.client().containers.run(
            manifest["image"], ["python3", "-c", DOCKER_SCAN, json.dumps(forbidden)],
            entrypoint=[], remove=True, network_mode="none", stdout=True, stderr=True)
        scan = json.loads(out.decode().strip().splitlines()[-1])
        assert len(scan["roots"]) >= 2 and scan["found"] == [], scan


# --------------------------------------------------------------------------------------------
# 3. Reproducible: another checkout path, another cache, the same bytes.


def _entry_diff(a: Path, b: Path) -> list[str]:
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        ea = {i.filename: (i.CRC, i.external_attr, i.date_time) for i in za.infolist()}
        eb = {i.filename: (i.CRC, i.external_attr, i.date_time) for i in zb.infolist()}
    return sorted(n for n in ea.keys() | eb.keys() if ea.get(n) != eb.get(n))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_checkout_path_and_cache_build_byte_identical_zips(
        template: Path, aws_layer: Built, tmp_path: Path) -> None:
    other = copy(template, tmp_path / "elsewhere" / "deeper" / "checkout" / "mono")
    for path in other.rglob("*"):
        os.utime(path, (1_600_000_000, 1_600_000_000))  # other mtimes, too
    env = {"FPACK_CACHE_DIR": str(tmp_path / "other-cache"), "SOURCE_DATE_EPOCH": EPOCH,
           "FPACK_BUILD_IMAGE": lab.BUILD_IMAGES["3.11"]}
    there = build(other, "aws", env, "-j", "1")
    here = {m["path"]: m["sha256"] for m in aws_layer.manifests}
    assert {m["path"]: m["sha256"] for m in there} == here, {
        m["path"]: _entry_diff(aws_layer.project / m["path"], other / m["path"])
        for m in there if here.get(m["path"]) != m["sha256"]}
    for path, digest in here.items():
        assert sha256(other / path) == sha256(aws_layer.project / path) == digest


# --------------------------------------------------------------------------------------------
# 4. Functions sharing a set share byte-identical dependency content.


def test_functions_sharing_a_set_share_one_layer_and_identical_dependency_members(
        aws_layer: Built, aws_single: Built) -> None:
    listed = {row["function"]: row for row in json.loads(
        lab.fpack(aws_layer.project, "ls", "--json").stdout)}
    assert listed["users"]["set"] == listed["billing"]["set"] != listed["orders"]["set"]
    for service in SERVICES:  # orders names only fpklab-text: fpklab-cmath comes through it
        assert sorted(listed[service]["libraries"]) == ["libs/cmath", "libs/text"]
    # layer mode: the one layer both manifests name
    fns = aws_layer.functions
    [shared] = fns["users"]["layers"]
    assert fns["billing"]["layers"] == [shared]
    assert shared == f"dist/aws/mono-deps-{listed['users']['set']}.zip"
    # single zips: the dependency members (what the layer holds under python/) are the same bytes
    with zipfile.ZipFile(aws_layer.project / shared) as z:
        dependency_names = {n.removeprefix("python/") for n in z.namelist()
                            if not n.endswith("/")}
    assert any(n.startswith("fpklab_cmath/") and n.endswith(".so") for n in dependency_names)

    def dependency_members(service: str) -> dict[str, tuple[bytes, int]]:
        with zipfile.ZipFile(aws_single.project / aws_single.functions[service]["path"]) as z:
            return {i.filename: (z.read(i), i.external_attr) for i in z.infolist()
                    if i.filename in dependency_names}

    users, billing = dependency_members("users"), dependency_members("billing")
    assert set(users) == dependency_names
    assert users == billing


# --------------------------------------------------------------------------------------------
# 5. Only what changed is rewritten.


def stamps(project: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (sha256(p), p.stat().st_mtime_ns)
            for p in sorted((project / "dist/aws").glob("*.zip"))}


def rewritten(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> set[str]:
    assert set(before) == set(after)
    return {name for name in after if after[name] != before[name]}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def git(project: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "lab", "GIT_AUTHOR_EMAIL": "lab@example.invalid",
           "GIT_COMMITTER_NAME": "lab", "GIT_COMMITTER_EMAIL": "lab@example.invalid"}
    proc = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True,
                          check=False, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def own_env(tmp_path: Path) -> Env:
    """A cache of the test's own: this checkout is the only one that uses it (a cache shared
    with other checkouts of the same workspace is test_a_second_checkout_sharing_the_cache_...)."""
    return Env(tmp_path / "cache")


@pytest.fixture
def changes(tmp_path: Path, own_env: Env) -> Path:
    """The workspace with a fourth function that uses neither library (`ping`), single zips (a
    library edit shows in its dependents' zips), committed to git, built once."""
    project = mono.make(tmp_path / "mono", control=True)
    (project / "fpack.toml").write_text(mono.fpack_toml(layer=False, control=True))
    mono.git_commit_all(project)
    build(project, "aws", own_env())
    return project


ZIPS = {f"{s}.zip" for s in (*SERVICES, "ping")}


def test_only_what_changed_is_rewritten(changes: Path, own_env: Env, tmp_path: Path) -> None:
    first = stamps(changes)
    assert set(first) == ZIPS

    # nothing changed: nothing rewritten
    again = lab.fpack(changes, "build", "--target", "aws", env=own_env())
    assert "up to date" in again.stdout, again.stdout
    assert stamps(changes) == first

    # one handler edited: only its zip
    edit(changes / "services/users/app.py", '"service": SERVICE', '"service": SERVICE + "-v2"')
    lab.fpack(changes, "build", "--target", "aws", env=own_env())
    second = stamps(changes)
    assert rewritten(first, second) == {"users.zip"}

    # the pure library edited: the three services that depend on it, not ping
    edit(changes / "libs/text/src/fpklab_text/__init__.py", 'VERSION = "1"', 'VERSION = "2"')
    lab.fpack(changes, "build", "--target", "aws", env=own_env())
    third = stamps(changes)
    assert rewritten(second, third) == {"orders.zip", "users.zip", "billing.zip"}

    # the C library edited: orders too, which names only fpklab-text (the graph is followed)
    edit(changes / "libs/cmath/src/fpklab_cmath/__init__.py", 'VERSION = "1"', 'VERSION = "2"')
    manifests = build(changes, "aws", own_env())
    fourth = stamps(changes)
    assert rewritten(third, fourth) == {"orders.zip", "users.zip", "billing.zip"}
    assert stamps(changes) == fourth
    fns = by_function(manifests)
    [result] = lab.run_lambda(fns["orders"], changes, lab.IMAGES[(3, 11)], [url_event("x")],
                              tmp_path / "orders").results
    body = json.loads(result["body"])
    assert (body["cmath_version"], body["text_version"], body["add"]) == ("2", "2", 5)


def ls_changed(project: Path, env: dict[str, str], ref: str = "HEAD") -> list[str]:
    proc = lab.fpack(project, "ls", "--json", "--changed-since", ref, env=env)
    return [row["function"] for row in json.loads(proc.stdout)]


def test_changed_since_builds_and_lists_only_the_changed_functions(changes: Path,
                                                                   own_env: Env) -> None:
    first = stamps(changes)
    assert ls_changed(changes, own_env()) == []

    edit(changes / "services/billing/app.py", '"service": SERVICE', '"service": SERVICE + "!"')
    assert ls_changed(changes, own_env()) == ["billing"]
    manifests = build(changes, "aws", own_env(), "--changed-since", "HEAD")
    assert [m["function"] for m in manifests] == ["billing"]
    second = stamps(changes)
    assert rewritten(first, second) == {"billing.zip"}

    git(changes, "add", "--all")
    git(changes, "commit", "--quiet", "--no-gpg-sign", "-m", "billing edited")
    assert ls_changed(changes, own_env()) == []
    edit(changes / "libs/cmath/src/fpklab_cmath/_native.c", "a * b, in C", "a times b, in C")
    assert ls_changed(changes, own_env()) == ["orders", "users", "billing"]
    manifests = build(changes, "aws", own_env(), "--changed-since", "HEAD")
    assert sorted(m["function"] for m in manifests) == ["billing", "orders", "users"]
    assert rewritten(second, stamps(changes)) == {"orders.zip", "users.zip", "billing.zip"}
    assert ls_changed(changes, own_env(), "HEAD~1") == ["orders", "users", "billing"]


def test_a_second_checkout_sharing_the_cache_packages_its_own_library_edit(
        template: Path, env: Env, aws_single: Built, tmp_path: Path) -> None:
    """Two checkouts (a git worktree, a CI runner's restored cache) share one fpack cache:
    aws_single built the first; a library edited in the second must be what the second ships."""
    second = copy(template, tmp_path / "second" / "mono")
    (second / "fpack.toml").write_text(mono.fpack_toml(layer=False))
    edit(second / "libs/text/src/fpklab_text/__init__.py", 'VERSION = "1"', 'VERSION = "2"')
    fns = by_function(build(second, "aws", env()))
    with zipfile.ZipFile(second / fns["users"]["path"]) as z:
        shipped = z.read("fpklab_text/__init__.py").decode()
    assert 'VERSION = "2"' in shipped, "the first checkout's fpklab-text was packaged"
    [result] = lab.run_lambda(fns["users"], second, lab.IMAGES[(3, 11)], [url_event("x")],
                              tmp_path / "users").results
    assert json.loads(result["body"])["text_version"] == "2"



def test_parallel_prepare_steps_find_uv_in_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """What made this module's builds fail now and then: every dependency set is prepared in
    a thread of its own (-j), and the first of them look for uv at once, as in a fresh process.
    The interleaving is made certain: sysconfig, reading its config vars for the first time,
    takes a little while (as reading Python's Makefile data does), and a second thread asks."""
    import sysconfig
    import threading
    import time

    from fpack.deps import uv

    monkeypatch.delenv("FPACK_UV", raising=False)
    monkeypatch.setattr(sysconfig, "_CONFIG_VARS", None)  # nothing read yet, as at start-up
    init_posix = sysconfig._init_posix  # type: ignore[attr-defined]

    def slow_init_posix(variables: dict[str, Any]) -> None:
        time.sleep(0.2)
        init_posix(variables)

    monkeypatch.setattr(sysconfig, "_init_posix", slow_init_posix)
    uv.binary.cache_clear()
    errors: list[str] = []

    def first_call() -> None:
        try:
            uv.binary()
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            errors.append(repr(e))

    threads = [threading.Thread(target=first_call) for _ in range(2)]
    threads[0].start()
    time.sleep(0.05)  # the first thread is inside sysconfig's first read
    threads[1].start()
    for t in threads:
        t.join()
    uv.binary.cache_clear()
    assert errors == []


# --------------------------------------------------------------------------------------------
# 6. The errors: the whole message, naming the file and the entry, saying what to do.


@pytest.fixture
def broken(template: Path, tmp_path: Path) -> Path:
    return copy(template, tmp_path / "mono")


def fails(project: Path, tmp_path: Path) -> str:
    proc = lab.fpack(project, "build", "--target", "aws", check=False,
                     env={"FPACK_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    return proc.stderr


def test_error_a_path_dependency_that_does_not_exist(broken: Path, tmp_path: Path) -> None:
    requirements = broken / "services/users/requirements.txt"
    requirements.write_text("../../libs/nope\nidna==3.7\n")
    assert fails(broken, tmp_path) == (
        f"error: {requirements}: ../../libs/nope: no such directory {broken}/libs/nope\n"
        f"  hint: correct the path (relative to {broken}/services/users) or create the library\n")


def test_error_a_cycle_between_two_local_libraries(broken: Path, tmp_path: Path) -> None:
    cmath = broken / "libs/cmath/pyproject.toml"
    edit(cmath, 'requires-python = ">=3.9"\n',
         'requires-python = ">=3.9"\ndependencies = ["fpklab-text"]\n\n'
         "[tool.uv.sources]\nfpklab-text = { workspace = true }\n")
    assert fails(broken, tmp_path) == (
        f"error: {cmath}: [tool.uv.sources] fpklab-text = {{ workspace = true }}: local "
        "libraries depend on each other in a cycle: text -> cmath -> text\n"
        "  hint: a library cannot need itself: move what both need into a third library\n")


def test_error_a_workspace_member_not_in_the_lock(broken: Path, tmp_path: Path) -> None:
    refunds = broken / "services/refunds"
    refunds.mkdir()
    shutil.copy(broken / "services/orders/app.py", refunds / "app.py")
    (refunds / "pyproject.toml").write_text(
        (broken / "services/orders/pyproject.toml").read_text().replace(
            'name = "orders"', 'name = "refunds"'))
    edit(broken / "pyproject.toml", 'members = ["services/orders"',
         'members = ["services/orders", "services/refunds"')
    with (broken / "fpack.toml").open("a") as f:
        f.write('\n[functions.refunds]\ndir = "services/refunds"\nhandler = "app:handler"\n')
    assert fails(broken, tmp_path) == (
        f'error: {broken}/uv.lock: the workspace member services/refunds (package "refunds") is '
        "not in the lock\n"
        f"  hint: run `uv lock` in {broken} to add it\n")


def test_error_a_lock_out_of_date_with_a_member(broken: Path, tmp_path: Path) -> None:
    orders = broken / "services/orders/pyproject.toml"
    edit(orders, '"six==1.16.0"', '"six==1.16.0", "attrs>=23"')
    assert fails(broken, tmp_path) == (
        f"error: {broken}/uv.lock is out of date with {orders} (added attrs>=23)\n"
        f"  hint: run `uv lock` in {broken}, then build again\n")
