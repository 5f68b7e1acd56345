"""Composition root of feedback: CRM outcomes in (generic and HubSpot), recycling out,
the lead's timeline, reports, the outcomes parked for review, and the operator page."""

from fastapi import FastAPI

from services.feedback.api.hubspot import router as hubspot_router
from services.feedback.api.operations import router as operations_router
from services.feedback.api.parked import router as parked_router
from services.feedback.api.reports import router as reports_router
from services.feedback.api.timeline import router as timeline_router
from services.feedback.api.webhooks import router as webhook_router
from services.feedback.domain.hubspot import load_mapping
from services.feedback.handlers import record_events
from services.feedback.operations import OperationsView
from services.feedback.settings import FeedbackSettings
from services.feedback.tables import metadata
from shared.events import topics
from shared.kafka.consumer import ConsumerSpec
from shared.service.app import build_app
from shared.service.errors import install_error_handlers
from shared.service.runtime import ServiceRuntime

TIMELINE_TOPICS = tuple(t.name for t in topics.ALL_TOPICS if t is not topics.DEAD_LETTER)


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    settings = settings or FeedbackSettings()
    hubspot_mapping = load_mapping(settings.hubspot_mapping_path())  # a bad file stops the start, saying why
    consumers = [ConsumerSpec(name="timeline", topics=TIMELINE_TOPICS, handler=record_events)]

    def make_runtime(app: FastAPI) -> ServiceRuntime:
        runtime = ServiceRuntime("feedback", settings, metadata, consumers)
        app.state.operations = OperationsView(runtime)
        return runtime

    app = build_app(
        "feedback",
        make_runtime,
        title="Handoff feedback",
        description="CRM outcomes close the loop; every lead's timeline lives here.",
        log_level=settings.log_level,
    )
    install_error_handlers(app)
    app.state.hubspot_mapping = hubspot_mapping
    app.include_router(webhook_router)
    app.include_router(timeline_router)
    app.include_router(reports_router)
    app.include_router(hubspot_router)
    app.include_router(parked_router)
    app.include_router(operations_router)
    return app
