"""Builds a service's FastAPI app around its runtime: lifespan, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from shared.observability.logging import configure_logging
from shared.service.correlation import CorrelationMiddleware
from shared.service.http_metrics import HttpMetricsMiddleware
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
    app.add_middleware(HttpMetricsMiddleware)  # outermost: times the whole request

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": service}

    @app.get("/metrics", tags=["observability"], response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of this process (names in docs/architecture.md): the text format,
        or OpenMetrics when the scraper asks for it."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), headers={"Content-Type": content_type})

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
