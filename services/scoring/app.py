"""Composition root of scoring: profiles, the lead definition, scores with reasons."""

from fastapi import FastAPI

from services.scoring.api.calibration import router as calibration_router
from services.scoring.api.definitions import router as definitions_router
from services.scoring.api.leads import router as leads_router
from services.scoring.domain.definition import DefinitionError, LeadDefinition, load_definition
from services.scoring.handlers import scorer
from services.scoring.repository import definition_store
from services.scoring.resources import ScoringResources
from services.scoring.settings import ScoringSettings
from services.scoring.tables import metadata
from services.scoring.use_cases.rescore_sweep import Rescorer
from shared.service.app import build_app
from shared.service.runtime import ServiceRuntime
from shared.service.startup import reviewed_file


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    seed_file = settings.config_dir / settings.definition_file
    seed = reviewed_file("scoring", lambda: load_definition(seed_file))

    def compose(runtime: ServiceRuntime) -> ScoringResources:
        store = definition_store(runtime.sessions, seed, str(seed_file))
        rescorer = Rescorer(runtime.sessions, store, on_emitted=runtime.relay.wake,
                            interval_s=settings.rescore_interval_s, decay_every_s=settings.decay_check_interval_s)
        runtime.add_consumer(scorer(store))
        runtime.on_startup(store.bootstrap)
        runtime.add_loop("rescorer", rescorer.run)
        return ScoringResources(runtime, store, rescorer)

    return build_app(
        "scoring", settings, metadata, compose,
        title="Handoff scoring",
        description="Scores every lead against the agreed lead definition, with the reasons.",
        routers=[definitions_router, leads_router, calibration_router],
        domain_errors={DefinitionError: 422},
        body_models=[LeadDefinition],
    )
