"""Accept a lead or an activity: the submission and its event commit together (the outbox),
so a 202 means the event will reach Kafka. A retry with the same Idempotency-Key gets the
first answer; the same key with another body is refused."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.submission import Kind, activity_recorded, lead_captured, request_hash
from services.intake.repository import SubmissionRepository
from shared.errors import InvalidInput
from shared.events.envelope import Envelope
from shared.events.payloads import Payload
from shared.identity import lead_id_for
from shared.observability.metrics import LEADS_CAPTURED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    kind: Kind
    source: str
    idempotency_key: str | None
    fields: dict[str, Any]  # validated; the email normalised
    fingerprint: str  # request_hash of the fields as JSON

    @classmethod
    def of(cls, kind: Kind, source: str, idempotency_key: str | None, fields: dict[str, Any],
           json_fields: dict[str, Any]) -> Submission:
        return cls(kind, source, idempotency_key, fields, request_hash(json_fields))


@dataclass(frozen=True)
class Accepted:
    submission_id: uuid.UUID
    lead_id: uuid.UUID
    correlation_id: str
    replayed: bool = False


async def accept_submission(submission: Submission, *, repository: SubmissionRepository, correlation_id: str,
                            now: datetime) -> Accepted:
    if submission.idempotency_key is not None:
        earlier = await _earlier(repository, submission)
        if earlier is not None:
            return earlier
    submission_id = uuid.uuid4()
    payload: Payload
    if submission.kind == "lead":
        payload = lead_captured(submission.fields, submission_id=submission_id, source=submission.source)
    else:
        payload = activity_recorded(submission.fields, submission_id=submission_id, source=submission.source,
                                    now=now)
    lead_id = lead_id_for(submission.fields["email"])
    envelope = Envelope.start(payload, lead_id=lead_id, correlation_id=correlation_id, producer="intake")
    accepted = Accepted(submission_id, lead_id, correlation_id)
    added = await repository.add(
        submission_id=submission_id, kind=submission.kind, source=submission.source,
        idempotency_key=submission.idempotency_key, request_hash=submission.fingerprint, lead_id=lead_id,
        correlation_id=correlation_id,
        response={"submission_id": str(submission_id), "lead_id": str(lead_id), "correlation_id": correlation_id},
    )
    if not added:  # a concurrent retry with the same key committed first: answer as it did
        earlier = await _earlier(repository, submission)
        if earlier is None:  # pragma: no cover - the conflicting row is committed when we get here
            raise RuntimeError("idempotency key conflict without an earlier submission")
        return earlier
    await repository.emit([envelope])
    if submission.kind == "lead":
        source = submission.source
        repository.after_commit(lambda: LEADS_CAPTURED.labels(source).inc())  # new and committed: no replays
    log.info("%s accepted from %s", submission.kind, submission.source,
             extra={"lead_id": str(lead_id), "event_id": str(envelope.event_id), "event_type": envelope.type})
    return accepted


async def _earlier(repository: SubmissionRepository, submission: Submission) -> Accepted | None:
    assert submission.idempotency_key is not None
    earlier = await repository.earlier(submission.source, submission.idempotency_key)
    if earlier is None:
        return None
    if earlier.request_hash != submission.fingerprint:
        raise InvalidInput.one("header.Idempotency-Key",
                               "this key was already used with a different body; use a new key")
    answer = earlier.response
    return Accepted(uuid.UUID(answer["submission_id"]), uuid.UUID(answer["lead_id"]), answer["correlation_id"],
                    replayed=True)
