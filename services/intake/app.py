"""Composition root of intake: the door leads and activities come in by."""

from fastapi import FastAPI

from services.intake.api.routes import router
from services.intake.settings import IntakeSettings
from services.intake.tables import metadata
from shared.service.app import build_app
from shared.service.errors import install_error_handlers
from shared.service.runtime import ServiceRuntime


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    app = build_app(
        "intake",
        lambda app: ServiceRuntime("intake", settings, metadata),
        title="Handoff intake",
        description="Web forms and marketing automation post leads and activity here.",
        log_level=settings.log_level,
    )
    install_error_handlers(app)
    app.include_router(router)
    return app
