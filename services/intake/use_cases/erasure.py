"""Intake's own step of an erasure (``shared.service.erasure``), before its rows are anonymised."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.repository import SubmissionRepository


async def forget_retries(session: AsyncSession, lead_id: uuid.UUID) -> dict[str, int]:
    return {"submissions no longer replayed": await SubmissionRepository(session).forget_retries_of(lead_id)}
