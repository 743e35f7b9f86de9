"""The gcp target without Docker or network: bundle layout, requirements, manifests, entry points
(run against a fake functions-framework), vendored wheels, reproducibility, limits and errors."""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import json
import sys
import threading
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fpack import build as building
from fpack import config, executor, inputs
from fpack.deps import framework, wheels
from fpack.deps import spec as dep_spec
from fpack.deps.engine import Dependencies, Package
from fpack.errors import BuildError, ConfigError, DependencyError
from fpack.layout import SizeLimit, ZipPlan
from fpack.manifest import GcpBundle
from fpack.outputs import Outputs
from fpack.platforms import RUNTIMES, Platform
from fpack.report import NullReporter
from fpack.targets import gcp
from tests.unit.runtime.support import load_event
from tests.unit.runtime.test_gcp import FakeCloudEvent, FakeFlaskRequest

TOML = """\
[project]
name = "photos"
include = ["app/**"]

[functions.hello]
handler = "app.api:hello"

[functions.on-upload]
handler = "app.api:on_upload"
trigger = "storage"

[functions.consume]
handler = "app.api:consume"
trigger = "queue"

[functions.tick]
handler = "app.api:tick"
trigger = "schedule"

[functions.legacy]
handler = "app.api:legacy"
style = "functions-framework"

[targets.gcp]
runtime = "python312"
"""

API = '''\
import fpack

SEEN = []


def hello(request):
    return {"hello": request.query.get("name", "world"), "agent": request.headers.get("x-agent")}


def on_upload(event):
    SEEN.append(("storage", event.bucket, event.key, event.kind))


def consume(message):
    SEEN.append(("queue", message.json()))


def tick(event):
    SEEN.append(("schedule", event.time.isoformat()))


def legacy(request):
    return "as is: " + request.args.getlist("q")[0]
'''

WHEELS = {"functions-framework": ("3.10.2", b"ff wheel bytes"),
          "numpy": ("2.1.3", b"numpy wheel bytes")}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _packages(source: str = "index") -> tuple[Package, ...]:
    return tuple(
        Package(name=name, version=version, sha256=_sha(data), size=len(data) * 10,
                wheel=f"{name.replace('-', '_')}-{version}-py3-none-any.whl",
                source=source if name == "numpy" else "index")
        for name, (version, data) in sorted(WHEELS.items()))


def _deps(packages: tuple[Package, ...] | None = None) -> Dependencies:
    return Dependencies(platform=Platform(runtime=RUNTIMES["gcp"]["python312"], arch="x86_64"),
                        packages=_packages() if packages is None else packages, archive=None,
                        unpacked_size=123_456, key="deps-key")


def _project(root: Path, extra: str = "") -> config.Project:
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "api.py").write_text(API)
    (root / "fpack.toml").write_text(TOML + extra)
    return config.load(root / "fpack.toml")


def _plans(project: config.Project, out: Path, deps: Dependencies | None = None,
           only: tuple[str, ...] = ()) -> tuple[ZipPlan, ...]:
    """What `fpack build --target gcp` plans, the environment read as the build reads it."""
    bp = building.make_plan(project, "gcp", inputs=inputs.read(), out=out, only=only)
    return gcp.plan_artifacts(bp, deps or _deps(), NullReporter())


