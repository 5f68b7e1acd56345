"""All of scoring's SQL: each person's profile and score, their submissions, activity and
outcomes, the definition versions, and scoring's outbox."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import Executable, Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.calibration import CalibrationLead
from services.scoring.domain.definition import LeadDefinition, parse_definition
from services.scoring.domain.qualification import Judgement
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead
from services.scoring.tables import activities, definitions, lead_outcomes, leads, metadata, submissions
from shared.db.bulk import any_of, execute_together, insert_rows
from shared.db.repository import Repository
from shared.db.versioned_store import VersionedStore

DefinitionStore = VersionedStore[LeadDefinition]
DEFINITIONS_LOCK = 0x5C0_12E


def definition_store(sessions: async_sessionmaker[AsyncSession], seed: LeadDefinition,
                     seed_origin: str = "the definition file") -> DefinitionStore:
    """Which lead definition is in force: versions in scoring.definitions, the active one cached."""
    return VersionedStore(sessions, definitions, seed=seed, parse=parse_definition, lock_key=DEFINITIONS_LOCK,
                          seed_origin=seed_origin, api="/definitions")


@dataclass(frozen=True)
class LeadRow:
    """A lead as scoring stores it, every column: handlers change it in memory and write the
    batch's leads back in one statement (``save_leads``)."""

    lead_id: uuid.UUID
    email: str
    source: str | None
    campaign: str | None
    profile: dict[str, Any]
    correlation_id: str | None
    cycle: int = 1
    fit_score: int = 0
    engagement_score: int = 0
    score: int = 0
    qualified: bool = False
    stage: str = "below"
    grade: str | None = None
    rules_fired: list[dict[str, Any]] = field(default_factory=list)
    definition_version: str | None = None
    mql_cycle: int | None = None
    engagement_since: datetime | None = None
    rescored_at: datetime | None = None
    judgement: dict[str, Any] | None = None  # ``domain.qualification.Judgement``, as stored
    nurture_until: date | None = None  # a recycle's retry_after: qualification waits until that day


LEAD_COLUMNS = tuple(f.name for f in fields(LeadRow))


def _lead(row: Row[Any]) -> LeadRow:
    return LeadRow(**{name: getattr(row, name) for name in LEAD_COLUMNS})


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
    profile: dict[str, Any]
    judgement: dict[str, Any] | None
    nurture_until: date | None = None


@dataclass(frozen=True)
class SubmissionView:
    source: str
    submitted_at: datetime
    fields: dict[str, Any]


