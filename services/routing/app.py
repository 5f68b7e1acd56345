"""Composition root of routing: qualified leads to owners, the rest to nurture."""

from fastapi import FastAPI

from services.routing.api import router
from services.routing.domain.policy import load_policy
from services.routing.handlers import RoutingHandlers
from services.routing.settings import RoutingSettings
from services.routing.tables import metadata
from shared.events import topics
from shared.kafka.consumer import ConsumerSpec
from shared.service.app import build_app
from shared.service.runtime import ServiceRuntime


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    policy = load_policy(settings.config_dir / settings.policy_file)  # an invalid file stops us here

    def compose(app: FastAPI) -> ServiceRuntime:
        runtime = ServiceRuntime("routing", settings, metadata)
        handlers = RoutingHandlers(policy, runtime.outbox)
        runtime.add_consumer(ConsumerSpec(name="router", topics=(topics.LEAD_SCORED.name,),
                                          handler=handlers.handle))
        return runtime

    app = build_app(
        "routing", compose,
        title="Handoff routing",
        description="Routes qualified leads to an owner, fairly, and says why.",
        log_level=settings.log_level,
    )
    app.state.policy = policy
    app.include_router(router)
    return app
