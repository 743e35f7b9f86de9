"""What the ASGI and WSGI bridges share: where a web app is mounted (root_path / SCRIPT_NAME) and
where a request came from (scheme, host, port, client), read from a portable Request.

Standard library only. A bridge is called with a Request and the path prefix that the platform
removed before Request.path (an API Gateway stage, "/prod"), so that the app sees the URL its
client used: the prefix and the configured base path become root_path / SCRIPT_NAME, the rest the
route path. `bridge()` imports the bridge for a style lazily: a WSGI function never loads asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple
from urllib.parse import quote, urlencode

from fpack.runtime.api import Headers, Request, Response

# (request, prefix the platform removed from request.path) -> response
HttpApp = Callable[[Request, str], Response]
WEB_STYLES = ("asgi", "wsgi")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 pchar plus "/": what stays unescaped when a decoded path is written back as a raw path.
_PATH_SAFE = "/:@!$&'()*+,;="


@dataclass(frozen=True)
class Location:
    """A request as a web server describes it to the app it hosts."""

    root_path: str  # where the app is mounted as the client sees it: "" or e.g. "/prod/v1"
    path: str  # the path below root_path, starting with "/"
    query_string: str  # percent-encoded
    scheme: str
    host: str
    port: int
    client: Optional[Tuple[str, int]]


def bridge(style: str, app: Callable[..., object], *, base_path: str = "") -> HttpApp:
    """The HttpApp that drives app, an ASGI or WSGI application."""
    if style == "asgi":
        from fpack.runtime.asgi import AsgiBridge  # noqa: PLC0415  # asyncio only when used

        return AsgiBridge(app, base_path=base_path)
    if style == "wsgi":
        from fpack.runtime.wsgi import WsgiBridge  # noqa: PLC0415

        return WsgiBridge(app, base_path=base_path)
    raise ValueError(f'fpack.runtime.web: style "{style}" is not a web app style: expected '
                     '"asgi" or "wsgi"')


def normal_base(base_path: str) -> str:
    """A base path as "" or "/a/b": one leading slash, no trailing slash."""
    inner = base_path.strip("/")
    return f"/{inner}" if inner else ""


def split_path(path: str, prefix: str, base_path: str) -> tuple[str, str]:
    """(root_path, path below it). base_path is moved into root_path when path starts with it;
    a path outside it (a health check, the platform's own URL) reaches the app unchanged."""
    base = normal_base(base_path)
    path = path if path.startswith("/") else f"/{path}"
    if base and (path == base or path.startswith(base + "/")):
        return prefix + base, path[len(base) :] or "/"
    return prefix, path


def locate(request: Request, prefix: str, base_path: str) -> Location:
    """Where request was sent, as far as its headers tell (both clouds set X-Forwarded-*)."""
    root_path, path = split_path(request.path, prefix, base_path)
    headers = request.headers
    scheme = _first(headers, "x-forwarded-proto").lower()
    scheme = scheme if scheme in _DEFAULT_PORTS else "https"  # Lambda and GCF serve https only
    host, port = _host_port(headers.get("host") or "localhost")
    forwarded_port = _first(headers, "x-forwarded-port")
    if forwarded_port.isdigit():
        port = int(forwarded_port)
    return Location(
        root_path=root_path,
        path=path,
        query_string=urlencode(request.query.items(), quote_via=quote),
        scheme=scheme,
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        client=_client(headers),
    )


def raw_path(text: str) -> bytes:
    """A decoded path written back percent-encoded (UTF-8), as it travels on the wire."""
    return quote(text, safe=_PATH_SAFE).encode("ascii")


def wire(text: str) -> bytes:
    """A header value as bytes: latin-1 when it fits (HTTP's historical charset), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _first(headers: Headers, name: str) -> str:
    return (headers.get(name) or "").split(",")[0].strip()


def _host_port(host: str) -> tuple[str, int]:
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not name.endswith(":"):  # not the end of a bare IPv6 address
        return name, int(port)
    return host, 0


def _client(headers: Headers) -> Optional[Tuple[str, int]]:
    # The rightmost X-Forwarded-For entry is the one the platform's front end appended (API
    # Gateway, Google's front end); entries to its left are whatever the client claimed.
    values = [v.strip() for h in headers.getall("x-forwarded-for") for v in h.split(",")]
    values = [v for v in values if v]
    return (values[-1], 0) if values else None
