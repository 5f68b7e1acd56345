"""Scoring on the real stack: identity merge, re-scoring on activity, decay and a new
definition version, simulation against what publishing then did, and refusals."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shared.db.engine import make_engine
from tests.e2e.helpers import QUALIFIED, timeline, wait_for, wait_for_event

FIT_45 = {**QUALIFIED, "company_size": 20}  # industry 15 + decision maker 20 + core market 10


def admin(stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.secrets.admin_token}"}


def scored_events(feedback, lead_id: str) -> list[dict]:
    found = timeline(feedback, lead_id)
    return [e["payload"] for e in found["events"] if e["type"] == "lead.scored"] if found else []


def test_the_same_person_posted_twice_is_one_lead_with_a_merged_profile(intake, scoring, feedback, email):
    first = intake.post("/leads", json={"email": email, "first_name": "Ada", "job_title": "Engineer",
                                        "company_size": 300, "utm_campaign": "spring"})
    second = intake.post("/leads", json={"email": email.upper(), "job_title": "VP Engineering", "first_name": "",
                                         "country": "US", "utm_campaign": "autumn"})
    assert first.json()["lead_id"] == second.json()["lead_id"]
    lead_id = first.json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.scored", count=2)

    profile = scoring.get(f"/leads/{lead_id}/profile").json()
    assert profile["profile"]["first_name"] == "Ada"            # an empty value never erases
    assert profile["profile"]["job_title"] == "VP Engineering"  # the newer non-empty value wins
    assert profile["profile"]["country"] == "US" and profile["profile"]["company_size"] == 300
    assert [s["fields"].get("utm_campaign") for s in profile["submissions"]] == ["spring", "autumn"]

    score = scoring.get(f"/leads/{lead_id}/score").json()
    assert "decision_maker" in {h["rule"] for h in score["rules_fired"]}
    assert score["grade"][0] in "ABCD" and score["grade"][1] in "1234"


def test_activity_lifts_a_nurtured_lead_to_mql_once_and_it_is_routed(intake, scoring, feedback, routing, email):
    lead_id = intake.post("/leads", json={"email": email, **FIT_45}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.nurture")
    assert scoring.get(f"/leads/{lead_id}/score").json()["stage"] == "below"

    intake.post("/activities", json={"email": email, "activity_type": "demo_request"})
    wait_for_event(feedback, lead_id, "lead.routed")
    intake.post("/activities", json={"email": email, "activity_type": "pricing_page_view"})
    wait_for_event(feedback, lead_id, "lead.scored", count=3)

    scored = scored_events(feedback, lead_id)
    assert [s["qualified"] for s in scored] == [False, True, True]
    assert [s["newly_qualified"] for s in scored] == [False, True, False]  # once per cycle
    assert scored[1]["trigger"] == "activity"
    assert any(h["rule"] == "demo_request" for h in scored[1]["rules_fired"])
    assert len(routing.get(f"/leads/{lead_id}/assignments").json()) == 1


def test_decay_drops_a_lead_below_the_threshold(intake, scoring, feedback, email):
    definition = scoring.get("/definitions/active").json()
    form_fill = next(r for r in definition["engagement_rules"] if r["activity"] == "form_fill")
    max_age = timedelta(days=form_fill["decay"]["max_age_days"])
    lead_id = intake.post("/leads", json={"email": email, **FIT_45}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.scored")
    # a form fill that is still (just) inside its age window: it counts for about 4 more seconds
    almost_too_old = datetime.now(UTC) - max_age + timedelta(seconds=4)
    intake.post("/activities", json={"email": email, "activity_type": "form_fill",
                                     "occurred_at": almost_too_old.isoformat()})
    before = wait_for(lambda: scoring.get(f"/leads/{lead_id}/score").json()["engagement_score"] > 0 and
                      scoring.get(f"/leads/{lead_id}/score").json(), what="the form fill to count")
    assert before["engagement_score"] == form_fill["points"]

    after = wait_for(lambda: (s := scoring.get(f"/leads/{lead_id}/score").json())["engagement_score"] == 0 and s,
                     timeout_s=20, what="the form fill to age out")
    assert after["score"] == before["score"] - form_fill["points"]
    decayed = wait_for(lambda: [s for s in scored_events(feedback, lead_id) if s["trigger"] == "decay"],
                       what="a lead.scored event from the decay sweep")
    assert decayed[-1]["engagement_score"] == 0


async def _stages(database_url: str) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT lead_id, stage, definition_version FROM scoring.leads"))).all()
    finally:
        await engine.dispose()
    return {str(r.lead_id): (r.stage, r.definition_version) for r in rows}


def stages(stack) -> dict[str, tuple[str, str | None]]:
    return asyncio.run(_stages(stack.database_url))


@pytest.fixture
def restore_definition(stack, scoring):
    original = scoring.get("/definitions/active").json()
    yield
    restored = {**original, "version": f"{original['version']}+restored-{uuid.uuid4().hex[:6]}"}
    assert scoring.post("/definitions", json=restored, headers=admin(stack)).status_code == 201
    wait_for(lambda: all(v == restored["version"] for _, v in stages(stack).values()), what="re-scoring back")


def test_publishing_rescores_exactly_as_the_simulation_predicted(stack, intake, scoring, feedback, restore_definition):
    campaign = f"sim-{uuid.uuid4().hex[:6]}"
    profiles = [FIT_45, {**FIT_45, "company_size": 300}, {**QUALIFIED, "job_title": "Analyst"},
                {**QUALIFIED, "industry": "retail"}]
    lead_ids = []
    for i, profile in enumerate(profiles):
        email = f"sim{i}.{uuid.uuid4().hex[:8]}@simco{i}.com"
        lead_ids.append(intake.post("/leads", json={"email": email, **profile, "utm_campaign": campaign}).json()["lead_id"])
    for lead_id in lead_ids:
        wait_for_event(feedback, lead_id, "lead.scored")

    current = scoring.get("/definitions/active").json()
    candidate = copy.deepcopy(current)
    candidate["version"] = f"candidate-{uuid.uuid4().hex[:6]}"
    candidate["thresholds"]["mql"] = 60          # 50-59 no longer qualify
    for rule in candidate["fit_rules"]:
        if rule["name"] == "target_company_size":
            rule["points"] = 25                      # 45 + 25 = 70 under the new rule
    simulated = scoring.post("/definitions/simulate", json=candidate)
    assert simulated.status_code == 200, simulated.text
    report = simulated.json()
    before = stages(stack)
    assert report["leads_scored"] + report["recycled_without_new_interest"] == len(before)
    # before: 45 below, 65 mql, 45 below, 50 mql; after (mql 60, size rule 25): 45, 70, 50, 55
    assert report["by_campaign"][campaign] == {"before": 2, "after": 1}

    published = scoring.post("/definitions", json=candidate, headers=admin(stack))
    assert published.status_code == 201, published.text
    after = wait_for(lambda: (s := stages(stack)) and all(v == candidate["version"] for _, v in s.values()) and s,
                     what="every lead re-scored under the new version")
    actually_flipped = sorted(lead for lead, (stage, _) in after.items() if stage != before[lead][0])
    assert actually_flipped == report["flipped_lead_ids"]
    versions = scoring.get("/definitions").json()
    assert versions[0] == {**versions[0], "version": candidate["version"], "active": True}
    assert current["version"] in {v["version"] for v in versions}


def test_invalid_or_unauthorised_definitions_are_refused(stack, scoring):
    current = scoring.get("/definitions/active").json()
    broken = copy.deepcopy(current)
    broken["version"] = "broken"
    broken["fit_rules"][0]["op"] = "sounds_like"
    refused = scoring.post("/definitions", json=broken, headers=admin(stack))
    assert refused.status_code == 422
    assert any(e["field"].startswith("fit_rules.0.op") for e in refused.json()["detail"])

    assert scoring.post("/definitions", json=current, headers=admin(stack)).status_code == 409  # same version
    assert scoring.post("/definitions", json={**current, "version": "x"},
                        headers={"Authorization": ""}).status_code == 401
    assert scoring.post("/definitions", json={**current, "version": "x"},
                        headers={"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"}).status_code == 403
    assert scoring.post("/definitions", json={**current, "version": "x"},
                        headers={"Authorization": "Bearer nope"}).status_code == 401
    assert scoring.get("/definitions/active").json()["version"] == current["version"]


EVERY_SIGNAL = ["demo_request", "pricing_page_view", "pricing_page_view", "webinar_attended", "webinar_attended",
                "form_fill", "form_fill", "email_click", "email_click", "email_click"]  # 106 points, every cap


def test_interest_without_fit_is_held_back_with_the_reason_however_busy_the_lead(intake, scoring, feedback):
    email = f"student.{uuid.uuid4().hex[:10]}@gmail.com"  # free mail -30, student -25, core market +10
    lead_id = intake.post("/leads", json={"email": email, "job_title": "Student", "country": "US"}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.nurture")
    for activity in EVERY_SIGNAL:
        assert intake.post("/activities", json={"email": email, "activity_type": activity}).status_code == 202
    wait_for_event(feedback, lead_id, "lead.scored", count=1 + len(EVERY_SIGNAL))

    last = scored_events(feedback, lead_id)[-1]
    assert (last["fit_score"], last["engagement_score"], last["score"]) == (-45, 106, 61)
    assert last["score"] >= last["threshold"]  # the summed line alone would have routed this lead
    assert (last["qualified"], last["stage"], last["grade"]) == (False, "below", "D1")
    assert last["held_because"] == "fit -45 is below the minimum fit 20"
    score = scoring.get(f"/leads/{lead_id}/score").json()
    assert (score["stage"], score["qualified"], score["held_because"]) == ("below", False, last["held_because"])


def test_calibration_reports_how_matching_leads_converted(stack, intake, scoring, feedback, email):
    from tests.e2e.helpers import send_outcome
    lead_id = intake.post("/leads", json={"email": email, **QUALIFIED}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    assert send_outcome(feedback, stack.secrets.crm_webhook_secret, lead_id, "accepted").status_code == 202
    wait_for(lambda: scoring.get("/calibration").json()["leads_with_outcomes"] >= 1 and
             any(r["rule"] == "decision_maker" and r["matched"]["accepted"] >= 1
                 for r in scoring.get("/calibration").json()["rules"]), what="calibration to count the outcome")
    grade = scoring.get(f"/leads/{lead_id}/score").json()["grade"]
    cells = {c["cell"]: c for c in scoring.get("/calibration").json()["cells"]}
    assert cells[grade]["accepted"] >= 1 and cells[grade]["leads"] >= cells[grade]["accepted"]


def test_an_enterprise_buyer_qualifies_on_fit_and_both_explanations_say_why(intake, scoring, routing, feedback,
                                                                               email):
    lead = {**QUALIFIED, "job_title": "CRO", "company_size": 20000}  # enterprise 30 + 15 + 20 + 10
    lead_id = intake.post("/leads", json={"email": email, **lead}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.scored")

    score = scoring.get(f"/leads/{lead_id}/score", params={"not_fired": "true"}).json()
    assert (score["fit_score"], score["qualified"]) == (75, True)
    misses = {m["rule"]: m for m in score["rules_not_fired"]}
    assert misses["target_company_size"] == {"rule": "target_company_size", "kind": "fit", "points": 20,
                                             "why": "company_size 20000 not in [50, 4999]"}
    assert misses["demo_request"]["why"] == "no demo_request activity counts in this cycle"
    assert not misses.keys() & {h["rule"] for h in score["rules_fired"]}
    assert scoring.get(f"/leads/{lead_id}/score").json()["rules_not_fired"] is None

    # assigned in New York's office hours, queued on the enterprise team outside them: the rule is the same
    decisions = wait_for(lambda: (r := routing.get(f"/leads/{lead_id}/decisions")).status_code == 200 and r.json(),
                         what="the routing decision")
    first = decisions[0]
    assert first["rule"] == "enterprise_americas" and first["target"] == {"team": "americas_enterprise"}
    assert first["rules"][0] == {"rule": "enterprise_americas", "matched": True, "failed": None}
    assert first["rules"][1]["failed"].startswith("country US not in GB/IE/DE")


async def _routing_view(database_url: str, lead_id: str) -> tuple[int | None, int]:
    """The score routing last saw for the lead, and how many assignments it has."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            seen = (await conn.execute(text("SELECT (facts->>'score')::int FROM routing.routed_leads "
                                            "WHERE lead_id = :id"), {"id": uuid.UUID(lead_id)})).scalar()
            owned = (await conn.execute(text("SELECT count(*) FROM routing.assignments WHERE lead_id = :id"),
                                        {"id": uuid.UUID(lead_id)})).scalar_one()
    finally:
        await engine.dispose()
    return seen, owned


