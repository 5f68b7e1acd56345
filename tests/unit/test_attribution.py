"""Credit by source and campaign: the channel is utm_source, else the intake source; first
touch, last touch and linear share one lead's credit among its captures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from services.feedback.domain.attribution_report import attribution_report
from services.feedback.domain.history import TimelineEvent, lead_cycles
from services.feedback.domain.reports import funnel_report
from shared.attribution import Touch, credit

T0 = datetime(2026, 11, 10, tzinfo=UTC)
START, END, NOW = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)


def capture(lead: str, hours: int, source: str, **utm: str) -> TimelineEvent:
    return TimelineEvent(lead, "lead.captured", T0 + timedelta(hours=hours), "intake", {"source": source, "utm": utm})


def test_the_channel_is_utm_source_else_the_intake_source() -> None:
    assert Touch.of_capture(T0, "web-form", {"utm_source": "linkedin"}).channel == "linkedin"
    assert Touch.of_capture(T0, "web-form", {"utm_source": "  "}).channel == "web-form"
    assert Touch.of_capture(T0, "web-form", None).intake_source == "web-form"


def test_the_three_models_share_one_lead_s_credit() -> None:
    touches = [Touch(T0 + timedelta(hours=2), "google", "b"), Touch(T0, "linkedin", "a"),
               Touch(T0 + timedelta(hours=1), "linkedin", None)]
    assert credit(touches, "first_touch", "source") == {"linkedin": 1}
    assert credit(touches, "last_touch", "source") == {"google": 1}
    assert credit(touches, "linear", "source") == {"linkedin": Fraction(2, 3), "google": Fraction(1, 3)}
    assert credit(touches, "linear", "campaign") == {"a": Fraction(1, 3), None: Fraction(1, 3), "b": Fraction(1, 3)}
    assert credit([], "linear", "source") == {None: 1}


def test_the_funnel_groups_by_the_first_touch_channel_and_keeps_the_intake_apart() -> None:
    events = [capture("a", 0, "web-form", utm_source="linkedin", utm_campaign="spring"),
              capture("a", 5, "hubspot-import", utm_source="google"),
              capture("b", 1, "web-form"),
              TimelineEvent("a", "lead.scored", T0 + timedelta(hours=6), "scoring", {"qualified": True, "cycle": 1}),
              TimelineEvent("a", "lead.outcome", T0 + timedelta(hours=9), "feedback",
                            {"outcome": "won", "cycle": 1, "amount": "900", "currency": "EUR"})]
    cycles = lead_cycles(events)
    by_source = funnel_report(cycles, period_start=START, period_end=END, now=NOW, group_by="source")
    assert {g.key: g.figures.leads for g in by_source.groups} == {"linkedin": 1, "web-form": 1}
    by_intake = funnel_report(cycles, period_start=START, period_end=END, now=NOW, group_by="intake")
    assert {g.key: g.figures.leads for g in by_intake.groups} == {"web-form": 2}

    first = attribution_report(cycles, period_start=START, period_end=END, model="first_touch", by="source")
    assert {r.key: (r.credit["leads"], r.credit["mqls"]) for r in first.rows} == {
        g.key: (g.figures.leads, g.figures.mqls) for g in by_source.groups}  # the funnel's own counts
    linear = attribution_report(cycles, period_start=START, period_end=END, model="linear", by="source")
    assert {r["key"]: (r["leads"], r["won"], r["revenue"]) for r in linear.to_dict()["rows"]} == {
        "google": ("0.50", "0.50", "450.00"), "linkedin": ("0.50", "0.50", "450.00"),
        "web-form": ("1.00", "0.00", "0.00")}
    assert linear.total.credit["revenue"] == Decimal(900)
    last = attribution_report(cycles, period_start=START, period_end=END, model="last_touch", by="campaign")
    assert {r.key: r.credit["leads"] for r in last.rows} == {None: 2}
    assert [list(row) for row in linear.to_csv_rows()] == [list(linear.to_csv_rows()[0])] * 4
