"""What scoring's routes get through Depends."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.scoring.repository import DefinitionStore, ScoringRepository
from services.scoring.resources import ScoringResources
from shared.service.dependencies import Reading, Transaction


async def _resources(request: Request) -> ScoringResources:
    return cast(ScoringResources, request.state.resources)


Resources = Annotated[ScoringResources, Depends(_resources)]


async def _definitions(resources: Resources) -> DefinitionStore:
    return resources.definitions


async def _reads(session: Reading) -> ScoringRepository:
    return ScoringRepository(session)


async def _writes(session: Transaction) -> ScoringRepository:
    return ScoringRepository(session)


Definitions = Annotated[DefinitionStore, Depends(_definitions)]
Reads = Annotated[ScoringRepository, Depends(_reads)]
Writes = Annotated[ScoringRepository, Depends(_writes)]
