"""HubSpot's v3 signature and the mapping from its events to outcomes (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path

import pytest

from services.feedback.domain.hubspot import (
    ContactLink,
    HubSpotEvent,
    HubSpotMapping,
    HubSpotMappingError,
    Ignored,
    MappedOutcome,
    Unusable,
    interpret,
    load_mapping,
)
from shared.events.payloads import Outcome
from shared.settings import REPO_CONFIG_DIR
from shared.webhooks.hubspot_signature import canonical_uri, sign_v3, verify_v3
from shared.webhooks.signature import SignatureRefused

SECRET = "client-secret-123"
URI = "https://handoff.example.com/webhooks/hubspot"
BODY = b'[{"eventId":1,"objectId":7}]'
NOW_MS = 1_790_000_000_000


def reference_signature(secret: str, message: str) -> str:
    """Computed here from HubSpot's published recipe, apart from the code under test."""
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def test_signature_follows_hubspots_recipe():
    ts = str(NOW_MS)
    assert sign_v3(SECRET, "POST", URI, BODY, ts) == reference_signature(SECRET, "POST" + URI + BODY.decode() + ts)


def test_listed_characters_are_decoded_before_signing_and_others_are_not():
    encoded = "https://h.example.com/webhooks/hubspot?a=1%2C2&b=x%40y.com&c=%20"
    assert canonical_uri(encoded) == "https://h.example.com/webhooks/hubspot?a=1,2&b=x@y.com&c=%20"
    assert canonical_uri("https://h.example.com/p?q=%3a%2f") == "https://h.example.com/p?q=:/"


def _verify(signature, timestamp, *, secrets=(SECRET,), now_ms=NOW_MS, body=BODY, uri=URI, method="POST"):
    return verify_v3(signature, timestamp, method=method, uri=uri, body=body, secrets=list(secrets), now_ms=now_ms)


def test_a_good_signature_is_believed():
    ts = str(NOW_MS - 1000)
    assert _verify(sign_v3(SECRET, "POST", URI, BODY, ts), ts) == NOW_MS - 1000


@pytest.mark.parametrize("change", ["body", "uri", "method", "timestamp", "secret"])
def test_any_signed_part_changed_is_refused(change):
    ts = str(NOW_MS)
    signature = sign_v3(SECRET, "POST", URI, BODY, ts)
    kwargs = {"body": BODY + b" " if change == "body" else BODY,
              "uri": URI + "x" if change == "uri" else URI,
              "method": "PUT" if change == "method" else "POST",
              "secrets": ("another",) if change == "secret" else (SECRET,)}
    timestamp = str(NOW_MS - 1) if change == "timestamp" else ts
    with pytest.raises(SignatureRefused, match="does not match"):
        _verify(signature, timestamp, **kwargs)


def test_stale_or_future_timestamps_are_refused():
    for ts in (NOW_MS - 5 * 60 * 1000 - 1, NOW_MS + 5 * 60 * 1000 + 1):
        with pytest.raises(SignatureRefused, match="tolerance"):
            _verify(sign_v3(SECRET, "POST", URI, BODY, str(ts)), str(ts))
    edge = str(NOW_MS - 5 * 60 * 1000)
    assert _verify(sign_v3(SECRET, "POST", URI, BODY, edge), edge)


def test_missing_headers_say_which():
    with pytest.raises(SignatureRefused, match="X-HubSpot-Signature-v3"):
        _verify(None, str(NOW_MS))
    with pytest.raises(SignatureRefused, match="X-HubSpot-Request-Timestamp"):
        _verify("abc", None)
    with pytest.raises(SignatureRefused, match="X-HubSpot-Request-Timestamp"):
        _verify("abc", "yesterday")


def test_rotation_accepts_the_previous_secret_and_no_secret_refuses_all():
    ts = str(NOW_MS)
    old = sign_v3("old-secret", "POST", URI, BODY, ts)
    assert _verify(old, ts, secrets=(SECRET, "old-secret"))
    with pytest.raises(SignatureRefused, match="no HubSpot client secret"):
        _verify(old, ts, secrets=())


MAPPING = HubSpotMapping.model_validate({
    "version": 1, "currency": "eur",
    "outcomes": [
        {"property": "hs_lead_status", "value": "CONNECTED", "outcome": "accepted"},
        {"property": "handoff_rejection_reason", "outcome": "rejected", "reason_from_value": True},
        {"property": "hs_lead_status", "value": "BAD_TIMING", "outcome": "recycled", "reason": "timing"},
        {"property": "recent_deal_amount", "outcome": "won", "amount_from_value": True},
    ],
})


