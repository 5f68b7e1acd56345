"""The one exception handler of every service, and the error bodies it serves.

Two shapes, both documented in each service's OpenAPI:

- ``{"detail": "text"}`` (``Problem``) for 400, 401, 403, 404, 409, 413, 429 and 503;
- ``{"detail": [{"field": "...", "reason": "..."}]}`` (``FieldProblems``) for 422, so a
  person wiring up a form sees which field is wrong and why.

A database or broker that does not answer is a 503 with ``Retry-After``, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db.errors import try_again_later
from shared.errors import InvalidInput, Refused, TooManyRequests, Unauthorized, Unavailable
from shared.kafka.clients import KafkaFailed, KafkaUnreachable

RETRY_AFTER_S = 5


class Problem(BaseModel):
    """What went wrong, in one sentence."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "no lead 3f0c... is known"}]})

    detail: str


class FieldProblem(BaseModel):
    field: str = Field(description="the field's path: 'email', 'owners.2.timezone', 'query.start'")
    reason: str
    line: int | None = Field(None, ge=1, description="in a YAML body: the line the field is on (1-based)")
    column: int | None = Field(None, ge=1, description="in a YAML body: the column the field starts at (1-based)")


class FieldProblems(BaseModel):
    """Every field that is wrong, and why."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"detail": [{"field": "email", "reason": "not an email address"}]}]})

    detail: list[FieldProblem]


_DESCRIPTIONS = {
    400: "The request cannot be read",
    401: "No credential, or one that is not believed (see WWW-Authenticate)",
    403: "The credential may not do this, or the action is switched off",
    404: "Nothing is known under that id",
    409: "The request conflicts with the current state",
    413: "The body is larger than the service accepts",
    422: "A field is missing or wrong; each problem names its field and the reason",
    429: "Too many requests; try again after Retry-After seconds",
    503: "The database or the broker does not answer now; try again after Retry-After seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "integer", "minimum": 1}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: every error status it can answer, with its body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[status],
                                 "model": FieldProblems if status == 422 else Problem}
        if status in (429, 503):
            entry["headers"] = _RETRY_AFTER
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"description": "the scheme to authenticate with",
                                                     "schema": {"type": "string"}}}
        documented[status] = entry
    return documented


def field_errors(exc: RequestValidationError | ValidationError) -> list[dict[str, str]]:
    """FastAPI's and pydantic's errors as field/reason pairs; 'body.' is left off field paths."""
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or "body"
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"field": field, "reason": reason})
    return errors


def _field_problem(field: str, reason: str, at: tuple[int, int] | None) -> dict[str, Any]:
    problem: dict[str, Any] = {"field": field, "reason": reason}
    if at is not None:
        problem["line"], problem["column"] = at
    return problem


def _problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers or {}))


def _unavailable(what: str) -> JSONResponse:
    return _problem(503, f"{what} does not answer now; try again shortly", {"Retry-After": str(RETRY_AFTER_S)})


def install_error_handler(app: FastAPI, domain_statuses: Mapping[type[Exception], int] | None = None) -> None:
    """Map every expected error to its response in one place.

    ``domain_statuses`` names the service's own domain errors (a transition the stage machine
    refuses, a version that exists) and the status each gets; their message is the detail.
    """
    statuses = dict(domain_statuses or {})

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RequestValidationError):
            return JSONResponse({"detail": field_errors(exc)}, status_code=422)
        if isinstance(exc, InvalidInput):
            return JSONResponse({"detail": [_field_problem(f, r, at) for (f, r), at in zip(exc.problems, exc.places,
                                                                                          strict=True)]},
                                status_code=422)
        if isinstance(exc, Unavailable | TooManyRequests):
            return _problem(exc.status, exc.detail, {"Retry-After": str(exc.retry_after_s)})
        if isinstance(exc, Unauthorized):
            return _problem(401, exc.detail, {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, Refused):
            return _problem(exc.status, exc.detail)
        if isinstance(exc, StarletteHTTPException):
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            return _problem(exc.status_code, detail, exc.headers)
        if isinstance(exc, KafkaUnreachable | KafkaFailed):
            return _unavailable("the Kafka broker")
        for kind, status in statuses.items():
            if isinstance(exc, kind):
                return _problem(status, str(exc))
        if try_again_later(exc):
            return _unavailable("the database")
        raise exc

    handled: Iterable[type[Exception]] = (
        RequestValidationError, Refused, StarletteHTTPException, KafkaUnreachable, KafkaFailed, sa_exc.DBAPIError,
        sa_exc.TimeoutError, sa_exc.DisconnectionError, sa_exc.PendingRollbackError, OSError, TimeoutError,
        *statuses,
    )
    for kind in handled:
        app.add_exception_handler(kind, handle)
