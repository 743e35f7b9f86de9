"""Application servers for web apps in the Docker "http" image: an ASGI app under uvicorn, a WSGI
app under gunicorn, listening on $PORT like the standard-library server that serves portable
handlers (server.py), both stopping gracefully on SIGTERM.

The one place in fpack.runtime that imports third-party code, and only inside the function that
needs it: the docker target puts uvicorn or gunicorn into the image as its runtime client. Both
trust X-Forwarded-* from any peer unless FORWARDED_ALLOW_IPS says otherwise: in Cloud Run or
behind an ingress, the only peer is the platform's proxy.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict

from fpack.runtime import asgi, wsgi

# gunicorn: threads serve concurrent requests in one worker (WEB_CONCURRENCY sets the number of
# workers); timeout 0 leaves request deadlines to the platform, as Cloud Run's guide advises.
GUNICORN_THREADS = 8


def serve_web(app: Callable[..., Any], *, style: str, host: str, port: int,
              base_path: str = "") -> None:
    """Serve app (style "asgi" or "wsgi") until SIGTERM or SIGINT."""
    if style == "asgi":
        run_uvicorn(asgi.mount(app, base_path), host=host, port=port)
    elif style == "wsgi":
        run_gunicorn(wsgi.mount(app, base_path), host=host, port=port)
    else:
        raise ValueError(f'fpack.runtime.appserver: style "{style}": expected "asgi" or "wsgi"')


def _allowed_proxies() -> str:
    return os.environ.get("FORWARDED_ALLOW_IPS", "*")


def run_uvicorn(app: Callable[..., Any], *, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415  # only the asgi image has it

    uvicorn.run(app, host=host, port=port, proxy_headers=True,
                forwarded_allow_ips=_allowed_proxies(), server_header=False, lifespan="auto")


def gunicorn_options(host: str, port: int) -> Dict[str, object]:
    """gunicorn's settings for the image (pure, so it is tested as data)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "bind": [bind],
        "workers": int(os.environ.get("WEB_CONCURRENCY", "1")),
        "threads": GUNICORN_THREADS,
        "timeout": 0,
        "accesslog": "-",
        "forwarded_allow_ips": _allowed_proxies(),
        # gunicorn >= 25's control socket goes in $HOME, which the image's user cannot write.
        "control_socket_disable": True,
    }


def run_gunicorn(app: Callable[..., Any], *, host: str, port: int) -> None:
    from gunicorn.app.base import (  # type: ignore[import-untyped]  # noqa: PLC0415
        BaseApplication,  # only the wsgi image has gunicorn
    )

    options = gunicorn_options(host, port)

    class Application(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        """gunicorn's documented "custom application": settings and app given, no argv."""

        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # older releases lack the newer settings
                    self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return app

    Application().run()
