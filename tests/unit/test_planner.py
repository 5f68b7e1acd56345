"""Revenue planner: hand-computed plans backwards from the goal."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback.domain.planner import plan
from services.feedback.domain.reports import LeadCycle, funnel_report

START = datetime(2025, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)


def measured(leads, mqls, accepted, opportunities, won, amounts=None, currency="EUR"):
    """A 90-day window whose total has exactly these counts (cycle i reaches a stage when i < its count)."""
    amounts = amounts or []
    cycles = []
    for i in range(leads):
        t = START + timedelta(hours=i)
        is_won = i < won
        cycles.append(LeadCycle(
            f"l{i}", 1, "web", None, "o1", t,
            qualified_at=t if i < mqls else None,
            accepted_at=t if i < accepted else None,
            opportunity_at=t if i < opportunities else None,
            won_at=t if is_won else None,
            amount=Decimal(amounts[i]) if is_won and i < len(amounts) else None,
            currency=currency if is_won else None,
        ))
    return funnel_report(cycles, period_start=START, period_end=END, now=END)


# 100 leads -> 40 MQLs -> 20 SQLs -> 10 opportunities -> 4 won, 20000 EUR (average 5000)
BASE = measured(100, 40, 20, 10, 4, ["2000", "4000", "6000", "8000"])


def test_plan_backwards_from_the_goal_hand_computed():
    p = plan(Decimal(50000), period_days=30, measured=BASE, window_days=90)
    assert p.average_deal_size == Decimal("5000.00")
    # 50000/5000 = 10 customers; 10 / (4/10) = 25 opps; 25 / (10/20) = 50 SQLs; 50 / (20/40) = 100 MQLs;
    # 100 / (40/100) = 250 leads
    assert p.needed == {"leads": 250, "mqls": 100, "sqls": 50, "opportunities": 25, "customers": 10}
    assert p.feasible is True and p.missing == []
    assert p.currency == "EUR"


def test_run_rate_is_scaled_from_the_window_to_the_period():
    p = plan(Decimal(50000), period_days=30, measured=BASE, window_days=90)
    # counts * 30 / 90, rounded half-up to cents
    assert p.run_rate == {"leads": Decimal("33.33"), "mqls": Decimal("13.33"), "sqls": Decimal("6.67"),
                          "opportunities": Decimal("3.33"), "customers": Decimal("1.33")}
    assert p.revenue_run_rate == Decimal("6666.67")
    assert p.gaps == {"leads": Decimal("216.67"), "mqls": Decimal("86.67"), "sqls": Decimal("43.33"),
                      "opportunities": Decimal("21.67"), "customers": Decimal("8.67")}
    assert p.on_track is False
    longer = plan(Decimal(50000), period_days=180, measured=BASE, window_days=90)
    assert longer.run_rate["leads"] == Decimal("200.00") and longer.gaps["leads"] == Decimal("50.00")


def test_rounds_up_at_each_stage():
    # 50001/5000 = 10.0002 -> 11 customers; 11*10/4 = 27.5 -> 28 opps; 28*20/10 = 56; 56*40/20 = 112;
    # 112*100/40 = 280 leads (the overall rate 4/100 alone would give 275)
    p = plan(Decimal(50001), period_days=90, measured=BASE, window_days=90)
    assert p.needed == {"leads": 280, "mqls": 112, "sqls": 56, "opportunities": 28, "customers": 11}


def test_uneven_rates_use_exact_counts_not_rounded_rates():
    # 7 leads, 6 MQLs, 5 SQLs, 4 opps, 3 won of 1000 each
    m = measured(7, 6, 5, 4, 3, ["1000", "1000", "1000"])
    p = plan(Decimal(1000), period_days=7, measured=m, window_days=90)
    # 1 customer; ceil(1*4/3)=2 opps; ceil(2*5/4)=3 SQLs; ceil(3*6/5)=4 MQLs; ceil(4*7/6)=5 leads
    assert p.needed == {"leads": 5, "mqls": 4, "sqls": 3, "opportunities": 2, "customers": 1}


def test_on_track_when_the_run_rate_covers_every_stage():
    p = plan(Decimal(5000), period_days=90, measured=BASE, window_days=90)
    # 1 customer -> ceil(2.5)=3 opps -> 6 SQLs -> 12 MQLs -> 30 leads
    assert p.needed == {"leads": 30, "mqls": 12, "sqls": 6, "opportunities": 3, "customers": 1}
    assert p.gaps["leads"] == Decimal("-70.00")
    assert p.on_track is True


def test_no_won_deal_means_no_deal_size_and_no_plan():
    m = measured(50, 20, 10, 5, 0)
    p = plan(Decimal(10000), period_days=30, measured=m, window_days=90)
    assert p.feasible is False and p.on_track is None
    assert p.average_deal_size is None
    assert all(v is None for v in p.needed.values()) and all(v is None for v in p.gaps.values())
    assert [m.split(":")[0] for m in p.missing] == ["average_deal_size", "opportunity_to_won"]
    assert "rate is 0" in p.missing[1]
    assert p.run_rate["leads"] == Decimal("16.67")  # the run rate is still reported


def test_a_stage_without_data_stops_the_chain_and_is_named():
    # won deals but no MQL measured: the stages below are planned, MQLs and leads are not
    m = measured(10, 0, 2, 2, 2, ["500", "1500"])
    p = plan(Decimal(3000), period_days=90, measured=m, window_days=90)
    assert p.needed == {"leads": None, "mqls": None, "sqls": 3, "opportunities": 3, "customers": 3}
    assert p.missing == ["mql_to_accepted: no mqls in the window",
                         "lead_to_mql: nothing converted in the window (rate is 0)"]
    assert p.feasible is False and p.gaps["mqls"] is None and p.gaps["sqls"] == Decimal("1.00")


def test_wins_in_another_currency_do_not_make_a_deal_size():
    m = measured(10, 5, 4, 3, 2, ["900", "1100"], currency="USD")
    p = plan(Decimal(1000), period_days=30, measured=m, window_days=30)
    assert p.average_deal_size is None
    assert p.missing == ["average_deal_size: no won deal with revenue in EUR in the window"]
    usd = funnel_report([], period_start=START, period_end=END, now=END, currency="USD")  # empty, for contrast
    assert plan(Decimal(1), period_days=1, measured=usd, window_days=1).missing[0].startswith("average_deal_size")


def test_refuses_bad_arguments():
    with pytest.raises(ValueError):
        plan(Decimal(0), period_days=30, measured=BASE, window_days=90)
    with pytest.raises(ValueError):
        plan(Decimal(10), period_days=0, measured=BASE, window_days=90)
    with pytest.raises(ValueError):
        plan(Decimal(10), period_days=30, measured=BASE, window_days=0)


def test_to_dict_is_json_ready():
    d = json.loads(json.dumps(plan(Decimal(50000), period_days=30, measured=BASE, window_days=90).to_dict()))
    assert d["revenue_goal"] == "50000" and d["average_deal_size"] == "5000.00"
    assert d["needed"]["leads"] == 250 and d["run_rate"]["leads"] == "33.33" and d["gaps"]["customers"] == "8.67"
    assert d["feasible"] is True and d["missing"] == []


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 10**7), st.integers(1, 30), st.integers(0, 29), st.integers(0, 29), st.integers(0, 29))
def test_needed_figures_cover_the_goal_at_the_measured_rates(goal, won, extra_opps, extra_sqls, extra_mqls):
    opps = won + extra_opps
    sqls = opps + extra_sqls
    mqls = sqls + extra_mqls
    m = measured(mqls + 5, mqls, sqls, opps, won, ["1234.56"] * won)
    p = plan(Decimal(goal), period_days=30, measured=m, window_days=90)
    n = p.needed
    assert p.feasible
    # each stage, converted at the measured rate, yields at least what the next one needs
    assert n["customers"] * Decimal("1234.56") >= goal
    assert n["opportunities"] * won >= n["customers"] * opps
    assert n["sqls"] * opps >= n["opportunities"] * sqls
    assert n["mqls"] * sqls >= n["sqls"] * mqls
    assert n["leads"] * mqls >= n["mqls"] * (mqls + 5)
    assert n["leads"] >= n["mqls"] >= n["sqls"] >= n["opportunities"] >= n["customers"]
