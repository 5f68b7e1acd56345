"""The erasure register: which lead ids were erased, and which id a person's address gives now.

An erasure cannot reach back into Kafka and delete the person's events there, so the product
makes them dead instead: every id erased (the person's, and each service's anonymous id the
person's rows moved to) is kept here, ids only, and every consumer drops any event about one
of them before it keeps anything (``claim_alive``). A later lead with the same address
must start fresh, so an address has generations: after the n-th erasure it gives the id of
generation n (``shared.identity.lead_id_for``), which no old event carries.

Races are closed by transaction-scoped advisory locks on the lead's stripe of ids: whoever
keeps data about a lead holds its lock shared until commit; erasing holds it exclusive. An erasure therefore
waits for writes already under way (and erases what they wrote), and a write that starts
after it sees the register.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.tables import erased_ids, erasure_progress, erasures
from shared.db.advisory import advisory_key
from shared.db.bulk import any_named, any_of
from shared.db.idempotency import claiming
from shared.events.codec import Event
from shared.identity import lead_id_for

ERASING_SERVICES = ("intake", "scoring", "routing", "feedback")
"""Each erases its own schema; an erasure is finished when all four have."""


LOCK_STRIPES = 16
"""Locks are per stripe of ids, not per id: a batch of 500 leads then holds at most 16 shared
locks, not 500 (PostgreSQL's lock table is shared and bounded), and an erasure, which is rare
and quick, holds back only the sixteenth of the traffic whose ids share its stripe."""


def lead_lock(lead_id: uuid.UUID) -> int:
    return advisory_key(f"lead-stripe:{lead_id.int % LOCK_STRIPES}")


def person_lock(person: uuid.UUID) -> int:
    return advisory_key(f"person-stripe:{person.int % LOCK_STRIPES}")


_SHARED = text("SELECT count(pg_advisory_xact_lock_shared(k)) FROM unnest(:keys) AS k").bindparams(
    bindparam("keys", type_=ARRAY(BIGINT)))
_EXCLUSIVE = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS k").bindparams(
    bindparam("keys", type_=ARRAY(BIGINT)))


async def hold(session: AsyncSession, keys: Iterable[int], *, exclusive: bool = False) -> None:
    """Take the locks until the transaction ends, in one order everywhere (no deadlock cycles)."""
    ordered = sorted(set(keys))
    if ordered:
        await session.execute(_EXCLUSIVE if exclusive else _SHARED, {"keys": ordered})


async def erased_among(session: AsyncSession, lead_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    wanted = list(set(lead_ids))
    if not wanted:
        return set()
    return set((await session.execute(_ERASED_AMONG, {"lead_ids": wanted})).scalars())


_ERASED_AMONG = select(erased_ids.c.lead_id).where(any_named(erased_ids.c.lead_id, "lead_ids"))
_GENERATIONS = (select(erasures.c.person, func.count()).where(any_named(erasures.c.person, "people"))
                .group_by(erasures.c.person))
"""Built once: intake asks both on every request (``shared.db.bulk``)."""


async def claim_alive(session: AsyncSession, processed: Table, consumer: str,
                      events: Sequence[Event]) -> tuple[list[Event], int]:
    """The events ``consumer`` has not processed before and not about an erased lead, and how
    many new ones were about one; their ids claimed, their leads' locks held shared until
    commit. Two statements: the locks, then the claim and the register read together (a
    statement's snapshot is taken when it starts, so the read must follow the wait for the
    locks, never share its statement)."""
    unique = list(dict.fromkeys(event.envelope.event_id for event in events))
    if not unique:
        return [], 0
    ids = {event.envelope.lead_id for event in events}
    await hold(session, (lead_lock(i) for i in ids))
    claimed = claiming(processed, consumer, unique).cte("claimed")
    row = (await session.execute(select(
        select(func.array_agg(claimed.c.event_id)).scalar_subquery(),
        select(func.array_agg(erased_ids.c.lead_id)).where(any_of(erased_ids.c.lead_id, ids)).scalar_subquery(),
    ))).one()
    fresh, gone = set(row[0] or ()), set(row[1] or ())
    kept, dropped = [], 0
    for event in events:
        if event.envelope.event_id in fresh:
            fresh.discard(event.envelope.event_id)  # a second copy in the same batch is not new
            if event.envelope.lead_id in gone:
                dropped += 1
            else:
                kept.append(event)
    return kept, dropped


async def generations(session: AsyncSession, people: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many times each person (their generation-0 id) was erased; people never erased left out."""
    wanted = list(set(people))
    if not wanted:
        return {}
    return {person: count for person, count in (await session.execute(_GENERATIONS, {"people": wanted})).all()}


IdOf = Callable[[str, int], uuid.UUID]
"""An address's lead id in a generation: ``lead_id_for`` with this process's rules and key, or,
for a tool holding other ones, with those."""


def _lead_id(email: str, generation: int) -> uuid.UUID:
    return lead_id_for(email, generation=generation)


async def current_lead_ids(session: AsyncSession, emails: Iterable[str],
                           id_of: IdOf = _lead_id) -> dict[str, uuid.UUID]:
    """Each address's lead id now, with the person's lock held shared until commit, so an
    erasure cannot slip between this answer and the rows written under it.

    The generation is the person's count of erasures; an id of it that is itself erased (an
    erasure asked by lead id, which names no person) moves the person one generation on. A
    person never erased costs two statements, the lock and the count."""
    first = {email: id_of(email, 0) for email in set(emails)}
    await hold(session, (person_lock(p) for p in first.values()))
    counted = await generations(session, first.values())
    now = dict(first)
    generation = {email: counted.get(person, 0) for email, person in first.items()}
    again = {email for email, n in generation.items() if n}  # an id never erased has no erasure row
    for email in again:
        now[email] = id_of(email, generation[email])
    for _ in range(MAX_GENERATIONS):
        gone = await erased_among(session, (now[email] for email in again)) if again else set()
        if not gone:
            return now
        for email in again:
            if now[email] in gone:
                generation[email] += 1
                now[email] = id_of(email, generation[email])
    raise RuntimeError("an address erased more than MAX_GENERATIONS times in a row")


MAX_GENERATIONS = 1000


@dataclass(frozen=True)
class Erasure:
    erasure_id: uuid.UUID
    lead_id: uuid.UUID
    person: uuid.UUID
    generation: int
    requested_at: datetime
    requested_by: str


def _erasure(row: Any) -> Erasure:
    return Erasure(row.erasure_id, row.lead_id, row.person, row.generation, row.requested_at, row.requested_by)


async def erasure_of(session: AsyncSession, lead_id: uuid.UUID) -> Erasure | None:
    row = (await session.execute(select(erasures).where(erasures.c.lead_id == lead_id))).one_or_none()
    return _erasure(row) if row is not None else None


async def erasure_by_id(session: AsyncSession, erasure_id: uuid.UUID) -> Erasure | None:
    row = (await session.execute(select(erasures).where(erasures.c.erasure_id == erasure_id))).one_or_none()
    return _erasure(row) if row is not None else None


async def latest_erasure_of(session: AsyncSession, person: uuid.UUID) -> Erasure | None:
    row = (await session.execute(select(erasures).where(erasures.c.person == person)
                                 .order_by(erasures.c.generation.desc()).limit(1))).one_or_none()
    return _erasure(row) if row is not None else None


async def register_erasure(session: AsyncSession, *, lead_id: uuid.UUID, person: uuid.UUID, generation: int,
                           requested_by: str) -> Erasure:
    """Records it and makes the id dead at once (in the caller's transaction, which holds the
    person's and the lead's locks exclusive)."""
    erasure_id = uuid.uuid4()
    row = (await session.execute(erasures.insert().values(
        erasure_id=erasure_id, lead_id=lead_id, person=person, generation=generation, requested_by=requested_by,
    ).returning(*erasures.c))).one()
    await session.execute(insert(erased_ids).values(lead_id=lead_id, erasure_id=erasure_id)
                          .on_conflict_do_nothing(index_elements=["lead_id"]))
    return _erasure(row)


async def record_progress(session: AsyncSession, erasure_id: uuid.UUID, service: str,
                          anonymous_id: uuid.UUID, rows: dict[str, int]) -> None:
    """This service has erased its part; the anonymous id its rows moved to becomes dead too.
    A second delivery of the erasure changes nothing (the first record stays)."""
    await session.execute(insert(erased_ids).values(lead_id=anonymous_id, erasure_id=erasure_id, service=service)
                          .on_conflict_do_nothing(index_elements=["lead_id"]))
    await session.execute(insert(erasure_progress).values(erasure_id=erasure_id, service=service, rows=rows)
                          .on_conflict_do_nothing(index_elements=["erasure_id", "service"]))


async def progress_of(session: AsyncSession, erasure_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """service -> when it finished and what it erased (counts); services still at it are absent."""
    rows = await session.execute(select(erasure_progress).where(erasure_progress.c.erasure_id == erasure_id))
    return {row.service: {"finished_at": row.finished_at, "rows": row.rows} for row in rows.all()}
