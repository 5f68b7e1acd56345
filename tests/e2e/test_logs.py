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
        if isinstance(record, dict) and (record.get("correlation_id") == correlation_id
                                         or correlation_id in (record.get("handled") or {})):
            found.append(record)
    return found


def handled(records: list[dict], correlation_id: str) -> set[str]:
    """The event types consumers said they handled under this correlation id (one line per batch)."""
    return {t for r in records for t in (r.get("handled") or {}).get(correlation_id, [])}


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
    assert "lead.captured" in handled(lines["scoring"], correlation_id)
    assert "lead.scored" in handled(lines["routing"], correlation_id)
    assert {"lead.captured", "lead.scored", "lead.routed"} <= handled(lines["feedback"], correlation_id)
    batch_lines = [r for s in ("scoring", "routing", "feedback") for r in lines[s] if "handled" in r]
    assert batch_lines and all(r["message"] == f"handled {r['events']} events" for r in batch_lines)
