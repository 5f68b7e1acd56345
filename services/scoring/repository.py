"""All of scoring's SQL: each person's profile and score, their submissions, activity and
outcomes, the definition versions, and scoring's outbox."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.calibration import CalibrationLead
from services.scoring.domain.definition import LeadDefinition, parse_definition
from services.scoring.domain.qualification import Qualification
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead
from services.scoring.tables import activities, definitions, lead_outcomes, leads, metadata, submissions
from shared.db.repository import Repository
from shared.db.versioned_store import VersionedStore

DefinitionStore = VersionedStore[LeadDefinition]
DEFINITIONS_LOCK = 0x5C0_12E


def definition_store(sessions: async_sessionmaker[AsyncSession], seed: LeadDefinition) -> DefinitionStore:
    """Which lead definition is in force: versions in scoring.definitions, the active one cached."""
    return VersionedStore(sessions, definitions, seed=seed, parse=parse_definition, lock_key=DEFINITIONS_LOCK)


@dataclass(frozen=True)
class LeadRow:
    """A lead as scoring stores it (locked while it is re-scored)."""

    lead_id: uuid.UUID
    email: str
    source: str | None
    campaign: str | None
    profile: dict[str, Any]
    cycle: int
    score: int
    stage: str
    definition_version: str | None
    mql_cycle: int | None
    engagement_since: datetime | None
    correlation_id: str | None



def _lead(row: Row[Any]) -> LeadRow:
    return LeadRow(lead_id=row.lead_id, email=row.email, source=row.source, campaign=row.campaign,
                   profile=row.profile, cycle=row.cycle, score=row.score, stage=row.stage,
                   definition_version=row.definition_version, mql_cycle=row.mql_cycle,
                   engagement_since=row.engagement_since, correlation_id=row.correlation_id)


@dataclass(frozen=True)
class ScoreView:
    lead_id: uuid.UUID
    email: str
    cycle: int
    fit_score: int
    engagement_score: int
    score: int
    qualified: bool
    stage: str
    grade: str | None
    rules_fired: list[dict[str, Any]]
    definition_version: str | None
    rescored_at: datetime | None


@dataclass(frozen=True)
class SubmissionView:
    source: str
    submitted_at: datetime
    fields: dict[str, Any]


class ScoringRepository(Repository):
    metadata = metadata

    # -- the lead's row -------------------------------------------------------------------

    async def lock_lead(self, lead_id: uuid.UUID) -> LeadRow | None:
        row = (await self.session.execute(select(leads).where(leads.c.lead_id == lead_id).with_for_update())).first()
        return None if row is None else _lead(row)

    async def add_lead(self, *, lead_id: uuid.UUID, email: str, source: str, campaign: str | None,
                       profile: dict[str, Any], correlation_id: str) -> None:
        await self.session.execute(insert(leads).values(
            lead_id=lead_id, email=email, source=source, campaign=campaign, profile=profile,
            correlation_id=correlation_id))

    async def update_profile(self, lead_id: uuid.UUID, *, profile: dict[str, Any], campaign: str | None,
                             correlation_id: str) -> None:
        await self.session.execute(leads.update().where(leads.c.lead_id == lead_id).values(
            profile=profile, campaign=campaign, correlation_id=correlation_id))

    async def save_score(self, lead: LeadRow, q: Qualification, *, definition_version: str, newly_qualified: bool,
                         rules_fired: list[dict[str, Any]], now: datetime) -> None:
        await self.session.execute(leads.update().where(leads.c.lead_id == lead.lead_id).values(
            fit_score=q.score.fit, engagement_score=q.score.engagement, score=q.score.total,
            qualified=q.qualified, stage=q.stage, grade=q.score.grade, rules_fired=rules_fired,
            definition_version=definition_version,
            mql_cycle=lead.cycle if newly_qualified else lead.mql_cycle, rescored_at=now, updated_at=now,
        ))

    async def recycle(self, lead_id: uuid.UUID, *, from_cycle: int, at: datetime) -> None:
        """A new cycle; interest shown before the recycle no longer counts."""
        await self.session.execute(
            leads.update().where(leads.c.lead_id == lead_id, leads.c.cycle <= from_cycle)
            .values(cycle=from_cycle + 1, qualified=False, stage="below", engagement_since=at))

    async def due_for_rescore(self, definition_version: str, engaged_before: datetime, limit: int) -> list[LeadRow]:
        """Leads scored under another definition, or engaged and not re-scored since ``engaged_before``;
        locked, and skipped when another sweep holds them."""
        rows = (await self.session.execute(
            select(leads)
            .where(or_(
                leads.c.definition_version.is_distinct_from(definition_version),
                (leads.c.engagement_score != 0) & (leads.c.rescored_at < engaged_before),
            ))
            .order_by(leads.c.rescored_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all()
        return [_lead(r) for r in rows]

    # -- what happened ----------------------------------------------------------------------

    async def add_submission(self, *, event_id: uuid.UUID, lead_id: uuid.UUID, source: str, submitted_at: datetime,
                             fields: dict[str, Any]) -> None:
        await self.session.execute(insert(submissions).values(
            event_id=event_id, lead_id=lead_id, source=source, submitted_at=submitted_at, fields=fields,
        ).on_conflict_do_nothing())

    async def add_activity(self, *, event_id: uuid.UUID, lead_id: uuid.UUID, activity_type: str,
                           occurred_at: datetime) -> None:
        await self.session.execute(insert(activities).values(
            event_id=event_id, lead_id=lead_id, activity_type=activity_type, occurred_at=occurred_at,
        ).on_conflict_do_nothing())

    async def activities_since(self, lead_id: uuid.UUID, since: datetime | None) -> list[Activity]:
        query = select(activities.c.activity_type, activities.c.occurred_at).where(activities.c.lead_id == lead_id)
        if since is not None:
            query = query.where(activities.c.occurred_at >= since)
        return [Activity(r.activity_type, r.occurred_at) for r in (await self.session.execute(query)).all()]

    async def add_outcome(self, *, event_id: uuid.UUID, lead_id: uuid.UUID, cycle: int, outcome: str,
                          recorded_at: datetime) -> None:
        await self.session.execute(insert(lead_outcomes).values(
            event_id=event_id, lead_id=lead_id, cycle=cycle, outcome=outcome, recorded_at=recorded_at,
        ).on_conflict_do_nothing())

    # -- reads for the API --------------------------------------------------------------------

    async def score_of(self, lead_id: uuid.UUID) -> ScoreView | None:
        row = (await self.session.execute(select(leads).where(leads.c.lead_id == lead_id))).first()
        if row is None:
            return None
        return ScoreView(lead_id=row.lead_id, email=row.email, cycle=row.cycle, fit_score=row.fit_score,
                         engagement_score=row.engagement_score, score=row.score, qualified=row.qualified,
                         stage=row.stage, grade=row.grade, rules_fired=row.rules_fired,
                         definition_version=row.definition_version, rescored_at=row.rescored_at)

    async def profile_of(self, lead_id: uuid.UUID) -> tuple[str, dict[str, Any], list[SubmissionView]] | None:
        """The merged profile and every submission it was merged from, oldest first."""
        row = (await self.session.execute(
            select(leads.c.email, leads.c.profile).where(leads.c.lead_id == lead_id))).first()
        if row is None:
            return None
        history = (await self.session.execute(
            select(submissions).where(submissions.c.lead_id == lead_id).order_by(submissions.c.submitted_at)
        )).all()
        return row.email, row.profile, [SubmissionView(h.source, h.submitted_at, h.fields) for h in history]

    async def simulation_leads(self) -> list[StoredLead]:
        """Every stored lead with the activity of its current cycle, as the simulation reads it."""
        rows = (await self.session.execute(select(leads))).all()
        counted = (await self.session.execute(
            select(activities.c.lead_id, activities.c.activity_type, activities.c.occurred_at)
            .join(leads, leads.c.lead_id == activities.c.lead_id)
            .where(or_(leads.c.engagement_since.is_(None), activities.c.occurred_at >= leads.c.engagement_since))
        )).all()
        by_lead: dict[uuid.UUID, list[Activity]] = defaultdict(list)
        for a in counted:
            by_lead[a.lead_id].append(Activity(a.activity_type, a.occurred_at))
        return [StoredLead(lead_id=str(r.lead_id), email=r.email, source=r.source, campaign=r.campaign,
                           profile=r.profile, activities=tuple(by_lead.get(r.lead_id, ())), cycle=r.cycle)
                for r in rows]

    async def calibration_leads(self) -> list[CalibrationLead]:
        """Leads with at least one outcome: the rules that fired for them and every outcome of any cycle."""
        outcome_rows = (await self.session.execute(select(lead_outcomes.c.lead_id, lead_outcomes.c.outcome))).all()
        outcomes: dict[uuid.UUID, set[str]] = defaultdict(set)
        for r in outcome_rows:
            outcomes[r.lead_id].add(r.outcome)
        if not outcomes:
            return []
        rows = (await self.session.execute(
            select(leads.c.lead_id, leads.c.rules_fired).where(leads.c.lead_id.in_(list(outcomes)))
        )).all()
        return [CalibrationLead(lead_id=str(r.lead_id), rules_fired=frozenset(h["rule"] for h in r.rules_fired),
                                outcomes=frozenset(outcomes[r.lead_id])) for r in rows]
