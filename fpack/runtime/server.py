"""The HTTP server of the Docker "http" image (Cloud Run, Kubernetes, anything that sends HTTP to
$PORT): one portable function behind the standard library's ThreadingHTTPServer.

Standard library only. Trigger http: each request becomes a Request and the handler's result the
response. Event triggers: each POST carries one CloudEvent (binary or structured mode, or a Pub/Sub
push / Cloud Scheduler request standing for one; see cloudevents.py), mapped exactly as on Cloud
Functions; the reply is 204 on success, 400 for an event the trigger cannot read, and 500 when the
handler fails, so that the sender retries. GET and HEAD on an event server answer 200, for health
checks. SIGTERM or SIGINT: stop accepting, let in-flight requests finish, close idle keep-alive
connections, return (the process then exits 0). One access log line per request goes to stderr.

    python -m fpack.runtime.server app.main:handler --trigger http --style portable [--port N]

Style "asgi" or "wsgi" (an existing web app) hands the app to uvicorn or gunicorn (appserver.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Callable, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from fpack.runtime.api import Headers, Query, Request, Response
from fpack.runtime.cloudevents import from_http, to_portable
from fpack.runtime.core import (
    ERROR_BODY,
    LOG,
    TRIGGERS,
    EventShapeError,
    call_http,
    check_choice,
    parse_cookies,
)
from fpack.runtime.web import WEB_STYLES

App = Callable[[Request], Response]
STYLES = ("portable",)
MAX_BODY = 32 * 1024 * 1024  # Cloud Run's HTTP/1 request size limit
# Longer than the load balancers' keep-alive to backends (Google's: 600 s), so that the server is
# not the side that closes a connection the proxy is about to reuse.
IDLE_TIMEOUT = 620.0
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}


def serve(
    func: Callable[..., object],
    *,
    trigger: str = "http",
    style: str = "portable",
    host: str = "0.0.0.0",  # noqa: S104  # a container must listen on every interface
    port: int | None = None,
) -> None:
    """Serve func until SIGTERM or SIGINT, then shut down gracefully. port None: $PORT or 8080."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    server = make_server(func, trigger=trigger, style=style, host=host, port=port)
    LOG.info("fpack: serving %s function on %s:%s", trigger, host, server.server_address[1])
    run(server)


def make_server(
    func: Callable[..., object],
    *,
    trigger: str,
    style: str = "portable",
    host: str = "0.0.0.0",  # noqa: S104
    port: int | None = None,
) -> Server:
    """A bound, listening server for func (port 0: any free port); run() or serve_forever() it."""
    check_choice("fpack.runtime.server", "style", style, STYLES)
    check_choice("fpack.runtime.server", "trigger", trigger, TRIGGERS)
    if port is None:
        port = _env_port()
    app: App = (
        functools.partial(call_http, func)
        if trigger == "http"
        else functools.partial(_event_reply, func, trigger)
    )
    return Server((host, port), app)


def _env_port() -> int:
    value = os.environ.get("PORT", "8080")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'fpack.runtime.server: PORT "{value}" is not a port number') from None


