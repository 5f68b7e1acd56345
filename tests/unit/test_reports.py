"""Funnel reports: a known synthetic history checked against figures the test computes itself.

The oracle below (``oracle``) is written separately from the code under test: it uses
Fractions for rates, its own nearest-rank index and plain loops. It never calls the
report module's helpers.
"""

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback.domain.reports import LeadCycle, funnel_report, nearest_rank

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
NOW = datetime(2025, 3, 31, 20, 0, tzinfo=UTC)
SLA = timedelta(hours=4)
REASONS = ["wrong_persona", "no_budget", "duplicate", "student", None]


# ---------------------------------------------------------------- synthetic history

def synthetic_history(seed: int = 7) -> list[LeadCycle]:
    """~70 cycles over 2 sources, 2 campaigns, 3 owners (and unassigned), every outcome."""
    rng = random.Random(seed)
    first = datetime(2025, 2, 26, tzinfo=UTC)
    cycles = []

    def upto_now(t):
        return t if t is not None and t <= NOW else None

    for i in range(64):
        captured = first + timedelta(hours=13 * i)
        if i == 10:
            captured = START  # on the opening boundary: inside
        if i == 60:
            captured = END  # on the closing boundary: outside
        source = ["web", "partner"][i % 2]
        campaign = ["spring", "summer"][(i // 2) % 2]
        f = {"lead_id": f"lead-{i}", "cycle": 1, "source": source, "campaign": campaign, "owner_id": None,
             "captured_at": captured}
        if rng.random() < 0.75:
            f["qualified_at"] = captured + timedelta(minutes=rng.randint(0, 90))
            if rng.random() < 0.9:
                f["owner_id"] = ["o1", "o2", "o3"][rng.randint(0, 2)]
                assigned = f["qualified_at"] + timedelta(minutes=rng.randint(1, 120))
                f["assigned_at"] = assigned
                f["sla_due_at"] = assigned + SLA
                roll = rng.random()
                if roll < 0.6:
                    f["accepted_at"] = upto_now(assigned + timedelta(minutes=rng.randint(5, 400)))
                elif roll < 0.8:
                    f["rejected_at"] = upto_now(assigned + timedelta(minutes=rng.randint(5, 400)))
                    if f["rejected_at"]:
                        f["rejection_reason"] = rng.choice(REASONS)
                        if rng.random() < 0.4:
                            f["recycled_at"] = f["rejected_at"] + timedelta(minutes=1)
                if f.get("accepted_at"):
                    a = f["accepted_at"]
                    roll = rng.random()
                    if roll < 0.6:
                        f["opportunity_at"] = a + timedelta(days=1)
                        roll2 = rng.random()
                        if roll2 < 0.5:
                            f["won_at"] = a + timedelta(days=10)
                            f["amount"] = Decimal(rng.choice(["1000", "2500.50", "4000"]))
                            f["currency"] = rng.choice(["EUR", "EUR", "usd"])
                        elif roll2 < 0.8:
                            f["lost_at"] = a + timedelta(days=8)
                    elif roll < 0.75:
                        f["recycled_at"] = a + timedelta(days=2)
        cycles.append(LeadCycle(**f))
        if f.get("recycled_at") and i % 3 == 0:
            # the recycled lead comes back in a second cycle
            c2 = f["recycled_at"] + timedelta(days=3)
            cycles.append(LeadCycle(lead_id=f"lead-{i}", cycle=2, source=source, campaign="summer", owner_id="o2",
                                    captured_at=c2, qualified_at=c2 + timedelta(hours=1)))
    # edge cases the random draw might miss
    cycles += [
        # won without an amount; a lost deal that never had opportunity_at
        LeadCycle("lead-x1", 1, "web", "spring", "o1", START + timedelta(days=2),
                  qualified_at=START + timedelta(days=2), assigned_at=START + timedelta(days=2, minutes=5),
                  sla_due_at=START + timedelta(days=2, hours=4), accepted_at=START + timedelta(days=2, minutes=30),
                  won_at=START + timedelta(days=9)),
        LeadCycle("lead-x2", 1, "partner", "summer", "o3", START + timedelta(days=3),
                  qualified_at=START + timedelta(days=3), assigned_at=START + timedelta(days=3, minutes=5),
                  sla_due_at=START + timedelta(days=3, hours=4), accepted_at=START + timedelta(days=3, hours=5),
                  lost_at=START + timedelta(days=9)),
        # assigned shortly before now: deadline still ahead, not accepted -> pending
        LeadCycle("lead-x3", 1, "web", "summer", "o2", NOW - timedelta(hours=2),
                  qualified_at=NOW - timedelta(hours=2), assigned_at=NOW - timedelta(hours=1),
                  sla_due_at=NOW + timedelta(hours=3)),
        # a GBP win and a win without currency
        LeadCycle("lead-x4", 1, "partner", "spring", "o1", START + timedelta(days=4),
                  qualified_at=START + timedelta(days=4), assigned_at=START + timedelta(days=4, minutes=1),
                  sla_due_at=START + timedelta(days=4, hours=4), accepted_at=START + timedelta(days=4, minutes=2),
                  opportunity_at=START + timedelta(days=5), won_at=START + timedelta(days=6),
                  amount=Decimal(700), currency="GBP"),
        LeadCycle("lead-x5", 1, "partner", "spring", "o1", START + timedelta(days=5),
                  qualified_at=START + timedelta(days=5), assigned_at=START + timedelta(days=5, minutes=1),
                  sla_due_at=START + timedelta(days=5, hours=4), accepted_at=START + timedelta(days=5, minutes=2),
                  won_at=START + timedelta(days=6), amount=Decimal(300)),
        # one microsecond before the end: inside
        LeadCycle("lead-x6", 1, "web", "spring", None, END - timedelta(microseconds=1)),
    ]
    return cycles


# ---------------------------------------------------------------- independent oracle

def o_rate(num, den):
    if den == 0:
        return None
    scaled = Fraction(num, den) * 10000
    whole = int(scaled)  # non-negative: int() floors
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole) / Decimal(10000)


def o_pct(values, p):
    if not values:
        return None
    vs = sorted(values)
    k = (p * len(vs) + 99) // 100  # ceil(p*n/100) for integer p
    return vs[max(k, 1) - 1]


def oracle(cycles, currency="EUR"):
    e = {"leads": 0, "mqls": 0, "accepted": 0, "rejected": 0, "reasons": {}, "recycled": 0, "opps": 0,
         "won": 0, "lost": 0, "won_cur": 0, "revenue": Decimal(0), "others": {}, "met": 0, "missed": 0,
         "pending": 0, "t_assigned": [], "t_accepted": []}
    for c in cycles:
        e["leads"] += 1
        if c.qualified_at:
            e["mqls"] += 1
        if c.accepted_at:
            e["accepted"] += 1
            e["t_accepted"].append((c.accepted_at - c.captured_at).total_seconds())
        if c.assigned_at:
            e["t_assigned"].append((c.assigned_at - c.captured_at).total_seconds())
        if c.rejected_at:
            e["rejected"] += 1
            r = c.rejection_reason if c.rejection_reason else "unspecified"
            e["reasons"][r] = e["reasons"].get(r, 0) + 1
        if c.recycled_at:
            e["recycled"] += 1
        if c.opportunity_at or c.won_at or c.lost_at:
            e["opps"] += 1
        if c.lost_at:
            e["lost"] += 1
        if c.won_at:
            e["won"] += 1
            if c.amount is not None:
                cur = c.currency.upper() if c.currency else "UNKNOWN"
                if cur == currency:
                    e["revenue"] += c.amount
                    e["won_cur"] += 1
                else:
                    e["others"][cur] = e["others"].get(cur, Decimal(0)) + c.amount
        if c.sla_due_at:
            if c.accepted_at and c.accepted_at <= c.sla_due_at:
                e["met"] += 1
            elif c.accepted_at or c.sla_due_at <= NOW:
                e["missed"] += 1
            else:
                e["pending"] += 1
    return e


def assert_figures(f, cycles):
    e = oracle(cycles)
    assert (f.leads, f.mqls, f.accepted, f.rejected, f.recycled, f.opportunities, f.won, f.lost) == (
        e["leads"], e["mqls"], e["accepted"], e["rejected"], e["recycled"], e["opps"], e["won"], e["lost"])
    assert f.rejected_by_reason == e["reasons"]
    assert f.won_in_currency == e["won_cur"]
    assert f.revenue == e["revenue"]
    assert f.revenue_other_currencies == e["others"]
    assert f.conversion == {
        "lead_to_mql": o_rate(e["mqls"], e["leads"]),
        "mql_to_accepted": o_rate(e["accepted"], e["mqls"]),
        "accepted_to_opportunity": o_rate(e["opps"], e["accepted"]),
        "opportunity_to_won": o_rate(e["won"], e["opps"]),
        "lead_to_won": o_rate(e["won"], e["leads"]),
    }
    assert (f.time_to_assigned.count, f.time_to_assigned.median_s, f.time_to_assigned.p90_s) == (
        len(e["t_assigned"]), o_pct(e["t_assigned"], 50), o_pct(e["t_assigned"], 90))
    assert (f.time_to_accepted.count, f.time_to_accepted.median_s, f.time_to_accepted.p90_s) == (
        len(e["t_accepted"]), o_pct(e["t_accepted"], 50), o_pct(e["t_accepted"], 90))
    assert (f.sales_sla.met, f.sales_sla.missed, f.sales_sla.pending) == (e["met"], e["missed"], e["pending"])
    assert f.sales_sla.compliance == o_rate(e["met"], e["met"] + e["missed"])


def in_period(cycles):
    return [c for c in cycles if START <= c.captured_at < END]


HISTORY = synthetic_history()


def test_the_synthetic_history_covers_what_the_report_must_handle():
    period = in_period(HISTORY)
    e = oracle(period)
    assert 40 <= len(period) <= 80
    assert len({c.source for c in period}) == 2 and len({c.campaign for c in period}) == 2
    assert {c.owner_id for c in period} == {"o1", "o2", "o3", None}
    assert len(e["reasons"]) >= 3 and e["recycled"] >= 2
    assert e["met"] and e["missed"] and e["pending"]
    assert e["won_cur"] >= 1 and {"USD", "GBP", "UNKNOWN"} <= set(e["others"])
    assert any(c.cycle == 2 for c in period)
    assert len(period) < len(HISTORY)  # some cycles fall outside the period


@pytest.mark.parametrize("group_by, attr", [(None, None), ("source", "source"), ("campaign", "campaign"),
                                            ("owner", "owner_id")])
def test_report_matches_independent_figures_per_group_and_total(group_by, attr):
    report = funnel_report(HISTORY, period_start=START, period_end=END, now=NOW, group_by=group_by)
    period = in_period(HISTORY)
    assert_figures(report.total, period)
    if attr is None:
        assert report.groups == []
        return
    expected_keys = {getattr(c, attr) for c in period}
    assert {g.key for g in report.groups} == expected_keys
    for g in report.groups:
        assert_figures(g.figures, [c for c in period if getattr(c, attr) == g.key])
    keys = [g.key for g in report.groups]
    assert keys == sorted(k for k in keys if k is not None) + ([None] if None in keys else [])


def test_marketing_sla_against_the_promise():
    mqls = oracle(in_period(HISTORY))["mqls"]
    under = funnel_report(HISTORY, period_start=START, period_end=END, now=NOW, marketing_promise=mqls + 1)
    assert under.marketing_sla.delivered == mqls and under.marketing_sla.met is False
    assert under.marketing_sla.ratio == o_rate(mqls, mqls + 1)
    exact = funnel_report(HISTORY, period_start=START, period_end=END, now=NOW, marketing_promise=mqls)
    assert exact.marketing_sla.met is True and exact.marketing_sla.ratio == Decimal("1.0000")
    none = funnel_report(HISTORY, period_start=START, period_end=END, now=NOW)
    assert none.marketing_sla is None
    zero = funnel_report(HISTORY, period_start=START, period_end=END, now=NOW, marketing_promise=0)
    assert zero.marketing_sla.met is True and zero.marketing_sla.ratio is None


# ---------------------------------------------------------------- a small hand-computed history

def at(minutes):
    return START + timedelta(minutes=minutes)


SMALL = [
    # a: qualified, assigned after 10 min, accepted after 30 min (due 60): met; opportunity, won 1000 EUR
    LeadCycle("a", 1, "web", "spring", "o1", at(0), qualified_at=at(1), assigned_at=at(10), sla_due_at=at(60),
              accepted_at=at(30), opportunity_at=at(100), won_at=at(200), amount=Decimal(1000), currency="EUR"),
    # b: qualified, assigned after 20, accepted at 90 (due 70): missed; won 500 USD
    LeadCycle("b", 1, "web", "summer", "o2", at(0), qualified_at=at(1), assigned_at=at(20), sla_due_at=at(70),
              accepted_at=at(90), won_at=at(300), amount=Decimal(500), currency="USD"),
    # c: qualified, assigned after 40, rejected "student"; never accepted, due passed: missed
    LeadCycle("c", 1, "partner", "spring", "o1", at(0), qualified_at=at(1), assigned_at=at(40), sla_due_at=at(90),
              rejected_at=at(50), rejection_reason="student"),
    # d: qualified, assigned, due after now: pending
    LeadCycle("d", 1, "partner", "spring", "o1", NOW - timedelta(minutes=30), qualified_at=NOW - timedelta(minutes=30),
              assigned_at=NOW - timedelta(minutes=20), sla_due_at=NOW + timedelta(minutes=10)),
    # e: not qualified
    LeadCycle("e", 1, "web", None, None, at(5)),
]


def test_small_history_hand_computed():
    r = funnel_report(SMALL, period_start=START, period_end=END, now=NOW, group_by="source",
                      marketing_promise=5)
    t = r.total
    assert (t.leads, t.mqls, t.accepted, t.rejected, t.opportunities, t.won, t.lost) == (5, 4, 2, 1, 2, 2, 0)
    assert t.rejected_by_reason == {"student": 1}
    assert t.revenue == Decimal(1000) and t.revenue_other_currencies == {"USD": Decimal(500)}
    assert t.won_in_currency == 1
    assert t.conversion == {"lead_to_mql": Decimal("0.8000"), "mql_to_accepted": Decimal("0.5000"),
                            "accepted_to_opportunity": Decimal("1.0000"), "opportunity_to_won": Decimal("1.0000"),
                            "lead_to_won": Decimal("0.4000")}
    # time to assigned: 600, 1200, 2400, 600 s -> sorted 600,600,1200,2400; median rank 2 = 600, p90 rank 4 = 2400
    assert (t.time_to_assigned.count, t.time_to_assigned.median_s, t.time_to_assigned.p90_s) == (4, 600, 2400)
    # time to accepted: 1800, 5400 -> median is the lower (rank 1), p90 rank 2
    assert (t.time_to_accepted.median_s, t.time_to_accepted.p90_s) == (1800, 5400)
    assert (t.sales_sla.met, t.sales_sla.missed, t.sales_sla.pending, t.sales_sla.compliance) == (
        1, 2, 1, Decimal("0.3333"))
    assert (r.marketing_sla.delivered, r.marketing_sla.ratio, r.marketing_sla.met) == (4, Decimal("0.8000"), False)
    web, partner = {g.key: g.figures for g in r.groups}["web"], {g.key: g.figures for g in r.groups}["partner"]
    assert (web.leads, web.mqls, web.won, web.revenue) == (3, 2, 2, Decimal(1000))
    assert web.conversion["lead_to_mql"] == Decimal("0.6667")  # 2/3 rounded half-up
    assert (partner.leads, partner.accepted, partner.won) == (2, 0, 0)
    assert partner.conversion["accepted_to_opportunity"] is None  # no accepted: no rate
    assert partner.conversion["opportunity_to_won"] is None
    assert partner.time_to_accepted.median_s is None and partner.sales_sla.compliance == Decimal("0.0000")


def test_empty_period_has_zeroes_and_no_rates():
    r = funnel_report(SMALL, period_start=END, period_end=END + timedelta(days=30), now=NOW, group_by="owner")
    assert r.groups == [] and r.total.leads == 0
    assert all(v is None for v in r.total.conversion.values())
    assert r.total.time_to_assigned.median_s is None and r.total.sales_sla.compliance is None


def test_other_report_currency_swaps_the_columns():
    r = funnel_report(SMALL, period_start=START, period_end=END, now=NOW, currency="usd")
    assert r.currency == "USD"
    assert r.total.revenue == Decimal(500) and r.total.revenue_other_currencies == {"EUR": Decimal(1000)}


# ---------------------------------------------------------------- period boundaries

@pytest.mark.parametrize("captured, counted", [
    (START, True),
    (START - timedelta(microseconds=1), False),
    (END - timedelta(microseconds=1), True),
    (END, False),
])
def test_period_is_half_open_on_captured_at(captured, counted):
    r = funnel_report([LeadCycle("a", 1, "web", None, None, captured)], period_start=START, period_end=END, now=NOW)
    assert r.total.leads == (1 if counted else 0)


def test_milestones_after_the_period_count_with_their_cohort():
    c = LeadCycle("a", 1, "web", None, "o1", END - timedelta(hours=1), qualified_at=END + timedelta(days=1),
                  won_at=END + timedelta(days=20), amount=Decimal(10), currency="EUR")
    r = funnel_report([c], period_start=START, period_end=END, now=END + timedelta(days=30))
    assert (r.total.mqls, r.total.won, r.total.revenue) == (1, 1, Decimal(10))


def test_refuses_bad_arguments():
    with pytest.raises(ValueError):
        funnel_report([], period_start=END, period_end=START, now=NOW)
    with pytest.raises(ValueError):
        funnel_report([], period_start=START, period_end=END, now=NOW, group_by="country")
    with pytest.raises(ValueError):
        funnel_report([], period_start=START, period_end=END, now=NOW, marketing_promise=-1)


# ---------------------------------------------------------------- percentiles

@pytest.mark.parametrize("values, median, p90", [
    ([7], 7, 7),
    ([9, 3], 3, 9),
    ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 5, 9),
    ([], None, None),
])
def test_nearest_rank_percentiles_on_small_lists(values, median, p90):
    assert nearest_rank(values, 50) == median
    assert nearest_rank(values, 90) == p90
    if values:
        assert nearest_rank(values, 100) == max(values)


def test_percentiles_through_the_report_for_1_2_and_10_values():
    def cycles(minutes):
        return [LeadCycle(f"l{i}", 1, "web", None, "o1", at(0), assigned_at=at(m)) for i, m in enumerate(minutes)]

    for minutes, median, p90 in [([3], 180, 180), ([5, 1], 60, 300), (list(range(1, 11)), 300, 540)]:
        d = funnel_report(cycles(minutes), period_start=START, period_end=END, now=NOW).total.time_to_assigned
        assert (d.count, d.median_s, d.p90_s) == (len(minutes), median, p90)


# ---------------------------------------------------------------- export shapes

def test_csv_rows_are_flat_one_per_group_plus_total():
    r = funnel_report(SMALL, period_start=START, period_end=END, now=NOW, group_by="campaign", marketing_promise=3)
    rows = r.to_csv_rows()
    assert [row["group"] for row in rows] == ["spring", "summer", "(none)", "total"]
    assert all(list(row) == list(rows[0]) for row in rows)
    total = rows[-1]
    assert total["leads"] == 5 and total["rejected_student"] == 1 and total["revenue"] == "1000"
    assert total["revenue_USD"] == "500" and total["currency"] == "EUR"
    assert total["rate_lead_to_mql"] == "0.8000"
    assert total["marketing_promised"] == 3 and total["marketing_met"] is True
    spring = rows[0]
    assert spring["rejected_student"] == 1 and spring["revenue_USD"] == "0" and spring["marketing_met"] == ""
    none_row = rows[2]
    assert none_row["rate_mql_to_accepted"] == "" and none_row["time_to_accepted_median_s"] == ""
    assert all(isinstance(v, (str, int, float, bool)) for row in rows for v in row.values())
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    assert len(out.getvalue().strip().splitlines()) == 5


def test_to_dict_is_json_ready():
    r = funnel_report(SMALL, period_start=START, period_end=END, now=NOW, group_by="owner", marketing_promise=4)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["period_start"] == "2025-03-01T00:00:00+00:00"
    assert d["total"]["revenue"] == "1000"
    assert d["total"]["revenue_other_currencies"] == {"USD": "500"}
    assert d["total"]["conversion"]["lead_to_won"] == "0.4000"
    assert d["total"]["sales_sla"] == {"counted": 3, "met": 1, "missed": 2, "pending": 1, "compliance": "0.3333"}
    assert d["marketing_sla"] == {"promised": 4, "delivered": 4, "ratio": "1.0000", "met": True}
    assert [g["key"] for g in d["groups"]] == ["o1", "o2", None]


# ---------------------------------------------------------------- properties

ts = st.integers(min_value=0, max_value=60 * 24 * 40).map(lambda m: START - timedelta(days=5) + timedelta(minutes=m))
maybe_ts = st.none() | ts
cycle_st = st.builds(
    LeadCycle,
    lead_id=st.text(min_size=1, max_size=3), cycle=st.integers(1, 3),
    source=st.sampled_from(["web", "partner", None]), campaign=st.sampled_from(["a", "b", None]),
    owner_id=st.sampled_from(["o1", "o2", None]), captured_at=ts, qualified_at=maybe_ts, assigned_at=maybe_ts,
    sla_due_at=maybe_ts, accepted_at=maybe_ts, rejected_at=maybe_ts, rejection_reason=st.sampled_from(REASONS),
    recycled_at=maybe_ts, opportunity_at=maybe_ts, won_at=maybe_ts, lost_at=maybe_ts,
    amount=st.none() | st.decimals(min_value=0, max_value=10000, places=2),
    currency=st.sampled_from(["EUR", "USD", None]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(cycle_st, max_size=25), st.sampled_from(["source", "campaign", "owner"]))
def test_group_counts_and_revenue_add_up_to_the_total(cycles, group_by):
    r = funnel_report(cycles, period_start=START, period_end=END, now=NOW, group_by=group_by)
    for name in ("leads", "mqls", "accepted", "rejected", "recycled", "opportunities", "won", "lost"):
        assert sum(getattr(g.figures, name) for g in r.groups) == getattr(r.total, name)
    assert sum((g.figures.revenue for g in r.groups), Decimal(0)) == r.total.revenue
    sla = r.total.sales_sla
    assert sum(g.figures.sales_sla.met for g in r.groups) == sla.met
    assert sum(g.figures.sales_sla.pending for g in r.groups) == sla.pending


@settings(max_examples=60, deadline=None)
@given(st.lists(cycle_st, max_size=25))
def test_total_matches_the_oracle_for_any_history(cycles):
    r = funnel_report(cycles, period_start=START, period_end=END, now=NOW)
    assert_figures(r.total, in_period(cycles))
    rates = [v for v in r.total.conversion.values() if v is not None]
    assert all(v >= 0 for v in rates)


def test_grouping_by_month_and_iso_week_uses_the_capture_time_in_utc():
    from datetime import timezone
    def captured(at: datetime, lead: str) -> LeadCycle:
        return LeadCycle(lead_id=lead, cycle=1, source="web", campaign=None, owner_id=None, captured_at=at)
    cycles = [
        captured(datetime(2025, 2, 28, 23, 30, tzinfo=UTC), "a"),                   # Friday of ISO week 9
        captured(datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), "b"),  # still 28 Feb in UTC
        captured(datetime(2025, 3, 3, 9, 0, tzinfo=UTC), "c"),                      # Monday: ISO week 10
    ]
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    by_month = funnel_report(cycles, period_start=start, period_end=end, now=NOW, group_by="month")
    assert [(g.key, g.figures.leads) for g in by_month.groups] == [("2025-02", 2), ("2025-03", 1)]
    by_week = funnel_report(cycles, period_start=start, period_end=end, now=NOW, group_by="week")
    assert [(g.key, g.figures.leads) for g in by_week.groups] == [("2025-W09", 2), ("2025-W10", 1)]


