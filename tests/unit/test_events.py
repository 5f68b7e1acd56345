import uuid

import orjson
import pytest

from shared.events.codec import UndecodableEvent, decode
from shared.events.envelope import Envelope
from shared.events.payloads import PAYLOADS, LeadCaptured, LeadProfile, LeadScored, LeadScoredV1, RuleHit, topic_of
from shared.events.topics import ALL_TOPICS
from shared.identity import lead_id_for


def captured_envelope() -> Envelope:
    payload = LeadCaptured(submission_id=uuid.uuid4(), source="web-form", email="ada@acme.com",
                           company_size=120, utm={"utm_source": "linkedin"})
    return Envelope.start(payload, lead_id=lead_id_for("ada@acme.com"), correlation_id="c-1", producer="intake")


def scored_payload(**overrides) -> LeadScored:
    return LeadScored(**{"email": "ada@acme.com", "cycle": 1, "definition_version": "v1", "fit_score": 20,
                         "engagement_score": 0, "score": 20, "threshold": 50, "qualified": False,
                         "rules_fired": [RuleHit(rule="r", points=20)], **overrides})


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
    scored = cause.follow(scored_payload(), producer="scoring")
    assert scored.lead_id == cause.lead_id
    assert scored.correlation_id == cause.correlation_id
    assert scored.causation_id == cause.event_id
    assert scored.event_id != cause.event_id


def test_the_payload_class_names_the_type_version_and_topic_so_they_cannot_disagree():
    scored = captured_envelope().follow(scored_payload(), producer="scoring")
    assert (scored.type, scored.version, scored.topic) == ("lead.scored", 2, "lead.scored.v2")
    assert topic_of("lead.captured") == "lead.captured.v1" == captured_envelope().topic
    assert {p.topic for p in PAYLOADS} <= set(ALL_TOPICS)
    assert len({(p.event_type, p.version) for p in PAYLOADS}) == len(PAYLOADS)
    for payload in PAYLOADS:  # the topic name carries the payload's version
        assert payload.topic.name.endswith(f".v{payload.version}")


def test_a_version_1_score_is_read_and_upgraded_to_the_typed_profile():
    old = LeadScoredV1(email="ada@acme.com", cycle=1, definition_version="v1", fit_score=20, engagement_score=0,
                       score=20, threshold=50, qualified=False, rules_fired=[],
                       attributes={"company": "Acme", "country": "DE", "company_size": "300", "industry": True,
                                   "unknown": {"x": 1}})
    raw = Envelope.start(old, lead_id=lead_id_for("ada@acme.com"), correlation_id="c", producer="scoring")
    assert (raw.version, raw.topic) == (1, "lead.scored.v1")
    event = decode(raw.to_bytes())
    assert isinstance(event.payload, LeadScored)
    assert event.payload.profile == LeadProfile(company="Acme", country="DE", company_size=300)


def test_a_stage_or_action_outside_the_contract_is_refused():
    with pytest.raises(ValueError, match="stage"):
        scored_payload(stage="hot")


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


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "version", "type", "lead_id", "correlation_id",
                                   "producer", "payload"])
def test_an_envelope_without_a_field_every_writer_sets_is_poison_not_completed_with_a_default(field):
    """Completed with a fresh event id, the same bytes delivered twice would be applied twice."""
    env = captured_envelope().model_dump(mode="json")
    del env[field]
    raw = orjson.dumps(env)
    with pytest.raises(UndecodableEvent, match=f"lacks {field}"):
        decode(raw)


def test_the_same_bytes_decode_to_the_same_event_id_every_time():
    raw = captured_envelope().to_bytes()
    assert decode(raw).envelope.event_id == decode(raw).envelope.event_id
