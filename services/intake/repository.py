"""All of intake's SQL: the submissions, keyed per source and Idempotency-Key, and its outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.intake.tables import metadata, submissions
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
