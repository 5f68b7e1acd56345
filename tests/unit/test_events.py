import uuid

import orjson
import pytest

from shared.events.codec import UndecodableEvent, decode
from shared.events.envelope import Envelope, lead_id_for
from shared.events.payloads import LeadCaptured, LeadScored, RuleHit, topic_for


def captured_envelope() -> Envelope:
    payload = LeadCaptured(submission_id=uuid.uuid4(), source="web-form", email="ada@acme.com",
                           company_size=120, utm={"utm_source": "linkedin"})
    return Envelope(type="lead.captured", lead_id=lead_id_for("ada@acme.com"), correlation_id="c-1",
                    producer="intake", payload=payload.model_dump(mode="json"))


def test_round_trip_keeps_every_field():
    env = captured_envelope()
    event = decode(env.to_bytes())
    assert event.envelope == env
    assert isinstance(event.payload, LeadCaptured)
    assert event.payload.company_size == 120


def test_lead_identity_is_stable_per_email_and_is_the_kafka_key():
    assert lead_id_for("ada@acme.com") == lead_id_for("ada@acme.com")
    assert lead_id_for("ada@acme.com") != lead_id_for("bob@acme.com")
    assert captured_envelope().key == str(lead_id_for("ada@acme.com")).encode()


def test_follow_keeps_lead_and_correlation_and_points_at_the_cause():
    cause = captured_envelope()
    scored = cause.follow(type="lead.scored", producer="scoring", payload=LeadScored(
        email="ada@acme.com", cycle=1, definition_version="v1", fit_score=20, engagement_score=0,
        score=20, threshold=50, qualified=False, rules_fired=[RuleHit(rule="r", points=20)]))
    assert scored.lead_id == cause.lead_id
    assert scored.correlation_id == cause.correlation_id
    assert scored.causation_id == cause.event_id
    assert scored.event_id != cause.event_id
    assert topic_for(scored.type) == "lead.scored.v1"


@pytest.mark.parametrize("raw, reason", [
    (None, "no value"),
    (b"not json", "not an event envelope"),
    (orjson.dumps({"type": "lead.captured"}), "not an event envelope"),
])
def test_garbage_is_undecodable(raw, reason):
    with pytest.raises(UndecodableEvent, match=reason):
        decode(raw)


def test_unknown_type_and_bad_payload_are_undecodable():
    env = captured_envelope().model_dump(mode="json")
    with pytest.raises(UndecodableEvent, match="unknown event type"):
        decode(orjson.dumps({**env, "type": "lead.teleported"}))
    with pytest.raises(UndecodableEvent, match="bad lead.captured payload"):
        decode(orjson.dumps({**env, "payload": {"email": "x@y.z"}}))
