import pytest

from services.feedback.domain.stages import TransitionRefused, next_stage
from shared.events.payloads import Outcome
from shared.webhooks.signature import SignatureRefused, sign, signature_header, verify

BODY = b'{"delivery_id":"d1","outcome":"accepted"}'


def test_valid_signature_passes_and_returns_its_timestamp():
    assert verify(signature_header("s3cret", 1000, BODY), BODY, ["s3cret"], now=1010) == 1000


def test_rotation_accepts_either_secret_and_either_signature():
    header = f"t=1000,v1={sign('old', 1000, BODY)},v1={sign('new', 1000, BODY)}"
    assert verify(header, BODY, ["new"], now=1000) == 1000
    assert verify(signature_header("old", 1000, BODY), BODY, ["new", "old"], now=1000) == 1000


@pytest.mark.parametrize("header, body, now, reason", [
    (None, BODY, 1000, "missing"),
    ("v1=abc", BODY, 1000, "malformed"),
    (signature_header("s3cret", 1000, BODY), BODY, 1000 + 301, "tolerance"),
    (signature_header("s3cret", 1000, BODY), BODY, 1000 - 301, "tolerance"),
    (signature_header("wrong", 1000, BODY), BODY, 1000, "does not match"),
    (signature_header("s3cret", 1000, BODY), BODY + b" ", 1000, "does not match"),
])
def test_refusals_say_why(header, body, now, reason):
    with pytest.raises(SignatureRefused, match=reason):
        verify(header, body, ["s3cret"], now=now)


@pytest.mark.parametrize("stage, outcome, expected", [
    ("routed", Outcome.ACCEPTED, "accepted"),
    ("routed", Outcome.REJECTED, "rejected"),
    ("routed", Outcome.RECYCLED, "recycled"),
    ("accepted", Outcome.WON, "won"),
    ("accepted", Outcome.LOST, "lost"),
    ("accepted", Outcome.RECYCLED, "recycled"),
])
def test_allowed_transitions(stage, outcome, expected):
    assert next_stage(stage, outcome) == expected


@pytest.mark.parametrize("stage, outcome", [
    ("routed", Outcome.WON), ("captured", Outcome.ACCEPTED), ("nurture", Outcome.RECYCLED),
    ("won", Outcome.LOST), ("recycled", Outcome.ACCEPTED),
])
def test_refused_transitions_name_the_stage(stage, outcome):
    with pytest.raises(TransitionRefused, match=f"stage '{stage}'"):
        next_stage(stage, outcome)


def test_an_opportunity_can_be_won_or_lost_but_only_after_acceptance():
    assert next_stage("accepted", Outcome.CONVERTED) == "opportunity"
    assert next_stage("opportunity", Outcome.WON) == "won"
    assert next_stage("opportunity", Outcome.LOST) == "lost"
    with pytest.raises(TransitionRefused):
        next_stage("routed", Outcome.CONVERTED)


def test_outcomes_must_be_whole_and_use_the_agreed_vocabulary():
    from services.feedback.domain.stages import outcome_problems
    vocab = dict(rejection_reasons=("no_budget", "student"), loss_reasons=("price",))
    assert outcome_problems(Outcome.REJECTED, reason="no_budget", amount=None, currency=None, **vocab) == []
    assert [p["field"] for p in outcome_problems(Outcome.REJECTED, reason="meh", amount=None, currency=None,
                                                 **vocab)] == ["reason"]
    assert "no_budget, student" in outcome_problems(Outcome.REJECTED, reason=None, amount=None, currency=None,
                                                    **vocab)[0]["reason"]
    assert [p["field"] for p in outcome_problems(Outcome.WON, reason=None, amount=None, currency=None,
                                                 **vocab)] == ["amount", "currency"]
    assert outcome_problems(Outcome.LOST, reason="price", amount=None, currency=None, **vocab) == []
    assert [p["field"] for p in outcome_problems(Outcome.RECYCLED, reason="", amount=None, currency=None,
                                                 **vocab)] == ["reason"]


def test_a_recycle_needs_an_agreed_reason_and_a_retry_after_within_two_years():
    from datetime import date, timedelta

    from services.feedback.domain.stages import outcome_problems
    vocab = dict(rejection_reasons=("student",), loss_reasons=("price",), recycle_reasons=("timing", "no_budget_yet"))
    today = date(2026, 12, 4)

    def fields(outcome, reason, retry_after=None):
        return [(p["field"], p["reason"]) for p in outcome_problems(outcome, reason=reason, amount=None, currency=None,
                                                                    retry_after=retry_after, today=today, **vocab)]

    assert fields(Outcome.RECYCLED, "timing", today + timedelta(days=30)) == []
    assert fields(Outcome.RECYCLED, "not now") == [
        ("reason", "a recycle needs one of the agreed reasons: timing, no_budget_yet")]
    assert fields(Outcome.RECYCLED, "timing", today) == [
        ("retry_after", "a day after today and at most 730 days ahead")]
    assert fields(Outcome.RECYCLED, "timing", today + timedelta(days=731))[0][0] == "retry_after"
    assert fields(Outcome.REJECTED, "student", today + timedelta(days=3)) == [
        ("retry_after", "only a recycle waits for a date")]
