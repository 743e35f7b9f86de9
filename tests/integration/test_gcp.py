"""`fpack build --target gcp` bundles, installed and served as Google's Python buildpack does it.

In a lab container of the runtime's Python: a virtualenv, then the buildpack's own pip command
(GoogleCloudPlatform/buildpacks, pkg/python/python.go: `pip install --requirement requirements.txt
--upgrade --upgrade-strategy only-if-needed --force-reinstall ...`, plus `--no-index --find-links
<GOOGLE_VENDOR_PIP_DEPENDENCIES>` for vendored bundles, whose install runs with the network off),
then `pip check`; then `functions-framework --target <entry point> --signature-type <type>` from
each unzipped bundle, and real HTTP requests and CloudEvents (binary and structured modes) sent to
it on 127.0.0.1. The example project is the same portable one the aws tests run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from fpack import container, inputs
from tests.integration import lab

pytestmark = pytest.mark.lab

BUILDPACK_PIP = ("--upgrade", "--upgrade-strategy", "only-if-needed", "--no-warn-script-location",
                 "--no-warn-conflicts", "--force-reinstall", "--no-compile",
                 "--disable-pip-version-check")
LEGACY = '''\
"""Handlers written for functions-framework, packaged as they are."""

import os
from pathlib import Path

from PIL import Image


def greet(request):
    return {"size": list(Image.new("RGB", (3, 2)).size), "q": request.args.get("q")}


def record(cloud_event):
    out = Path(os.environ["PHOTOS_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "legacy.txt").write_text(f"{cloud_event['type']} {cloud_event.data['name']}\\n")
'''


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip's download cache, shared by every install of this module (Google's build has none)."""
    return tmp_path_factory.mktemp("pip-cache")


def _project(base: Path, dest: Path, runtime: str, *, vendor: bool = False,
             legacy: bool = False, compile: bool = False) -> Path:
    shutil.copytree(base, dest)
    toml = (dest / "fpack.toml").read_text()
    toml = toml.replace('runtime = "python312"', f'runtime = "{runtime}"\nvendor = '
                        f"{str(vendor).lower()}\ncompile = {str(compile).lower()}")
    if legacy:
        (dest / "example" / "legacy.py").write_text(LEGACY)
        toml += ('\n[functions.legacy]\nhandler = "example.legacy:greet"\n'
                 'style = "functions-framework"\n'
                 '\n[functions.legacy-event]\nhandler = "example.legacy:record"\n'
                 'trigger = "storage"\nstyle = "functions-framework"\n')
    (dest / "fpack.toml").write_text(toml)
    return dest


@dataclass(frozen=True)
class Served:
    urls: dict[str, str]  # function -> http://127.0.0.1:<port>
    out: Path  # PHOTOS_OUT of function F is out/F
    ctr: Any  # the container serving them, bundles under /bundles/F (read-only)


def _install(image: str, bundles: Path, venv: Path, pip_cache: Path, *, vendor: bool) -> None:
    """What the buildpack does with requirements.txt; vendored bundles with the network off."""
    pip = ["/venv/bin/python", "-m", "pip", "install", "--requirement", "requirements.txt",
           *BUILDPACK_PIP, *(("--no-index", "--find-links", "wheels") if vendor else ())]
    script = f"python3 -m venv /venv && {' '.join(pip)} && /venv/bin/python -m pip check"
    result = container.run(
        image, ["sh", "-c", script], timeout=900, network=not vendor,
        settings=container.Settings() if vendor else container.build_settings(inputs.read()),
        mounts=[container.Mount(source=bundles, target="/bundles"),
                container.Mount(source=venv, target="/venv", read_only=False),
                container.Mount(source=pip_cache, target="/root/.cache/pip", read_only=False)],
        workdir=f"/bundles/{next(iter(sorted(p.name for p in bundles.iterdir())))}",
    )
    assert result.exit_code == 0, \
        f"pip install failed on {image}:\n{result.stdout}\n{result.stderr}"


