"""Reports on the real stack: a campaign's funnel, its CSV export, and the planner."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

from tests.e2e.helpers import (
    QUALIFIED,
    UNQUALIFIED,
    send_outcome,
    wait_for,
    wait_for_event,
)


def test_a_campaign_funnel_counts_what_happened_to_its_leads(stack, intake, feedback):
    secret = stack.secrets.crm_webhook_secret
    campaign = f"report-{uuid.uuid4().hex[:8]}"
    ids = []
    for i, profile in enumerate([QUALIFIED, QUALIFIED, QUALIFIED, UNQUALIFIED]):
        email = f"r{i}.{uuid.uuid4().hex[:8]}@report{i}.com"
        ids.append(intake.post("/leads", json={"email": email, **profile, "utm_campaign": campaign}).json()["lead_id"])
    for lead_id in ids[:3]:
        wait_for_event(feedback, lead_id, "lead.routed")
    wait_for_event(feedback, ids[3], "lead.nurture")
    won, rejected, _ = ids[:3]
    for outcome, extra in (("accepted", {}), ("converted", {}), ("won", {"amount": "5000", "currency": "EUR"})):
        assert send_outcome(feedback, secret, won, outcome, **extra).status_code == 202
    assert send_outcome(feedback, secret, rejected, "rejected", reason="no_budget").status_code == 202
    wait_for_event(feedback, won, "lead.outcome", count=3)
    wait_for_event(feedback, rejected, "lead.outcome")

    def campaign_group():
        report = feedback.get("/reports/funnel", params={"group_by": "campaign"}).json()
        return next((g for g in report["groups"] if g["key"] == campaign), None)
    group = wait_for(campaign_group, what="the campaign in the report")
    assert (group["leads"], group["mqls"], group["accepted"], group["won"]) == (4, 3, 1, 1)
    assert group["rejected"] == 1 and group["rejected_by_reason"] == {"no_budget": 1}
    assert Decimal(group["revenue"]) == Decimal("5000")
    assert group["conversion"]["lead_to_mql"] == "0.7500"
    assert group["time_to_assigned"]["count"] == 3

    exported = feedback.get("/reports/funnel", params={"group_by": "campaign", "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert rows[campaign]["leads"] == "4" and rows[campaign]["rejected_no_budget"] == "1" and "total" in rows

    plan = feedback.post("/reports/plan", json={"revenue_goal": "50000", "period_days": 30, "window_days": 30})
    assert plan.status_code == 200, plan.text
    assert int(plan.json()["needed"]["customers"]) >= 1
