"""422 bodies that name the field and the reason, for people wiring up a form."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def field_errors(exc) -> list[dict[str, str]]:
    """Works for FastAPI's RequestValidationError and pydantic's ValidationError alike."""
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or "body"
        reason = error.get("msg", "invalid").removeprefix("Value error, ")
        errors.append({"field": field, "reason": reason})
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(exc)}, status_code=422)
