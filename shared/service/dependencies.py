"""What a route gets through ``Depends``: the service's resources (built by the lifespan),
and a database session committed at the edge, before the response leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.engine import unit_of_work
from shared.service.runtime import ServiceRuntime


@dataclass
class ServiceResources:
    """What a service holds while it runs; each service extends it with its own stores."""

    runtime: ServiceRuntime


def resources_of(request: Request) -> ServiceResources:
    resources: ServiceResources = request.state.resources
    return resources


async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns (so a 202 means
    committed), rolled back when it raises; the outbox relay is woken after the commit."""
    runtime = resources_of(request).runtime
    async with unit_of_work(runtime.sessions) as session:
        yield session
    runtime.relay.wake()


async def reading(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads only; nothing is committed."""
    async with resources_of(request).runtime.sessions() as session:
        yield session


Transaction = Annotated[AsyncSession, Depends(transaction, scope="function")]
Reading = Annotated[AsyncSession, Depends(reading, scope="function")]
StreamReading = Annotated[AsyncSession, Depends(reading, scope="request")]
"""A read session that stays open until a streamed response has been sent."""
