"""What intake's routes get through Depends: the posting source (its API key), held to its
rate limits, and the repository in the request's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from services.intake.domain.rate_limits import counted, first_exceeded
from services.intake.repository import RateWindowRepository, SubmissionRepository
from services.intake.settings import IntakeSettings
from shared.access.roles import Role
from shared.access.store import Caller
from shared.db.engine import autocommit
from shared.errors import TooManyRequests
from shared.observability.metrics import RATE_LIMITED
from shared.service.access import requires
from shared.service.dependencies import Transaction, resources_of


async def authenticated_source(caller: Annotated[Caller, requires(Role.source, api_key_header=True)]) -> str:
    """The source the caller posts for: its configured key's, or its token's."""
    assert caller.source is not None  # a source credential always names its source
    return caller.source


async def enforce_rate_limits(request: Request, source: str) -> None:
    """Count this request against its source's and its client address's limits, in one
    statement that commits by itself (a refused request still counts; the count is shared by
    every replica); over either limit is 429 with Retry-After."""
    resources = resources_of(request)
    settings = resources.runtime.settings
    assert isinstance(settings, IntakeSettings)
    now = datetime.now(UTC)
    address = request.client.host if request.client else "unknown"
    subjects = [counted(f"address:{address}", f"client address {address}", settings.rate_limit_per_address, now),
                counted(f"source:{source}", f"source {source}", settings.rate_limit_of(source), now)]
    async with autocommit(resources.runtime.sessions) as session:
        counts = await RateWindowRepository(session).count(subjects)
    over = first_exceeded(subjects, counts)
    if over is not None:
        RATE_LIMITED.labels(source, over.subject.partition(":")[0]).inc()
        raise TooManyRequests(f"the {over.what} made more than {over.limit.requests} requests in "
                              f"{over.limit.per_seconds} s; try again after Retry-After seconds",
                              over.limit.retry_after_s(now))


async def limited_source(request: Request, source: Annotated[str, Depends(authenticated_source)]) -> str:
    await enforce_rate_limits(request, source)
    return source


async def submissions(session: Transaction) -> SubmissionRepository:
    return SubmissionRepository(session)


Source = Annotated[str, Depends(limited_source)]
"""The source whose key the request presents, within its rate limits."""
Submissions = Annotated[SubmissionRepository, Depends(submissions)]