def test_a_lead_qualified_by_hand_is_routed_and_the_timeline_says_who_and_why(stack, intake, scoring, feedback):
    email = f"student.{uuid.uuid4().hex[:10]}@gmail.com"
    lead_id = intake.post("/leads", json={"email": email, "job_title": "Student", "country": "US"}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.nurture")
    path = f"/leads/{lead_id}/qualification"
    body = {"qualified": True, "reason": "the professor runs a 40-seat lab and asked for a quote"}
    viewer = {"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"}
    assert scoring.post(path, json=body, headers=viewer).status_code == 403
    blank = scoring.post(path, json={**body, "reason": " "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["field"] == "reason"
    assert scoring.post(f"/leads/{uuid.uuid4()}/qualification", json=body).status_code == 404

    judged = scoring.post(path, json=body)
    assert judged.status_code == 200, judged.text
    score = judged.json()
    assert (score["qualified"], score["stage"], score["score"]) == (True, "mql", -45)
    assert score["judgement"]["reason"] == body["reason"] and score["judgement"]["cycle"] == 1

    events = wait_for_event(feedback, lead_id, "lead.routed")["events"]
    [routed] = [e["payload"] for e in events if e["type"] == "lead.routed"]
    assert routed["owner_id"] in {"ana.silva", "ben.okafor", "chloe.martin"}
    manual = [e["payload"] for e in events if e["type"] == "lead.scored" and e["payload"]["trigger"] == "manual"]
    assert len(manual) == 1 and manual[0]["judgement"]["by"] == score["judgement"]["by"]
    assert manual[0]["qualified"] is True and manual[0]["newly_qualified"] is True

    intake.post("/activities", json={"email": email, "activity_type": "email_click"})  # the call still stands
    wait_for_event(feedback, lead_id, "lead.scored", count=3)
    assert scored_events(feedback, lead_id)[-1]["qualified"] is True


def test_a_lead_disqualified_by_hand_stays_nurtured_when_it_engages(scoring, intake, feedback, stack, email):
    lead_id = intake.post("/leads", json={"email": email, **FIT_45}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.nurture")
    judged = scoring.post(f"/leads/{lead_id}/qualification", json={"qualified": False, "reason": "a reseller"})
    assert judged.status_code == 200, judged.text
    assert judged.json()["held_because"].startswith("disqualified by hand by ")

    intake.post("/activities", json={"email": email, "activity_type": "demo_request"})  # 45 + 40: would route
    wait_for_event(feedback, lead_id, "lead.scored", count=3)
    last = scored_events(feedback, lead_id)[-1]
    assert (last["score"], last["qualified"], last["stage"]) == (85, False, "below")
    assert last["held_because"].endswith(": a reseller")
    # routing has read that score (it keeps the facts of every score) and assigned nobody
    seen = wait_for(lambda: (view := asyncio.run(_routing_view(stack.database_url, lead_id)))[0] == 85 and view,
                    what="routing to read the last score")
    assert seen == (85, 0)
