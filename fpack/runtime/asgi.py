"""The ASGI bridge: drives an ASGI application (FastAPI, Starlette, ...) with a portable Request and
collects what it sends into a portable Response, the way an ASGI server would for one connection.

Standard library only. Spec: https://asgi.readthedocs.io/en/latest/specs/www.html (HTTP) and
https://asgi.readthedocs.io/en/latest/specs/lifespan.html. One event loop per process runs on a
daemon thread, so the app's connection pools and background tasks live from one request to the
next, and concurrent callers (functions-framework's threads) share it. It is created on the first
request, after any fork, and runs the lifespan startup before that request; a startup failure is
raised to the platform (and retried with a fresh loop on the next request); shutdown runs at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from fpack.runtime.api import Headers, Request, Response
from fpack.runtime.core import ERROR_BODY, LOG
from fpack.runtime.web import locate, normal_base, raw_path, wire

Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Dict[str, Any], Receive, Send], Awaitable[None]]
ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
SHUTDOWN_TIMEOUT = 10.0  # seconds the lifespan shutdown may take when the process exits


class LifespanError(RuntimeError):
    """The app refused to start: it sent lifespan.startup.failed."""


class AsgiBridge:
    """Calls app once per request on the process's event loop: see the module docstring."""

    def __init__(self, app: Callable[..., Any], *, base_path: str = "") -> None:
        self.app: AsgiApp = app
        self.base_path = normal_base(base_path)
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._pid = 0
        self._state: Dict[str, Any] = {}
        self._lifespan: Optional[_Lifespan] = None

    def __call__(self, request: Request, prefix: str = "") -> Response:
        loop = self._started()
        scope = http_scope(request, prefix, self.base_path, self._state)
        reply = exchange(self.app, scope, request.body)
        return asyncio.run_coroutine_threadsafe(reply, loop).result()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:  # concurrent first requests: one startup
            if self._loop is not None and self._pid == os.getpid():
                return self._loop
            state: Dict[str, Any] = {}
            loop = _start_loop()
            try:
                lifespan = asyncio.run_coroutine_threadsafe(_Lifespan.start(self.app, state), loop)
                self._lifespan = lifespan.result()
            except BaseException:
                _stop_loop(loop)
                raise
            if self._loop is None:
                atexit.register(self.shutdown)
            self._loop, self._pid, self._state = loop, os.getpid(), state
            return loop

    def shutdown(self) -> None:
        """Run the lifespan shutdown (when the app took part in the lifespan) and stop the loop."""
        with self._lock:
            loop, lifespan, self._loop, self._lifespan = self._loop, self._lifespan, None, None
            if loop is None or self._pid != os.getpid():
                return
            try:
                if lifespan is not None:
                    stop = asyncio.run_coroutine_threadsafe(lifespan.stop(), loop)
                    stop.result(SHUTDOWN_TIMEOUT)
            except Exception:  # noqa: BLE001  # exiting anyway: say why the shutdown failed
                LOG.exception("fpack: the ASGI app's lifespan shutdown failed")
            finally:
                _stop_loop(loop)


def http_scope(request: Request, prefix: str, base_path: str,
               state: Dict[str, Any]) -> Dict[str, Any]:
    """The HTTP connection scope of request. path includes root_path, as the spec asks."""
    where = locate(request, prefix, base_path)
    full_path = where.root_path + where.path
    return {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": "1.1",
        "method": request.method,
        "scheme": where.scheme,
        "path": full_path,
        "raw_path": raw_path(full_path),
        "query_string": where.query_string.encode("ascii"),
        "root_path": where.root_path,
        "headers": [(name.lower().encode("latin-1"), wire(value))
                    for name, value in request.headers.items()],
        "client": where.client,
        "server": (where.host, where.port),
        "state": dict(state),  # each request gets a shallow copy of the lifespan state
        "extensions": {},
    }


async def exchange(app: AsgiApp, scope: Dict[str, Any], body: bytes) -> Response:
    """Run app on one request; an app failure is logged and answered with a generic 500."""
    reply = _Reply(body)
    try:
        await app(scope, reply.receive, reply.send)
        return reply.response()
    except Exception:  # noqa: BLE001  # any app failure is a 500, as in every adapter
        if reply.complete:  # the client already has its answer: only the log needs this
            LOG.exception("fpack: the ASGI app failed after its response to %s %s",
                          scope["method"], scope["path"])
            return reply.response()
        LOG.exception("fpack: the ASGI app failed on %s %s; replying 500",
                      scope["method"], scope["path"])
        return Response.json(ERROR_BODY, status=500)