def _build(project: config.Project, out: Path, deps: Dependencies | None = None,
           only: tuple[str, ...] = ()) -> list[GcpBundle]:
    plans = _plans(project, out, deps, only)
    with Outputs(out / "gcp") as outputs:
        built = executor.run(plans, outputs, NullReporter(), epoch=inputs.read().epoch)
    manifests = [b.manifest for b in built]
    assert all(isinstance(m, GcpBundle) for m in manifests)
    return manifests  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache per test: the wheel store must start empty for what each test asserts."""
    monkeypatch.setenv("FPACK_CACHE_DIR", str(tmp_path / "fpack-cache"))


@pytest.fixture
def project(tmp_path: Path) -> config.Project:
    return _project(tmp_path / "photos")


def test_bundle_holds_sources_runtime_entry_and_requirements(project: config.Project) -> None:
    artifacts = _build(project, project.root / "dist", only=("hello",))
    (hello,) = artifacts
    with zipfile.ZipFile(hello.path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        main = z.read("fpack_entry.py").decode()
    assert hello.path == project.root / "dist" / "gcp" / "hello.zip"
    assert [n for n in names if not n.startswith("fpack/")] == [
        "app/__init__.py", "app/api.py", "fpack_entry.py", "requirements.txt"]
    assert {"fpack/__init__.py", "fpack/runtime/gcp.py", "fpack/runtime/api.py"} <= set(names)
    assert "from app.api import hello as _handler" in main
    manifest = hello.to_json(project.root)
    assert {k: manifest[k] for k in ("function", "target", "runtime", "arch", "handler",
                                     "signature_type", "build_env", "path")} == {
        "function": "hello", "target": "gcp", "runtime": "python312", "arch": "x86_64",
        "handler": "hello", "signature_type": "http",
        "build_env": {"GOOGLE_FUNCTION_SOURCE": "fpack_entry.py"},
        "path": "dist/gcp/hello.zip"}
    assert [p["name"] for p in manifest["packages"]] == ["functions-framework", "numpy"]


def test_requirements_pin_every_resolved_wheel(project: config.Project) -> None:
    (hello,) = _plans(project, project.root / "dist", only=("hello",))
    (text,) = [f.data.decode() for f in hello.files if f.name == "requirements.txt"]
    ff, numpy = _sha(WHEELS["functions-framework"][1]), _sha(WHEELS["numpy"][1])
    assert text == (
        "# Generated by fpack for python312 x86_64 (Ubuntu 22.04, glibc 2.35). Do not edit: the "
        "exact versions\n"
        "# fpack resolved and audited for this runtime, functions-framework included.\n"
        f"functions-framework==3.10.2 \\\n    --hash=sha256:{ff}\n"
        f"numpy==2.1.3 \\\n    --hash=sha256:{numpy}\n")


@pytest.fixture
def fake_framework(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """functions_framework as far as the entry module uses it: decorators that register
    signature types."""
    registry: dict[str, str] = {}
    module = types.ModuleType("functions_framework")

    def register(kind: str) -> Any:
        def decorate(func: Any) -> Any:
            registry[func.__name__] = kind
            return func
        return decorate

    module.http = register("http")  # type: ignore[attr-defined]
    module.cloud_event = register("cloudevent")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "functions_framework", module)
    return registry


def _load_entry(bundle: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The entry module of `bundle` (GOOGLE_FUNCTION_SOURCE), imported as functions-framework
    does: from the unzipped source dir."""
    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp)
    monkeypatch.syspath_prepend(str(tmp))
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        monkeypatch.delitem(sys.modules, name)
    spec = importlib.util.spec_from_file_location(f"main_{tmp.name}", tmp / "fpack_entry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entry_points_adapt_each_trigger(project: config.Project, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         fake_framework: dict[str, str]) -> None:
    bundles = {a.function: a.path for a in _build(project, project.root / "dist")}
    entries = {name: _load_entry(path, tmp_path / name, monkeypatch)
               for name, path in bundles.items()}
    assert fake_framework == {"hello": "http", "on_upload": "cloudevent", "consume": "cloudevent",
                              "tick": "cloudevent", "legacy": "http"}
    request = FakeFlaskRequest("GET", "/", [("name", "gcp")], [("X-Agent", "test")])
    body, status, headers = entries["hello"].hello(request)
    assert (json.loads(body), status) == ({"hello": "gcp", "agent": "test"}, 200)
    assert ("Content-Type", "application/json") in headers
    seen = []
    for name, attr, sample in (("on-upload", "on_upload", "storage_finalized"),
                               ("consume", "consume", "pubsub_message"),
                               ("tick", "tick", "scheduler_pubsub")):
        structured = load_event("gcp", sample)
        data = structured.pop("data")
        getattr(entries[name], attr)(FakeCloudEvent(structured, data))
        seen += entries[name]._handler.__globals__["SEEN"]  # each bundle imported its own app
    assert seen == [("storage", "photos-uploads", "incoming/holiday photos/café (1).jpg",
                     "created"),
                    ("queue", {"order": 1}),
                    ("schedule", "2024-03-13T15:00:00.123456+00:00")]
    legacy = FakeFlaskRequest("GET", "/", [("q", "untouched")], [])
    assert entries["legacy"].legacy(legacy) == "as is: untouched"  # no adapter in between


def _store_wheels() -> None:
    cache = inputs.read().cache
    for package in _packages():
        path = cache.root / "wheels" / package.sha256 / package.wheel
        path.parent.mkdir(parents=True)
        path.write_bytes(WHEELS[package.name][1])


def test_vendored_bundle_ships_the_pinned_wheels(tmp_path: Path) -> None:
    project = _project(tmp_path / "photos", "vendor = true\n")
    _store_wheels()
    (hello,) = _build(project, project.root / "dist", only=("hello",))
    with zipfile.ZipFile(hello.path) as z:
        shipped = {n: z.read(n) for n in z.namelist() if n.startswith("wheels/")
                   and not n.endswith("/")}
    assert shipped == {"wheels/functions_framework-3.10.2-py3-none-any.whl": b"ff wheel bytes",
                       "wheels/numpy-2.1.3-py3-none-any.whl": b"numpy wheel bytes"}
    assert hello.to_json(project.root)["build_env"] == {
        "GOOGLE_FUNCTION_SOURCE": "fpack_entry.py", "GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"}


def test_a_wheel_not_on_the_index_is_shipped_in_the_bundle_and_named_by_path(
        project: config.Project) -> None:
    """A local library or a wheel fpack built: Google's build cannot get it from the index, so
    the bundle carries it in wheels/ and requirements.txt names that file (the others stay
    pins for the index)."""
    bp = building.make_plan(project, "gcp", inputs=inputs.read(), out=project.root / "dist")
    numpy = _packages(source="built in manylinux")
    shipped = gcp.shipped_packages(_deps(numpy), vendor=False)
    assert [p.name for p in shipped] == ["numpy"]
    text = gcp.requirements_text(bp, numpy, vendor=False)
    wheel = next(p for p in numpy if p.name == "numpy")
    assert f"./wheels/{wheel.wheel} \\\n    --hash=sha256:{wheel.sha256}\n" in text
    assert "functions-framework==3.10.2 \\\n" in text
    [plan, *_] = gcp.plan(bp, _deps(numpy), (gcp.FileEntry(name=f"wheels/{wheel.wheel}",
                                                         data=b"wheel"),))
    assert f"wheels/{wheel.wheel}" in {f.name for f in plan.files}


def test_bundles_are_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = _project(tmp_path / "a" / "photos")
    second = _project(tmp_path / "b" / "elsewhere" / "photos")
    (second.root / "app" / "api.py").chmod(0o600)
    a = {x.function: x.sha256 for x in _build(first, first.root / "dist")}
    b = {x.function: x.sha256 for x in _build(second, second.root / "dist")}
    assert a == b
    assert _sha((second.root / "dist/gcp/hello.zip").read_bytes()) == b["hello"]


def test_size_limit_is_a_clear_error(project: config.Project,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (planned,) = _plans(project, project.root / "dist", only=("hello",))
    assert [(x.measure, x.limit) for x in planned.limits] == [
        ("zipped", gcp.SOURCE_ZIPPED_MAX), ("unzipped", gcp.SOURCE_UNZIPPED_MAX)]
    # The limits are planned as data and checked by the executor, before anything is written.
    monkeypatch.setattr(gcp, "SOURCE_ZIPPED_MAX", 1000)
    (small,) = _plans(project, project.root / "dist", only=("hello",))
    assert small.limits[0] == SizeLimit(
        measure="zipped", limit=1000,
        message="hello: the Cloud Functions source bundle would be {size} zipped; Cloud "
                "Functions accepts at most 1.0 KB (1000 bytes) zipped",
        hint="leave out files the function does not need ([project] include and exclude), or "
             "use the docker target")
    with pytest.raises(BuildError) as e:
        _build(project, project.root / "dist", only=("hello",))
    assert str(e.value).startswith("hello: the Cloud Functions source bundle would be ")
    assert str(e.value).endswith(
        " zipped; Cloud Functions accepts at most 1.0 KB (1000 bytes) zipped\n"
        "  hint: leave out files the function does not need ([project] include and exclude), "
        "or use the docker target")
    assert not (project.root / "dist" / "gcp" / "hello.zip").exists()


def test_a_project_main_py_ships_beside_the_entry_module(project: config.Project) -> None:
    """FastAPI's and Flask's main.py is the project's own: the bundle ships it as it is, and
    its entry module is fpack_entry.py, which GOOGLE_FUNCTION_SOURCE names."""
    (project.root / "main.py").write_text("x = 1\n")
    with_main = config.load(project.config_path)
    with_main = type(with_main)(**{**with_main.__dict__, "include": ("app/**", "main.py")})
    (hello, *_) = _build(with_main, project.root / "dist")
    with zipfile.ZipFile(hello.path) as z:
        assert z.read("main.py") == b"x = 1\n"
        assert b"from app.api import hello as _handler" in z.read("fpack_entry.py")
    assert hello.to_json(project.root)["build_env"] == {
        "GOOGLE_FUNCTION_SOURCE": "fpack_entry.py"}


def test_a_project_file_named_like_the_entry_module_clashes(project: config.Project) -> None:
    (project.root / "fpack_entry.py").write_text("x = 1\n")
    clashing = config.load(project.config_path)
    clashing = type(clashing)(**{**clashing.__dict__, "include": ("app/**", "fpack_entry.py")})
    with pytest.raises(ConfigError) as e:
        _build(clashing, project.root / "dist")
    assert str(e.value) == (
        f"{project.config_path}: [project] include packages fpack_entry.py, but the gcp target "
        "generates fpack_entry.py at the root of every bundle (the entry module Cloud Functions "
        "loads, the requirements.txt it installs, vendored wheels/)\n"
        '  hint: rename fpack_entry.py, or add it to [project] exclude = ["fpack_entry.py"]')


# --- functions-framework joins the resolution -------------------------------------------------


def _framework_spec(tmp_path: Path, spec: dep_spec.DependencySpec) -> str:
    joined = framework.with_framework(spec, tmp_path / "fpack.toml", inputs.read().cache)
    assert joined.kind == "requirements" and joined.path is not None
    return joined.path.read_text()


def test_framework_is_resolved_with_a_requirements_file(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=2\n")
    spec = dep_spec.read(req, tmp_path / "fpack.toml")
    text = _framework_spec(tmp_path, spec)
    assert text.splitlines()[1:] == [f"-r {req}", "functions-framework"]
    joined = framework.with_framework(spec, tmp_path / "fpack.toml", inputs.read().cache)
    assert str(req.resolve()) in [name for name, _ in joined.files]  # an edit re-resolves


def test_framework_alone_without_dependencies(tmp_path: Path) -> None:
    none = dep_spec.read(None, tmp_path / "fpack.toml")
    assert _framework_spec(tmp_path, none).splitlines()[1:] == ["functions-framework"]


def test_framework_with_pyproject_dependencies(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["pillow>=10", "numpy"]\n')
    spec = dep_spec.read(pyproject, tmp_path / "fpack.toml")
    assert _framework_spec(tmp_path, spec).splitlines()[1:3] == ["pillow>=10", "numpy"]
    pyproject.write_text('[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    with pytest.raises(ConfigError) as e:
        _framework_spec(tmp_path, dep_spec.read(pyproject, tmp_path / "fpack.toml"))
    assert str(e.value) == (
        f'{pyproject}: [project] dynamic = ["dependencies"]: the gcp target needs them listed, '
        "to resolve them together with functions-framework\n"
        "  hint: list them in [project] dependencies, or point `dependencies` in "
        f"{tmp_path / 'fpack.toml'} at a requirements.txt")


def test_exported_uv_lock_loses_its_hashes() -> None:
    exported = ("anyio==4.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via x\n"
                'numpy==2.1 ; python_version >= "3.10" \\\n    --hash=sha256:cc\n')
    assert framework._without_hashes(exported) == (
        "anyio==4.0", 'numpy==2.1 ; python_version >= "3.10"')


# --- the wheel store: download, verify, credentials ---------------------------------------------


class _WheelServer(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    auth: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.auth.append(self.headers.get("Authorization"))
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def wheel_server() -> Iterator[str]:
    _WheelServer.files, _WheelServer.auth = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WheelServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _cached_lock(base: str) -> None:
    """A resolution in the cache, as the engine leaves it, listing where each wheel lives."""
    entries = "".join(
        f'[[packages]]\nname = "{p.name}"\nversion = "{p.version}"\n'
        f'wheels = [{{ url = "{base}/files/{p.wheel}", hashes = {{ sha256 = "{p.sha256}" }} }}]\n\n'
        for p in _packages())
    inputs.read().cache.write_file("resolve", "pylock.test", ".toml",
                                     f'lock-version = "1.0"\n\n{entries}'.encode())


def test_wheels_are_downloaded_with_the_index_credentials_and_verified(
        wheel_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    netloc = wheel_server.removeprefix("http://")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://ci:s%40cret@{netloc}/simple")
    _cached_lock(wheel_server)
    for p in _packages():
        _WheelServer.files[f"/files/{p.wheel}"] = WHEELS[p.name][1]
    got = wheels.fetch(_deps(), inputs.read(), NullReporter())
    assert {w.filename: w.path.read_bytes() for w in got} == {
        p.wheel: WHEELS[p.name][1] for p in _packages()}
    expected = "Basic " + base64.b64encode(b"ci:s@cret").decode()
    assert _WheelServer.auth == [expected, expected]
    wheels.fetch(_deps(), inputs.read(), NullReporter())
    assert len(_WheelServer.auth) == 2  # the store answers the second time


def test_a_wheel_with_the_wrong_bytes_is_refused(wheel_server: str) -> None:
    _cached_lock(wheel_server)
    for p in _packages():
        _WheelServer.files[f"/files/{p.wheel}"] = b"tampered"
    with pytest.raises(DependencyError) as e:
        wheels.fetch(_deps(), inputs.read(), NullReporter())
    ff = _packages()[0]
    assert str(e.value) == (
        f"{ff.wheel} from {wheel_server}/files/{ff.wheel} has sha256 {_sha(b'tampered')}, but "
        f"the resolution pinned {ff.sha256}\n"
        "  hint: the index or a proxy served a different file: check it, then run the build "
        "again with --refresh")
    assert not list((inputs.read().cache.root / "wheels").rglob("*.whl"))


def test_credentials_come_from_a_matching_index_url_or_netrc(tmp_path: Path) -> None:
    index = inputs.read({"UV_INDEX": "internal=https://me:tok@pkgs.example.com/simple",
                         "PIP_EXTRA_INDEX_URL": "https://other:pw@elsewhere.example.com/simple"},
                        ).index
    urls = list(index.urls())  # UV_INDEX names its index: the URL is what counts
    assert urls == ["https://me:tok@pkgs.example.com/simple",
                    "https://other:pw@elsewhere.example.com/simple"]
    url = "https://pkgs.example.com/files/x-1-py3-none-any.whl"
    assert wheels.authorization(url, urls, tmp_path / "none") == \
        "Basic " + base64.b64encode(b"me:tok").decode()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine files.example.com login bot password pw2\n")
    netrc.chmod(0o600)
    assert wheels.authorization("https://files.example.com/x.whl", urls, netrc) == \
        "Basic " + base64.b64encode(b"bot:pw2").decode()
    assert wheels.authorization("http://pkgs.example.com/x.whl", urls, netrc) is None  # scheme
