"""Builds a service's FastAPI app the same way for all four: a lifespan that composes the
service's resources around its runtime (typed, reached through ``Depends``), the one
exception handler, a bounded request body, health, readiness and metrics, and an OpenAPI
document served with Swagger UI and ReDoc from a package (no CDN: ``/docs`` works offline).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema
from sqlalchemy import MetaData

from shared import identity
from shared.identity_policy import load_identity_policy
from shared.observability.logging import configure_logging
from shared.service.access import OPERATORS, guarded_router, public, undeclared_routes
from shared.service.body_limit import BodyLimitMiddleware
from shared.service.correlation import CorrelationMiddleware
from shared.service.dependencies import ServiceResources, resources_of
from shared.service.errors import error_responses, install_error_handler
from shared.service.http_metrics import HttpMetricsMiddleware
from shared.service.privacy_api import privacy_router
from shared.service.runtime import ServiceRuntime
from shared.service.startup import reviewed_file
from shared.settings import ServiceSettings

R = TypeVar("R", bound=ServiceResources)
ASSETS = "/docs/assets"


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "service": "intake"}]})

    status: Literal["ok"]
    service: str


class Readiness(BaseModel):
    """Each dependency's state; ready only if every check says ok."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"ready": True, "service": "intake", "checks": {"database": "ok", "kafka": "ok", "loops": "ok"}}]})

    ready: bool
    service: str
    checks: dict[str, str]


def build_app(service: str, settings: ServiceSettings, metadata: MetaData, compose: Callable[[ServiceRuntime], R], *,
              title: str, description: str, routers: Sequence[APIRouter],
              domain_errors: Mapping[type[Exception], int] | None = None,
              body_models: Sequence[type[BaseModel]] = (),
              body_limits: Mapping[str, int] | None = None) -> FastAPI:
    """``compose`` wires the service's parts (consumers, loops, stores) onto its runtime and
    returns its resources; ``body_models`` are the models of bodies routes read themselves
    (JSON or YAML documents, signed webhooks), added to the OpenAPI components;
    ``body_limits`` gives paths that take more than ``settings.max_body_bytes`` (batches)."""
    configure_logging(service, settings.log_level)
    identity.configure(reviewed_file(service, lambda: load_identity_policy(settings.config_dir)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = ServiceRuntime(service, settings, metadata)
        resources = compose(runtime)
        await runtime.start()
        try:
            yield {"resources": resources}
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, per_path=body_limits or {})
    app.add_middleware(CorrelationMiddleware)
    app.add_middleware(HttpMetricsMiddleware)  # outermost: times the whole request
    install_error_handler(app, domain_errors)
    app.include_router(_health_router(service, settings))
    for router in routers:
        app.include_router(router)
    app.include_router(privacy_router(metadata))  # every service answers for what it holds about a person
    undeclared = undeclared_routes(app.routes)
    if undeclared:  # every door says who may open it
        raise RuntimeError(f"routes that declare no access (shared.service.access): {', '.join(undeclared)}")
    _serve_docs(app, title, body_models)
    return app


def _health_router(service: str, settings: ServiceSettings) -> APIRouter:
    router = guarded_router(tags=["health"])
    metrics_access = OPERATORS if settings.metrics_need_operator else public(
        "what a Prometheus scrapes: counts and durations, no personal data (HANDOFF_<SERVICE>_METRICS_NEED_OPERATOR "
        "closes it)")

    @router.get("/healthz", summary="Liveness: the process answers", response_model=Health,
                dependencies=[public("an orchestrator's liveness probe; it says only that the process answers")])
    async def healthz() -> Health:
        return Health(status="ok", service=service)

    @router.get("/readyz", summary="Readiness: the broker and the database answer", response_model=Readiness,
                dependencies=[public("an orchestrator's readiness probe; it names dependencies, no data")],
                responses={503: {"model": Readiness, "description": "A dependency does not answer"}})
    async def readyz(request: Request) -> JSONResponse:
        checks = await resources_of(request).runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        body = Readiness(ready=ready, service=service, checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics of this process", response_class=Response,
                dependencies=[metrics_access],
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"},
                                                            "example": "handoff_outbox_backlog 0.0\n"}},
                                 "description": "The text format, or OpenMetrics when the scraper asks for it"}})
    async def metrics(request: Request) -> Response:
        """Names and labels in docs/architecture.md."""
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), headers={"Content-Type": content_type})

    return router


def _serve_docs(app: FastAPI, title: str, body_models: Sequence[type[BaseModel]]) -> None:
    """Swagger UI and ReDoc from the fastapi-offline package's assets; the OpenAPI document
    gains the schemas of the bodies routes read themselves."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            if body_models:
                _, defs = models_json_schema([(m, "validation") for m in body_models],
                                             ref_template="#/components/schemas/{model}")
                schemas = document.setdefault("components", {}).setdefault("schemas", {})
                for name, schema in defs.get("$defs", {}).items():
                    schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title}: API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no online validator

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{title}: API",
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False)


__all__ = ["Health", "Readiness", "build_app", "error_responses"]
