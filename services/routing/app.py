"""Composition root of routing: qualified leads to owners, the rest to nurture, SLA clocks."""

from fastapi import FastAPI

from services.routing.api.accounts import router as accounts_router
from services.routing.api.leads import router as leads_router
from services.routing.api.owners import router as owners_router
from services.routing.api.policies import router as policies_router
from services.routing.domain.policy import PolicyError, RoutingPolicy, load_policy
from services.routing.handlers import before_erasure, router_consumer
from services.routing.repository import policy_store
from services.routing.resources import RoutingResources
from services.routing.settings import RoutingSettings
from services.routing.tables import metadata
from services.routing.use_cases.assignment import Router
from services.routing.use_cases.crm_push import CrmPusher
from services.routing.use_cases.sla_clock import RoutingClock
from shared.service.app import build_app
from shared.service.runtime import ServiceRuntime
from shared.service.startup import reviewed_file


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    seed_file = settings.config_dir / settings.policy_file
    seed = reviewed_file("routing", lambda: load_policy(seed_file))

    def compose(runtime: ServiceRuntime) -> RoutingResources:
        store = policy_store(runtime.sessions, seed, str(seed_file))
        router = Router(store, sla_time_scale=settings.sla_time_scale, crm_push=bool(settings.crm_webhook_url))
        runtime.on_startup(store.bootstrap)
        runtime.add_consumer(router_consumer(router))
        runtime.before_erasure(before_erasure)
        clock = RoutingClock(runtime.sessions, router, on_emitted=runtime.relay.wake,
                             interval_s=settings.clock_interval_s)
        runtime.add_loop("clock", clock.run)
        if settings.crm_webhook_url and settings.crm_webhook_secret:
            pusher = CrmPusher(runtime.sessions, url=settings.crm_webhook_url,
                               secret=settings.crm_webhook_secret.get_secret_value())
            runtime.add_loop("crm-push", pusher.run)
        return RoutingResources(runtime, router)

    return build_app(
        "routing", settings, metadata, compose,
        title="Handoff routing",
        description="Routes qualified leads to an owner, fairly, says why, and holds sales to the SLA.",
        routers=[policies_router, owners_router, accounts_router, leads_router],
        domain_errors={PolicyError: 422},
        body_models=[RoutingPolicy],
    )
