"""Web apps as fpack functions: a FastAPI app (style "asgi") and a Flask app (style "wsgi") from
tests/integration/webapps, built for each target, run there and driven with the same requests.

The answers are compared with those of the apps run directly (FastAPI under uvicorn on the host,
Flask through its test client): on Lambda (API Gateway REST and HTTP API events, run as Lambda
runs them, on Python 3.9), under functions-framework as Cloud Functions installs it (Python 3.11),
and in the docker http image (uvicorn / gunicorn). Each target runs one process per app, so the
FastAPI lifespan start-up must have run exactly once there, before the first request.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import json
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.integration import lab

pytestmark = pytest.mark.lab

APPS = Path(__file__).resolve().parent / "webapps"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Call:
    """One request, described once and sent to every target."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Reply:
    """What is compared of a response: headers that vary by server (Date, Server, lengths) not."""

    status: int
    content_type: str | None
    body: Any  # JSON parsed; for a 422, the locations of the errors; else the bytes
    cookies: tuple[str, ...]
    location: str | None


API_CALLS = {
    "path-params": Call("GET", "/items/42", "q=red"),
    "json-post": Call("POST", "/items", headers={"Content-Type": "application/json"},
                      body=b'{"name": "pen", "price": 1.5, "tags": ["office"]}'),
    "invalid": Call("POST", "/items", headers={"Content-Type": "application/json"},
                    body=b'{"name": "pen"}'),
    "png": Call("GET", "/image.png", "size=3"),
    "cookie": Call("POST", "/login"),
    "whoami": Call("GET", "/whoami", headers={"Cookie": "session=abc123; theme=dark"}),
}
SITE_CALLS = {
    "form": Call("GET", "/"),
    "form-post": Call("POST", "/orders", headers={"Content-Type": FORM},
                      body=b"name=Ada+Lovelace&qty=2"),
    "redirected": Call("GET", "/thanks", "name=Ada+Lovelace&qty=2"),
}


def reply(status: int, headers: list[tuple[str, str]], body: bytes) -> Reply:
    """The comparable part of a response from any target."""
    lower = [(n.lower(), v) for n, v in headers]
    content_type = next((v for n, v in lower if n == "content-type"), None)
    parsed: Any = body
    if content_type == "application/json":
        parsed = json.loads(body)
        if status == 422:
            parsed = [error["loc"] for error in parsed["detail"]]
    elif 300 <= status < 400:
        parsed = None  # the redirect's HTML says the same as Location, in each Flask's words
    return Reply(status=status, content_type=content_type, body=parsed,
                 cookies=tuple(sorted(v for n, v in lower if n == "set-cookie")),
                 location=next((v for n, v in lower if n == "location"), None))


# --- the apps run directly ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_modules() -> Iterator[tuple[Any, Any]]:
    """shop.api and shop.site imported on the host (fastapi and flask are test dependencies)."""
    sys.path.insert(0, str(APPS))
    try:
        yield importlib.import_module("shop.api"), importlib.import_module("shop.site")
    finally:
        sys.path.remove(str(APPS))
        for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
            del sys.modules[name]


