"""What feedback's routes get through Depends."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.feedback.repository import FeedbackRepository
from services.feedback.resources import FeedbackResources
from shared.service.dependencies import Reading, Transaction


async def _resources(request: Request) -> FeedbackResources:
    return cast(FeedbackResources, request.state.resources)


async def _reads(session: Reading) -> FeedbackRepository:
    return FeedbackRepository(session)


async def _writes(session: Transaction) -> FeedbackRepository:
    return FeedbackRepository(session)


Resources = Annotated[FeedbackResources, Depends(_resources)]
Reads = Annotated[FeedbackRepository, Depends(_reads)]
Writes = Annotated[FeedbackRepository, Depends(_writes)]
