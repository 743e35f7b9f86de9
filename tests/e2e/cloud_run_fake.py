"""A fake of the Cloud Run Admin API v2 REST surface, served on loopback by the tests (not an
emulator: it keeps services in a dict and records every request, so tests assert what fpack sent).

Implements what the Cloud Run half of `fpack deploy --target docker` calls, under /v2/: create
(`?serviceId=`), get, list, patch (the whole service, as the v2 API takes it without an update
mask) and delete services; get and set a service's IAM policy; get operations, which complete on
their first poll. Like Cloud Run, it makes a new revision only when a create or patch changes the
service's `template`, and refuses a patch whose etag is not the service's current one.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
# Output-only fields: what a client sends back of them is not part of what it asks for.
OUTPUT_ONLY = ("uid", "generation", "createTime", "updateTime", "uri", "urls", "etag",
               "latestCreatedRevision", "latestReadyRevision", "observedGeneration",
               "terminalCondition", "conditions", "reconciling", "creator", "lastModifier")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class FakeCloudRun:
    requests: list[Request] = field(default_factory=list)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)  # service name -> revisions made
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """(method, path) of every request that changes something, from request `since` on."""
        return [(r.method, r.path) for r in self.requests[since:]
                if r.method != "GET"]

    def calls(self, method: str, suffix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def handle(self, r: Request) -> tuple[int, dict[str, Any]]:
        self.requests.append(r)
        path = r.path.removeprefix("/v2/")
        if path.endswith(":getIamPolicy") and r.method == "GET":
            return self._exists(path.removesuffix(":getIamPolicy"), lambda name: (
                200, self.policies.get(name, {"version": 1, "etag": "BwY="})))
        if path.endswith(":setIamPolicy") and r.method == "POST":
            return self._exists(path.removesuffix(":setIamPolicy"), lambda name: (
                200, self._set_policy(name, r.json()["policy"])))
        if r.method == "POST" and path.endswith("/services"):
            name = f"{path}/{r.query['serviceId'][0]}"
            if name in self.services:
                return error(409, f"Resource '{name}' already exists.", "ALREADY_EXISTS")
            return self._save(name, {**strip(r.json()), "name": name})
        if r.method == "GET" and path.endswith("/services"):
            return 200, {"services": [s for name, s in sorted(self.services.items())
                                      if name.startswith(f"{path}/")]}
        if r.method == "PATCH" and path in self.services:
            sent = r.json()
            if sent.get("etag") not in (None, "", self.services[path]["etag"]):
                return error(409, "etag mismatch: the service changed since it was read",
                             "ABORTED")
            return self._save(path, {**strip(sent), "name": path})
        if r.method == "DELETE" and path in self.services:
            gone = self.services.pop(path)
            self.policies.pop(path, None)
            return self._done(path.rsplit("/services/", 1)[0], {"@type": SERVICE_TYPE, **gone})
        if r.method == "GET" and path in self.operations:
            return 200, self.operations[path]
        if r.method == "GET" and path in self.services:
            return 200, self.services[path]
        return error(404, f"Resource '{path}' was not found", "NOT_FOUND")

    def add(self, name: str, service: dict[str, Any]) -> None:
        """A service made by someone else (by hand, or by Cloud Functions)."""
        self._save(name, {**service, "name": name})

    def _save(self, name: str, service: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        before = self.services.get(name)
        generation = int(before["generation"]) + 1 if before else 1
        if before is None or before.get("template") != service.get("template"):
            self.revisions[name] = self.revisions.get(name, 0) + 1
        sid = name.rsplit("/", 1)[1]
        revision = f"{sid}-{self.revisions[name]:05d}-fak"
        service.update(generation=str(generation), etag=f'"gen-{generation}"',
                       uri=f"https://{sid}-fake.a.run.app", latestCreatedRevision=revision,
                       latestReadyRevision=revision, terminalCondition={
                           "type": "Ready", "state": "CONDITION_SUCCEEDED"})
        self.services[name] = service
        return self._done(name.rsplit("/services/", 1)[0], {"@type": SERVICE_TYPE, **service})

    def _set_policy(self, name: str, policy: dict[str, Any]) -> dict[str, Any]:
        version = len(self.calls("POST", ":setIamPolicy"))
        self.policies[name] = {**policy, "etag": f"BwZ{version}"}
        return self.policies[name]

    def _exists(self, name: str, then: Any) -> tuple[int, dict[str, Any]]:
        if name not in self.services:
            return error(404, f"Resource '{name}' was not found", "NOT_FOUND")
        result: tuple[int, dict[str, Any]] = then(name)
        return result

    def _done(self, parent: str, response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An operation that is done by its first poll."""
        name = f"{parent}/operations/op-{len(self.operations) + 1}"
        self.operations[name] = {"name": name, "done": True, "response": copy.deepcopy(response)}
        return 200, {"name": name, "done": False}

    def public(self, name: str) -> bool:
        return any(b.get("role") == "roles/run.invoker" and "allUsers" in b.get("members", ())
                   for b in self.policies.get(name, {}).get("bindings", ()))


def strip(service: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in service.items() if k not in OUTPUT_ONLY}


def error(code: int, message: str, status: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


def serve(fake: FakeCloudRun) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            request = Request(method=self.command, path=parts.path, query=parse_qs(parts.query),
                              body=self.rfile.read(length))
            status, body = fake.handle(request)
            data = json.dumps(body).encode()
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
