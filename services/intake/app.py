"""Composition root of intake: the door leads and activities come in by."""

from fastapi import FastAPI

from services.intake.api.submissions import router
from services.intake.settings import IntakeSettings
from services.intake.tables import metadata
from shared.service.app import build_app
from shared.service.dependencies import ServiceResources


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    return build_app(
        "intake", settings, metadata, ServiceResources,
        title="Handoff intake",
        description="Web forms and marketing automation post leads and activity here.",
        routers=[router],
    )
