"""One lead at a time through all four services on the real broker and database."""

from __future__ import annotations

import time

from tests.e2e.helpers import (
    QUALIFIED,
    UNQUALIFIED,
    send_outcome,
    timeline,
    wait_for,
    wait_for_event,
)

OWNER_IDS = {"ana.silva", "ben.okafor", "chloe.martin"}


def post_lead(intake, email, profile, **headers):
    response = intake.post("/leads", json={"email": email, **profile}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_every_service_is_ready(stack):
    import httpx
    for name, url in stack.urls.items():
        response = httpx.get(f"{url}/readyz", timeout=5)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["checks"] == {"database": "ok", "kafka": "ok", "loops": "ok"}


def test_qualified_lead_is_routed_to_an_owner_with_the_reasons(intake, feedback, routing, email):
    accepted = post_lead(intake, email.upper(), QUALIFIED)
    lead_id = accepted["lead_id"]
    story = wait_for_event(feedback, lead_id, "lead.routed")

    assert [e["type"] for e in story["events"]] == ["lead.captured", "lead.scored", "lead.routed"]
    captured, scored, routed = story["events"]
    assert captured["payload"]["email"] == email  # normalised: lower case
    assert captured["payload"]["company_domain"] == email.split("@")[1]
    assert scored["payload"]["qualified"] is True
    assert {h["rule"] for h in scored["payload"]["rules_fired"]} >= {"decision_maker", "target_company_size"}
    assert routed["payload"]["owner_id"] in OWNER_IDS
    # one causal chain, one correlation id from the intake request
    assert scored["causation_id"] == captured["event_id"]
    assert routed["causation_id"] == scored["event_id"]
    assert {e["correlation_id"] for e in story["events"]} == {accepted["correlation_id"]}
    assert story["stage"] == "routed"

    assignments = routing.get(f"/leads/{lead_id}/assignments").json()
    assert [(a["cycle"], a["owner_id"]) for a in assignments] == [(1, routed["payload"]["owner_id"])]


def test_lead_under_the_threshold_goes_to_nurture(intake, feedback, routing, email):
    lead_id = post_lead(intake, email, UNQUALIFIED)["lead_id"]
    story = wait_for_event(feedback, lead_id, "lead.nurture")
    assert [e["type"] for e in story["events"]] == ["lead.captured", "lead.scored", "lead.nurture"]
    assert "below the qualification threshold" in story["events"][-1]["payload"]["reason"]
    assert story["stage"] == "nurture"
    assert routing.get(f"/leads/{lead_id}/assignments").status_code == 404


def test_recycled_lead_goes_to_nurture_then_requalifies_as_a_new_cycle(stack, intake, feedback, routing,
                                                                      scoring, email):
    secret = stack.secrets.crm_webhook_secret
    lead_id = post_lead(intake, email, {**QUALIFIED, "company_size": 20})["lead_id"]  # fit 45 + ...
    wait_for_event(feedback, lead_id, "lead.nurture")
    response = intake.post("/activities", json={"email": email, "activity_type": "demo_request"})
    assert response.status_code == 202, response.text
    wait_for_event(feedback, lead_id, "lead.routed")

    assert send_outcome(feedback, secret, lead_id, "accepted").status_code == 202
    applied = send_outcome(feedback, secret, lead_id, "recycled", reason="no_budget_yet")
    assert applied.status_code == 202, applied.text
    assert applied.json() == {"status": "applied", "lead_id": lead_id, "stage": "recycled", "cycle": 2}

    story = wait_for_event(feedback, lead_id, "lead.nurture", count=2)
    recycled_nurture = [e for e in story["events"] if e["type"] == "lead.nurture"][-1]
    assert recycled_nurture["producer"] == "feedback"
    assert recycled_nurture["payload"]["cycle"] == 2
    assert recycled_nurture["payload"]["reason"] == "recycled by sales: no_budget_yet"

    # new interest after recycling qualifies the lead again, as cycle 2
    # activity and outcomes travel on different topics: wait until scoring opened cycle 2
    wait_for(lambda: scoring.get(f"/leads/{lead_id}/score").json()["cycle"] == 2, what="scoring cycle 2")
    intake.post("/activities", json={"email": email, "activity_type": "pricing_page_view"})
    story = wait_for_event(feedback, lead_id, "lead.routed", count=2)
    assert [a["cycle"] for a in routing.get(f"/leads/{lead_id}/assignments").json()] == [1, 2]
    assert story["stage"] == "routed" and story["cycle"] == 2

    types = [e["type"] for e in story["events"]]
    assert types == [
        "lead.captured", "lead.scored", "lead.nurture",       # fit alone is not enough
        "lead.activity", "lead.scored", "lead.routed",        # the demo request qualifies
        "lead.outcome", "lead.outcome", "lead.nurture",       # accepted, then recycled
        "lead.activity", "lead.scored", "lead.routed",        # qualifies again: cycle 2
    ]
    stamps = [e["occurred_at"] for e in story["events"]]
    assert stamps == sorted(stamps)


def test_retried_post_with_the_same_idempotency_key_makes_one_lead(intake, feedback, routing, email):
    first = intake.post("/leads", json={"email": email, **QUALIFIED}, headers={"Idempotency-Key": email})
    second = intake.post("/leads", json={"email": email, **QUALIFIED}, headers={"Idempotency-Key": email})
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"

    lead_id = first.json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    # a sentinel: a new submission of the same person travels the same partitions after anything
    # the retry could have caused, so once its score is on the timeline, that would be there too
    sentinel = intake.post("/leads", json={"email": email, **QUALIFIED}, headers={"Idempotency-Key": f"s-{email}"})
    assert sentinel.json()["submission_id"] != first.json()["submission_id"]
    wait_for_event(feedback, lead_id, "lead.scored", count=2)
    types = [e["type"] for e in timeline(feedback, lead_id)["events"]]
    assert types.count("lead.captured") == 2 and types.count("lead.routed") == 1  # the first, and the sentinel
    assert len(routing.get(f"/leads/{lead_id}/assignments").json()) == 1

    reused = intake.post("/leads", json={"email": email, **UNQUALIFIED}, headers={"Idempotency-Key": email})
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["field"] == "header.Idempotency-Key"


def test_invalid_input_is_refused_with_the_field_and_the_reason(intake, email):
    response = intake.post("/leads", json={"email": "not-an-address", "company_size": -5, "colour": "red"})
    assert response.status_code == 422
    errors = {e["field"]: e["reason"] for e in response.json()["detail"]}
    assert "not an email address" in errors["email"]
    assert "greater than or equal to 0" in errors["company_size"]
    assert "colour" in errors and "not permitted" in errors["colour"]

    missing = intake.post("/activities", json={"email": email})
    assert {e["field"] for e in missing.json()["detail"]} == {"activity_type"}


def test_sources_must_present_a_valid_key(stack, email):
    import httpx
    url = f"{stack.urls['intake']}/leads"
    assert httpx.post(url, json={"email": email}).status_code == 401
    assert httpx.post(url, json={"email": email}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    key = stack.secrets.intake_api_keys["marketing-automation"]
    assert httpx.post(url, json={"email": email}, headers={"X-Api-Key": key}).status_code == 202


def test_crm_webhook_refusals_apply_nothing(stack, intake, feedback, email):
    secret = stack.secrets.crm_webhook_secret
    lead_id = post_lead(intake, email, QUALIFIED)["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")

    bad = send_outcome(feedback, secret, lead_id, "accepted", signing_secret="not-the-secret")
    stale = send_outcome(feedback, secret, lead_id, "accepted", timestamp=int(time.time()) - 3600)
    assert (bad.status_code, stale.status_code) == (401, 401)
    assert "does not match" in bad.json()["detail"] and "tolerance" in stale.json()["detail"]
    unsigned = feedback.post("/webhooks/crm", json={"delivery_id": "x", "lead_id": lead_id, "outcome": "won"})
    assert unsigned.status_code == 401

    won_early = send_outcome(feedback, secret, lead_id, "won", amount="1000", currency="EUR")
    assert won_early.status_code == 409 and "stage 'routed'" in won_early.json()["detail"]
    unknown = send_outcome(feedback, secret, "00000000-0000-0000-0000-000000000000", "accepted")
    assert unknown.status_code == 404
    assert timeline(feedback, lead_id)["stage"] == "routed"  # none of it was applied

    ok = send_outcome(feedback, secret, lead_id, "accepted", delivery_id=f"d-{lead_id}")
    replay = send_outcome(feedback, secret, lead_id, "accepted", delivery_id=f"d-{lead_id}")
    assert (ok.status_code, replay.status_code) == (202, 401)
    assert timeline(feedback, lead_id)["stage"] == "accepted"
    # a sentinel outcome after the replay, on the same lead's partition: once it is on the
    # timeline, anything the replay had caused would be there before it
    assert send_outcome(feedback, secret, lead_id, "converted").status_code == 202
    story = wait_for_event(feedback, lead_id, "lead.outcome", count=2)
    outcomes = [e["payload"]["outcome"] for e in story["events"] if e["type"] == "lead.outcome"]
    assert outcomes == ["accepted", "converted"]


def test_the_callers_correlation_id_follows_the_lead_through_every_service(intake, feedback, email):
    response = intake.post("/leads", json={"email": email, **QUALIFIED},
                           headers={"X-Correlation-Id": "crm-sync-42"})
    assert response.headers["X-Correlation-Id"] == "crm-sync-42"
    story = wait_for_event(feedback, response.json()["lead_id"], "lead.routed")
    assert {e["correlation_id"] for e in story["events"]} == {"crm-sync-42"}


def test_an_opportunity_is_won_with_its_amount_and_a_bad_reason_is_refused(stack, intake, feedback, email):
    secret = stack.secrets.crm_webhook_secret
    lead_id = post_lead(intake, email, QUALIFIED)["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    vague = send_outcome(feedback, secret, lead_id, "rejected", reason="not great")
    assert vague.status_code == 422 and vague.json()["detail"][0]["field"] == "reason"
    assert send_outcome(feedback, secret, lead_id, "accepted").status_code == 202
    assert send_outcome(feedback, secret, lead_id, "converted").status_code == 202
    no_amount = send_outcome(feedback, secret, lead_id, "won")
    assert no_amount.status_code == 422
    won = send_outcome(feedback, secret, lead_id, "won", amount="12500.00", currency="EUR")
    assert won.status_code == 202 and won.json()["stage"] == "won"
    story = wait_for_event(feedback, lead_id, "lead.outcome", count=3)
    outcomes = [e["payload"] for e in story["events"] if e["type"] == "lead.outcome"]
    assert [o["outcome"] for o in outcomes] == ["accepted", "converted", "won"]
    assert outcomes[-1]["amount"] == "12500.00" and outcomes[-1]["currency"] == "EUR"


def test_a_rejection_and_a_loss_are_applied_with_their_agreed_reasons(stack, intake, feedback, email):
    secret = stack.secrets.crm_webhook_secret
    rejected_id = post_lead(intake, email, QUALIFIED)["lead_id"]
    lost_id = post_lead(intake, email.replace("@", ".lost@"), QUALIFIED)["lead_id"]
    for lead_id in (rejected_id, lost_id):
        wait_for_event(feedback, lead_id, "lead.routed")

    rejected = send_outcome(feedback, secret, rejected_id, "rejected", reason="wrong_persona")
    assert rejected.status_code == 202 and rejected.json()["stage"] == "rejected"

    assert send_outcome(feedback, secret, lost_id, "accepted").status_code == 202
    unexplained = send_outcome(feedback, secret, lost_id, "lost")
    off_list = send_outcome(feedback, secret, lost_id, "lost", reason="bad vibes")
    assert (unexplained.status_code, off_list.status_code) == (422, 422)
    assert "agreed reasons" in off_list.json()["detail"][0]["reason"]
    assert timeline(feedback, lost_id)["stage"] == "accepted"  # the refused losses changed nothing
    lost = send_outcome(feedback, secret, lost_id, "lost", reason="competitor")
    assert lost.status_code == 202 and lost.json()["stage"] == "lost"

    story = wait_for_event(feedback, rejected_id, "lead.outcome")
    payload = [e for e in story["events"] if e["type"] == "lead.outcome"][0]["payload"]
    assert (payload["outcome"], payload["reason"]) == ("rejected", "wrong_persona")
    story = wait_for_event(feedback, lost_id, "lead.outcome", count=2)
    payloads = [e["payload"] for e in story["events"] if e["type"] == "lead.outcome"]
    assert [(p["outcome"], p["reason"]) for p in payloads] == [("accepted", None), ("lost", "competitor")]


def test_a_recycle_with_a_retry_after_holds_the_lead_in_nurture_and_the_funnel_counts_its_reason(
        stack, intake, feedback, scoring, email):
    import csv
    import io
    import uuid
    from datetime import UTC, datetime, timedelta

    secret = stack.secrets.crm_webhook_secret
    campaign = f"loop-{uuid.uuid4().hex[:8]}"
    lead_id = post_lead(intake, email, {**QUALIFIED, "utm_campaign": campaign})["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    assert send_outcome(feedback, secret, lead_id, "accepted").status_code == 202
    refused = send_outcome(feedback, secret, lead_id, "recycled", reason="call me later")
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "reason"

    retry_after = (datetime.now(UTC) + timedelta(days=45)).date().isoformat()
    applied = send_outcome(feedback, secret, lead_id, "recycled", reason="timing", retry_after=retry_after)
    assert applied.status_code == 202, applied.text
    story = wait_for_event(feedback, lead_id, "lead.nurture")
    [nurture] = [e for e in story["events"] if e["type"] == "lead.nurture"]
    assert nurture["payload"]["reason"] == f"recycled by sales: timing; back in nurture until {retry_after}"

    score = wait_for(lambda: (s := scoring.get(f"/leads/{lead_id}/score").json())["cycle"] == 2 and s,
                     what="scoring's new cycle")
    assert (score["engagement_score"], score["score"], score["stage"]) == (0, score["fit_score"], "below")
    assert score["nurture_until"] == retry_after
    # interest before the date counts, yet the lead is not routed again
    intake.post("/activities", json={"email": email, "activity_type": "demo_request"})
    held = wait_for(lambda: (s := scoring.get(f"/leads/{lead_id}/score").json())["engagement_score"] > 0 and s,
                    what="the demo request scored")
    assert (held["stage"], held["qualified"]) == ("below", False)
    assert held["held_because"] == f"recycled: held in nurture until {retry_after} (retry_after)"

    report = feedback.get("/reports/funnel", params={"group_by": "campaign"}).json()
    [mine] = [g for g in report["groups"] if g["key"] == campaign]
    assert (mine["recycled"], mine["recycled_by_reason"]) == (1, {"timing": 1})
    text = feedback.get("/reports/funnel", params={"group_by": "campaign", "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    [row] = [r for r in rows if r["group"] == campaign]
    assert (row["recycled_timing"], row["recycled_no_budget_yet"], row["lost_price"]) == ("1", "0", "0")