@contextlib.contextmanager
def uvicorn_on_host(app: Any) -> Iterator[str]:
    """app under uvicorn on a loopback port, as `uvicorn shop.api:app` would serve it."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.05)
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def send(address: str, call: Call) -> Reply:
    """call as a real HTTP request; redirects are not followed, repeated headers kept."""
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        target = call.path + (f"?{call.query}" if call.query else "")
        connection.request(call.method, target, body=call.body or None, headers=call.headers)
        response = connection.getresponse()
        return reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def flask_direct(app: Any, call: Call) -> Reply:
    client = app.test_client()
    response = client.open(call.path, method=call.method, query_string=call.query,
                           headers=call.headers, data=call.body)
    return reply(response.status_code, list(response.headers.items()), response.data)


@pytest.fixture(scope="module")
def direct(shop_modules: tuple[Any, Any]) -> dict[str, dict[str, Reply]]:
    api, site = shop_modules
    with uvicorn_on_host(api.app) as address:
        api_replies = {name: send(address, call) for name, call in API_CALLS.items()}
    site_replies = {name: flask_direct(site.app, call) for name, call in SITE_CALLS.items()}
    return {"api": api_replies, "site": site_replies}


def test_the_apps_run_directly_as_expected(direct: dict[str, dict[str, Reply]]) -> None:
    api, site = direct["api"], direct["site"]
    assert api["path-params"].body == {"item_id": 42, "q": "red"}
    assert api["json-post"] == Reply(201, "application/json", {
        "item": {"name": "pen", "price": 1.5, "tags": ["office"]}, "currency": "EUR",
        "warehouse": "north", "starts": 1}, (), None)
    assert api["invalid"].status == 422 and api["invalid"].body == [["body", "price"]]
    assert api["png"].body.startswith(b"\x89PNG\r\n\x1a\n") and api["png"].content_type == \
        "image/png"
    assert api["cookie"].cookies == ("session=abc123; HttpOnly; Path=/; SameSite=lax",
                                     "theme=dark; Path=/; SameSite=lax")
    assert api["whoami"].body == {"session": "abc123", "root_path": "", "url": "/items/1"}
    assert site["form-post"].status == 302
    assert site["form-post"].location == "/thanks?name=Ada+Lovelace&qty=2"
    assert site["redirected"].body == {"thanks": "Ada Lovelace", "qty": 2, "script_root": "",
                                       "path": "/thanks"}
    assert site["redirected"].cookies == ("ordered=yes; Path=/",)


# --- AWS Lambda ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/integration/webapps to build in."""
    dest = tmp_path_factory.mktemp("webapps") / "shop"
    shutil.copytree(APPS, dest, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    return dest


def _base64(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def event_v1(call: Call, stage: str = "") -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event; stage "" is a custom domain without a base path."""
    event = lab.event("aws", "apigw_v1")
    headers = {"Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
               "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **call.headers}
    query = parse_qsl(call.query, keep_blank_values=True)
    body, encoded = _base64(call.body)
    event.update(
        resource="/{proxy+}", path=call.path, httpMethod=call.method, headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=dict(query) or None,
        multiValueQueryStringParameters={k: [v for n, v in query if n == k] for k, _ in query}
        or None, pathParameters={"proxy": call.path.lstrip("/")}, body=body,
        isBase64Encoded=encoded)
    event["requestContext"].update(path=f"/{stage}{call.path}" if stage else call.path,
                                   stage=stage or "prod", httpMethod=call.method)
    return event


def event_v2(call: Call, stage: str = "$default") -> dict[str, Any]:
    """An HTTP API (payload 2.0) event: a named stage stays in front of rawPath."""
    event = lab.event("aws", "apigw_v2")
    headers = {"host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
               "x-forwarded-proto": "https", "x-forwarded-port": "443",
               **{k.lower(): v for k, v in call.headers.items() if k.lower() != "cookie"}}
    cookie = call.headers.get("Cookie")
    raw_path = call.path if stage == "$default" else f"/{stage}{call.path}"
    body, encoded = _base64(call.body)
    event.update(routeKey="$default", rawPath=raw_path, rawQueryString=call.query,
                 headers=headers, queryStringParameters=dict(parse_qsl(call.query)) or None,
                 pathParameters=None, body=body, isBase64Encoded=encoded)
    event["cookies"] = cookie.split("; ") if cookie else []
    event["requestContext"].update(stage=stage, routeKey="$default")
    event["requestContext"]["http"].update(method=call.method, path=raw_path)
    return event


def lambda_reply(result: dict[str, Any]) -> Reply:
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    if "multiValueHeaders" in result:  # payload 1.0
        headers = [(n, v) for n, vs in result["multiValueHeaders"].items() for v in vs]
    else:
        headers = [*result["headers"].items(), *(("Set-Cookie", c) for c in result["cookies"])]
    return reply(result["statusCode"], headers, raw)


# Under a stage, the apps must build URLs with it (root_path / SCRIPT_NAME).
STAGED = {"api": ("whoami", {"session": "abc123", "root_path": "/prod", "url": "/prod/items/1"}),
          "site": ("form-post", "/prod/thanks?name=Ada+Lovelace&qty=2")}


def test_lambda_answers_like_the_apps_run_directly(
        shop_project: Path, tmp_path: Path, direct: dict[str, dict[str, Reply]]) -> None:
    manifests = {m["function"]: m for m in lab.build(shop_project, "aws")}
    assert {m["runtime"] for m in manifests.values()} == {"python3.9"}
    for function, calls in (("api", API_CALLS), ("site", SITE_CALLS)):
        names = list(calls)
        staged_name, staged_expected = STAGED[function]
        events = [*(event_v1(c) for c in calls.values()), *(event_v2(c) for c in calls.values()),
                  event_v1(calls[staged_name], "prod"), event_v2(calls[staged_name], "prod")]
        run = lab.run_lambda(manifests[function], shop_project, lab.IMAGES[(3, 9)], events,
                             tmp_path / function)
        replies = [lambda_reply(r) for r in run.results]
        n = len(names)
        assert dict(zip(names, replies[:n], strict=True)) == direct[function], "API Gateway v1"
        assert dict(zip(names, replies[n:2 * n], strict=True)) == direct[function], "API Gateway v2"
        for staged in replies[2 * n:]:
            got = staged.body if function == "api" else staged.location
            assert got == staged_expected
        if function == "api":  # the PNG travelled base64-encoded, in both payload versions
            png = names.index("png")
            assert run.results[png]["isBase64Encoded"] and run.results[n + png]["isBase64Encoded"]


def test_lambda_under_a_custom_domain_base_path(shop_project: Path, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(shop_project, project, ignore=shutil.ignore_patterns("dist"))
    toml = (project / "fpack.toml").read_text()
    toml = toml.replace('style = "wsgi"\n', 'style = "wsgi"\nbase_path = "/shop"\n')
    (project / "fpack.toml").write_text(toml)
    site = next(m for m in lab.build(project, "aws", "--function", "site"))
    moved = {name: replace(call, path="/shop" + call.path) for name, call in SITE_CALLS.items()}
    run = lab.run_lambda(site, project, lab.IMAGES[(3, 9)],
                         [event_v2(moved["form-post"]), event_v2(moved["redirected"])],
                         tmp_path / "run")
    posted, thanks = (lambda_reply(r) for r in run.results)
    assert posted.location == "/shop/thanks?name=Ada+Lovelace&qty=2"
    assert thanks.body == {"thanks": "Ada Lovelace", "qty": 2, "script_root": "/shop",
                           "path": "/thanks"}


# --- Cloud Functions ----------------------------------------------------------------------------


def test_cloud_functions_answer_like_the_apps_run_directly(
        shop_project: Path, tmp_path: Path, direct: dict[str, dict[str, Reply]]) -> None:
    from tests.integration.test_gcp import _serve

    pip_cache = tmp_path / "pip-cache"
    pip_cache.mkdir()
    with _serve(shop_project, lab.IMAGES[(3, 11)], tmp_path / "run", pip_cache,
                vendor=False) as served:
        addresses = {name: url.removeprefix("http://") for name, url in served.urls.items()}
        for function, calls in (("api", API_CALLS), ("site", SITE_CALLS)):
            replies = {name: send(addresses[function], call) for name, call in calls.items()}
            assert replies == direct[function]
        # a second POST: the lifespan ran once in this process, not once per request
        again = send(addresses["api"], API_CALLS["json-post"])
        assert again.body["starts"] == 1


# --- Docker http image --------------------------------------------------------------------------


def test_docker_images_answer_like_the_apps_run_directly(
        shop_project: Path, tmp_path: Path, direct: dict[str, dict[str, Reply]]) -> None:
    from tests.integration.test_docker import serving

    project = tmp_path / "shop"
    shutil.copytree(shop_project, project, ignore=shutil.ignore_patterns("dist"))
    with (project / "fpack.toml").open("a") as f:
        f.write(f'\n[targets.docker]\nbase_image = "{lab.IMAGES[(3, 11)]}"\n'
                'repository = "fpack-test/shop"\n')
    manifests = {m["function"]: m for m in lab.build(project, "docker")}
    servers = {"api": "uvicorn", "site": "gunicorn"}
    for function, calls in (("api", API_CALLS), ("site", SITE_CALLS)):
        assert servers[function] in {p["name"] for p in manifests[function]["packages"]}
        with serving(manifests[function]["image"]) as (ctr, port):
            replies = {name: send(f"127.0.0.1:{port}", call) for name, call in calls.items()}
            assert replies == direct[function], ctr.logs().decode()
            ctr.stop(timeout=30)  # SIGTERM: the server stops gracefully, exit status 0
            assert ctr.wait(timeout=60)["StatusCode"] == 0, ctr.logs().decode()
            assert "ERROR" not in ctr.logs().decode()
