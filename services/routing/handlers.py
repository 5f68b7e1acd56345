"""Routing's consumer: scores (both versions of the scored topic) and outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router
from services.routing.use_cases.route_leads import route_leads
from shared.events import topics
from shared.events.codec import Event
from shared.events.envelope import utcnow
from shared.kafka.consumer import ConsumerSpec


async def before_erasure(session: AsyncSession, lead_id: uuid.UUID) -> dict[str, int]:
    """Routing's own step of an erasure (``shared.service.erasure``): its clocks stop for the person."""
    return await RoutingRepository(session).stop_for_erasure(lead_id)


def router_consumer(router: Router, clock: Callable[[], datetime] = utcnow) -> ConsumerSpec:
    async def handle(session: AsyncSession, events: Sequence[Event]) -> None:
        await route_leads(router, RoutingRepository(session), events, clock())

    return ConsumerSpec(name="router",
                        topics=(topics.LEAD_SCORED.name, topics.LEAD_SCORED_V1.name, topics.LEAD_OUTCOME.name),
                        handler=handle)