class ScoringRepository(Repository):
    metadata = metadata

    # -- the leads' rows: read and locked once per batch, written back once ---------------

    async def lock_leads(self, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LeadRow]:
        """The stored ones among ``lead_ids``, locked in key order (two batches never deadlock)."""
        if not lead_ids:
            return {}
        rows = (await self.session.execute(
            select(leads).where(any_of(leads.c.lead_id, lead_ids)).order_by(leads.c.lead_id).with_for_update()
        )).all()
        return {r.lead_id: _lead(r) for r in rows}

    async def save_leads(self, rows: Sequence[LeadRow], now: datetime) -> None:
        """Insert the new and update the known in one statement."""
        if rows:
            await self.session.execute(self._saving(rows, now))

    def _saving(self, rows: Sequence[LeadRow], now: datetime) -> Executable:
        stmt = insert_rows(leads, [{**{name: getattr(lead, name) for name in LEAD_COLUMNS}, "updated_at": now}
                                   for lead in rows])
        return stmt.on_conflict_do_update(
            index_elements=[leads.c.lead_id],
            set_={name: stmt.excluded[name] for name in (*LEAD_COLUMNS[1:], "updated_at")})

    async def due_for_rescore(self, definition_version: str, engaged_before: datetime, limit: int,
                              today: date | None = None) -> list[LeadRow]:
        """Leads scored under another definition, engaged and not re-scored since ``engaged_before``,
        or whose retry_after has come (``today``); locked, and skipped when another sweep holds them."""
        rows = (await self.session.execute(
            select(leads)
            .where(or_(
                leads.c.definition_version.is_distinct_from(definition_version),
                (leads.c.engagement_score != 0) & (leads.c.rescored_at < engaged_before),
                leads.c.nurture_until <= (today or engaged_before.date()),
            ))
            .order_by(leads.c.rescored_at.nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all()
        return [_lead(r) for r in rows]

    # -- what happened ----------------------------------------------------------------------

    async def record(self, *, new_submissions: Sequence[Mapping[str, Any]],
                     new_activities: Sequence[Mapping[str, Any]], new_outcomes: Sequence[Mapping[str, Any]],
                     changed_leads: Sequence[LeadRow], now: datetime) -> None:
        """A batch's history and its leads' rows, in one statement (four tables, one round trip).
        Submissions: event_id, lead_id, source, submitted_at, fields; activities: event_id,
        lead_id, activity_type, occurred_at; outcomes: event_id, lead_id, cycle, outcome,
        recorded_at. History rows are keyed by event id: a redelivery adds nothing."""
        history = [insert_rows(table, rows).on_conflict_do_nothing()
                   for table, rows in ((submissions, new_submissions), (activities, new_activities),
                                       (lead_outcomes, new_outcomes)) if rows]
        await execute_together(self.session, [*history, *([self._saving(changed_leads, now)] if changed_leads else [])])

    async def activities_of(self, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Activity]]:
        """Every recorded activity of these leads (the caller keeps those of the current cycle)."""
        found: dict[uuid.UUID, list[Activity]] = defaultdict(list)
        if not lead_ids:
            return found
        rows = (await self.session.execute(
            select(activities.c.lead_id, activities.c.activity_type, activities.c.occurred_at)
            .where(any_of(activities.c.lead_id, lead_ids))
        )).all()
        for r in rows:
            found[r.lead_id].append(Activity(r.activity_type, r.occurred_at))
        return found

    # -- reads for the API --------------------------------------------------------------------

    async def score_of(self, lead_id: uuid.UUID) -> ScoreView | None:
        row = (await self.session.execute(select(leads).where(leads.c.lead_id == lead_id))).first()
        if row is None:
            return None
        return ScoreView(lead_id=row.lead_id, email=row.email, cycle=row.cycle, fit_score=row.fit_score,
                         engagement_score=row.engagement_score, score=row.score, qualified=row.qualified,
                         stage=row.stage, grade=row.grade, rules_fired=row.rules_fired,
                         definition_version=row.definition_version, rescored_at=row.rescored_at,
                         profile=row.profile, judgement=row.judgement, nurture_until=row.nurture_until)

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

    async def lead_count(self) -> int:
        return (await self.session.execute(select(func.count()).select_from(leads))).scalar_one()

    async def scored_under(self, version: str) -> tuple[int, int]:
        """(leads, leads scored under ``version``): how far a re-scoring sweep has come."""
        row = (await self.session.execute(select(
            func.count(), func.count().filter(leads.c.definition_version == version)).select_from(leads))).one()
        return int(row[0]), int(row[1])

    async def simulation_leads(self, *, after: uuid.UUID | None = None, limit: int | None = None
                               ) -> list[StoredLead]:
        """Stored leads by id (those after ``after``, at most ``limit``), each with the activity of
        its current cycle, as the simulation reads them: a page at a time keeps any history in
        bounded memory."""
        page = select(leads).order_by(leads.c.lead_id)
        if after is not None:
            page = page.where(leads.c.lead_id > after)
        if limit is not None:
            page = page.limit(limit)
        rows = (await self.session.execute(page)).all()
        if not rows:
            return []
        counted = (await self.session.execute(
            select(activities.c.lead_id, activities.c.activity_type, activities.c.occurred_at)
            .join(leads, leads.c.lead_id == activities.c.lead_id)
            .where(any_of(activities.c.lead_id, [r.lead_id for r in rows]),
                   or_(leads.c.engagement_since.is_(None), activities.c.occurred_at >= leads.c.engagement_since))
        )).all()
        by_lead: dict[uuid.UUID, list[Activity]] = defaultdict(list)
        for a in counted:
            by_lead[a.lead_id].append(Activity(a.activity_type, a.occurred_at))
        return [StoredLead(lead_id=str(r.lead_id), email=r.email, source=r.source, campaign=r.campaign,
                           profile=r.profile, activities=tuple(by_lead.get(r.lead_id, ())), cycle=r.cycle,
                           judgement=Judgement.from_dict(r.judgement), nurture_until=r.nurture_until)
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
            select(leads.c.lead_id, leads.c.rules_fired, leads.c.grade).where(any_of(leads.c.lead_id, outcomes))
        )).all()
        return [CalibrationLead(lead_id=str(r.lead_id), rules_fired=frozenset(h["rule"] for h in r.rules_fired),
                                outcomes=frozenset(outcomes[r.lead_id]), grade=r.grade) for r in rows]
