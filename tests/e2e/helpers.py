"""Polling and signing helpers shared by the end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import httpx
import orjson

from shared.webhooks.signature import signature_header

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 20.0, what: str = "condition") -> T:
    """Poll until ``probe`` returns something truthy; fail with ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def timeline(feedback: httpx.Client, lead_id: str) -> dict | None:
    response = feedback.get(f"/leads/{lead_id}/timeline")
    return response.json() if response.status_code == 200 else None


def event_types(feedback: httpx.Client, lead_id: str) -> list[str]:
    found = timeline(feedback, lead_id)
    return [e["type"] for e in found["events"]] if found else []


def wait_for_event(feedback: httpx.Client, lead_id: str, event_type: str, count: int = 1,
                   timeout_s: float = 20.0) -> dict:
    def probe() -> dict | None:
        found = timeline(feedback, lead_id)
        if found and sum(e["type"] == event_type for e in found["events"]) >= count:
            return found
        return None
    return wait_for(probe, timeout_s, f"{count} x {event_type} on lead {lead_id}")


def send_outcome(feedback: httpx.Client, secret: str, lead_id: str, outcome: str, *,
                 timestamp: int | None = None, delivery_id: str | None = None,
                 signing_secret: str | None = None, **extra) -> httpx.Response:
    body = orjson.dumps({"delivery_id": delivery_id or str(uuid.uuid4()), "lead_id": lead_id,
                         "outcome": outcome, **extra})
    ts = int(time.time()) if timestamp is None else timestamp
    return feedback.post("/webhooks/crm", content=body, headers={
        "Content-Type": "application/json",
        "Handoff-Signature": signature_header(signing_secret or secret, ts, body),
    })


QUALIFIED = {"first_name": "Ada", "company": "Acme", "job_title": "VP Sales", "company_size": 300,
             "industry": "software", "country": "US"}
UNQUALIFIED = {"first_name": "Sam", "job_title": "Student", "company_size": 3, "country": "BR"}
