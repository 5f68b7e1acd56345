"""POST leads and activities: 202 only once the event is committed to the outbox."""

from __future__ import annotations

import logging
import hashlib
import uuid

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.intake.api.auth import authenticated_source
from services.intake.api.models import Accepted, ActivityIn, LeadIn
from services.intake.domain.normalise import (
    clean_text,
    email_domain,
    normalise_domain,
    normalise_phone,
    normalise_utm,
)
from services.intake.tables import submissions
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, lead_id_for, utcnow
from shared.events.payloads import ActivityRecorded, LeadCaptured, Payload
from shared.observability.correlation import current_correlation_id
from shared.observability.metrics import LEADS_CAPTURED
from shared.service.app import runtime_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["intake"])

IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200,
                        description="retries with the same key make no second submission")


def lead_payload(body: LeadIn, submission_id: uuid.UUID, source: str) -> LeadCaptured:
    return LeadCaptured(
        submission_id=submission_id,
        source=source,
        email=body.email,
        first_name=clean_text(body.first_name),
        last_name=clean_text(body.last_name),
        company=clean_text(body.company),
        company_domain=normalise_domain(body.company_domain) or email_domain(body.email),
        job_title=clean_text(body.job_title),
        phone=normalise_phone(body.phone),
        country=body.country.upper() if body.country else None,
        region=clean_text(body.region),
        state=body.state.strip().upper() if body.state and body.state.strip() else None,
        company_size=body.company_size,
        industry=clean_text(body.industry),
        utm=normalise_utm(body.model_dump()),
        attributes=body.attributes,
    )


def activity_payload(body: ActivityIn, submission_id: uuid.UUID, source: str) -> ActivityRecorded:
    return ActivityRecorded(
        submission_id=submission_id,
        source=source,
        email=body.email,
        activity_type=body.activity_type,
        occurred_at=body.occurred_at or utcnow(),
        detail=body.detail,
    )


@router.post("/leads", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def post_lead(body: LeadIn, request: Request, response: Response,
                    source: str = Depends(authenticated_source),
                    idempotency_key: str | None = IdempotencyKey) -> Accepted:
    return await _accept(request, response, "lead", "lead.captured", body, source,
                         idempotency_key, lead_payload)


@router.post("/activities", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def post_activity(body: ActivityIn, request: Request, response: Response,
                        source: str = Depends(authenticated_source),
                        idempotency_key: str | None = IdempotencyKey) -> Accepted:
    return await _accept(request, response, "activity", "lead.activity", body, source,
                         idempotency_key, activity_payload)


async def _accept(request: Request, response: Response, kind: str, event_type: str, body,
                  source: str, idempotency_key: str | None, make_payload) -> Accepted:
    runtime = runtime_of(request)
    request_hash = hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()
    if idempotency_key is not None:
        earlier = await _earlier(runtime, source, idempotency_key, request_hash)
        if earlier is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return earlier

    submission_id = uuid.uuid4()
    payload: Payload = make_payload(body, submission_id, source)
    envelope = Envelope(
        type=event_type,
        lead_id=lead_id_for(body.email),
        correlation_id=current_correlation_id() or str(uuid.uuid4()),
        producer="intake",
        payload=payload.model_dump(mode="json"),
    )
    accepted = Accepted(submission_id=str(submission_id), lead_id=str(envelope.lead_id),
                        correlation_id=envelope.correlation_id)
    try:
        async with unit_of_work(runtime.sessions) as session:
            await session.execute(
                submissions.insert().values(
                    submission_id=submission_id, kind=kind, source=source,
                    idempotency_key=idempotency_key, request_hash=request_hash,
                    lead_id=envelope.lead_id, correlation_id=envelope.correlation_id,
                    response=accepted.model_dump(),
                )
            )
            await runtime.outbox.emit(session, [envelope])
    except IntegrityError:
        # a concurrent retry with the same key won the race: answer as it did
        earlier = await _earlier(runtime, source, idempotency_key, request_hash)
        if earlier is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        return earlier
    runtime.relay.wake()
    if kind == "lead":
        LEADS_CAPTURED.labels(source).inc()  # committed and new: replays returned above
    log.info("%s accepted from %s", kind, source,
             extra={"lead_id": str(envelope.lead_id), "event_id": str(envelope.event_id), "event_type": event_type})
    return accepted


async def _earlier(runtime, source: str, key: str | None, request_hash: str) -> Accepted | None:
    async with runtime.sessions() as session:
        row = (await session.execute(
            select(submissions.c.response, submissions.c.request_hash)
            .where(submissions.c.source == source, submissions.c.idempotency_key == key)
        )).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            detail=[{"field": "header.Idempotency-Key",
                     "reason": "this key was already used with a different body; use a new key"}],
        )
    return Accepted.model_validate(row.response)
