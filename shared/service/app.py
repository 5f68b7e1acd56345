"""Builds a service's FastAPI app around its runtime: lifespan, health, readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.observability.logging import configure_logging
from shared.service.correlation import CorrelationMiddleware
from shared.service.runtime import ServiceRuntime


def build_app(service: str, make_runtime: Callable[[FastAPI], ServiceRuntime], *, title: str,
              description: str, log_level: str = "INFO") -> FastAPI:
    configure_logging(service, log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = make_runtime(app)  # composition: may also put service parts on app.state
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, lifespan=lifespan)
    app.add_middleware(CorrelationMiddleware)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the broker and the database answer."""
        checks = await request.app.state.runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "service": service, "checks": checks},
                            status_code=200 if ready else 503)

    return app


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime
