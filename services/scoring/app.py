"""Composition root of scoring: profiles, the lead definition, scores with reasons."""

from fastapi import FastAPI

from services.scoring.api import router
from services.scoring.domain.definition import load_definition
from services.scoring.handlers import ScoringHandlers
from services.scoring.settings import ScoringSettings
from services.scoring.tables import metadata
from shared.db.metadata import outbox_table
from shared.events import topics
from shared.kafka.consumer import ConsumerSpec
from shared.outbox.writer import Outbox
from shared.service.app import build_app
from shared.service.runtime import ServiceRuntime


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    definition = load_definition(settings.config_dir / settings.definition_file)
    handlers = ScoringHandlers(definition, Outbox(outbox_table(metadata)))
    consumers = [ConsumerSpec(
        name="scorer",
        topics=(topics.LEAD_CAPTURED.name, topics.LEAD_ACTIVITY.name, topics.LEAD_OUTCOME.name),
        handler=handlers.handle,
    )]
    app = build_app(
        "scoring",
        lambda: ServiceRuntime("scoring", settings, metadata, consumers),
        title="Handoff scoring",
        description="Scores every lead against the agreed lead definition, with the reasons.",
        log_level=settings.log_level,
    )
    app.state.definition = definition
    app.include_router(router)
    return app