@contextlib.contextmanager
def _serve(project: Path, image: str, tmp: Path, pip_cache: Path, *,
           vendor: bool) -> Iterator[Served]:
    manifests = {m["function"]: m for m in lab.build(project, "gcp")}
    bundles, venv, out = tmp / "bundles", tmp / "venv", tmp / "out"
    for d in (bundles, venv, out):
        d.mkdir(parents=True)
    for name, m in manifests.items():
        lab.unzip(project / m["path"], bundles / name)
    _install(image, bundles, venv, pip_cache, vendor=vendor)
    ports = {name: 8081 + i for i, name in enumerate(sorted(manifests))}
    # As the buildpack launches it: the deploy's GOOGLE_FUNCTION_SOURCE is FUNCTION_SOURCE at
    # run time (pkg/gcpbuildpack SetFunctionsEnvVars), the file functions-framework loads.
    script = " ".join(
        f"(cd /bundles/{name} && PHOTOS_OUT=/out/{name} "
        f"FUNCTION_SOURCE={function_source(bundles / name, m)} "
        f"exec /venv/bin/functions-framework "
        f"--target {m['handler']} --signature-type {m['signature_type']} --host 0.0.0.0 "
        f"--port {ports[name]}) &" for name, m in sorted(manifests.items())) + " wait"
    with container.container(
        image, ["sh", "-c", script],
        mounts=[container.Mount(source=bundles, target="/bundles"),
                container.Mount(source=venv, target="/venv"),
                container.Mount(source=out, target="/out", read_only=False)],
        ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports.values()},  # type: ignore[misc]
    ) as ctr:
        ctr.start()
        ctr.reload()
        published = ctr.attrs["NetworkSettings"]["Ports"]
        urls = {name: f"http://127.0.0.1:{published[f'{p}/tcp'][0]['HostPort']}"
                for name, p in ports.items()}
        for url in urls.values():
            _wait_ready(url, ctr)
        yield Served(urls=urls, out=out, ctr=ctr)


def function_source(bundle: Path, manifest: dict[str, Any]) -> str:
    """The file functions-framework loads from an unzipped bundle, as Google's build picks it:
    the build variable GOOGLE_FUNCTION_SOURCE, else main.py; a build whose file is missing
    fails (the buildpack's validateSource)."""
    source = str(manifest["build_env"].get("GOOGLE_FUNCTION_SOURCE", "main.py"))
    assert (bundle / source).is_file(), f"the build would fail: {source} is not in the bundle"
    return source


def _wait_ready(url: str, ctr: Any) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if _answers(url):
            return
        ctr.reload()
        if ctr.status != "running":
            break
        time.sleep(0.5)
    raise AssertionError(f"functions-framework did not come up:\n{ctr.logs().decode()}")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/", timeout=5).close()
    except urllib.error.HTTPError:
        return True  # an HTTP error is an answer: the server is up
    except OSError:
        return False
    return True


def _send(url: str, body: bytes, headers: dict[str, str],
          method: str = "POST") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body if method == "POST" else None,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def binary(url: str, event: dict[str, Any]) -> int:
    """A CloudEvent in binary content mode: attributes as ce-* headers, the data as the body."""
    event = dict(event)
    data = event.pop("data")
    headers = {"Content-Type": event.pop("datacontenttype", "application/json")}
    headers.update({f"ce-{k}": quote(str(v), safe="/:@+-.") for k, v in event.items()})
    return _send(url, json.dumps(data).encode(), headers)[0]


def structured(url: str, event: dict[str, Any]) -> int:
    """A CloudEvent in structured content mode: the whole event as the JSON body."""
    headers = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
    return _send(url, json.dumps(event).encode(), headers)[0]


def _pubsub(order: dict[str, Any] | str, message_id: str) -> dict[str, Any]:
    event = lab.event("gcp", "pubsub_message")
    payload = order if isinstance(order, str) else json.dumps(order)
    event["id"] = event["data"]["message"]["messageId"] = message_id
    event["data"]["message"]["data"] = base64.b64encode(payload.encode()).decode()
    return event


def _check_http(url: str) -> None:
    status, body = _send(url + "/items?name=gcp&size=2", b"",
                         {"User-Agent": "fpack-lab", "Accept": "application/json"}, "GET")
    assert (status, json.loads(body)) == (200, {"hello": "gcp", "path": "/items",
                                                "agent": "fpack-lab"})
    json_headers = {"Content-Type": "application/json"}
    status, body = _send(url + "/", json.dumps({"width": 1024, "height": 512}).encode(),
                         json_headers)
    assert (status, json.loads(body)) == (200, {"thumbnail": [128, 64], "keep_ratio": True})
    status, body = _send(url + "/", b'{"width": 0, "height": 5}', json_headers)
    assert status == 422  # pydantic's compiled validator ran and refused width 0
    assert json.loads(body)["error"][0]["loc"] == ["width"]


