"""`fpack serve`: a built http function on localhost, from its artifact, for development.

The artifact is built first when it is stale, as `fpack invoke` and `fpack deploy` build. The
container is the one `fpack invoke` would run (same image, mounts, user), started as a server
with its port published on 127.0.0.1 only:
    http images, gcp bundles  the image's server / functions-framework on $PORT, published as is
    aws zips, lambda images   fpack's Runtime API in the container (lambda_rapi.py serve) with its
                              invoke endpoint published; a small proxy on the host turns each HTTP
                              request into an API Gateway HTTP API event and the result back into
                              an HTTP response, as API Gateway would
Ctrl-C stops the container with SIGTERM, then removes it. The container's output goes to stderr.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Final

from fpack import container
from fpack.config import Project
from fpack.errors import UsageError
from fpack.guest.lambda_rapi import INVOKE_PATH
from fpack.inputs import BuildInputs
from fpack.local import events, invoke
from fpack.platforms import Target
from fpack.report import Reporter

STOP_GRACE: Final = 10  # seconds between SIGTERM and SIGKILL, as Cloud Run gives


def serve(project: Project, target: Target, name: str, *, inputs: BuildInputs, out: Path,
          port: int, reporter: Reporter) -> None:
    """Build function `name` for `target` if it is stale, then serve it on 127.0.0.1:`port`
    until Ctrl-C."""
    fn = project.functions.get(name)
    if fn is not None and fn.trigger != "http" and (
            target == "aws" or (target == "docker" and project.docker.flavor == "lambda")):
        _not_http(name, fn.trigger, target)  # before building: it would not be served anyway
    check_port(port)
    manifest = invoke.build_stale(project, target, name, inputs=inputs, out=out,
                                  reporter=reporter)
    fn = project.functions[name]
    fam = invoke.family(target, manifest)
    if fam == "lambda" and fn.trigger != "http":
        _not_http(name, fn.trigger, target)
    # SIGTERM as Ctrl-C from the start: a stop while the container starts must remove it too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="fpack-serve-") as tmp:
            run = invoke.prepare(project, fn, manifest, inputs=inputs, work=Path(tmp), fam=fam,
                                 reporter=reporter, serving=True)
            inner = invoke.SERVE_PORT if fam == "lambda" else invoke.HTTP_PORT
            host_port = _free_port() if fam == "lambda" else port
            with _running(run, inner, host_port) as ctr:
                proxy = _proxy(host_port, port, fn.trigger) if fam == "lambda" else None
                reporter.done(f"serving {name} ({target}) on http://127.0.0.1:{port}/ "
                              "- Ctrl-C stops")
                try:
                    for chunk in ctr.logs(stream=True, follow=True):
                        sys.stderr.buffer.write(chunk)
                        sys.stderr.flush()
                finally:
                    if proxy is not None:
                        proxy.shutdown()
                        proxy.server_close()
                    with contextlib.suppress(Exception):
                        ctr.stop(timeout=STOP_GRACE)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _not_http(name: str, trigger: str, target: Target) -> None:
    raise UsageError(f"{name}: a {trigger} function; `fpack serve` serves http functions "
                     "from Lambda artifacts", hint=f"use `fpack invoke {name} --target "
                     f"{target} --sample {trigger}` to run it once")


def check_port(port: int) -> None:
    """Refuse a busy port before any container starts (Docker's own error names an endpoint id)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind it
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise UsageError(f"--port {port}: 127.0.0.1:{port} is already in use "
                             f"({e.strerror or e})",
                             hint="stop what listens there, or choose another port with --port N"
                             ) from e


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _running(run: invoke.LocalRun, inner: int, host_port: int) -> Iterator[Any]:
    options: dict[str, Any] = {"entrypoint": list(run.entrypoint) or None}
    if run.read_only:
        options.update(read_only=True, tmpfs={"/tmp": "rw,mode=1777"})  # noqa: S108 - Lambda's /tmp
    env = {**run.env, "PORT": str(invoke.HTTP_PORT)}
    with container.container(run.image, [], platform=run.platform, env=env,
                             copy_in={m.target: m.source for m in run.mounts}, user=run.user,
                             ports={f"{inner}/tcp": ("127.0.0.1", host_port)},
                             **options) as ctr:
        ctr.start()
        yield ctr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proxy(backend: int, port: int, trigger: str) -> ThreadingHTTPServer:
    """API Gateway in miniature: HTTP on 127.0.0.1:port, Lambda invocations on `backend`."""

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = {"method": self.command, "path": self.path,
                       "headers": dict(self.headers.items()),
                       "bodyBase64": base64.b64encode(body).decode()}
            status, headers, payload = http_response(
                _call(backend, events.http_to_apigw_v2(request)))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"proxy: {format % args}\n")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_response(outcome: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda outcome as API Gateway (HTTP API, payload 2.0) answers: a result without a
    statusCode is a 200 JSON body; a failed invocation is a 502, Lambda's error in the body."""
    result = outcome.get("result")
    if not outcome.get("ok"):
        return 502, [("Content-Type", "application/json")], json.dumps(outcome["error"]).encode()
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [(k, str(v)) for k, vs in (result.get("multiValueHeaders") or {}).items()
                for v in vs]
    headers += [("Set-Cookie", c) for c in result.get("cookies") or ()]
    body = str(result.get("body") or "")
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, payload


def _call(backend: int, event: dict[str, Any], attempts: int = 100) -> dict[str, Any]:
    """One invocation through the container's invoke endpoint; retried while the container is
    still starting (its published port refuses or drops connections until then)."""
    for attempt in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", backend, timeout=900)
        try:
            connection.request("POST", INVOKE_PATH, body=json.dumps(event).encode())
            reply = connection.getresponse()
            data = json.loads(reply.read() or b"null")
        except (ConnectionError, http.client.RemoteDisconnected) as e:
            if attempt == attempts - 1:
                return {"ok": False, "error": {"errorType": "Proxy", "errorMessage": str(e)}}
            time.sleep(0.1)
            continue
        finally:
            connection.close()
        failed = reply.getheader("X-Amz-Function-Error")
        return {"ok": False, "error": data} if failed else {"ok": True, "result": data}
    raise AssertionError("unreachable")
