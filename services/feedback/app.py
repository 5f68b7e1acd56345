"""Composition root of feedback: CRM outcomes in (generic and HubSpot), recycling out,
the lead's timeline, reports, the outcomes parked for review, and the operator page."""

from fastapi import FastAPI

from services.feedback.api.hubspot import router as hubspot_router
from services.feedback.api.models import CrmOutcome
from services.feedback.api.operations import router as operations_router
from services.feedback.api.parked import router as parked_router
from services.feedback.api.reports import router as reports_router
from services.feedback.api.timeline import router as timeline_router
from services.feedback.api.webhooks import router as webhook_router
from services.feedback.domain.hubspot import HubSpotEvent, load_mapping
from services.feedback.domain.stages import TransitionRefused
from services.feedback.handlers import TIMELINE
from services.feedback.resources import FeedbackResources
from services.feedback.settings import FeedbackSettings
from services.feedback.tables import metadata
from services.feedback.use_cases.apply_outcome import Vocabulary
from services.feedback.use_cases.hubspot_events import HubSpot
from services.feedback.use_cases.operations_overview import OperationsView
from shared.service.app import build_app
from shared.service.audit_api import router as audit_router
from shared.service.runtime import ServiceRuntime
from shared.service.startup import reviewed_file
from shared.service.tokens_api import router as tokens_router


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    settings = settings or FeedbackSettings()
    vocabulary = Vocabulary(settings.rejection_reasons, settings.loss_reasons, settings.recycle_reasons)
    mapping = reviewed_file("feedback", lambda: load_mapping(settings.hubspot_mapping_path(),
                                                             vocabulary.all_reasons()))

    def compose(runtime: ServiceRuntime) -> FeedbackResources:
        runtime.add_consumer(TIMELINE)
        return FeedbackResources(runtime, settings, vocabulary, HubSpot(mapping, vocabulary),
                                 OperationsView(runtime.sessions, settings.kafka_connection()))

    return build_app(
        "feedback", settings, metadata, compose,
        title="Handoff feedback",
        description="CRM outcomes close the loop; every lead's timeline lives here.",
        routers=[webhook_router, hubspot_router, timeline_router, reports_router, parked_router, operations_router,
                 tokens_router, audit_router],
        domain_errors={TransitionRefused: 409},
        body_models=[CrmOutcome, HubSpotEvent],
    )
