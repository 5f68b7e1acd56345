"""Feedback's consumer: every event about a lead lands on its timeline and moves its stage."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.tables import lead_stages, timeline
from shared.events.codec import Event
from shared.events.payloads import LeadCaptured, LeadNurtured, LeadRouted

STAGES_BEFORE_ROUTING = ("captured", "nurture", "recycled")


async def record_events(session: AsyncSession, events: Sequence[Event]) -> None:
    await session.execute(
        insert(timeline).on_conflict_do_nothing(index_elements=["event_id"]),
        [
            {
                "event_id": e.envelope.event_id,
                "lead_id": e.envelope.lead_id,
                "type": e.envelope.type,
                "occurred_at": e.envelope.occurred_at,
                "producer": e.envelope.producer,
                "correlation_id": e.envelope.correlation_id,
                "causation_id": e.envelope.causation_id,
                "payload": e.envelope.payload,
            }
            for e in events
        ],
    )
    for event in events:
        await _move_stage(session, event)


async def _move_stage(session: AsyncSession, event: Event) -> None:
    env, payload = event.envelope, event.payload
    if isinstance(payload, LeadCaptured):
        await session.execute(
            insert(lead_stages)
            .values(lead_id=env.lead_id, email=payload.email, stage="captured",
                    correlation_id=env.correlation_id)
            .on_conflict_do_nothing()
        )
    elif isinstance(payload, LeadRouted):
        stmt = insert(lead_stages).values(
            lead_id=env.lead_id, email=payload.email, cycle=payload.cycle, stage="routed",
            owner_id=payload.owner_id, correlation_id=env.correlation_id,
        )
        current = lead_stages.c
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["lead_id"],
            set_={"cycle": payload.cycle, "stage": "routed", "owner_id": payload.owner_id,
                  "updated_at": env.occurred_at},
            where=or_(current.cycle < payload.cycle,
                      (current.cycle == payload.cycle) & current.stage.in_(STAGES_BEFORE_ROUTING)),
        ))
    elif isinstance(payload, LeadNurtured) and env.producer == "routing":
        await session.execute(
            insert(lead_stages)
            .values(lead_id=env.lead_id, email=payload.email, cycle=payload.cycle, stage="nurture",
                    correlation_id=env.correlation_id)
            .on_conflict_do_update(
                index_elements=["lead_id"],
                set_={"stage": "nurture", "updated_at": env.occurred_at},
                where=(lead_stages.c.cycle == payload.cycle) & (lead_stages.c.stage == "captured"),
            )
        )
