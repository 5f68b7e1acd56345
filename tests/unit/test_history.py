from datetime import UTC, datetime, timedelta

from services.feedback.domain.history import TimelineEvent, lead_cycles

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_recycled_lead_is_two_cycles_credited_to_its_first_source():
    events = [
        TimelineEvent("L", "lead.outcome", at(30), "feedback", {"outcome": "accepted", "cycle": 1}),
        TimelineEvent("L", "lead.captured", at(0), "intake", {"source": "web-form", "utm": {"utm_campaign": "q4"}}),
        TimelineEvent("L", "lead.scored", at(1), "scoring", {"qualified": True, "cycle": 1}),
        TimelineEvent("L", "lead.routed", at(2), "routing",
                      {"owner_id": "ana", "cycle": 1, "sla_due_at": at(17).isoformat()}),
        TimelineEvent("L", "lead.outcome", at(60), "feedback", {"outcome": "recycled", "cycle": 1}),
        TimelineEvent("L", "lead.nurture", at(60), "feedback", {"cycle": 2}),
        TimelineEvent("L", "lead.scored", at(90), "scoring", {"qualified": True, "cycle": 2}),
        TimelineEvent("L", "lead.routed", at(91), "routing", {"owner_id": "ben", "cycle": 2}),
        TimelineEvent("L", "lead.outcome", at(95), "feedback", {"outcome": "accepted", "cycle": 2}),
        TimelineEvent("L", "lead.outcome", at(99), "feedback", {"outcome": "converted", "cycle": 2}),
        TimelineEvent("L", "lead.outcome", at(120), "feedback",
                      {"outcome": "won", "cycle": 2, "amount": "900.50", "currency": "EUR"}),
        TimelineEvent("stray", "lead.scored", at(5), "scoring", {"qualified": True}),  # never captured
    ]
    first, second = lead_cycles(events)
    assert (first.cycle, first.source, first.campaign, first.owner_id) == (1, "web-form", "q4", "ana")
    assert (first.captured_at, first.qualified_at, first.assigned_at, first.sla_due_at) == (at(0), at(1), at(2), at(17))
    assert (first.accepted_at, first.recycled_at, first.won_at) == (at(30), at(60), None)
    assert (second.cycle, second.source, second.owner_id, second.captured_at) == (2, "web-form", "ben", at(60))
    assert (second.qualified_at, second.accepted_at, second.opportunity_at, second.won_at) == (at(90), at(95), at(99), at(120))
    assert str(second.amount) == "900.50" and second.currency == "EUR"