def _check_events(served: Served) -> None:
    urls, out = served.urls, served.out
    finalized = lab.event("gcp", "storage_finalized")
    assert binary(urls["thumbnail"], finalized) == 200
    second = lab.event("gcp", "storage_finalized")
    second["data"]["name"], second["id"] = "incoming/second.jpg", "2"
    assert structured(urls["thumbnail"], second) == 200
    assert structured(urls["thumbnail"], lab.event("gcp", "storage_deleted")) == 200
    pngs = sorted(p.name for p in (out / "thumbnail").glob("*.png"))
    assert pngs == ["incoming_holiday photos_café (1).jpg.png", "incoming_second.jpg.png"]
    assert (out / "thumbnail" / pngs[0]).read_bytes().startswith(b"\x89PNG")  # drawn by Pillow
    assert (out / "thumbnail" / "deleted.txt").read_text() == "photos-uploads/incoming/old.jpg\n"

    assert binary(urls["consume"], _pubsub({"id": 7, "photos": ["a.jpg", "b.jpg"]}, "71")) == 200
    assert structured(urls["consume"], _pubsub({"id": 8, "photos": ["c.jpg"]}, "81")) == 200
    assert structured(urls["consume"], _pubsub("not an order", "91")) == 500  # retried by Pub/Sub
    assert (out / "consume" / "orders.jsonl").read_text() == \
        '{"id": 7, "count": 2}\n{"id": 8, "count": 1}\n'

    tick = lab.event("gcp", "scheduler_pubsub")
    assert structured(urls["tick"], tick) == 200
    assert binary(urls["tick"], tick) == 200
    assert (out / "tick" / "ticks.txt").read_text() == "2024-03-13T15:00:00.123456+00:00\n" * 2


@pytest.mark.parametrize(("runtime", "python"), [("python311", (3, 11)), ("python39", (3, 9))])
def test_bundles_install_like_the_buildpack_and_serve(
        example_project: Path, tmp_path: Path, pip_cache: Path, runtime: str,
        python: tuple[int, int]) -> None:
    legacy = compile = runtime == "python311"
    project = _project(example_project, tmp_path / "photos", runtime, legacy=legacy,
                       compile=compile)
    with _serve(project, lab.IMAGES[python], tmp_path / "run", pip_cache, vendor=False) as served:
        _check_http(served.urls["hello"])
        _check_events(served)
        if compile:  # the bundle's pycs are loaded as shipped (read-only: none could be written)
            loaded = served.ctr.exec_run(["/venv/bin/python", "-v", "-c", "import example.api"],
                                         workdir="/bundles/hello").output.decode()
            assert "code object from '/bundles/hello/example/__pycache__/api.cpython-311.pyc'" \
                in loaded
        if legacy:
            status, body = _send(served.urls["legacy"] + "/?q=as-is", b"", {}, "GET")
            assert (status, json.loads(body)) == (200, {"size": [3, 2], "q": "as-is"})
            assert structured(served.urls["legacy-event"],
                              lab.event("gcp", "storage_deleted")) == 200
            assert (served.out / "legacy-event" / "legacy.txt").read_text() == \
                "google.cloud.storage.object.v1.deleted incoming/old.jpg\n"


def test_vendored_bundles_install_with_the_network_off(example_project: Path, tmp_path: Path,
                                                       pip_cache: Path) -> None:
    project = _project(example_project, tmp_path / "photos", "python313", vendor=True)
    manifests = lab.build(project, "gcp")
    assert all(m["build_env"] == {"GOOGLE_FUNCTION_SOURCE": "fpack_entry.py",
                                  "GOOGLE_VENDOR_PIP_DEPENDENCIES": "wheels"} for m in manifests)
    with _serve(project, lab.IMAGES[(3, 13)], tmp_path / "run", pip_cache, vendor=True) as served:
        _check_http(served.urls["hello"])
        _check_events(served)


def test_bundles_are_byte_identical_across_copies(example_project: Path, tmp_path: Path) -> None:
    a = _project(example_project, tmp_path / "a" / "photos", "python312")
    b = _project(example_project, tmp_path / "elsewhere" / "b" / "photos", "python312")
    (b / "example" / "api.py").chmod(0o600)
    first = {m["path"]: m["sha256"] for m in lab.build(a, "gcp")}
    second = {m["path"]: m["sha256"] for m in lab.build(b, "gcp")}
    assert first == second
    again = lab.fpack(b, "build", "--target", "gcp")
    assert "packaging" not in again.stderr  # nothing changed: nothing rewritten
