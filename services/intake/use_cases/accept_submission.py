"""Accept leads or activities, one or a batch: each submission and its event commit together
(the outbox), so an accepted item's event will reach Kafka. A retry with the same
Idempotency-Key gets the first answer; the same key with another body is refused.

A batch is the same thing for many items in one transaction and a handful of statements
(one lookup of earlier keys, one insert of the submissions and their outbox rows), whatever its
size: a marketing tool's sync of 1,000 leads costs what a few single posts do.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.submission import Kind, activity_recorded, lead_captured, request_hash
from services.intake.repository import EarlierSubmission, SubmissionRepository
from shared.errors import InvalidInput
from shared.events.envelope import Envelope
from shared.events.payloads import Payload
from shared.kafka.producer import MAX_RECORD_BYTES, record_size
from shared.observability.metrics import LEADS_CAPTURED

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = MAX_RECORD_BYTES // 4
"""What one event may weigh, as the producer measures it: well within what it sends and the
broker takes (MAX_RECORD_BYTES), and small enough that a consumer's dead letter of it still
carries its bytes (shared.kafka.dead_letters), so an accepted event is always deliverable.
The API's own bounds keep real submissions far below (tens of KiB)."""


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


Answer = Accepted | InvalidInput
"""What each item of a batch gets: accepted (committed), or refused with its field problems."""


async def accept_submission(submission: Submission, *, repository: SubmissionRepository, correlation_id: str,
                            now: datetime) -> Accepted:
    """One submission; a refusal is raised (422)."""
    [answer] = await accept_batch([submission], repository=repository, correlation_id=correlation_id, now=now)
    if isinstance(answer, InvalidInput):
        raise answer
    return answer


async def accept_batch(batch: Sequence[Submission], *, repository: SubmissionRepository, correlation_id: str,
                       now: datetime) -> list[Answer]:
    """Every submission of one source, answered in order. Nothing is committed here: the
    caller's transaction commits all accepted items at once, before it answers."""
    sources = {s.source for s in batch}
    if len(sources) > 1:
        raise ValueError("a batch comes from one source")
    source = next(iter(sources), "")
    keys = {s.idempotency_key for s in batch if s.idempotency_key is not None}
    earlier = await repository.earlier_many(source, keys)
    lead_ids = await repository.lead_ids_now({s.fields["email"] for s in batch})

    answers: list[Answer | None] = [None] * len(batch)
    fresh: list[tuple[int, Submission, Envelope, Accepted]] = []
    first_in_batch: dict[str, int] = {}
    for index, submission in enumerate(batch):
        key = submission.idempotency_key
        if key is not None and key in earlier:
            answers[index] = _replay(earlier[key], submission)
            continue
        if key is not None and key in first_in_batch:
            continue  # answered below, once the first item with this key has its answer
        submission_id, envelope = _envelope(submission, lead_id=lead_ids[submission.fields["email"]],
                                            correlation_id=correlation_id, now=now)
        size = record_size(envelope.topic, envelope.key, envelope.to_bytes())
        if size > MAX_EVENT_BYTES:
            answers[index] = InvalidInput.one("body", f"this submission makes an event of {size} bytes; at most "
                                                      f"{MAX_EVENT_BYTES} are accepted (make attributes smaller)")
            continue
        if key is not None:
            first_in_batch[key] = index
        fresh.append((index, submission, envelope, Accepted(submission_id, envelope.lead_id, correlation_id)))

    inserted = await repository.add_with_events([_row(s, e, a) for _, s, e, a in fresh], [e for _, _, e, _ in fresh])
    lost_races = [(i, s) for i, s, _, a in fresh if a.submission_id not in inserted]
    if lost_races:  # a concurrent request with the same key committed first: answer as it did
        taken = await repository.earlier_many(source, {s.idempotency_key for _, s in lost_races
                                                       if s.idempotency_key is not None})
        for index, submission in lost_races:
            assert submission.idempotency_key is not None  # only keyed rows can conflict
            answers[index] = _replay(taken[submission.idempotency_key], submission)
    emitted = [(i, s, e, a) for i, s, e, a in fresh if a.submission_id in inserted]
    for index, _, _, accepted in emitted:
        answers[index] = accepted
    _log_accepted(source, emitted)
    new_leads = sum(s.kind == "lead" for _, s, _, _ in emitted)
    if new_leads:  # new and committed: replays are not counted
        repository.after_commit(lambda: LEADS_CAPTURED.labels(source).inc(new_leads))

    for index, submission in enumerate(batch):  # later items repeating a key within the batch
        if answers[index] is None:
            assert submission.idempotency_key is not None
            first = answers[first_in_batch[submission.idempotency_key]]
            answers[index] = _repeat(first, batch[first_in_batch[submission.idempotency_key]], submission)
    return [answer for answer in answers if answer is not None]


