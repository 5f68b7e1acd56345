"""All of intake's SQL: the submissions, keyed per source and Idempotency-Key, its outbox,
and the request counts of its rate limits."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from services.intake.domain.rate_limits import Counted
from services.intake.tables import metadata, rate_windows, submissions
from shared.db.repository import Repository


@dataclass(frozen=True)
class EarlierSubmission:
    request_hash: str
    response: dict[str, Any]


class SubmissionRepository(Repository):
    metadata = metadata

    async def earlier(self, source: str, idempotency_key: str) -> EarlierSubmission | None:
        row = (await self.session.execute(
            select(submissions.c.response, submissions.c.request_hash)
            .where(submissions.c.source == source, submissions.c.idempotency_key == idempotency_key)
        )).first()
        return None if row is None else EarlierSubmission(row.request_hash, row.response)

    async def earlier_many(self, source: str, idempotency_keys: Collection[str]) -> dict[str, EarlierSubmission]:
        """The earlier submissions of a batch's keys, in one query."""
        if not idempotency_keys:
            return {}
        rows = (await self.session.execute(
            select(submissions.c.idempotency_key, submissions.c.response, submissions.c.request_hash)
            .where(submissions.c.source == source, submissions.c.idempotency_key.in_(list(idempotency_keys)))
        )).all()
        return {row.idempotency_key: EarlierSubmission(row.request_hash, row.response) for row in rows}

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert a batch's submissions in one statement; the ids of those inserted (a key
        taken meanwhile by a concurrent request is left out)."""
        if not rows:
            return set()
        inserted = (await self.session.execute(
            insert(submissions).values(list(rows))
            .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
            .returning(submissions.c.submission_id)
        )).scalars().all()
        return set(inserted)

    async def add(self, *, submission_id: uuid.UUID, kind: str, source: str, idempotency_key: str | None,
                  request_hash: str, lead_id: uuid.UUID, correlation_id: str, response: dict[str, Any]) -> bool:
        """Insert the submission; False when the same source and key were taken meanwhile."""
        inserted = (await self.session.execute(
            insert(submissions).values(
                submission_id=submission_id, kind=kind, source=source, idempotency_key=idempotency_key,
                request_hash=request_hash, lead_id=lead_id, correlation_id=correlation_id, response=response,
            ).on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
            .returning(submissions.c.submission_id)
        )).first()
        return inserted is not None


class RateWindowRepository(Repository):
    metadata = metadata

    async def count(self, subjects: Sequence[Counted]) -> dict[tuple[str, datetime], int]:
        """Count one more request for each subject in its window, in one statement; the counts after."""
        if not subjects:
            return {}
        statement = insert(rate_windows).values(
            [{"subject": s.subject, "window_start": s.window, "requests": 1} for s in subjects])
        rows = (await self.session.execute(
            statement.on_conflict_do_update(index_elements=["subject", "window_start"],
                                            set_={"requests": rate_windows.c.requests + 1})
            .returning(rate_windows.c.subject, rate_windows.c.window_start, rate_windows.c.requests)
        )).all()
        return {(row.subject, row.window_start): row.requests for row in rows}

    async def forget_before(self, before: datetime) -> int:
        """Drop the counts of windows that started before ``before``; how many went."""
        result = await self.session.execute(delete(rate_windows).where(rate_windows.c.window_start < before))
        return int(getattr(result, "rowcount", 0) or 0)
