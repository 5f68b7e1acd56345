"""What routing's routes get through Depends."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.routing.repository import RoutingRepository
from services.routing.resources import RoutingResources
from services.routing.use_cases.assignment import Router
from shared.service.dependencies import Reading, StreamReading, Transaction


def _resources(request: Request) -> RoutingResources:
    return cast(RoutingResources, request.state.resources)


async def _router(request: Request) -> Router:
    return _resources(request).router


async def _reads(session: Reading) -> RoutingRepository:
    return RoutingRepository(session)


async def _stream_reads(session: StreamReading) -> RoutingRepository:
    return RoutingRepository(session)


async def _writes(session: Transaction) -> RoutingRepository:
    return RoutingRepository(session)


RouterDep = Annotated[Router, Depends(_router)]
Reads = Annotated[RoutingRepository, Depends(_reads)]
StreamReads = Annotated[RoutingRepository, Depends(_stream_reads, scope="request")]
Writes = Annotated[RoutingRepository, Depends(_writes)]
