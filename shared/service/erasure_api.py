"""``POST /privacy/erasures`` (on intake, where addresses become lead ids): forget a person, for
the ``privacy`` role (GDPR article 17, CCPA's right to delete); ``GET /privacy/erasures/{id}``
says how far every service is. ``./handoff privacy erase`` asks and waits.

One transaction records the erasure in the register (ids only), which makes the lead id dead
for every consumer at once, and puts ``lead.erased`` in the outbox; each service's eraser
(``shared.service.erasure``) then anonymises its own rows and reports back. Asking again for a
person already erased, with nothing new since, answers the first erasure (200), not a second.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.erasures import (
    ERASING_SERVICES,
    LOCK_STRIPES,
    Erasure,
    current_lead_ids,
    erasure_by_id,
    erasure_of,
    hold,
    latest_erasure_of,
    person_lock,
    progress_of,
    register_erasure,
)
from shared.access.roles import Role
from shared.access.store import Caller
from shared.db.metadata import outbox_table
from shared.errors import InvalidInput, NotFound
from shared.events.envelope import Envelope
from shared.events.payloads import LeadErased
from shared.identity import InvalidEmail, lead_id_for
from shared.observability.correlation import current_correlation_id
from shared.outbox.writer import Outbox
from shared.service.access import guarded_router, record_audit, requires
from shared.service.dependencies import Reading, Transaction
from shared.service.errors import error_responses
from shared.service.privacy_api import PersonIn


class ServiceProgress(BaseModel):
    finished_at: datetime
    rows: dict[str, int] = Field(description="table -> rows anonymised or deleted (counts, never values)")


class ErasureView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "erasure_id": "0b6a3c52-1f0e-4a55-9a53-2a3f4d1c9e10", "lead_id": "8a1f3c2e-5b7d-8e2f-9a1b-3c4d5e6f7a8b",
        "status": "erasing", "requested_at": "2026-12-03T10:00:00Z", "requested_by": "dpo",
        "finished": {"intake": {"finished_at": "2026-12-03T10:00:01Z", "rows": {"submissions": 2}}},
        "waiting_for": ["scoring", "routing", "feedback"]}]})

    erasure_id: uuid.UUID
    lead_id: uuid.UUID = Field(description="the id erased: no event about it is acted on any more")
    status: Literal["erasing", "erased"] = Field(description="erased: every service has erased its part")
    requested_at: datetime
    requested_by: str
    finished: dict[str, ServiceProgress] = Field(description="the services done, with what each erased")
    waiting_for: list[str] = Field(description="the services still to erase their part")


async def _view(session: AsyncSession, erasure: Erasure) -> ErasureView:
    progress = await progress_of(session, erasure.erasure_id)
    waiting = [s for s in ERASING_SERVICES if s not in progress]
    return ErasureView(erasure_id=erasure.erasure_id, lead_id=erasure.lead_id,
                       status="erasing" if waiting else "erased", requested_at=erasure.requested_at,
                       requested_by=erasure.requested_by,
                       finished={s: ServiceProgress(**p) for s, p in progress.items()}, waiting_for=waiting)


async def _erase(session: AsyncSession, person: PersonIn, caller: Caller, held_by: MetaData) -> tuple[Erasure, bool]:
    """(the erasure, whether it is new)."""
    if person.lead_id is not None:
        lead_id, root, generation = person.lead_id, person.lead_id, 0
        # an id names no person, so every person's stripe: no capture runs meanwhile (for milliseconds)
        await hold(session, [person_lock(uuid.UUID(int=stripe)) for stripe in range(LOCK_STRIPES)], exclusive=True)
        if (earlier := await erasure_of(session, lead_id)) is not None:
            return earlier, False
    else:
        try:
            root = lead_id_for(person.email or "")
        except InvalidEmail as exc:
            raise InvalidInput([("email", str(exc))]) from None
        await hold(session, [person_lock(root)], exclusive=True)  # no capture of them meanwhile
        lead_id = (await current_lead_ids(session, [person.email or ""]))[person.email or ""]
        latest = await latest_erasure_of(session, root)
        generation = 0 if latest is None else latest.generation + 1
        if latest is not None and not await _known(session, held_by, lead_id):
            return latest, False  # erased already, and nothing came since
    erasure = await register_erasure(session, lead_id=lead_id, person=root, generation=generation,
                                     requested_by=caller.name)
    event = Envelope.start(LeadErased(erasure_id=erasure.erasure_id, requested_at=erasure.requested_at),
                           lead_id=lead_id, correlation_id=current_correlation_id() or str(erasure.erasure_id),
                           producer="intake")
    await Outbox(outbox_table(held_by)).emit(session, [event])
    return erasure, True


async def _known(session: AsyncSession, metadata: MetaData, lead_id: uuid.UUID) -> bool:
    """Whether this service holds anything under the lead id (a new submission since the erasure)."""
    for table in metadata.sorted_tables:
        if "lead_id" in table.c and (await session.execute(
                select(table.c.lead_id).where(table.c.lead_id == lead_id).limit(1))).first() is not None:
            return True
    return False


def erasure_router(metadata: MetaData) -> APIRouter:
    """The erasure routes over ``metadata``, the schema whose outbox carries the erasure event."""
    router = guarded_router(tags=["privacy"])

    @router.post("/privacy/erasures", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureView,
                 responses={200: {"model": ErasureView, "description": "erased already; the first erasure"},
                            **error_responses(400, 401, 403, 413, 422, 503)},
                 summary="Forget a person in every service (privacy role)")
    async def erase(person: PersonIn, session: Transaction, request: Request, response: Response,
                    caller: Annotated[Caller, requires(Role.privacy)]) -> ErasureView:
        """202: recorded; the person's lead id is dead from now on and each service erases its
        part when the event reaches it (``GET /privacy/erasures/{erasure_id}`` follows it)."""
        erasure, new = await _erase(session, person, caller, metadata)
        if not new:
            response.status_code = status.HTTP_200_OK
        record_audit(request, request_body={"lead_id": str(erasure.lead_id)},
                     after={"erasure_id": str(erasure.erasure_id), "new": new})
        return await _view(session, erasure)

    @router.get("/privacy/erasures/{erasure_id}", response_model=ErasureView, dependencies=[requires(Role.privacy)],
                responses=error_responses(401, 403, 404, 422, 503),
                summary="How far an erasure is, service by service (privacy role)")
    async def erasure(erasure_id: uuid.UUID, session: Reading) -> ErasureView:
        found = await erasure_by_id(session, erasure_id)
        if found is None:
            raise NotFound(f"no erasure {erasure_id}")
        return await _view(session, found)

    return router

