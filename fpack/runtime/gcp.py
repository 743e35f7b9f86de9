"""Cloud Functions (2nd gen) adapter: the functions functions-framework calls, built around a
portable function. The generated main.py imports this module and exposes what it returns.

Standard library only: the Flask request and the CloudEvent are read by duck typing, so neither
flask nor cloudevents is imported here (functions-framework brings them into the artifact).
- http: https://cloud.google.com/functions/docs/writing/write-http-functions
- CloudEvents: https://cloud.google.com/functions/docs/writing/write-event-driven-functions
Styles "asgi" and "wsgi": the http function drives a web app through the bridges of web.py.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Protocol

from fpack.runtime.api import Headers, Query, Request
from fpack.runtime.cloudevents import EVENT_TRIGGERS, REQUIRED, to_portable
from fpack.runtime.core import LOG, call_http, check_choice
from fpack.runtime.web import WEB_STYLES, HttpApp, bridge

# Flask accepts (body, status, headers) as a view's return value; a list of header pairs keeps
# repeated headers such as Set-Cookie.
FlaskReply = tuple[bytes, int, list[tuple[str, str]]]
_ATTRIBUTES = (*REQUIRED, "time", "subject", "datacontenttype", "dataschema")
HTTP_STYLES = ("portable", *WEB_STYLES)


class MultiDict(Protocol):
    """What is read of werkzeug's MultiDict (request.args)."""

    def keys(self) -> Iterable[str]: ...
    def getlist(self, key: str) -> list[str]: ...


class HeaderSource(Protocol):
    """What is read of werkzeug's Headers: every (name, value) pair."""

    def items(self) -> Iterable[tuple[str, str]]: ...


class FlaskRequest(Protocol):
    """What is read of the flask.Request that functions-framework passes."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def args(self) -> MultiDict: ...
    @property
    def headers(self) -> HeaderSource: ...
    @property
    def cookies(self) -> Mapping[str, str]: ...
    def get_data(self) -> bytes: ...


class CloudEvent(Protocol):
    """What is read of cloudevents' CloudEvent: attributes by name (or get_attributes()), data."""

    @property
    def data(self) -> object: ...
    def __getitem__(self, key: str) -> Any: ...  # attribute values vary
    def __contains__(self, key: str) -> bool: ...


def http_handler(
    func: Callable[..., object], *, style: str = "portable", base_path: str = ""
) -> Callable[[FlaskRequest], FlaskReply]:
    """The functions-framework http function for a portable http function, or for an ASGI/WSGI
    app (styles "asgi", "wsgi"; base_path: the prefix a load balancer or domain mapping leaves in
    the path). A handler exception is logged with its traceback and answered with a generic 500,
    as on the other platforms."""
    check_choice("fpack.runtime.gcp", "style", style, HTTP_STYLES)
    if style in WEB_STYLES:
        return _web_handle(bridge(style, func, base_path=base_path))

    def handle(flask_request: FlaskRequest) -> FlaskReply:
        response = call_http(func, _request(flask_request))
        return response.body, response.status, response.header_items()

    return functools.wraps(func)(handle)


def _web_handle(app: HttpApp) -> Callable[[FlaskRequest], FlaskReply]:
    def handle(flask_request: FlaskRequest) -> FlaskReply:
        response = app(_request(flask_request), "")
        return response.body, response.status, response.header_items()

    return handle


def _request(flask_request: FlaskRequest) -> Request:
    args = flask_request.args
    query = [(name, value) for name in list(args.keys()) for value in args.getlist(name)]
    return Request(
        method=str(flask_request.method).upper(),
        path=flask_request.path or "/",
        query=Query(query),
        headers=Headers(list(flask_request.headers.items())),
        body=flask_request.get_data(),
        cookies=dict(flask_request.cookies.items()),  # werkzeug: the first value of each name
        path_params={},
        raw=flask_request,
    )


def cloudevent_handler(
    func: Callable[[Any], object], *, trigger: str
) -> Callable[[CloudEvent], None]:
    """The functions-framework cloudevent function for a portable storage, queue or schedule
    function. A handler exception is logged in one line and re-raised: functions-framework
    logs its traceback and answers 500, so the event is retried when retries are on."""
    check_choice("fpack.runtime.gcp", "trigger", trigger, EVENT_TRIGGERS)

    def handle(cloud_event: CloudEvent) -> None:
        attributes = _attributes(cloud_event)
        portable = to_portable(trigger, attributes, cloud_event.data, raw=cloud_event)
        try:
            func(portable)
        except Exception as e:
            LOG.error(
                'fpack: the %s handler failed on CloudEvent %s (type "%s"): %s: %s',
                trigger,
                attributes.get("id"),
                attributes.get("type"),
                type(e).__name__,
                e,
            )
            raise

    return functools.wraps(func)(handle)


def _attributes(cloud_event: CloudEvent) -> dict[str, Any]:
    get_attributes = getattr(cloud_event, "get_attributes", None)
    if callable(get_attributes):  # cloudevents >= 1.0
        return dict(get_attributes())
    return {name: cloud_event[name] for name in _ATTRIBUTES if name in cloud_event}
