"""The WSGI bridge: calls a WSGI application (Flask, Django, ...) with the environ of a portable
Request and collects its answer into a portable Response, as a WSGI server would.

Standard library only. Spec: PEP 3333 (https://peps.python.org/pep-3333/). Strings in the environ
are "bytes as latin-1": a UTF-8 path or header arrives there as its bytes decoded as latin-1, which
is what frameworks decode back. The body is buffered (Lambda and Cloud Functions deliver it whole),
and so is the response: start_response's write() and the iterable both append to it.
"""

from __future__ import annotations

import io
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from fpack.runtime.api import Headers, Request, Response
from fpack.runtime.core import ERROR_BODY, LOG
from fpack.runtime.web import locate, normal_base, wire

Environ = Dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
# Sent as CONTENT_TYPE / CONTENT_LENGTH, never as HTTP_* (PEP 3333).
_CONTENT_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class WsgiBridge:
    """Calls app once per request; an app failure is logged and answered with a generic 500."""

    def __init__(self, app: Callable[..., Any], *, base_path: str = "") -> None:
        self.app: WsgiApp = app
        self.base_path = normal_base(base_path)

    def __call__(self, request: Request, prefix: str = "") -> Response:
        env = environ(request, prefix, self.base_path)
        try:
            return call(self.app, env)
        except Exception:  # noqa: BLE001  # any app failure is a 500, as in every adapter
            LOG.exception("fpack: the WSGI app failed on %s %s; replying 500",
                          request.method, request.path)
            return Response.json(ERROR_BODY, status=500)


def environ(request: Request, prefix: str, base_path: str) -> Environ:
    """The PEP 3333 environ of request: SCRIPT_NAME is where the app is mounted."""
    where = locate(request, prefix, base_path)
    env: Environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": _native(where.root_path),
        "PATH_INFO": _native(where.path),
        "QUERY_STRING": where.query_string,
        "SERVER_NAME": where.host,
        "SERVER_PORT": str(where.port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": where.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,  # the whole body is there: read to the end safely
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,  # functions-framework calls from several threads
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if where.client is not None:
        env["REMOTE_ADDR"] = where.client[0]
    env.update(_header_keys(request.headers))
    return env


def _header_keys(headers: Headers) -> Dict[str, str]:
    keys: Dict[str, str] = {}
    for name in headers:
        # "X_Foo" and "X-Foo" would both become HTTP_X_FOO: a header with "_" could pose as
        # one set by the platform's proxy, so it is dropped, as gunicorn and nginx do.
        if "_" in name:
            continue
        joiner = "; " if name.lower() == "cookie" else ","
        value = wire(joiner.join(headers.getall(name))).decode("latin-1")
        key = _CONTENT_KEYS.get(name.lower(), "HTTP_" + name.upper().replace("-", "_"))
        keys[key] = value
    return keys


def _native(path: str) -> str:
    # Paths are decoded as UTF-8 everywhere in fpack (unquote), so their bytes are UTF-8.
    return path.encode("utf-8").decode("latin-1")


def call(app: WsgiApp, env: Environ) -> Response:
    """Run app, joining its body; close() is called on its iterable, as PEP 3333 requires."""
    started: List[Tuple[str, List[Tuple[str, str]]]] = []
    chunks: List[bytes] = []

    def start_response(status: str, headers: List[Tuple[str, str]],
                       exc_info: Optional[Any] = None) -> Callable[[bytes], object]:
        if started and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        # Nothing is sent before the app returns, so an error page may always replace headers.
        started[:] = [(status, list(headers))]
        return chunks.append

    result = app(env, start_response)
    try:
        chunks.extend(bytes(chunk) for chunk in result if chunk)
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()
    if not started:
        raise RuntimeError("the WSGI app returned without calling start_response")
    status, headers = started[0]
    return Response(int(status.split(" ", 1)[0]), Headers(headers), b"".join(chunks))


def mount(app: WsgiApp, base_path: str) -> WsgiApp:
    """app behind a server that passes base_path on (a proxy that does not strip it): requests
    under it get it moved from PATH_INFO to SCRIPT_NAME. Used in the docker image."""
    base = _native(normal_base(base_path))
    if not base:
        return app

    def mounted(env: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = env.get("PATH_INFO", "")
        if path == base or path.startswith(base + "/"):
            env = {**env, "SCRIPT_NAME": env.get("SCRIPT_NAME", "") + base,
                   "PATH_INFO": path[len(base) :] or "/"}
        return app(env, start_response)

    return mounted