def _log_accepted(source: str, emitted: Sequence[tuple[int, Submission, Envelope, Accepted]]) -> None:
    """One INFO line per request, a batch's included (a line per item cost a batch of 500 as
    much as its SQL); the line per item, with its ids, at DEBUG."""
    if not emitted:
        return
    if len(emitted) == 1:
        _, submission, envelope, accepted = emitted[0]
        log.info("%s accepted from %s", submission.kind, source,
                 extra={"lead_id": str(accepted.lead_id), "event_id": str(envelope.event_id),
                        "event_type": envelope.type})
        return
    kinds = Counter(submission.kind for _, submission, _, _ in emitted)
    log.info("%d submissions accepted from %s", len(emitted), source, extra={"accepted": dict(kinds)})
    if log.isEnabledFor(logging.DEBUG):
        for _, submission, envelope, accepted in emitted:
            log.debug("%s accepted from %s", submission.kind, source,
                      extra={"lead_id": str(accepted.lead_id), "event_id": str(envelope.event_id),
                             "event_type": envelope.type})


def _envelope(submission: Submission, *, lead_id: uuid.UUID, correlation_id: str,
              now: datetime) -> tuple[uuid.UUID, Envelope]:
    submission_id = uuid.uuid4()
    payload: Payload
    if submission.kind == "lead":
        payload = lead_captured(submission.fields, submission_id=submission_id, source=submission.source)
    else:
        payload = activity_recorded(submission.fields, submission_id=submission_id, source=submission.source,
                                    now=now)
    return submission_id, Envelope.start(payload, lead_id=lead_id, correlation_id=correlation_id, producer="intake")


def _row(submission: Submission, envelope: Envelope, accepted: Accepted) -> dict[str, Any]:
    return {"submission_id": accepted.submission_id, "kind": submission.kind, "source": submission.source,
            "idempotency_key": submission.idempotency_key, "request_hash": submission.fingerprint,
            "lead_id": accepted.lead_id, "correlation_id": accepted.correlation_id,
            "response": {"submission_id": str(accepted.submission_id), "lead_id": str(accepted.lead_id),
                         "correlation_id": accepted.correlation_id}}


def _replay(earlier: EarlierSubmission, submission: Submission) -> Answer:
    if earlier.request_hash != submission.fingerprint:
        return _key_reused()
    answer = earlier.response
    return Accepted(uuid.UUID(answer["submission_id"]), uuid.UUID(answer["lead_id"]), answer["correlation_id"],
                    replayed=True)


def _repeat(first: Answer | None, first_submission: Submission, submission: Submission) -> Answer:
    """A key used twice in one batch: the same body is the same submission, another is refused."""
    if first_submission.fingerprint != submission.fingerprint:
        return _key_reused()
    if not isinstance(first, Accepted):
        assert first is not None
        return first
    return Accepted(first.submission_id, first.lead_id, first.correlation_id, replayed=True)


def _key_reused() -> InvalidInput:
    return InvalidInput.one("header.Idempotency-Key", "this key was already used with a different body; use a "
                                                      "new key")
