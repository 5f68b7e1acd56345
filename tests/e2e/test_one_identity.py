"""One identity on the real stack: the spellings of one person's address (a plus tag, case,
googlemail, Gmail dots) are one lead id from intake, one lead in scoring, one timeline, the
same lead for the CRM and the operator tool; the addresses travel as sent."""

from __future__ import annotations

import time
import uuid

import orjson

from ops.timeline import resolve_lead
from shared.db.rekey import LOWER_CASED_EMAIL as NO_RULES
from shared.identity import lead_id_for
from shared.webhooks.signature import signature_header
from tests.e2e.helpers import QUALIFIED, UNQUALIFIED, wait_for_event


def post_lead(intake, email: str, profile: dict) -> str:
    response = intake.post("/leads", json={"email": email, **profile})
    assert response.status_code == 202, response.text
    lead_id: str = response.json()["lead_id"]
    return lead_id


def test_a_tagged_address_and_the_plain_one_in_capitals_are_one_lead(intake, scoring, feedback, routing, stack,
                                                                      email):
    local, domain = email.split("@")
    tagged, shouted = f"{local}+news@{domain}", f"{local.upper()}@{domain.upper()}"

    first = post_lead(intake, tagged, QUALIFIED)
    second = post_lead(intake, shouted, {"company": "Acme Corp"})

    assert first == second == str(lead_id_for(email))
    story = wait_for_event(feedback, first, "lead.scored", count=2)
    captured = [e["payload"] for e in story["events"] if e["type"] == "lead.captured"]
    assert [c["email"] for c in captured] == [tagged, email]  # as sent (lower-cased), not the identity
    assert {c["company_domain"] for c in captured} == {domain}  # the real domain, for account matching

    profile = scoring.get(f"/leads/{first}/profile").json()
    assert [s["fields"]["email"] for s in profile["submissions"]] == [tagged, email]  # one lead, both submissions
    assert profile["profile"]["company"] == "Acme Corp" and profile["profile"]["job_title"] == "VP Sales"
    assert scoring.get(f"/leads/{lead_id_for(tagged, policy=NO_RULES)}/profile").status_code == 404  # no second lead

    wait_for_event(feedback, first, "lead.routed")
    assert len(routing.get(f"/leads/{first}/assignments").json()) == 1

    # the CRM may name the person by any spelling; the operator tool finds them by any spelling too
    body = orjson.dumps({"delivery_id": str(uuid.uuid4()), "email": f"{local}+crm@{domain}", "outcome": "accepted"})
    answer = feedback.post("/webhooks/crm", content=body, headers={
        "Content-Type": "application/json",
        "Handoff-Signature": signature_header(stack.secrets.crm_webhook_secret, int(time.time()), body)})
    assert answer.status_code == 202, answer.text
    assert answer.json()["lead_id"] == first
    assert str(resolve_lead(f" {local.title()}+ops@{domain} ", stack.database_url)) == first


def test_googlemail_and_gmail_dots_are_one_gmail_lead(intake, scoring, feedback):
    name = f"test{uuid.uuid4().hex[:12]}"
    dotted = f"{name[:2].upper()}.{name[2:]}@GoogleMail.com"
    tagged = f"{name}+promo@gmail.com"

    first = post_lead(intake, dotted, UNQUALIFIED)
    second = post_lead(intake, tagged, UNQUALIFIED)

    assert first == second == str(lead_id_for(f"{name}@gmail.com"))
    story = wait_for_event(feedback, first, "lead.scored", count=2)
    captured = [e["payload"] for e in story["events"] if e["type"] == "lead.captured"]
    assert [c["email"] for c in captured] == [dotted.lower(), tagged]
    assert [c["company_domain"] for c in captured] == ["googlemail.com", "gmail.com"]  # free mail either way
    profile = scoring.get(f"/leads/{first}/profile").json()
    assert len(profile["submissions"]) == 2