class _Reply:
    """One request's receive() and send(): the body once, then http.disconnect once the
    response is complete; response messages collected (a streamed body is joined)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.body_sent = False
        self.status: Optional[int] = None
        self.headers: List[Tuple[str, str]] = []
        self.chunks: List[bytes] = []
        self.complete = False
        self._done: Optional[asyncio.Event] = None  # made on the loop (Python 3.9 binds it)

    async def receive(self) -> Message:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        # Waiting here matters: Starlette streams a response while listening for a disconnect,
        # and stops streaming as soon as one arrives.
        await self._event().wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if self.complete:
            raise RuntimeError(f'ASGI message "{kind}" sent after the response was complete')
        if kind == "http.response.start" and self.status is None:
            self.status = int(message["status"])
            self.headers = [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                            for n, v in message.get("headers", ())]
        elif kind == "http.response.body" and self.status is not None:
            self.chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.complete = True
                self._event().set()
        else:
            state = "before" if self.status is None else "after"
            raise RuntimeError(f'unexpected ASGI message "{kind}" {state} http.response.start')

    def response(self) -> Response:
        if not self.complete:
            raise RuntimeError("the ASGI app returned without completing its response")
        assert self.status is not None
        return Response(self.status, Headers(self.headers), b"".join(self.chunks))

    def _event(self) -> asyncio.Event:
        if self._done is None:
            self._done = asyncio.Event()
        return self._done


class _Lifespan:
    """One run of the lifespan protocol, on the loop: start() before the first request,
    stop() at exit. An app that does not speak it (it raises on the scope) is served without."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[bool] = loop.create_future()
        self.stopped: asyncio.Future[None] = loop.create_future()
        self.task: Optional[asyncio.Task[None]] = None

    @classmethod
    async def start(cls, app: AsgiApp, state: Dict[str, Any]) -> Optional[_Lifespan]:
        """The running lifespan, None when the app has none; LifespanError when startup fails."""
        self = cls()
        scope = {"type": "lifespan", "asgi": dict(ASGI_VERSION), "state": state}
        self.task = asyncio.ensure_future(self._run(app, scope))
        await self.inbox.put({"type": "lifespan.startup"})
        return self if await self.started else None

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait([self.stopped, *([self.task] if self.task else [])],
                           return_when=asyncio.FIRST_COMPLETED)
        if self.stopped.done():
            self.stopped.result()  # raises LifespanError for lifespan.shutdown.failed

    async def _run(self, app: AsgiApp, scope: Dict[str, Any]) -> None:
        try:
            await app(scope, self.inbox.get, self._send)
        except Exception as e:  # noqa: BLE001  # the spec: a raising app has no lifespan
            if not self.started.done():
                LOG.info("fpack: the ASGI app does not take part in the lifespan protocol "
                         "(%s: %s); serving it without", type(e).__name__, e)
            elif self.started.exception() is None and not self.stopped.done():
                LOG.exception("fpack: the ASGI app's lifespan task failed")
        finally:
            _settle(self.started, False)
            _settle(self.stopped, None)

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            _settle(self.started, True)
        elif kind == "lifespan.shutdown.complete":
            _settle(self.stopped, None)
        elif kind in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
            phase = kind.split(".")[1]
            error = LifespanError(f"fpack: the ASGI app's lifespan {phase} failed: "
                                  f"{message.get('message') or 'no message given'}")
            future = self.started if phase == "startup" else self.stopped
            if not future.done():
                future.set_exception(error)
        else:
            raise RuntimeError(f'unexpected ASGI lifespan message "{kind}"')


def _settle(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():
        future.set_result(value)


def _start_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=_run_loop, args=(loop,), name="fpack-asgi", daemon=True).start()
    return loop


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)  # for libraries that still call get_event_loop() off the loop
    try:
        loop.run_forever()
    finally:
        loop.close()


def _stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon_threadsafe(loop.stop)


def mount(app: AsgiApp, base_path: str) -> AsgiApp:
    """app behind a server that passes base_path on (a proxy that does not strip it): requests
    under it get it as root_path, which the spec keeps inside path. Used in the docker image."""
    base = normal_base(base_path)
    if not base:
        return app

    async def mounted(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            root = scope.get("root_path", "")
            path: str = scope["path"]
            below = path[len(root) :] if path.startswith(root) else path
            if below == base or below.startswith(base + "/"):
                scope = {**scope, "root_path": root + base}
        await app(scope, receive, send)

    return mounted
