"""Counts and times every HTTP request by method, route template and status.

The route label is the template (``/leads/{lead_id}/timeline``), never the raw path, so
the number of series stays bounded whatever callers send; a path no route matches is
``unmatched``. ``/metrics`` itself is left out: Prometheus scrapes it every few seconds,
which would only add noise (the scrape's own duration is Prometheus's
``scrape_duration_seconds``)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

UNMATCHED = "unmatched"
EXCLUDED_PATHS = frozenset({"/metrics"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope``, once the app handled it.

    FastAPI's router records the route it chose in ``scope["route"]``, also for a 405 (the
    path exists, not for this method), so the label is what the router did. Such a route of
    an included router may know only its own part of the path (FastAPI keeps the original
    route, without the ``include_router`` prefix): the request path's part in front of what
    the route matches is kept as it is. Plain Starlette routes (``/docs``, ``/openapi.json``)
    leave no record: they are matched here among the app's top-level routes. No route: 404,
    ``unmatched``.
    """
    route = scope.get("route")
    if route is None:
        route = _top_level_route(scope)
    template = getattr(route, "path_format", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    regex = getattr(route, "path_regex", None)
    path: str = scope.get("path", "")
    if regex is not None and path and not regex.match(path):
        for i in range(1, len(path)):
            if path[i] == "/" and regex.match(path[i:]):
                return path[:i] + template
    return template


def _top_level_route(scope: Scope) -> BaseRoute | None:
    partial: BaseRoute | None = None
    routes: Iterable[BaseRoute] = getattr(scope.get("app"), "routes", ())
    for route in routes:
        if getattr(route, "path_format", None) is None:
            continue  # an included router: its routes record themselves
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXCLUDED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before answering, the server answers 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            method = scope.get("method", "")
            method = method if method in METHODS else "other"  # callers choose methods too
            route = route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(time.perf_counter() - started)
