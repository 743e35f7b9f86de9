"""A fake of the Cloud Functions v2 REST API, served on loopback by the tests (not an emulator: it
keeps functions in a dict and records every request, so tests assert what fpack sent).

Implements what `fpack deploy --target gcp` calls: generateUploadUrl, the signed-URL PUT,
create/patch/get/delete function (a patch clears what its updateMask names and its body leaves
out), list functions with a label filter and get operation (Cloud
Functions v2, under /v2/); get/create/patch/delete Cloud Scheduler jobs and get/create Pub/Sub
topics (both v1, under /v1/, on the same port, as an overridden endpoint that is not a
`cloudfunctions` host is used for all three APIs). Operations complete on their first poll; a job
PATCH changes only the fields its updateMask names. A list filter other than one
`labels.KEY="VALUE"` is answered 400, so a test notices when fpack starts sending another.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FUNCTION_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
LABEL_FILTER = re.compile(r'^labels\.([a-z0-9_-]+)="([a-z0-9_-]*)"$')


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeCloudFunctions:
    requests: list[Request] = field(default_factory=list)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0

    def calls(self, method: str, suffix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def handle(self, r: Request) -> tuple[int, dict[str, Any] | None]:
        self.requests.append(r)
        if r.path.startswith("/v1/"):
            return self._v1(r, r.path.removeprefix("/v1/"))
        path = r.path.removeprefix("/v2/")
        if r.method == "PUT" and r.path.startswith("/upload/"):
            self.uploads[r.path] = r.body
            return 200, None
        if r.method == "POST" and path.endswith("/functions:generateUploadUrl"):
            n = len(self.uploads) + len(self.calls("POST", ":generateUploadUrl"))
            return 200, {"uploadUrl": f"http://127.0.0.1:{self.port}/upload/{n}",
                         "storageSource": {"bucket": "gcf-v2-uploads", "object": f"{n}.zip"}}
        if r.method == "POST" and path.endswith("/functions"):
            name = f"{path}/{r.query['functionId'][0]}"
            return self._operation({**r.json(), "name": name})
        if r.method == "PATCH" and name_of(path) in self.functions:
            patched = merge(self.functions[name_of(path)], r.json())
            for mask in r.query.get("updateMask", [""])[0].split(","):
                clear(patched, r.json(), mask.split("."))
            return self._operation(patched)
        if r.method == "GET" and path.endswith("/functions"):
            return self._list(path.removesuffix("/functions"), r.query.get("filter", [""])[0])
        if r.method == "DELETE" and path in self.functions:
            del self.functions[path]
            return self._done(path.rsplit("/functions/", 1)[0], {"@type": EMPTY_TYPE})
        if r.method == "GET" and path in self.operations:
            return 200, self.operations[path]
        if r.method == "GET" and path in self.functions:
            return 200, self.functions[path]
        return 404, {"error": {"code": 404, "message": f"{path} not found", "status": "NOT_FOUND"}}

    def _operation(self, function: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        function["state"] = "ACTIVE"
        function.setdefault("serviceConfig", {})["uri"] = \
            f"https://{function['name'].rsplit('/', 1)[1]}-fake.a.run.app"
        self.functions[function["name"]] = function
        parent = function["name"].rsplit("/functions/", 1)[0]
        return self._done(parent, {"@type": FUNCTION_TYPE, **function})

    def _done(self, parent: str, response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An operation that is done by its first poll."""
        name = f"{parent}/operations/op-{len(self.operations) + 1}"
        self.operations[name] = {"name": name, "done": True, "response": response}
        return 200, {"name": name, "done": False}

    def _list(self, parent: str, filter_: str) -> tuple[int, dict[str, Any]]:
        match = LABEL_FILTER.match(filter_)
        if match is None:
            return error(400, f"the fake does not understand filter {filter_!r}",
                         "INVALID_ARGUMENT")
        key, value = match.groups()
        return 200, {"functions": [f for name, f in sorted(self.functions.items())
                                   if name.startswith(f"{parent}/functions/")
                                   and f.get("labels", {}).get(key) == value]}


    def _v1(self, r: Request, path: str) -> tuple[int, dict[str, Any]]:
        """Cloud Scheduler jobs and Pub/Sub topics."""
        if r.method == "PUT" and "/topics/" in path:
            if path in self.topics:
                return error(409, f"Resource already exists in the project (resource={path}).",
                             "ALREADY_EXISTS")
            self.topics[path] = {"name": path}
            return 200, self.topics[path]
        if r.method == "POST" and path.endswith("/jobs"):
            job = {**r.json(), "state": "ENABLED", "userUpdateTime": "2025-01-01T00:00:00Z"}
            if job["name"] in self.jobs:
                return error(409, f"Job {job['name']} already exists.", "ALREADY_EXISTS")
            self.jobs[job["name"]] = job
            return 200, job
        if r.method == "PATCH" and path in self.jobs:
            for mask in r.query["updateMask"][0].split(","):
                self.jobs[path][mask] = r.json()[mask]
            return 200, self.jobs[path]
        if r.method == "DELETE" and path in self.jobs:
            del self.jobs[path]
            return 200, {}
        if r.method == "GET" and (found := self.jobs.get(path) or self.topics.get(path)):
            return 200, found
        return error(404, f"{path} not found", "NOT_FOUND")


def error(code: int, message: str, status: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


def name_of(path: str) -> str:
    return path


def clear(patched: dict[str, Any], sent: dict[str, Any], path: list[str]) -> None:
    """A field the update mask names and the body leaves out is cleared, as Google does."""
    *parents, last = path
    for key in parents:
        patched, sent = patched.get(key, {}), sent.get(key, {})
    if last not in sent:
        patched.pop(last, None)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) and key != "environmentVariables" else value
    return out


def serve(fake: FakeCloudFunctions) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            request = Request(method=self.command, path=parts.path, query=parse_qs(parts.query),
                              headers={k.lower(): v for k, v in self.headers.items()},
                              body=self.rfile.read(length))
            status, body = fake.handle(request)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
