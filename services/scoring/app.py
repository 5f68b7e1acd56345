"""Composition root of scoring: profiles, the lead definition, scores with reasons."""

from fastapi import FastAPI

from services.scoring.api import router
from services.scoring.definitions import definition_store
from services.scoring.domain.definition import load_definition
from services.scoring.handlers import ScoringHandlers
from services.scoring.rescorer import Rescorer
from services.scoring.settings import ScoringSettings
from services.scoring.tables import metadata
from shared.events import topics
from shared.kafka.consumer import ConsumerSpec
from shared.service.app import build_app
from shared.service.errors import install_error_handlers
from shared.service.runtime import ServiceRuntime


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    seed = load_definition(settings.config_dir / settings.definition_file)  # an invalid file stops us here

    def compose(app: FastAPI) -> ServiceRuntime:
        runtime = ServiceRuntime("scoring", settings, metadata)
        store = definition_store(runtime.sessions, seed)
        handlers = ScoringHandlers(store, runtime.outbox)
        rescorer = Rescorer(runtime.sessions, store, runtime.outbox, on_emitted=runtime.relay.wake,
                            interval_s=settings.rescore_interval_s,
                            decay_every_s=settings.decay_check_interval_s)
        runtime.add_consumer(ConsumerSpec(
            name="scorer",
            topics=(topics.LEAD_CAPTURED.name, topics.LEAD_ACTIVITY.name, topics.LEAD_OUTCOME.name),
            handler=handlers.handle,
        ))
        runtime.on_startup(store.bootstrap)
        runtime.add_loop("rescorer", rescorer.run)
        app.state.definitions = store
        app.state.rescorer = rescorer
        return runtime

    app = build_app(
        "scoring", compose,
        title="Handoff scoring",
        description="Scores every lead against the agreed lead definition, with the reasons.",
        log_level=settings.log_level,
    )
    install_error_handlers(app)
    app.include_router(router)
    return app
