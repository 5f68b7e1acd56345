"""The API routes of an app, whole: what the access check and the contract tests walk.

FastAPI 0.16x keeps an included router as one entry of ``app.routes`` (its routes are
resolved per request), so ``isinstance(route, APIRoute)`` over ``app.routes`` sees none of
them and a check written that way passes vacuously. ``iter_route_contexts`` looks through
the included routers; older FastAPI versions, which copy the routes in, have no such
function and need none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import routing
from fastapi.routing import APIRoute


def api_routes(routes: Sequence[Any]) -> list[APIRoute]:
    """Every APIRoute in ``routes``, through every included router, in the order they match."""
    through = getattr(routing, "iter_route_contexts", None)
    if through is None:
        return [route for route in routes if isinstance(route, APIRoute)]
    return [context.original_route for context in through(routes) if isinstance(context.original_route, APIRoute)]
