"""Routing's use cases on the real database: a qualified score gets exactly one owner per cycle
(assignment, decision record and one lead.routed caused by the score), an unqualified one goes
to nurture once per cycle, acceptance stops the clock, nobody available queues the lead, and an
old-shape (v1) score routes like its v2 equivalent. The SLA clock escalates at the deadline,
reassigns at the reassignment moment and gives up at the cap; deactivating an owner re-routes
their open leads; a policy preview routes only the open leads again, against today's owners,
and assigns nothing; accounts refuse free mail and unknown owners.

The shipped policy (config/routing_policy.yaml) sends ordinary US leads to the 24/7 inbound desk
(ana.silva, ben.okafor, chloe.martin, round robin; grade A* has 60 minutes). Precise cases use a
small policy: one desk of two owners who are always available."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.availability import OwnerLoad
from services.routing.domain.manual import JudgementCall
from services.routing.domain.policy import RoutingPolicy, load_policy, parse_policy
from services.routing.repository import RoutingRepository, policy_store
from services.routing.tables import accounts, assignments, decisions, metadata, queued, routed_leads, strategy_states
from services.routing.use_cases.accounts import put_account
from services.routing.use_cases.assignment import Router
from services.routing.use_cases.manual_assignment import ManualAssignment, assign_lead_by_hand
from services.routing.use_cases.policy_changes import deactivate_owner
from services.routing.use_cases.previews import preview_candidate
from services.routing.use_cases.route_leads import route_leads
from services.routing.use_cases.sla_clock import RoutingClock
from shared.db.metadata import outbox_table
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.codec import Event, decode
from shared.events.envelope import Envelope
from shared.events.payloads import (
    LeadNurtured,
    LeadProfile,
    LeadRouted,
    LeadScored,
    LeadScoredV1,
    Outcome,
    OutcomeRecorded,
    SlaBreached,
)
from shared.identity import lead_id_for

SHIPPED = load_policy(Path(__file__).parents[2] / "config" / "routing_policy.yaml")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
SATURDAY = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
US_FIT = {"country": "US", "company_size": 300, "industry": "software", "job_title": "VP Sales"}
outbox = outbox_table(metadata)


# -- builders ---------------------------------------------------------------------------------


def desk_policy(*, members: tuple[str, ...] = ("ann", "bob"), status: str = "active") -> RoutingPolicy:
    owners = [{"id": o, "name": o.title(), "email": f"{o}@example.com", "working_hours": "always", "status": status}
              for o in ("ann", "bob")]
    return parse_policy({
        "version": "test-desk.1", "owners": owners,
        "teams": [{"id": "desk", "name": "Desk", "members": list(members), "strategy": "round_robin"}],
        "fallback": {"team": "desk"},
        "sla": {"default_minutes": 10, "reassign_after_minutes": 5, "max_reassignments": 1},
    })


async def router_for(sessions: async_sessionmaker[AsyncSession], policy: RoutingPolicy) -> Router:
    store = policy_store(sessions, policy)
    await store.bootstrap()
    return Router(store)


def lead_scored(email: str, *, qualified: bool = True, score: int = 65, grade: str = "A4", cycle: int = 1,
                held_because: str | None = None, **profile: Any) -> Event:
    domain = email.split("@")[1]
    payload = LeadScored(
        email=email, cycle=cycle, definition_version="2026-12-02.1", fit_score=score, engagement_score=0,
        score=score, threshold=50, qualified=qualified, rules_fired=[], stage="mql" if qualified else "below",
        grade=grade, newly_qualified=qualified, source="website", held_because=held_because,
        profile=LeadProfile(company_domain=domain, email_domain=domain, **(profile or US_FIT)))
    return Event(Envelope.start(payload, lead_id=lead_id_for(email), correlation_id=f"corr-{email}",
                                producer="scoring"), payload)


def outcome(email: str, kind: Outcome, cycle: int = 1) -> Event:
    payload = OutcomeRecorded(email=email, outcome=kind, cycle=cycle, reason="wrong_persona")
    return Event(Envelope.start(payload, lead_id=lead_id_for(email), correlation_id=f"corr-{email}",
                                producer="feedback"), payload)


async def route(router: Router, session: AsyncSession, *events: Event, now: datetime = NOW) -> list[Envelope]:
    """Run the use case on one batch; the envelopes it added to routing.outbox."""
    before = len(await emitted(session))
    await route_leads(router, RoutingRepository(session), list(events), now)
    return (await emitted(session))[before:]


async def emitted(session: AsyncSession) -> list[Envelope]:
    return [Envelope.from_bytes(raw) for raw in
            (await session.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars()]


async def count(session: AsyncSession, table: Table) -> int:
    return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def assignment_of(session: AsyncSession, email: str) -> Any:
    return (await session.execute(select(assignments).where(assignments.c.lead_id == lead_id_for(email)))).one()


def routed(envelope: Envelope) -> LeadRouted:
    assert (envelope.type, envelope.topic, envelope.producer) == ("lead.routed", "lead.routed.v1", "routing")
    return LeadRouted.model_validate(envelope.payload)


# -- route_leads --------------------------------------------------------------------------------


async def test_a_qualified_score_gets_one_owner_a_decision_and_one_routed_event(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    score = lead_scored("ada@acme.com")
    [envelope] = await route(router, session, score)

    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.team_id, row.rule, row.status, row.cycle, row.policy_version) == (
        "ana.silva", "inbound", "fallback", "assigned", 1, SHIPPED.version)
    assert (row.assigned_at, row.sla_due_at) == (NOW, NOW + timedelta(minutes=60))
    [decision] = (await session.execute(select(decisions))).all()
    assert (decision.lead_id, decision.kind, decision.decision["owner_id"]) == (
        lead_id_for("ada@acme.com"), "assigned", "ana.silva")

    assert (envelope.lead_id, envelope.causation_id, envelope.correlation_id) == (
        score.envelope.lead_id, score.envelope.event_id, "corr-ada@acme.com")
    payload = routed(envelope)
    assert (payload.owner_id, payload.owner_name, payload.team_id, payload.strategy, payload.score) == (
        "ana.silva", "Ana Silva", "inbound", "round_robin", 65)
    assert (payload.sla_due_at, payload.reassigned_from, payload.policy_version) == (
        NOW + timedelta(minutes=60), None, SHIPPED.version)


async def test_the_same_score_delivered_again_assigns_nothing_more(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    score = lead_scored("ada@acme.com")
    await route(router, session, score)

    assert await route(router, session, score) == []
    assert await route(router, session, lead_scored("ada@acme.com", score=80)) == []  # a later score, same cycle
    assert (await count(session, assignments), await count(session, decisions)) == (1, 1)


async def test_the_inbound_desk_takes_turns(session: AsyncSession,
                                            sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    out = await route(router, session, *(lead_scored(f"{n}@acme.com") for n in ("a", "b", "c", "d")))
    assert [routed(e).owner_id for e in out] == ["ana.silva", "ben.okafor", "chloe.martin", "ana.silva"]


async def test_an_unqualified_score_goes_to_nurture_once_per_cycle(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    score = lead_scored("kim@acme.com", qualified=False, score=30)
    [envelope] = await route(router, session, score, lead_scored("kim@acme.com", qualified=False, score=35))

    assert (envelope.type, envelope.topic, envelope.causation_id) == (
        "lead.nurture", "lead.nurture.v1", score.envelope.event_id)
    assert LeadNurtured.model_validate(envelope.payload) == LeadNurtured(
        email="kim@acme.com", cycle=1, score=30, reason="below the qualification threshold: score 30 < 50")
    [next_cycle] = await route(router, session, lead_scored("kim@acme.com", qualified=False, score=30, cycle=2))
    assert LeadNurtured.model_validate(next_cycle.payload).cycle == 2
    assert await count(session, assignments) == 0


async def test_a_lead_held_back_on_fit_is_nurtured_with_that_reason_not_the_threshold(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    held = "fit -55 is below the minimum fit 20"
    [envelope] = await route(router, session, lead_scored("kim@gmail.com", qualified=False, score=61, grade="D1",
                                                          held_because=held))
    assert LeadNurtured.model_validate(envelope.payload).reason == held
    assert await count(session, assignments) == 0


async def test_acceptance_stops_the_clock_and_other_outcomes_close_the_assignment(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    await route(router, session, lead_scored("ada@acme.com"), lead_scored("bob@acme.com"))
    accepted = outcome("ada@acme.com", Outcome.ACCEPTED)

    assert await route(router, session, accepted, outcome("bob@acme.com", Outcome.REJECTED)) == []
    ada = await assignment_of(session, "ada@acme.com")
    assert (ada.status, ada.accepted_at, ada.sla_due_at, ada.sla_reassign_at) == (
        "accepted", accepted.envelope.occurred_at, None, None)
    bob = await assignment_of(session, "bob@acme.com")
    assert (bob.status, bob.accepted_at, bob.sla_due_at) == ("closed", None, None)


async def test_nobody_available_queues_the_lead_without_an_event(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)  # a large British company on a Saturday: EMEA AEs are off
    score = lead_scored("ada@bigco.co.uk", country="GB", company_size=6000)

    assert await route(router, session, score, now=SATURDAY) == []
    [waiting] = (await session.execute(select(queued))).all()
    assert (waiting.lead_id, waiting.team_id, waiting.rule, waiting.queued_at) == (
        score.envelope.lead_id, "emea_enterprise", "enterprise_emea", SATURDAY)
    [decision] = (await session.execute(select(decisions))).all()
    assert (decision.kind, decision.decision["outcome"]) == ("queued", "queued")
    assert await count(session, assignments) == 0
    assert await route(router, session, score, now=SATURDAY) == []  # waiting already: no second decision
    assert await count(session, decisions) == 1


async def test_a_v1_score_routes_like_its_v2_equivalent(session: AsyncSession,
                                                        sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)  # public sector in Germany: always the specialist
    old = LeadScoredV1(email="old@amt.de", cycle=1, definition_version="2026-11-01.1", fit_score=45,
                       engagement_score=20, score=65, threshold=50, qualified=True, rules_fired=[], stage="mql",
                       grade="B2", newly_qualified=True, source="website",
                       attributes={"company_domain": "amt.de", "email_domain": "amt.de", "country": "DE",
                                   "industry": "government", "company_size": "120", "unrelated": True})
    v1 = decode(Envelope.start(old, lead_id=lead_id_for("old@amt.de"), correlation_id="corr-old",
                               producer="scoring").to_bytes())
    v2 = lead_scored("new@amt.de", score=65, grade="B2", country="DE", industry="government", company_size=120)

    from_v1, from_v2 = await route(router, session, v1, v2)

    assert isinstance(v1.payload, LeadScored) and v1.envelope.version == 1
    assert from_v1.causation_id == v1.envelope.event_id
    facts = {r.email: r.facts for r in (await session.execute(select(routed_leads))).all()}
    assert facts["old@amt.de"] == facts["new@amt.de"]
    a, b = routed(from_v1), routed(from_v2)
    shown = ("owner_id", "rule", "strategy", "team_id", "sla_due_at", "score")
    assert {k: getattr(a, k) for k in shown} == {k: getattr(b, k) for k in shown}
    assert (a.owner_id, a.rule) == ("emma.schmidt", "dach_public_sector")


# -- the SLA clock ---------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def tick_at(routing_clock: RoutingClock, clock: Clock, session: AsyncSession, at: datetime) -> list[Envelope]:
    clock.now = at
    before = len(await emitted(session))
    await routing_clock.tick()
    return (await emitted(session))[before:]


def breach(envelope: Envelope) -> tuple[str, str, datetime, int]:
    assert (envelope.type, envelope.topic) == ("lead.sla_breached", "lead.sla.v1")
    p = SlaBreached.model_validate(envelope.payload)
    return p.action, p.owner_id, p.due_at, p.breaches


async def test_the_sla_clock_escalates_reassigns_and_gives_up(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())  # 10 minutes to accept, reassign 5 later, once
    [first] = await route(router, session, lead_scored("ada@acme.com"))
    assert routed(first).owner_id == "ann"
    clock, ticks = Clock(NOW), []
    routing_clock = RoutingClock(sessions, router, on_emitted=lambda: ticks.append(clock.now), interval_s=1,
                                 clock=clock)
    minute = timedelta(minutes=1)

    assert await tick_at(routing_clock, clock, session, NOW + 9 * minute) == []
    [escalated] = await tick_at(routing_clock, clock, session, NOW + 10 * minute)
    assert breach(escalated) == ("escalate", "ann", NOW + 10 * minute, 1)
    assert await tick_at(routing_clock, clock, session, NOW + 14 * minute) == []

    reassigned, rerouted = await tick_at(routing_clock, clock, session, NOW + 15 * minute)
    assert breach(reassigned) == ("reassign", "ann", NOW + 15 * minute, 1)
    again = routed(rerouted)
    assert (again.owner_id, again.reassigned_from, again.sla_due_at) == ("bob", "ann", NOW + 25 * minute)
    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.reassignments, row.escalated_at, row.status) == ("bob", 1, None, "assigned")

    [second] = await tick_at(routing_clock, clock, session, NOW + 25 * minute)
    assert breach(second) == ("escalate", "bob", NOW + 25 * minute, 2)
    [gave_up] = await tick_at(routing_clock, clock, session, NOW + 30 * minute)
    assert breach(gave_up) == ("give_up", "bob", NOW + 30 * minute, 2)
    assert await tick_at(routing_clock, clock, session, NOW + 120 * minute) == []
    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.reassignments, row.sla_reassign_at) == ("bob", 1, None)
    kinds = (await session.execute(select(decisions.c.kind).order_by(decisions.c.id))).scalars().all()
    assert kinds == ["assigned", "reassigned"]
    assert ticks == [NOW + m * minute for m in (10, 15, 25, 30)]


# -- policy changes, previews, accounts -------------------------------------------------------------


async def test_deactivating_an_owner_reroutes_their_open_leads(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())
    await route(router, session, lead_scored("ada@acme.com"), lead_scored("eve@acme.com"))  # ann, bob
    before = len(await emitted(session))

    result = await deactivate_owner(router, RoutingRepository(session), "ann", published_by="test", now=NOW)

    assert result.rerouted == [{"lead_id": str(lead_id_for("ada@acme.com")), "owner_id": "bob"}]
    assert result.not_rerouted_nobody_available == []
    assert router.policy.version == result.policy_version != "test-desk.1"
    assert router.policy.owner("ann").status == "inactive"
    [envelope] = (await emitted(session))[before:]
    payload = routed(envelope)
    assert (envelope.lead_id, payload.owner_id, payload.reassigned_from, payload.policy_version) == (
        lead_id_for("ada@acme.com"), "bob", "ann", result.policy_version)
    assert {(await assignment_of(session, e)).owner_id for e in ("ada@acme.com", "eve@acme.com")} == {"bob"}


async def test_a_policy_preview_routes_only_the_open_leads_against_today_s_owners_and_assigns_nothing(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())  # round robin: ann, bob, ann, bob, ann
    await route(router, session, *(lead_scored(f"{name}@acme.com") for name in ("ada", "eve", "zoe", "max", "liz")),
                lead_scored("kim@acme.com", qualified=False, score=20))
    await route(router, session, outcome("zoe@acme.com", Outcome.ACCEPTED), outcome("max@acme.com", Outcome.REJECTED))
    await by_hand(router, session, "liz@acme.com", "bob", now=NOW)
    tables = (assignments, decisions, queued, strategy_states, outbox, routed_leads)
    before = [await count(session, t) for t in tables]

    preview = await preview_candidate(RoutingRepository(session), desk_policy(members=("bob",)), now=NOW,
                                      sample_size=5)

    # accepted (zoe), closed (max) and nurtured (kim) leads are not routed again; liz stays by hand
    assert preview.leads == 3
    assert {kind: n for kind, n in preview.changes.items() if n} == {"moved": 1, "unchanged": 1, "kept_by_hand": 1}
    [moved] = preview.samples["moved"]
    assert (moved.lead_id, moved.today.owner_id, moved.candidate.owner_id) == (
        str(lead_id_for("ada@acme.com")), "ann", "bob")
    assert [m.lead_id for m in preview.samples["kept_by_hand"]] == [str(lead_id_for("liz@acme.com"))]
    assert preview.moves_per_owner == {"ann": {"gained": 0, "lost": 1}, "bob": {"gained": 1, "lost": 0}}
    assert preview.moves_per_team == {}  # the same desk either way
    assert preview.assigned_per_owner == {"ann": 0, "bob": 3}
    assert [await count(session, t) for t in tables] == before
    assert (await assignment_of(session, "ada@acme.com")).owner_id == "ann"


async def test_the_open_leads_stream_in_pages(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())
    for name in ("ada", "eve", "zoe"):
        await route(router, session, lead_scored(f"{name}@acme.com"), now=NOW)
    repository = RoutingRepository(session)

    pages = [[lead.facts.email for lead in page] async for page in repository.stream_open_leads(2)]

    assert [len(page) for page in pages] == [2, 1]
    assert sorted(email for page in pages for email in page) == ["ada@acme.com", "eve@acme.com", "zoe@acme.com"]
    total, loads = await repository.open_leads_load(desk_policy().owners, NOW)
    assert (total, loads["ann"], loads["bob"]) == (3, OwnerLoad(2, 2, 2), OwnerLoad(1, 1, 1))


async def test_an_account_refuses_free_mail_and_unknown_owners_and_stores_the_registrable_domain(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, SHIPPED)
    repository = RoutingRepository(session)
    with pytest.raises(InvalidInput) as free_mail:
        await put_account(repository, SHIPPED, "Mail.GMAIL.com", owner_id="ana.silva", name=None)
    assert [field for field, _ in free_mail.value.problems] == ["path.domain"]
    with pytest.raises(InvalidInput) as unknown:
        await put_account(repository, SHIPPED, "acme.com", owner_id="zoe", name=None)
    assert [field for field, _ in unknown.value.problems] == ["owner_id"]
    assert await count(session, accounts) == 0

    stored = await put_account(repository, SHIPPED, " https://www.Shop.ACME.co.uk/about ", owner_id="chloe.martin",
                               name="Acme UK")
    assert stored == "acme.co.uk"
    [row] = (await session.execute(select(accounts))).all()
    assert (row.domain, row.owner_id, row.name) == ("acme.co.uk", "chloe.martin", "Acme UK")
    [envelope] = await route(router, session, lead_scored("ada@eu.acme.co.uk"))
    assert (routed(envelope).owner_id, routed(envelope).strategy) == ("chloe.martin", "account_match")


# -- judgement calls: assigned by hand ---------------------------------------------------------------


async def by_hand(router: Router, session: AsyncSession, email: str, owner_id: str, *, now: datetime = NOW,
                  reason: str = "knows the account") -> tuple[ManualAssignment, list[Envelope]]:
    before = len(await emitted(session))
    done = await assign_lead_by_hand(router, RoutingRepository(session), lead_id_for(email), owner_id,
                                     JudgementCall("rita.revops", reason), now=now)
    return done, (await emitted(session))[before:]


async def test_a_lead_reassigned_by_hand_says_who_and_why_and_automatic_routing_leaves_it(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())
    score = lead_scored("ada@acme.com")
    [first] = await route(router, session, score)
    assert routed(first).owner_id == "ann"

    done, [envelope] = await by_hand(router, session, "ada@acme.com", "bob", now=NOW + timedelta(minutes=3))
    assert (done.owner_id, done.previous_owner_id, done.cycle) == ("bob", "ann", 1)
    payload = routed(envelope)
    assert (payload.owner_id, payload.reassigned_from, payload.strategy, payload.rule) == ("bob", "ann", "manual",
                                                                                             "manual")
    assert payload.reason == "assigned by hand to bob by rita.revops: knows the account"
    assert payload.sla_due_at == NOW + timedelta(minutes=13)  # the policy's SLA, from the moment of the call
    assert payload.decision["manual"] == {"by": "rita.revops", "reason": "knows the account"}
    assert payload.decision["via"] == "manual" and payload.decision["rules"] == []  # the desk policy has none
    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.reassignments, row.status, row.rule) == ("bob", 1, "assigned", "manual")
    kinds = (await session.execute(select(decisions.c.kind).order_by(decisions.c.id))).scalars().all()
    assert kinds == ["assigned", "reassigned"]

    # the next automatic decision in the cycle respects it: a new score moves nothing
    assert await route(router, session, lead_scored("ada@acme.com", score=80)) == []
    assert await route(router, session, lead_scored("ada@acme.com", qualified=False, score=20)) == []
    assert (await assignment_of(session, "ada@acme.com")).owner_id == "bob"


async def test_the_sla_clock_escalates_a_hand_made_assignment_but_never_moves_it(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())  # 10 minutes to accept, reassign 5 later, once
    await route(router, session, lead_scored("ada@acme.com"))
    await by_hand(router, session, "ada@acme.com", "bob")
    clock = Clock(NOW)
    routing_clock = RoutingClock(sessions, router, on_emitted=lambda: None, interval_s=1, clock=clock)
    minute = timedelta(minutes=1)

    [escalated] = await tick_at(routing_clock, clock, session, NOW + 10 * minute)
    assert breach(escalated) == ("escalate", "bob", NOW + 10 * minute, 2)
    [kept] = await tick_at(routing_clock, clock, session, NOW + 15 * minute)
    assert breach(kept) == ("give_up", "bob", NOW + 15 * minute, 2)
    assert await tick_at(routing_clock, clock, session, NOW + 60 * minute) == []
    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.sla_reassign_at, row.escalated_at) == ("bob", None, NOW + 10 * minute)


async def test_a_nurtured_or_queued_lead_can_be_given_to_someone_by_hand(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    router = await router_for(sessions, desk_policy())
    [nurture] = await route(router, session, lead_scored("sam@acme.com", qualified=False, score=30))
    assert nurture.type == "lead.nurture"
    done, [envelope] = await by_hand(router, session, "sam@acme.com", "ann", reason="asked for a call at the booth")
    assert (done.previous_owner_id, routed(envelope).owner_id, routed(envelope).reassigned_from) == (None, "ann",
                                                                                                   None)
    assert await route(router, session, lead_scored("sam@acme.com")) == []  # qualified later: still ann's

    paused = await router_for(sessions, desk_policy(status="paused"))
    assert await route(paused, session, lead_scored("eve@acme.com")) == []  # nobody available: queued
    assert await count(session, queued) == 1
    done, [envelope] = await by_hand(paused, session, "eve@acme.com", "bob")
    assert routed(envelope).reason.endswith("(bob is paused now; the SLA counts their working time)")
    assert await count(session, queued) == 0
    assert (await assignment_of(session, "eve@acme.com")).owner_id == "bob"


async def test_assigning_by_hand_refuses_what_it_cannot_do_and_changes_nothing(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    policy = parse_policy({**desk_policy().model_dump(mode="json", exclude_none=True), "version": "test-desk.2",
                           "owners": [*desk_policy().model_dump(mode="json", exclude_none=True)["owners"],
                                      {"id": "gone", "name": "Gone", "email": "gone@example.com",
                                       "status": "inactive"}]})
    router = await router_for(sessions, policy)
    await route(router, session, lead_scored("ada@acme.com"))  # ann
    with pytest.raises(Conflict, match="already assigned to ann"):
        await by_hand(router, session, "ada@acme.com", "ann")
    with pytest.raises(NotFound, match="no owner 'nobody'"):
        await by_hand(router, session, "ada@acme.com", "nobody")
    with pytest.raises(Conflict, match="gone is inactive"):
        await by_hand(router, session, "ada@acme.com", "gone")
    with pytest.raises(NotFound, match="routing has not seen lead"):
        await by_hand(router, session, "stranger@acme.com", "bob")
    await route(router, session, outcome("ada@acme.com", Outcome.ACCEPTED))
    with pytest.raises(Conflict, match="was accepted by ann in cycle 1"):
        await by_hand(router, session, "ada@acme.com", "bob")
    row = await assignment_of(session, "ada@acme.com")
    assert (row.owner_id, row.reassignments, row.status) == ("ann", 0, "accepted")
    assert await count(session, decisions) == 1
