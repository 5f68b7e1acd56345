"""Scoring's use cases on the real database: a captured lead is stored, scored with the rules
that fired, and one lead.scored (caused by the capture, with the typed profile) leaves through
scoring.outbox; the same person posted again merges into one profile; activity that comes
before the person is kept and counts once they are captured; a recycle opens a new cycle that
qualifies again only on new interest (newly_qualified once per cycle); the re-scoring sweep
applies a newly published definition and speaks only for leads whose score or stage moved,
and the simulation predicts exactly the stage changes the sweep then makes.

Leads follow the worked examples of config/lead_definition.yaml: a VP Sales at a 300-person
US software company is fit 65 (MQL, A4); the same person at a 20-person company is 45 (below);
a demo request adds 40."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.definition import LeadDefinition, load_definition, parse_definition
from services.scoring.repository import ScoringRepository, definition_store
from services.scoring.tables import activities, lead_outcomes, leads, metadata, submissions
from services.scoring.use_cases.definitions import SweepProgress, simulate_definition, sweep_progress
from services.scoring.use_cases.judgement import judge_lead
from services.scoring.use_cases.record_events import record_events
from services.scoring.use_cases.rescore_sweep import Rescorer
from shared.db.metadata import outbox_table
from shared.db.versioned_store import CannotActivate, FileBehindDatabase
from shared.errors import NotFound
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import (
    ActivityRecorded,
    LeadCaptured,
    LeadProfile,
    LeadScored,
    Outcome,
    OutcomeRecorded,
    Payload,
)
from shared.identity import lead_id_for
from shared.observability import metrics

DEFINITION = load_definition(Path(__file__).parents[2] / "config" / "lead_definition.yaml")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ADA = "ada@acme.com"
GOOD_FIT: dict[str, Any] = {"job_title": "VP Sales", "company_size": 300, "industry": "software", "country": "US"}
SMALL_FIT: dict[str, Any] = {**GOOD_FIT, "company_size": 20}
outbox = outbox_table(metadata)


# -- builders ---------------------------------------------------------------------------------


def event(payload: Payload, email: str, at: datetime, producer: str = "intake") -> Event:
    envelope = Envelope.start(payload, lead_id=lead_id_for(email), correlation_id=f"corr-{email}", producer=producer)
    return Event(envelope.model_copy(update={"occurred_at": at}), payload)


def captured(email: str = ADA, at: datetime = NOW, **fields: Any) -> Event:
    return event(LeadCaptured(submission_id=uuid.uuid4(), source="website", email=email,
                              company_domain=email.split("@")[1], **fields), email, at)


def activity(kind: str, at: datetime, email: str = ADA) -> Event:
    return event(ActivityRecorded(submission_id=uuid.uuid4(), source="website", email=email, activity_type=kind,
                                  occurred_at=at), email, at)


def outcome(kind: Outcome, at: datetime, cycle: int = 1, email: str = ADA) -> Event:
    return event(OutcomeRecorded(email=email, outcome=kind, cycle=cycle, reason="not now"), email, at, "feedback")


async def record(session: AsyncSession, *events: Event, now: datetime = NOW,
                 definition: LeadDefinition = DEFINITION) -> list[Envelope]:
    """Run the use case on one batch; the lead.scored envelopes it added to the outbox."""
    before = len(await emitted(session))
    await record_events(ScoringRepository(session), definition, list(events), now)
    return (await emitted(session))[before:]


async def emitted(session: AsyncSession) -> list[Envelope]:
    rows = (await session.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars()
    return [Envelope.from_bytes(raw) for raw in rows]


async def lead_row(session: AsyncSession, email: str = ADA) -> Any:
    return (await session.execute(select(leads).where(leads.c.lead_id == lead_id_for(email)))).one_or_none()


def scored(envelope: Envelope) -> LeadScored:
    assert (envelope.type, envelope.version, envelope.topic) == ("lead.scored", 2, "lead.scored.v2")
    return LeadScored.model_validate(envelope.payload)


# -- capture, merge, activity --------------------------------------------------------------------


async def test_a_captured_lead_is_stored_scored_and_one_lead_scored_follows_the_capture(session: AsyncSession) -> None:
    capture = captured(**GOOD_FIT)
    [envelope] = await record(session, capture)

    row = await lead_row(session)
    assert (row.email, row.source, row.cycle, row.fit_score, row.engagement_score, row.score) == (
        ADA, "website", 1, 65, 0, 65)
    assert (row.qualified, row.stage, row.grade, row.mql_cycle, row.definition_version, row.rescored_at) == (
        True, "mql", "A4", 1, DEFINITION.version, NOW)
    fired = ["target_company_size", "target_industry", "decision_maker", "core_market"]
    assert [hit["rule"] for hit in row.rules_fired] == fired

    assert (envelope.lead_id, envelope.causation_id, envelope.correlation_id, envelope.producer) == (
        lead_id_for(ADA), capture.envelope.event_id, f"corr-{ADA}", "scoring")
    payload = scored(envelope)
    assert (payload.score, payload.fit_score, payload.threshold, payload.stage, payload.qualified) == (
        65, 65, 50, "mql", True)
    assert (payload.newly_qualified, payload.trigger, payload.cycle, payload.source) == (
        True, "captured", 1, "website")
    assert [(h.rule, h.points) for h in payload.rules_fired] == [
        ("target_company_size", 20), ("target_industry", 15), ("decision_maker", 20), ("core_market", 10)]
    assert payload.profile == LeadProfile(company_domain="acme.com", email_domain="acme.com", job_title="VP Sales",
                                          country="US", company_size=300, industry="software")


async def test_the_same_person_posted_again_merges_into_one_lead(session: AsyncSession) -> None:
    first, second = await record(
        session,
        captured(at=NOW - timedelta(hours=1), first_name="Ada", phone="+15550100", **SMALL_FIT),
        captured(at=NOW, company="Acme", first_name="", job_title=None, company_size=300))

    row = await lead_row(session)
    assert {k: row.profile.get(k) for k in ("first_name", "phone", "job_title", "company_size", "company")} == {
        "first_name": "Ada", "phone": "+15550100", "job_title": "VP Sales", "company_size": 300, "company": "Acme"}
    assert (scored(first).score, scored(first).stage, scored(first).newly_qualified) == (45, "below", False)
    assert (scored(second).score, scored(second).stage, scored(second).newly_qualified) == (65, "mql", True)
    kept = (await session.execute(select(submissions.c.fields).where(submissions.c.lead_id == lead_id_for(ADA))
                                  .order_by(submissions.c.submitted_at))).scalars().all()
    assert [f.get("company_size") for f in kept] == [20, 300]
    assert len((await session.execute(select(leads.c.lead_id))).all()) == 1


async def test_activity_before_the_capture_is_kept_and_counts_once_captured(session: AsyncSession) -> None:
    assert await record(session, activity("demo_request", NOW - timedelta(minutes=5))) == []
    assert await lead_row(session) is None
    kept = (await session.execute(select(activities.c.activity_type)
                                  .where(activities.c.lead_id == lead_id_for(ADA)))).scalars().all()
    assert kept == ["demo_request"]

    [envelope] = await record(session, captured(**SMALL_FIT))
    payload = scored(envelope)
    assert (payload.fit_score, payload.engagement_score, payload.score, payload.stage) == (45, 40, 85, "mql")
    assert "demo_request" in [h.rule for h in payload.rules_fired]
    assert payload.newly_qualified


async def test_activity_of_a_known_lead_rescores_it(session: AsyncSession) -> None:
    await record(session, captured(**GOOD_FIT))
    cause = activity("demo_request", NOW)
    [envelope] = await record(session, cause)
    payload = scored(envelope)
    assert (payload.score, payload.stage, payload.trigger, payload.newly_qualified) == (
        105, "fast_track", "activity", False)
    assert envelope.causation_id == cause.envelope.event_id
    assert (await lead_row(session)).stage == "fast_track"


# -- recycling ---------------------------------------------------------------------------------


async def test_a_recycled_lead_waits_for_new_interest_and_then_qualifies_once_more(session: AsyncSession) -> None:
    start = NOW
    first, hot = await record(session, captured(at=start, **GOOD_FIT), activity("demo_request", start), now=start)
    assert [(scored(e).stage, scored(e).newly_qualified) for e in (first, hot)] == [
        ("mql", True), ("fast_track", False)]

    recycled_at = start + timedelta(hours=1)
    assert await record(session, outcome(Outcome.RECYCLED, recycled_at), now=recycled_at) == []
    row = await lead_row(session)
    assert (row.cycle, row.stage, row.qualified, row.engagement_since) == (2, "below", False, recycled_at)
    stored = (await session.execute(select(lead_outcomes.c.cycle, lead_outcomes.c.outcome))).all()
    assert [tuple(r) for r in stored] == [(1, "recycled")]

    again = start + timedelta(hours=2)  # posted again: fit alone does not qualify a recycled lead
    [held] = await record(session, captured(at=again, **GOOD_FIT), now=again)
    assert (scored(held).cycle, scored(held).score, scored(held).stage, scored(held).qualified) == (
        2, 65, "below", False)  # the demo request of cycle 1 no longer counts

    first_interest = start + timedelta(hours=3)
    [back] = await record(session, activity("pricing_page_view", first_interest), now=first_interest)
    assert (scored(back).cycle, scored(back).score, scored(back).stage, scored(back).newly_qualified) == (
        2, 80, "mql", True)
    more = start + timedelta(hours=4)
    [later] = await record(session, activity("email_click", more), now=more)
    assert (scored(later).score, scored(later).stage, scored(later).newly_qualified) == (82, "mql", False)
    assert (await lead_row(session)).mql_cycle == 2


async def test_a_recycle_shows_the_new_cycle_s_score_at_once(session: AsyncSession) -> None:
    await record(session, captured(at=NOW, **GOOD_FIT), activity("demo_request", NOW), now=NOW)
    assert (await lead_row(session)).engagement_score > 0
    later = NOW + timedelta(hours=1)
    assert await record(session, outcome(Outcome.RECYCLED, later), now=later) == []  # feedback tells the others
    row = await lead_row(session)
    assert (row.cycle, row.engagement_score, row.score, row.stage) == (2, 0, row.fit_score, "below")
    assert row.fit_score == 65 and [hit["rule"] for hit in row.rules_fired if hit["points"] < 0] == []
    assert row.rescored_at == later


async def test_a_retry_after_holds_the_lead_in_nurture_until_that_day_then_the_sweep_qualifies_it(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await record(session, captured(at=NOW, **GOOD_FIT), now=NOW)
    recycled_at = NOW + timedelta(hours=1)
    retry_after = (NOW + timedelta(days=10)).date()
    recycle = event(OutcomeRecorded(email=ADA, outcome=Outcome.RECYCLED, cycle=1, reason="timing",
                                    retry_after=retry_after), ADA, recycled_at, "feedback")
    await record(session, recycle, now=recycled_at)
    assert (await lead_row(session)).nurture_until == retry_after

    busy = NOW + timedelta(days=2)  # interest before the date counts, qualification waits
    [held] = await record(session, activity("demo_request", busy), now=busy)
    assert (scored(held).cycle, scored(held).stage, scored(held).qualified) == (2, "below", False)
    assert scored(held).held_because == f"recycled: held in nurture until {retry_after.isoformat()} (retry_after)"
    assert scored(held).engagement_score > 0

    the_day = datetime.combine(retry_after, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    quiet = Rescorer(sessions, store, on_emitted=lambda: None, interval_s=1, decay_every_s=30 * 86400,
                     clock=lambda: busy + timedelta(days=1))
    before = len(await emitted(session))
    await quiet.sweep_once()  # the day has not come: nothing is due
    assert len(await emitted(session)) == before
    on_the_day = Rescorer(sessions, store, on_emitted=lambda: None, interval_s=1, decay_every_s=30 * 86400,
                          clock=lambda: the_day)
    await on_the_day.sweep_once()
    [freed] = (await emitted(session))[before:]
    assert (scored(freed).cycle, scored(freed).stage, scored(freed).newly_qualified, scored(freed).held_because) == (
        2, "fast_track", True, None)
    row = await lead_row(session)
    assert (row.nurture_until, row.mql_cycle) == (None, 2)


# -- the sweep and the simulation ------------------------------------------------------------------


def lower_threshold() -> LeadDefinition:
    """The shipped definition with the MQL line at 40: the 45-point lead qualifies, nobody else moves."""
    body = DEFINITION.model_dump(mode="json")
    body.update(version="test-mql-40", thresholds={"mql": 40, "fast_track": 90})
    return parse_definition(body)


async def three_leads(session: AsyncSession) -> None:
    """A qualified lead (65), one just below (45) and a student on free mail (-55)."""
    await record(session, captured("ada@acme.com", **GOOD_FIT), captured("bob@acme.com", **SMALL_FIT),
                 captured("kim@gmail.com", job_title="Student"))


async def stages(session: AsyncSession) -> dict[str, tuple[str, str | None]]:
    rows = (await session.execute(select(leads.c.email, leads.c.stage, leads.c.definition_version))).all()
    return {r.email: (r.stage, r.definition_version) for r in rows}


def rescorer(sessions: async_sessionmaker[AsyncSession], store: Any, calls: list[str], now: datetime) -> Rescorer:
    return Rescorer(sessions, store, on_emitted=lambda: calls.append("emitted"), interval_s=1, decay_every_s=3600,
                    clock=lambda: now)


async def test_the_sweep_rescores_every_lead_and_speaks_only_for_those_that_moved(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await three_leads(session)
    before = len(await emitted(session))

    await store.publish(lower_threshold(), "test")
    calls: list[str] = []
    assert await rescorer(sessions, store, calls, NOW).sweep_once() is False  # one batch held them all

    assert await stages(session) == {"ada@acme.com": ("mql", "test-mql-40"), "bob@acme.com": ("mql", "test-mql-40"),
                                     "kim@gmail.com": ("below", "test-mql-40")}
    new = (await emitted(session))[before:]
    assert [(e.lead_id, e.causation_id, e.producer) for e in new] == [(lead_id_for("bob@acme.com"), None, "scoring")]
    payload = scored(new[0])
    assert (payload.score, payload.stage, payload.threshold, payload.trigger, payload.newly_qualified) == (
        45, "mql", 40, "definition", True)
    assert payload.definition_version == "test-mql-40"
    assert new[0].correlation_id == "corr-bob@acme.com"
    assert calls == ["emitted"]


async def test_a_second_sweep_finds_nothing_to_do(session: AsyncSession,
                                                 sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await three_leads(session)
    await store.publish(lower_threshold(), "test")
    await rescorer(sessions, store, [], NOW).sweep_once()
    count = len(await emitted(session))

    calls: list[str] = []
    await rescorer(sessions, store, calls, NOW).sweep_once()
    assert len(await emitted(session)) == count
    assert calls == []


async def test_the_simulation_predicts_the_stage_changes_the_sweep_makes(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await three_leads(session)
    candidate = lower_threshold()
    report = await simulate_definition(ScoringRepository(session), store.active, candidate, now=NOW, sample_size=5)
    before = await stages(session)

    await store.publish(candidate, "test")
    await rescorer(sessions, store, [], NOW).sweep_once()
    after = await stages(session)

    moved = sorted(str(lead_id_for(email)) for email in before if before[email][0] != after[email][0])
    assert report.flipped_lead_ids == moved == [str(lead_id_for("bob@acme.com"))]
    assert report.transitions == {"below->mql": 1}
    assert (report.leads_scored, report.mql_before, report.mql_after) == (3, 1, 2)


async def test_the_simulation_reads_the_leads_a_page_at_a_time_with_the_same_answer(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await three_leads(session)
    repository = ScoringRepository(session)
    whole = await simulate_definition(repository, store.active, lower_threshold(), now=NOW, sample_size=5)
    paged = await simulate_definition(repository, store.active, lower_threshold(), now=NOW, sample_size=5, page=1)

    assert paged == whole and paged.leads_scored == 3
    pages = [await repository.simulation_leads(limit=2)]
    pages.append(await repository.simulation_leads(after=uuid.UUID(pages[0][-1].lead_id), limit=2))
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(lead.lead_id for p in pages for lead in p) == sorted(str(lead_id_for(e)) for e in (
        "ada@acme.com", "bob@acme.com", "kim@gmail.com"))


async def test_the_sweep_lets_engagement_decay_with_time(session: AsyncSession,
                                                        sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await record(session, captured(**SMALL_FIT), activity("demo_request", NOW))  # 45 + 40 = 85, mql
    await record(session, captured("eve@acme.com", **GOOD_FIT))  # no engagement: nothing to decay
    before = len(await emitted(session))

    later = NOW + timedelta(days=30)  # one half-life: the demo request is worth 20
    await rescorer(sessions, store, [], later).sweep_once()

    [envelope] = (await emitted(session))[before:]
    payload = scored(envelope)
    assert (envelope.lead_id, payload.engagement_score, payload.score, payload.stage, payload.trigger) == (
        lead_id_for(ADA), 20, 65, "mql", "decay")
    assert (await lead_row(session)).rescored_at == later
    assert (await lead_row(session, "eve@acme.com")).rescored_at == NOW


# -- judgement calls --------------------------------------------------------------------------------


async def test_a_judgement_call_rescores_now_and_holds_through_activity_until_the_recycle(
        session: AsyncSession) -> None:
    student = {"job_title": "Student", "country": "BR"}
    await record(session, captured("sam@gmail.com", **student))
    later = NOW + timedelta(minutes=5)
    before = len(await emitted(session))
    row = await judge_lead(ScoringRepository(session), DEFINITION, lead_id_for("sam@gmail.com"), qualified=True,
                           by="rita.revops", reason="runs a lab that buys", now=later)
    assert (row.qualified, row.stage, row.score, row.mql_cycle) == (True, "mql", -55, 1)
    [envelope] = (await emitted(session))[before:]
    payload = scored(envelope)
    assert (payload.trigger, payload.qualified, payload.newly_qualified) == ("manual", True, True)
    assert payload.judgement == {"cycle": 1, "qualified": True, "by": "rita.revops",
                                 "reason": "runs a lab that buys", "at": later.isoformat()}
    stored = await lead_row(session, "sam@gmail.com")
    assert stored.judgement == payload.judgement and stored.stage == "mql"

    [again] = await record(session, activity("email_click", later, "sam@gmail.com"), now=later)
    assert scored(again).qualified and not scored(again).newly_qualified  # the call still stands

    [recycled] = await record(session, outcome(Outcome.RECYCLED, later, email="sam@gmail.com"),
                              activity("email_click", later + timedelta(minutes=1), "sam@gmail.com"),
                              now=later + timedelta(minutes=1))
    assert (scored(recycled).cycle, scored(recycled).qualified, scored(recycled).judgement) == (2, False, None)


async def test_a_judgement_call_on_an_unknown_lead_changes_nothing(session: AsyncSession) -> None:
    with pytest.raises(NotFound, match="has been scored"):
        await judge_lead(ScoringRepository(session), DEFINITION, uuid.uuid4(), qualified=True, by="r", reason="x",
                         now=NOW)
    assert await emitted(session) == []


# --- versions RevOps can manage -----------------------------------------------------------------------


def version_of(version: str) -> LeadDefinition:
    return parse_definition({**DEFINITION.model_dump(mode="json"), "version": version})


async def test_a_rollback_publishes_the_old_text_again_as_a_new_version_that_says_so(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await store.publish(lower_threshold(), "revops")

    back = await store.activate(DEFINITION.version, "revops")

    assert back.version == f"{DEFINITION.version}+rollback.3"
    assert back.model_dump(exclude={"version"}) == DEFINITION.model_dump(exclude={"version"})
    assert store.active == back
    versions = await store.versions()
    assert [(v["version"], v["active"], v["rollback_of"]) for v in versions if v["active"]] == [
        (back.version, True, DEFINITION.version)]
    assert {v["version"] for v in versions} == {DEFINITION.version, "test-mql-40", back.version}
    with pytest.raises(CannotActivate, match="in force already"):
        await store.activate(back.version, "revops")
    with pytest.raises(LookupError):
        await store.activate("never-published", "revops")


async def test_a_new_file_never_silently_discards_a_version_published_through_the_api(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    await definition_store(sessions, DEFINITION).bootstrap()
    await definition_store(sessions, DEFINITION).publish(lower_threshold(), "revops")

    newer_file = definition_store(sessions, version_of("file-2"), "config/lead_definition.yaml")
    with pytest.raises(FileBehindDatabase) as refused:
        await newer_file.bootstrap()
    message = str(refused.value)
    assert "config/lead_definition.yaml brings version 'file-2'" in message
    assert "'test-mql-40', was published through the API by revops" in message
    assert "GET /definitions/test-mql-40 with Accept: application/yaml" in message

    same_file = definition_store(sessions, DEFINITION)  # a version the database knows: the database wins
    await same_file.bootstrap()
    assert same_file.active.version == "test-mql-40"
    assert "file-2" not in {v["version"] for v in await same_file.versions()}


async def test_a_new_file_deploys_while_the_version_in_force_came_from_a_file(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    await definition_store(sessions, DEFINITION).bootstrap()
    deployed = definition_store(sessions, version_of("file-2"))
    await deployed.bootstrap()
    assert deployed.active.version == "file-2"
    assert [v["published_by"] for v in await deployed.versions() if v["active"]] == ["config file"]


async def test_the_sweep_reports_how_many_leads_are_left_and_its_end(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    store = definition_store(sessions, DEFINITION)
    await store.bootstrap()
    await three_leads(session)
    repository = ScoringRepository(session)
    assert await sweep_progress(repository, store) == SweepProgress(DEFINITION.version, 3, 3)

    await store.publish(lower_threshold(), "revops")
    progress = await sweep_progress(repository, store)
    assert (progress.version, progress.leads, progress.rescored, progress.finished) == ("test-mql-40", 3, 0, False)

    sweep = Rescorer(sessions, store, on_emitted=lambda: None, interval_s=1, decay_every_s=3600,
                     batch_size=2, clock=lambda: NOW)
    sweep.wake()
    assert await sweep.sweep_once() is True
    await sweep._report_progress()
    assert metrics.RESCORE_SWEEP_REMAINING._value.get() == 1
    assert (await sweep_progress(repository, store)).rescored == 2
    await sweep.sweep_once()
    await sweep._report_progress()
    assert metrics.RESCORE_SWEEP_REMAINING._value.get() == 0
    assert (await sweep_progress(repository, store)).finished
