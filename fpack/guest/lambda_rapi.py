"""A local Lambda Runtime API and a minimal Lambda bootstrap, run inside a local-run container.

Standard library only, Python 3.9+, nothing from the rest of fpack: `fpack invoke` and `fpack serve`
copy this one file into the container of an aws zip or a lambda image and run it there, with the
function's own Python, so the network can stay off.

    python3 lambda_rapi.py invoke --event FILE [--timeout S] -- CMD...
        serve the Runtime API on 127.0.0.1, start CMD (the runtime client: awslambdaric in a lambda
        image, `bootstrap` below for a zip) with AWS_LAMBDA_RUNTIME_API pointing at it, hand it the
        event once, print `FPACK-RESULT {json}` on stdout and stop CMD. CMD's output goes to stderr.
    python3 lambda_rapi.py serve --port N [--timeout S] -- CMD...
        the same Runtime API, plus the invoke endpoint of AWS's emulator on 0.0.0.0:N
        (POST /2015-03-31/functions/function/invocations: the event in, the result out).
    python3 lambda_rapi.py bootstrap HANDLER
        a runtime client for zips, as Lambda's Python runtime behaves: /var/task then /opt/python
        on sys.path, the handler imported once, then next → handler(event, context) → response.

The protocol: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RESULT_MARK = "FPACK-RESULT "
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{name}"
Outcome = dict[str, Any]  # {"ok": True, "result": ...} or {"ok": False, "error": {...}, ...}


class Invocation:
    """One event on its way through the runtime client, and the outcome it comes back with."""

    def __init__(self, event: bytes, timeout: float) -> None:
        self.id = str(uuid.uuid4())
        self.event = event
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.done = threading.Event()
        self.outcome: Outcome = {}

    def finish(self, outcome: Outcome) -> None:
        if not self.done.is_set():
            self.outcome = outcome
            self.done.set()


class RuntimeApi:
    """The state behind the endpoints: events waiting for `next`, invocations in flight."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.init_error: Outcome | None = None
        self.lock = threading.Lock()

    def submit(self, invocation: Invocation) -> None:
        with self.lock:
            self.in_flight[invocation.id] = invocation
        self.pending.put(invocation)

    def take(self, request_id: str) -> Invocation | None:
        """The invocation a response or error is for, no longer in flight."""
        with self.lock:
            return self.in_flight.pop(request_id, None)

    def fail_all(self, outcome: Outcome) -> None:
        """The runtime client died or failed to start: every waiting invocation gets `outcome`."""
        with self.lock:
            waiting, self.in_flight = list(self.in_flight.values()), {}
        for invocation in waiting:
            invocation.finish(outcome)


def error_outcome(body: bytes, kind: str, error_type: str | None = None) -> Outcome:
    try:
        error = json.loads(body or b"{}")
    except ValueError:
        error = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(error, dict):
        error = {"errorMessage": str(error)}
    if error_type and "errorType" not in error:
        error["errorType"] = error_type
    return {"ok": False, "kind": kind, "error": error}