def run(server: Server) -> None:
    """server.serve_forever() until SIGTERM/SIGINT (when called on the main thread), then stop
    accepting, close idle connections and wait for in-flight requests before returning."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        LOG.info("fpack: %s received, finishing in-flight requests", signal.Signals(signum).name)
        # shutdown() waits for serve_forever(), which runs on this very thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.close_idle()
        server.server_close()
    LOG.info("fpack: server stopped")


def _event_reply(func: Callable[[Any], object], trigger: str, request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        return Response.json({"status": "ok"})
    if request.method != "POST":
        return Response.json({"error": "method not allowed"}, 405, {"Allow": "GET, HEAD, POST"})
    try:
        event = from_http(request.headers, request.body)
        if event is None:
            raise EventShapeError(
                "fpack: expected a CloudEvent: ce-* headers (binary mode) or "
                "Content-Type application/cloudevents+json (structured mode)"
            )
        attributes, data = event
        portable = to_portable(trigger, attributes, data, raw={**attributes, "data": data})
    except (ValueError, KeyError, TypeError) as e:  # EventShapeError is a ValueError
        LOG.warning("fpack: refused a request to the %s function: %s", trigger, e)
        return Response.json({"error": str(e)}, status=400)
    try:
        func(portable)
    except Exception:  # noqa: BLE001  # any handler failure is a 500, so the sender retries
        LOG.exception(
            'fpack: the %s handler failed on CloudEvent %s (type "%s"); replying 500',
            trigger,
            attributes.get("id"),
            attributes.get("type"),
        )
        return Response.json(ERROR_BODY, status=500)
    return Response(204)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that can stop gracefully: see run()."""

    daemon_threads = False  # server_close() then waits for the request threads
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self.stopping = False
        self._idle: set[socket.socket] = set()
        self._lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host's FQDN, a DNS lookup that can stall a cold
        # start in a container without DNS; the name is only used for CGI variables.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track_idle(self, connection: socket.socket) -> bool:
        """Note that connection waits for its next request; False once stopping."""
        with self._lock:
            if not self.stopping:
                self._idle.add(connection)
            return not self.stopping

    def untrack_idle(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.discard(connection)

    def close_idle(self) -> None:
        """Stop keeping connections alive and wake the threads waiting on idle ones."""
        with self._lock:
            self.stopping = True
            idle = list(self._idle)
        for connection in idle:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RD)  # its pending read returns b"": closed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "fpack"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm holds the
    # body back until the client's delayed ACK (~40 ms) on a keep-alive connection.
    disable_nagle_algorithm = True
    server: Server

    def version_string(self) -> str:
        return self.server_version  # the Server header: no Python version for scanners

    def handle_one_request(self) -> None:
        if not self._wait_for_request():
            self.close_connection = True
            return
        super().handle_one_request()

    def _wait_for_request(self) -> bool:
        if not self.server.track_idle(self.connection):
            return False
        try:
            return bool(cast(io.BufferedReader, self.rfile).peek(1))
        except OSError:  # idle timeout or reset: close quietly
            return False
        finally:
            self.server.untrack_idle(self.connection)

    def _dispatch(self) -> None:
        started = time.monotonic()
        try:
            response = self.server.app(self._request(self._read_body()))
        except _BadRequest as e:
            self.close_connection = True  # the rest of the body may still be on the wire
            response = Response.json({"error": str(e)}, status=e.status)
        sent = self._send(response)
        elapsed = (time.monotonic() - started) * 1000
        line = f'{self.address_string()} "{self.requestline}" {response.status} {sent} '
        sys.stderr.write(f"{line.translate(_CONTROL)}{elapsed:.1f}ms\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _request(self, body: bytes) -> Request:
        target = urlsplit(self.path)
        headers = Headers(self.headers.items())
        return Request(
            method=self.command,
            path=unquote(target.path) or "/",
            query=Query(parse_qsl(target.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            cookies=parse_cookies(headers.getall("cookie")),
            raw=self,
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        if not declared.strip().isdigit():
            raise _BadRequest(400, "invalid Content-Length")
        if int(declared) > MAX_BODY:
            raise _BadRequest(413, "request body too large")
        body = self.rfile.read(int(declared))
        if len(body) < int(declared):
            raise _BadRequest(400, "incomplete request body")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_field = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                raise _BadRequest(400, "invalid chunked encoding") from None
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise _BadRequest(413, "request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # the CRLF after each chunk
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            continue  # trailer fields: read past them, they carry nothing the handler reads
        return b"".join(chunks)

    def _send(self, response: Response) -> int:
        bodiless = response.status in (204, 304) or response.status < HTTPStatus.OK
        body = b"" if bodiless or self.command == "HEAD" else response.body
        self.send_response(response.status)
        for name, value in response.header_items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection or self.server.stopping:
            self.send_header("Connection", "close")  # also ends this connection's loop
        self.end_headers()
        self.wfile.write(body)
        return len(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: _dispatch writes one access line, with the duration, once the reply is out."""

    def log_message(self, format: str, *args: object) -> None:  # "format": the base class names it
        sys.stderr.write(f"{self.address_string()} {format % args}\n".translate(_CONTROL))


class _ModuleMissing(ImportError):
    pass


def load(spec: str) -> Callable[..., object]:
    """The callable that "module:attribute" names (attribute may be dotted)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f'handler "{spec}": expected "module:attribute", e.g. "app.main:handler"')
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            raise  # the user's module exists but imports something missing: keep the traceback
        raise _ModuleMissing(f'handler "{spec}": no module named "{module_name}"') from e
    for part in attribute.split("."):
        if not hasattr(target, part):
            defined = sorted(n for n in dir(target) if not n.startswith("_"))
            raise ValueError(
                f'handler "{spec}": {module_name} has no attribute "{attribute}"; '
                f"it defines: {', '.join(defined) or 'nothing public'}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f'handler "{spec}": {type(target).__name__} is not callable')
    return cast(Callable[..., object], target)


def main(argv: Sequence[str] | None = None) -> int:
    """The python -m entry point: 0 after a graceful stop, 2 for bad usage."""
    parser = argparse.ArgumentParser(prog="python -m fpack.runtime.server")
    parser.add_argument("handler", help="module:attribute of the function to serve")
    parser.add_argument("--trigger", choices=TRIGGERS, default="http")
    parser.add_argument("--style", choices=(*STYLES, *WEB_STYLES), default="portable")
    parser.add_argument("--base-path", default="", help="asgi/wsgi: the prefix it is mounted at")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  # see serve()
    parser.add_argument("--port", type=int, default=None, help="default: $PORT, else 8080")
    args = parser.parse_args(argv)
    try:
        func = load(args.handler)
        if args.style in WEB_STYLES:
            _serve_web(func, args)
        else:
            serve(func, trigger=args.trigger, style=args.style, host=args.host, port=args.port)
    except (ValueError, _ModuleMissing) as e:
        print(f"fpack.runtime.server: {e}", file=sys.stderr)
        return 2
    return 0


def _serve_web(app: Callable[..., object], args: argparse.Namespace) -> None:
    if args.trigger != "http":
        raise ValueError(f'style "{args.style}" serves http only, not trigger "{args.trigger}"')
    from fpack.runtime.appserver import serve_web  # noqa: PLC0415  # imports uvicorn/gunicorn

    port = args.port if args.port is not None else _env_port()
    serve_web(app, style=args.style, host=args.host, port=port, base_path=args.base_path)


if __name__ == "__main__":
    sys.exit(main())
