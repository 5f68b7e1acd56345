"""A person's data, exported: one document with what every service holds about them (profile,
submissions, scores, decisions, outcomes, timeline), for the privacy role only, asked by any
spelling of the email or by lead id; the audit log records the export without the data."""

from __future__ import annotations

import json
import uuid

import httpx
from typer.testing import CliRunner

from ops.privacy import app as privacy_app
from tests.e2e.helpers import QUALIFIED, send_outcome, wait_for_event

SERVICES = ("intake", "scoring", "routing", "feedback")


def export(stack, person: str, role: str = "privacy") -> tuple[int, str]:
    urls = [arg for service in SERVICES for arg in (f"--{service}-url", stack.urls[service])]
    result = CliRunner().invoke(privacy_app, ["export", person, "--token", stack.secrets.role_tokens[role], *urls])
    return result.exit_code, result.output


async def test_the_export_lists_every_piece_every_service_holds(stack, intake, feedback, email):
    tag = uuid.uuid4().hex[:8]
    first, last, phone = f"Ada{tag}", f"Lovelace{tag}", "+442079460958"
    posted = intake.post("/leads", json={**QUALIFIED, "email": email, "first_name": first, "last_name": last,
                                         "phone": phone})
    assert posted.status_code == 202, posted.text
    lead_id = posted.json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    assert send_outcome(feedback, stack.secrets.crm_webhook_secret, lead_id, "accepted").status_code == 202
    wait_for_event(feedback, lead_id, "lead.outcome")

    local, domain = email.split("@")
    code, output = export(stack, f" {local.upper()}+crm@{domain} ")  # any spelling of the person
    assert code == 0, output
    document = json.loads(output)
    assert document["lead_id"] == lead_id
    held = document["services"]
    assert {table for table in held["intake"]} >= {"submissions"}
    assert {table for table in held["scoring"]} >= {"leads", "submissions"}
    assert {table for table in held["routing"]} >= {"routed_leads", "assignments", "decisions"}
    assert {table for table in held["feedback"]} >= {"lead_stages", "outcomes", "timeline"}
    [lead] = held["scoring"]["leads"]
    assert (lead["email"], lead["profile"]["first_name"], lead["profile"]["last_name"], lead["profile"]["phone"]) == (
        email, first, last, phone)
    [submission] = held["intake"]["submissions"]  # intake keeps what it answered, not the fields
    assert submission["lead_id"] == lead_id and submission["response"]["lead_id"] == lead_id
    assert [o["outcome"] for o in held["feedback"]["outcomes"]] == ["accepted"]
    kinds = {entry["type"] for entry in held["feedback"]["timeline"]}
    assert {"lead.captured", "lead.scored", "lead.routed", "lead.outcome"} <= kinds
    assert held["routing"]["assignments"][0]["lead_id"] == lead_id

    code, by_id = export(stack, lead_id)
    assert code == 0 and json.loads(by_id)["services"] == held

    with httpx.Client(base_url=stack.urls["feedback"], timeout=10,
                      headers={"Authorization": f"Bearer {stack.secrets.role_tokens['revops']}"}) as revops:
        recorded = revops.get("/audit", params={"action": "/privacy/exports", "limit": 20}).json()["entries"]
    ours = [e for e in recorded if e["request"] == {"lead_id": lead_id}]
    assert {e["service"] for e in ours} == set(SERVICES) and len(ours) == 2 * len(SERVICES)
    assert {e["actor"] for e in ours} == {"local-privacy"}
    assert all(e["after"]["rows"]["leads"] == 1 for e in ours if e["service"] == "scoring")  # counts, not rows
    for value in (email, first, last, phone):
        assert value not in json.dumps(recorded), f"{value!r} in the audit log"


def test_only_the_privacy_role_exports(stack, email):
    for role in ("viewer", "revops", "operator"):
        code, output = export(stack, email, role=role)
        assert code == 1 and "refused the token" in output and "privacy" in output, (role, output)
    for service in SERVICES:
        assert httpx.post(f"{stack.urls[service]}/privacy/exports", json={"email": email}).status_code == 401


def test_an_export_names_the_person_once(stack):
    token = stack.secrets.role_tokens["privacy"]
    with httpx.Client(base_url=stack.urls["scoring"], timeout=10,
                      headers={"Authorization": f"Bearer {token}"}) as privacy:
        both = privacy.post("/privacy/exports", json={"email": "a@acme.com", "lead_id": str(uuid.uuid4())})
        assert both.status_code == 422 and "one of them" in both.text
        assert privacy.post("/privacy/exports", json={}).status_code == 422
        assert privacy.post("/privacy/exports", json={"email": "ada@localhost"}).status_code == 422
        nobody = privacy.post("/privacy/exports", json={"lead_id": str(uuid.uuid4())})
        assert nobody.status_code == 200 and nobody.json()["tables"] == {}