class Handler(BaseHTTPRequestHandler):
    """The Runtime API endpoints (and, in serve mode, the invoke endpoint)."""

    protocol_version = "HTTP/1.1"  # awslambdaric's libcurl client keeps its connection open
    api: RuntimeApi
    timeout_s: float = 30.0

    def log_message(self, format: str, *args: object) -> None:
        pass  # the function's own output is the log worth reading

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorMessage": "not found"}')
            return
        invocation = self.api.pending.get()
        self._reply(200, invocation.event, {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": ARN.format(name=self.api.function_name),
            "Lambda-Runtime-Trace-Id": f"Root=1-{invocation.id[:8]}-{uuid.uuid4().hex[:24]}",
        })

    def do_POST(self) -> None:
        body = self._body()
        parts = self.path.strip("/").split("/")
        if self.path == INVOKE_PATH:
            self._invoke(body)
        elif self.path == f"{PREFIX}/init/error":
            self.api.init_error = error_outcome(body, "init", self.headers.get(
                "Lambda-Runtime-Function-Error-Type"))
            self.api.fail_all(self.api.init_error)
            self._reply(202, b'{"status": "OK"}')
        elif len(parts) == 5 and parts[2] == "invocation" and parts[4] in ("response", "error"):
            self._report(parts[3], parts[4], body)
        else:
            self._reply(404, b'{"errorMessage": "not found"}')

    def _report(self, request_id: str, what: str, body: bytes) -> None:
        if what == "response":
            try:
                outcome: Outcome = {"ok": True, "result": json.loads(body) if body else None}
            except ValueError:
                outcome = {"ok": True, "result": body.decode("utf-8", "replace")}
        else:
            outcome = error_outcome(body, "invoke",
                                    self.headers.get("Lambda-Runtime-Function-Error-Type"))
        invocation = self.api.take(request_id)
        if invocation is None:
            self._reply(400, b'{"errorMessage": "unknown or finished request id"}')
            return
        # Acknowledge first: once the outcome is out, `invoke` stops the client.
        self._reply(202, b'{"status": "OK"}')
        invocation.finish(outcome)

    def _invoke(self, event: bytes) -> None:
        invocation = Invocation(event, self.timeout_s)
        self.api.submit(invocation)
        outcome = wait(invocation, self.timeout_s)
        if outcome["ok"]:
            self._reply(200, json.dumps(outcome["result"]).encode(),
                        {"Content-Type": "application/json"})
        else:
            self._reply(200, json.dumps(outcome["error"]).encode(), {
                "Content-Type": "application/json", "X-Amz-Function-Error": "Unhandled"})


def wait(invocation: Invocation, timeout: float) -> Outcome:
    """The invocation's outcome, or Lambda's timeout error after `timeout` seconds."""
    if invocation.done.wait(timeout + 1.0):
        return invocation.outcome
    invocation.finish({"ok": False, "kind": "timeout", "error": {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"Task timed out after {timeout:.2f} seconds"}})
    return invocation.outcome


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a client blocked in `next` must not keep the process alive

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a stopped client hung up: fine
            super().handle_error(request, client_address)


