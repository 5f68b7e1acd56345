"""One lead's path can be followed through every service's JSON logs by its correlation id."""

from __future__ import annotations

import json
import uuid

from tests.e2e.helpers import QUALIFIED, wait_for, wait_for_event

SERVICES = ("intake", "scoring", "routing", "feedback")


def log_lines(stack, service: str, correlation_id: str) -> list[dict]:
    found = []
    for line in stack.log_path(service).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line a library printed itself
        if isinstance(record, dict) and record.get("correlation_id") == correlation_id:
            found.append(record)
    return found


def test_a_leads_path_through_every_service_shares_one_correlation_id(stack, intake, feedback, email):
    correlation_id = f"trace-{uuid.uuid4().hex[:12]}"
    response = intake.post("/leads", json={"email": email, **QUALIFIED}, headers={"X-Correlation-Id": correlation_id})
    assert response.status_code == 202 and response.headers["x-correlation-id"] == correlation_id
    lead_id = response.json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")

    def every_service_logged():
        lines = {s: log_lines(stack, s, correlation_id) for s in SERVICES}
        return lines if all(lines.values()) else None
    lines = wait_for(every_service_logged, 15, "a log line with the correlation id from every service")

    for service, records in lines.items():
        assert {r["service"] for r in records} == {service}
        assert all(r.get("lead_id") in (None, lead_id) for r in records), service
    assert any(r["message"] == "lead accepted from web-form" for r in lines["intake"])
    assert any(r["message"] == "handled lead.captured" for r in lines["scoring"])
    assert any(r["message"] == "handled lead.scored" for r in lines["routing"])
    handled_by_feedback = {r["message"] for r in lines["feedback"]}
    assert {"handled lead.captured", "handled lead.scored", "handled lead.routed"} <= handled_by_feedback