def test_recycles_and_losses_are_counted_per_reason_and_the_csv_has_every_agreed_reason():
    cycles = [*SMALL,
              LeadCycle("f", 1, "web", None, "o1", at(0), qualified_at=at(1), assigned_at=at(2), accepted_at=at(3),
                        recycled_at=at(60), recycle_reason="timing"),
              LeadCycle("g", 1, "web", None, "o2", at(0), qualified_at=at(1), assigned_at=at(2), accepted_at=at(3),
                        opportunity_at=at(9), lost_at=at(90), loss_reason="price"),
              LeadCycle("h", 1, "web", None, "o2", at(0), recycled_at=at(70), recycle_reason="said later")]
    r = funnel_report(cycles, period_start=START, period_end=END, now=NOW, group_by="source")
    assert r.total.recycled_by_reason == {"said later": 1, "timing": 1}
    assert (r.total.lost, r.total.lost_by_reason) == (1, {"price": 1})
    vocabulary = {"rejected": ("wrong_persona", "student"), "recycled": ("timing", "no_budget_yet"),
                  "lost": ("price", "competitor")}
    rows = r.to_csv_rows(vocabulary)
    columns = list(rows[0])
    assert all(list(row) == columns for row in rows)
    reason_columns = [c for c in columns if c.startswith(("rejected_", "recycled_", "lost_"))]
    assert reason_columns == ["rejected_wrong_persona", "rejected_student", "recycled_timing",
                              "recycled_no_budget_yet", "recycled_said later", "lost_price", "lost_competitor"]
    total = rows[-1]
    assert (total["rejected_wrong_persona"], total["recycled_timing"], total["recycled_no_budget_yet"],
            total["lost_price"], total["lost_competitor"]) == (0, 1, 0, 1, 0)
    # a period where nothing happened has the same reason columns
    empty = funnel_report([], period_start=START, period_end=END, now=NOW).to_csv_rows(vocabulary)
    assert [c for c in empty[0] if c.startswith(("rejected_", "recycled_", "lost_"))] == [
        "rejected_wrong_persona", "rejected_student", "recycled_timing", "recycled_no_budget_yet", "lost_price",
        "lost_competitor"]