def event(prop: str | None, value: str | None, *, kind="contact.propertyChange", event_id=1, object_id=42):
    return HubSpotEvent(eventId=event_id, subscriptionId=9, portalId=1234, occurredAt=NOW_MS,
                        subscriptionType=kind, objectId=object_id, propertyName=prop, propertyValue=value)


def test_an_email_change_links_the_contact():
    assert interpret(event("email", " Ada@Acme.COM "), MAPPING) == ContactLink("hubspot:1234:42", "ada@acme.com")


def test_mapped_property_changes_become_outcomes():
    accepted = interpret(event("hs_lead_status", "connected"), MAPPING)
    assert isinstance(accepted, MappedOutcome) and accepted.outcome == Outcome.ACCEPTED
    assert accepted.delivery_id == f"hubspot:1234:9:1:42:{NOW_MS}"
    rejected = interpret(event("handoff_rejection_reason", "no_budget"), MAPPING)
    assert (rejected.outcome, rejected.reason) == (Outcome.REJECTED, "no_budget")
    recycled = interpret(event("hs_lead_status", "BAD_TIMING"), MAPPING)
    assert (recycled.outcome, recycled.reason) == (Outcome.RECYCLED, "timing")
    won = interpret(event("recent_deal_amount", "12500.50"), MAPPING)
    assert (won.outcome, won.amount, won.currency) == (Outcome.WON, Decimal("12500.50"), "EUR")


def test_unmapped_events_are_ignored_with_the_reason():
    assert isinstance(interpret(event("hs_lead_status", "NEW"), MAPPING), Ignored)
    assert isinstance(interpret(event("phone", "123"), MAPPING), Ignored)
    assert isinstance(interpret(event(None, None, kind="contact.creation"), MAPPING), Ignored)
    assert isinstance(interpret(event("hs_lead_status", ""), MAPPING), Ignored)


def test_an_amount_that_is_not_one_is_unusable_not_dropped():
    bad = interpret(event("recent_deal_amount", "lots"), MAPPING)
    assert isinstance(bad, Unusable) and "not an amount" in bad.problem
    assert isinstance(interpret(event("recent_deal_amount", "-5"), MAPPING), Unusable)


def test_the_shipped_mapping_file_is_valid():
    mapping = load_mapping(REPO_CONFIG_DIR / "hubspot_mapping.yaml")
    assert mapping.identity_property == "email"
    assert {r.outcome for r in mapping.outcomes} == set(Outcome)


@pytest.mark.parametrize(("rule", "field", "reason"), [
    ({"property": "x", "outcome": "won"}, "outcomes.0", "needs its amount"),
    ({"property": "x", "outcome": "lost"}, "outcomes.0", "needs reason"),
    ({"property": "x", "outcome": "accepted", "amount_from_value": True}, "outcomes.0", "only makes sense"),
    ({"property": "x", "outcome": "promoted"}, "outcomes.0.outcome", "Input should be"),
])
def test_an_invalid_mapping_names_the_field(tmp_path: Path, rule, field, reason):
    import yaml
    path = tmp_path / "hubspot_mapping.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "currency": "EUR", "outcomes": [rule]}))
    with pytest.raises(HubSpotMappingError) as caught:
        load_mapping(path)
    assert f"{field}: " in str(caught.value) and reason in str(caught.value)


def test_a_fixed_reason_outside_the_agreed_vocabulary_stops_the_start_with_the_reason_meant(tmp_path):
    import yaml as _yaml

    from services.feedback.domain.hubspot import HubSpotMappingError, load_mapping
    path = tmp_path / "hubspot_mapping.yaml"
    path.write_text(_yaml.safe_dump({"version": 1, "currency": "EUR", "outcomes": [
        {"property": "hs_lead_status", "value": "BAD_TIMING", "outcome": "recycled", "reason": "timeing"}]}))
    vocabulary = {"recycled": ("timing", "no_budget_yet"), "rejected": ("student",), "lost": ("price",)}
    with pytest.raises(HubSpotMappingError) as refused:
        load_mapping(path, vocabulary)
    assert str(refused.value) == (f"{path} is invalid: outcomes.0.reason: 'timeing' is not an agreed recycled reason "
                                  "(did you mean 'timing'?); agreed: timing, no_budget_yet")
    assert load_mapping(path).outcomes[0].reason == "timeing"  # without a vocabulary, the file alone is checked
