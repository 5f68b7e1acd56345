"""The CRM push's pure parts: the body the CRM receives, its signed headers, the
retry schedule and the pusher's refusal of a missing configuration."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from services.routing.domain.crm_message import backoff_s, crm_body, failure_text, signed_headers
from services.routing.use_cases.crm_push import CrmPusher
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured, LeadRouted
from shared.identity import lead_id_for
from shared.webhooks.signature import verify

EMAIL = "ada@acme.com"


def routed(**overrides) -> Envelope:
    payload = {"email": EMAIL, "cycle": 2, "owner_id": "o-1", "owner_name": "Olivia Owner", "policy_version": "v7",
               "strategy": "round_robin", "reason": "EMEA enterprise team, next in turn", "score": 87,
               "team_id": "emea", "rule": "emea-enterprise", "sla_due_at": datetime(2026, 11, 23, 10, 15, tzinfo=UTC),
               "reassigned_from": None, "decision": {"candidates": ["o-1", "o-2"]}, **overrides}
    return Envelope(event_id=uuid.UUID("00000000-0000-4000-8000-000000000001"), type="lead.routed",
                    occurred_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC), lead_id=lead_id_for(EMAIL),
                    correlation_id="c-1", producer="routing",
                    payload=LeadRouted(**payload).model_dump(mode="json"))


def test_body_is_the_documented_crm_document_in_a_stable_order():
    body = crm_body(routed())
    assert list(orjson.loads(body)) == ["event_id", "type", "lead_id", "email", "cycle", "owner", "team_id",
                                        "rule", "sla_due_at", "reason", "reassigned_from", "occurred_at"]
    assert orjson.loads(body) == {
        "event_id": "00000000-0000-4000-8000-000000000001",
        "type": "lead.routed",
        "lead_id": str(lead_id_for(EMAIL)),
        "email": EMAIL,
        "cycle": 2,
        "owner": {"id": "o-1", "name": "Olivia Owner"},
        "team_id": "emea",
        "rule": "emea-enterprise",
        "sla_due_at": "2026-11-23T10:15:00Z",
        "reason": "EMEA enterprise team, next in turn",
        "reassigned_from": None,
        "occurred_at": "2026-11-23T10:00:00Z",
    }
    assert body == crm_body(routed()), "the same event always gives the same bytes"


def test_body_keeps_nulls_and_a_reassignment():
    doc = orjson.loads(crm_body(routed(team_id=None, rule=None, sla_due_at=None, reassigned_from="o-9")))
    assert (doc["team_id"], doc["rule"], doc["sla_due_at"], doc["reassigned_from"]) == (None, None, None, "o-9")


def test_only_lead_routed_events_become_a_crm_body():
    nurture = Envelope(type="lead.nurture", lead_id=lead_id_for(EMAIL), correlation_id="c", producer="routing",
                       payload=LeadNurtured(email=EMAIL, cycle=1, reason="x").model_dump(mode="json"))
    with pytest.raises(ValueError, match="lead.routed"):
        crm_body(nurture)


def test_headers_sign_exactly_the_body_with_the_inbound_scheme():
    body = crm_body(routed())
    headers = signed_headers("s3cret", body, uuid.UUID("00000000-0000-4000-8000-000000000001"), 1_790_000_000)
    assert headers["Content-Type"] == "application/json"
    assert headers["Handoff-Delivery-Id"] == "00000000-0000-4000-8000-000000000001"
    expected = hmac.new(b"s3cret", b"1790000000." + body, hashlib.sha256).hexdigest()
    assert headers["Handoff-Signature"] == f"t=1790000000,v1={expected}"
    assert verify(headers["Handoff-Signature"], body, ["s3cret"], now=1_790_000_010) == 1_790_000_000


def test_a_changed_byte_or_another_secret_does_not_verify():
    body = crm_body(routed())
    header = signed_headers("s3cret", body, "d-1", 1_790_000_000)["Handoff-Signature"]
    with pytest.raises(ValueError, match="does not match"):
        verify(header, body.replace(b"Olivia", b"Oliver"), ["s3cret"], now=1_790_000_000)
    with pytest.raises(ValueError, match="does not match"):
        verify(header, body, ["other"], now=1_790_000_000)


@pytest.mark.parametrize("attempts, low, high", [
    (1, 0.8, 1.2), (2, 1.6, 2.4), (3, 3.2, 4.8), (9, 204.8, 300.0), (10, 240.0, 300.0), (10_000, 240.0, 300.0),
])
def test_backoff_doubles_with_twenty_percent_jitter_up_to_the_cap(attempts, low, high):
    assert backoff_s(attempts, base_s=1.0, max_s=300.0, rand=lambda: 0.0) == pytest.approx(low)
    assert backoff_s(attempts, base_s=1.0, max_s=300.0, rand=lambda: 0.999999) == pytest.approx(high, rel=1e-5)


def test_each_wait_is_longer_than_the_last_until_the_cap_whatever_the_jitter():
    for attempts in range(1, 8):
        assert backoff_s(attempts, base_s=0.05, max_s=300.0, rand=lambda: 1.0) \
            < backoff_s(attempts + 1, base_s=0.05, max_s=300.0, rand=lambda: 0.0)


def test_failure_text_keeps_the_status_and_200_characters_of_the_body():
    assert failure_text(503, "x" * 1000) == "HTTP 503: " + "x" * 200


@pytest.mark.parametrize("url", ["", "   ", None])
def test_the_pusher_refuses_to_start_without_a_url(url):
    with pytest.raises(ValueError, match="URL"):
        CrmPusher(None, url=url, secret="s3cret")


def test_the_pusher_refuses_a_relative_url_and_an_empty_secret():
    with pytest.raises(ValueError, match="http"):
        CrmPusher(None, url="crm.example.com/hooks", secret="s3cret")
    with pytest.raises(ValueError, match="secret"):
        CrmPusher(None, url="https://crm.example.com/hooks", secret="")
