"""All of intake's SQL: the submissions, keyed per source and Idempotency-Key, its outbox,
and the request counts of its rate limits."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.dml import ReturningInsert

from services.intake.domain.rate_limits import Counted
from services.intake.tables import metadata, rate_windows, submissions
from shared.access.erasures import current_lead_ids
from shared.db.bulk import any_of, columns_of, insert_columns, unnest_columns
from shared.db.metadata import outbox_table
from shared.db.repository import Repository
from shared.events.envelope import Envelope
from shared.outbox.writer import outbox_row


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
            .where(submissions.c.source == source, any_of(submissions.c.idempotency_key, idempotency_keys))
        )).all()
        return {row.idempotency_key: EarlierSubmission(row.request_hash, row.response) for row in rows}

    async def lead_ids_now(self, emails: Collection[str]) -> dict[str, uuid.UUID]:
        """Each address's lead id now (``shared.access.erasures``: after an erasure, a new one)."""
        return await current_lead_ids(self.session, emails)

    async def forget_retries_of(self, lead_id: uuid.UUID) -> int:
        """An erased person's submissions no longer answer a retry: the same key and body later
        is a new submission of a new lead, not a replay of the erased one."""
        return len((await self.session.execute(
            update(submissions).where(submissions.c.lead_id == lead_id)
            .values(idempotency_key=None, request_hash="erased").returning(submissions.c.submission_id))).all())

    async def add_with_events(self, rows: Sequence[dict[str, Any]], events: Sequence[Envelope]) -> set[uuid.UUID]:
        """Insert a batch's submissions and, for those inserted, their events into the outbox, in
        one statement (one round trip for a single post); the ids of those inserted. ``events[i]``
        belongs to ``rows[i]``; a key taken meanwhile by a concurrent request keeps its event out."""
        if not rows:
            return set()
        names = tuple(rows[0])
        given = [{"submission_id": row["submission_id"], "position": i, **outbox_row(event)}
                 for i, (row, event) in enumerate(zip(rows, events, strict=True))]
        parameters = {**columns_of(rows, names, prefix="row_"),
                      **columns_of(given, ("submission_id", "position", *_OUTBOX_COLUMNS), prefix="given_")}
        inserted = (await self.session.execute(_adding_with_events(names), parameters)).scalars().all()
        return set(inserted)


_OUTBOX_COLUMNS = ("topic", "key", "value", "headers")


@functools.cache
def _adding_with_events(names: tuple[str, ...]) -> Select[Any]:
    """The statement of ``add_with_events``, built once per set of submission columns."""
    added = (insert_columns(submissions, names, prefix="row_")
             .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
             .returning(submissions.c.submission_id).cte("added"))
    outbox = outbox_table(metadata)
    given = unnest_columns(
        {"submission_id": submissions.c.submission_id.type, "position": Integer(),
         **{name: outbox.c[name].type for name in _OUTBOX_COLUMNS}}, prefix="given_", name="given")
    emitted = insert(outbox).from_select(
        list(_OUTBOX_COLUMNS), select(*(given.c[name] for name in _OUTBOX_COLUMNS))
        .where(given.c.submission_id.in_(select(added.c.submission_id)))
        .order_by(given.c.position),  # the outbox ids follow the order the events were made in
        include_defaults=False).cte("emitted")
    return select(added.c.submission_id).add_cte(emitted)


class RateWindowRepository(Repository):
    metadata = metadata

    async def count(self, subjects: Sequence[Counted]) -> dict[tuple[str, datetime], int]:
        """Count one more request for each subject in its window, in one statement; the counts after."""
        if not subjects:
            return {}
        rows = (await self.session.execute(_counting(), {
            "subject": [s.subject for s in subjects], "window_start": [s.window for s in subjects],
            "requests": [1] * len(subjects)})).all()
        return {(row.subject, row.window_start): row.requests for row in rows}

    async def forget_before(self, before: datetime) -> int:
        """Drop the counts of windows that started before ``before``; how many went."""
        result = await self.session.execute(delete(rate_windows).where(rate_windows.c.window_start < before))
        return int(getattr(result, "rowcount", 0) or 0)


@functools.cache
def _counting() -> ReturningInsert[tuple[str, datetime, int]]:
    """The statement of ``RateWindowRepository.count``, built once: it runs on every request."""
    return (insert_columns(rate_windows, ("subject", "window_start", "requests"))
            .on_conflict_do_update(index_elements=["subject", "window_start"],
                                   set_={"requests": rate_windows.c.requests + 1})
            .returning(rate_windows.c.subject, rate_windows.c.window_start, rate_windows.c.requests))
