"""Composition root of routing: qualified leads to owners, the rest to nurture, SLA clocks."""

from fastapi import FastAPI

from services.routing.admin_api import router as admin_router
from services.routing.api import router as api_router
from services.routing.clock import RoutingClock
from services.routing.crm_push import CrmPusher
from services.routing.domain.policy import load_policy
from services.routing.handlers import RoutingHandlers
from services.routing.policies import policy_store
from services.routing.router import Router
from services.routing.settings import RoutingSettings
from services.routing.tables import metadata
from shared.events import topics
from shared.kafka.consumer import ConsumerSpec
from shared.service.app import build_app
from shared.service.errors import install_error_handlers
from shared.service.runtime import ServiceRuntime


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    seed = load_policy(settings.config_dir / settings.policy_file)  # an invalid file stops us here

    def compose(app: FastAPI) -> ServiceRuntime:
        runtime = ServiceRuntime("routing", settings, metadata)
        store = policy_store(runtime.sessions, seed)
        router = Router(store, sla_time_scale=settings.sla_time_scale, crm_push=bool(settings.crm_webhook_url))
        runtime.on_startup(store.bootstrap)
        app.state.router = router
        handlers = RoutingHandlers(router, runtime.outbox)
        runtime.add_consumer(ConsumerSpec(name="router", topics=(topics.LEAD_SCORED.name, topics.LEAD_OUTCOME.name),
                                          handler=handlers.handle))
        clock = RoutingClock(runtime.sessions, router, runtime.outbox, on_emitted=runtime.relay.wake,
                             interval_s=settings.clock_interval_s)
        runtime.add_loop("clock", clock.run)
        if settings.crm_webhook_url:
            pusher = CrmPusher(runtime.sessions, url=settings.crm_webhook_url,
                               secret=settings.crm_webhook_secret.get_secret_value())
            runtime.add_loop("crm-push", pusher.run)
        return runtime

    app = build_app(
        "routing", compose,
        title="Handoff routing",
        description="Routes qualified leads to an owner, fairly, says why, and holds sales to the SLA.",
        log_level=settings.log_level,
    )
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(admin_router)
    return app