def start_api(function_name: str, timeout: float, host: str, port: int) -> ThreadingHTTPServer:
    api = RuntimeApi(function_name)
    handler = type("BoundHandler", (Handler,), {"api": api, "timeout_s": timeout})
    server = Server((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def api_of(server: ThreadingHTTPServer) -> RuntimeApi:
    return server.RequestHandlerClass.api  # type: ignore[attr-defined, no-any-return]


def spawn(command: Sequence[str], server: ThreadingHTTPServer) -> subprocess.Popen[bytes]:
    """The runtime client, told where the Runtime API is; its output goes to our stderr."""
    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
    return subprocess.Popen(list(command), env=env, stdout=sys.stderr)  # noqa: S603


def watch(process: subprocess.Popen[bytes], api: RuntimeApi) -> None:
    """When the runtime client exits, whatever it was doing has failed: say how."""
    code = process.wait()
    api.fail_all(api.init_error or {"ok": False, "kind": "exit", "error": {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"the runtime client exited with status {code}"}})


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def invoke(event: bytes, command: Sequence[str], *, function_name: str, timeout: float) -> Outcome:
    server = start_api(function_name, timeout, "127.0.0.1", 0)
    api = api_of(server)
    invocation = Invocation(event, timeout)
    api.submit(invocation)
    process = spawn(command, server)
    threading.Thread(target=watch, args=(process, api), daemon=True).start()
    try:
        return wait(invocation, timeout)
    finally:
        stop(process)
        server.shutdown()


def serve(command: Sequence[str], *, function_name: str, timeout: float, port: int) -> int:
    """The Runtime API for the client, the invoke endpoint for the host; restarts a dead client."""
    internal = start_api(function_name, timeout, "127.0.0.1", 0)
    api = api_of(internal)
    handler = type("InvokeHandler", (Handler,), {"api": api, "timeout_s": timeout})
    public = Server(("0.0.0.0", port), handler)  # noqa: S104 - the container's side
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threading.Thread(target=public.serve_forever, daemon=True).start()
    print(f"lambda_rapi: invoke endpoint on :{port}{INVOKE_PATH}", file=sys.stderr, flush=True)
    while not stopping.is_set():
        process = spawn(command, internal)
        while process.poll() is None and not stopping.wait(0.2):
            pass
        stop(process)
        if not stopping.is_set():
            api.fail_all(api.init_error or {"ok": False, "kind": "exit", "error": {
                "errorType": "Runtime.ExitError", "errorMessage": "the runtime client exited"}})
            api.init_error = None
            stopping.wait(1.0)  # a client that cannot start must not spin
    public.shutdown()
    return 0


class Context:
    """The context object Lambda's Python runtime passes, from the invocation's headers."""

    def __init__(self, headers: Any, handler: str) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", handler)
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _post(connection: http.client.HTTPConnection, path: str, payload: object,
          error_type: str | None = None) -> None:
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["Lambda-Runtime-Function-Error-Type"] = error_type
    connection.request("POST", PREFIX + path, body=json.dumps(payload).encode(), headers=headers)
    connection.getresponse().read()


def _error(e: BaseException) -> dict[str, Any]:
    return {"errorMessage": str(e), "errorType": type(e).__name__,
            "stackTrace": traceback.format_list(traceback.extract_tb(e.__traceback__))}


def load_handler(name: str) -> Callable[[Any, Any], Any]:
    module, _, attr = name.rpartition(".")
    if not module:
        raise ValueError(f'Bad handler "{name}": expected "module.function"')
    return getattr(importlib.import_module(module.replace("/", ".")), attr)  # type: ignore[no-any-return]


def bootstrap(handler_name: str) -> int:
    """Lambda's Python runtime loop, for a zip laid out in /var/task and /opt."""
    task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    sys.path[:0] = [task, "/opt/python", f"/opt/python/lib/{minor}/site-packages"]
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80))
    try:
        handler = load_handler(handler_name)
    except Exception as e:  # noqa: BLE001 - any import failure is Lambda's Runtime.ImportModuleError
        traceback.print_exc()
        _post(connection, "/init/error", _error(e), "Runtime.ImportModuleError")
        return 1
    while True:
        connection.request("GET", PREFIX + "/invocation/next")
        reply = connection.getresponse()
        event, headers = json.loads(reply.read() or b"null"), reply.headers
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        try:
            result = handler(event, Context(headers, handler_name))
        except Exception as e:  # noqa: BLE001 - reported to the Runtime API, as Lambda does
            traceback.print_exc()
            _post(connection, f"/invocation/{request_id}/error", _error(e), "Runtime.Unhandled")
            continue
        _post(connection, f"/invocation/{request_id}/response", result)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lambda_rapi")
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("invoke")
    one.add_argument("--event", required=True)
    many = sub.add_parser("serve")
    many.add_argument("--port", type=int, default=8080)
    for p in (one, many):
        p.add_argument("--timeout", type=float, default=30.0)
        p.add_argument("--function-name", default="function")
        p.add_argument("command", nargs=argparse.REMAINDER)
    boot = sub.add_parser("bootstrap")
    boot.add_argument("handler")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.mode == "bootstrap":
        return bootstrap(args.handler)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.mode == "serve":
        return serve(command, function_name=args.function_name, timeout=args.timeout,
                     port=args.port)
    event = Path(args.event).read_bytes()
    outcome = invoke(event, command, function_name=args.function_name, timeout=args.timeout)
    print(RESULT_MARK + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
