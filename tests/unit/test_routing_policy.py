"""The routing policy (validation naming the field, rule matching), account matching, owner
availability, the distribution strategies and ``route``'s decision records; and the facts
the shipped policy promises the end-to-end tests."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.routing.domain.accounts import find_account, is_free_mail, normalise_account_domain
from services.routing.domain.availability import (
    OwnerLoad,
    day_bounds,
    in_working_hours,
    next_available_at,
    unavailable_reason,
    week_bounds,
)
from services.routing.domain.decision import (
    queue_expired,
    queue_fallback,
    route,
    route_queued,
)
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.owners import Owner
from services.routing.domain.policy import PolicyError, RoutingPolicy, load_policy, parse_policy
from services.routing.domain.rules import Target
from services.routing.domain.sla import sla_minutes_for
from services.routing.domain.strategies import (
    PositionState,
    WeightedState,
    choose,
    least_loaded,
    round_robin,
    state_from_dict,
    weighted_round_robin,
)
from shared.identity import FREE_MAIL_DOMAINS

CONFIG = Path(__file__).resolve().parents[2] / "config" / "routing_policy.yaml"
SHIPPED = load_policy(CONFIG)

MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, 12:00 UTC; winter time in Europe and the US
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def owner(oid: str, **fields: Any) -> dict[str, Any]:
    return {"id": oid, "name": oid.title(), "email": f"{oid}@example.com", **fields}


def base(**changes: Any) -> dict[str, Any]:
    """A small valid policy: three owners in one round-robin team, which is also the fallback."""
    data: dict[str, Any] = {
        "version": "test-1",
        "owners": [owner("ana"), owner("ben"), owner("cleo")],
        "teams": [{"id": "desk", "name": "Desk", "members": ["ana", "ben", "cleo"]}],
        "rules": [],
        "fallback": {"team": "desk"},
    }
    data.update(changes)
    return data


def policy(**changes: Any) -> RoutingPolicy:
    return parse_policy(base(**changes))


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, origin="p.yaml")
    message = str(caught.value)
    assert message.startswith("p.yaml is invalid: ")
    return message


def facts(**fields: Any) -> LeadFacts:
    return LeadFacts(lead_id="lead-1", **fields)


# ---------------------------------------------------------------------------------------------
# the shipped policy


def test_the_shipped_policy_keeps_the_24_7_inbound_desk_the_end_to_end_tests_rely_on():
    names = {o.id: o.name for o in SHIPPED.owners}
    assert names["ana.silva"] == "Ana Silva" and names["ben.okafor"] == "Ben Okafor"
    assert names["chloe.martin"] == "Chloé Martin"
    assert SHIPPED.fallback.target == Target(team="inbound")
    inbound = SHIPPED.team("inbound")
    assert inbound.members == ("ana.silva", "ben.okafor", "chloe.martin")
    assert inbound.strategy == "round_robin"
    for oid in inbound.members:
        desk = SHIPPED.owner(oid)
        assert desk.hours is None and desk.status == "active" and not desk.out_of_office
        assert desk.capacity.per_day is None and desk.capacity.per_week is None


def test_the_shipped_policy_shows_hours_caps_absence_and_every_strategy():
    assert len(SHIPPED.owners) >= 5 and len(SHIPPED.rules) >= 3
    assert {t.strategy for t in SHIPPED.teams} == {"round_robin", "weighted_round_robin", "least_loaded"}
    others = [o for o in SHIPPED.owners if o.id not in SHIPPED.team("inbound").members]
    assert all(o.hours is not None for o in others)  # the default hours or their own
    assert any(o.out_of_office for o in others) and any(o.capacity.per_day for o in others)
    assert any(o.status == "paused" for o in others) and any(o.weight > 1 for o in others)
    assert SHIPPED.default_working_hours is not None
    assert SHIPPED.sla.by_grade["A1"] == 15


def test_every_shipped_rule_means_something_the_fallback_does_not():
    fallback = SHIPPED.fallback.target
    for rule in SHIPPED.rules:
        assert rule.assign_to != fallback or rule.sla_minutes is not None or not rule.account_match, rule.name
    hot = SHIPPED.rule("hot_leads")
    assert hot is not None and hot.sla_minutes is not None
    # a hot lead is answered sooner than the fallback would answer the same grade
    for grade in ("A1", "B1"):
        lead = LeadFacts.from_attributes("l", {"country": "GB", "company_size": 240, "grade": grade})
        decision = route(SHIPPED, lead, now=MONDAY)
        assert decision.rule == "hot_leads"
        assert decision.sla_minutes < sla_minutes_for(SHIPPED, "fallback", grade)


def test_the_shipped_policy_sends_a_large_american_company_to_the_enterprise_aes():
    lead = LeadFacts.from_attributes("l", {"country": "US", "company_size": 20000, "industry": "software",
                                           "grade": "A4"})
    decision = route(SHIPPED, lead, now=MONDAY.replace(hour=15))  # 10:00 in New York
    assert (decision.rule, decision.team_id) == ("enterprise_americas", "americas_enterprise")
    assert decision.owner_id in {"diego.ramos", "maya.chen"}


@pytest.mark.parametrize("hour", range(0, 24 * 7, 5))  # every day of a week, hours all round the clock
def test_shipped_policy_routes_ordinary_us_gb_de_leads_at_once_to_three_people_in_turn(hour):
    now = MONDAY.replace(hour=0) + timedelta(hours=hour)
    leads = [  # the end-to-end tests' and the demo's qualified leads
        {"country": "GB", "company_size": 240, "industry": "software", "grade": "A4"},
        {"country": "US", "company_size": 1200, "industry": "saas", "grade": "A1"},
        {"country": "DE", "company_size": 80, "industry": "fintech", "grade": "B2"},
        {"country": "US", "company_size": 300, "industry": "software", "grade": "A4"},
        {"country": "DE", "company_size": 500, "industry": "saas"},
    ]
    states: dict[str, Any] = {"inbound": {"position": hour % 3}}
    chosen = []
    for attributes in leads:
        decision = route(SHIPPED, LeadFacts.from_attributes("l", attributes), now=now, states=states)
        assert decision.outcome == "assigned", decision.reason
        assert decision.team_id == "inbound"
        states[decision.team_id] = decision.state_after
        chosen.append(decision.owner_id)
    assert len(set(chosen[:3])) == 3 and set(chosen) <= {"ana.silva", "ben.okafor", "chloe.martin"}


# ---------------------------------------------------------------------------------------------
# validation


def test_a_valid_policy_reads_with_its_defaults():
    p = policy()
    ana = p.owner("ana")
    assert (ana.timezone, ana.weight, ana.status, ana.hours) == ("UTC", 1, "active", None)
    assert p.team("desk").strategy == "round_robin"
    assert p.sla.max_reassignments == 2 and p.sla.default_minutes == 240
    assert p.fallback.account_match is True
    assert "gmail.com" in p.free_mail and p.free_mail_domains == ()  # the shared list, nothing added


def test_owners_without_hours_get_the_default_hours_and_always_stays_always():
    p = policy(default_working_hours=OFFICE, owners=[
        owner("ana"), owner("ben", working_hours="always"), owner("cleo", working_hours={"sat": [["10:00", "14:00"]]})])
    assert p.owner("ana").hours is not None and p.owner("ana").hours.describe().startswith("mon 09:00-17:00")
    assert p.owner("ben").hours is None
    assert p.owner("cleo").hours.describe() == "sat 10:00-14:00"


@pytest.mark.parametrize(("change", "path", "detail"), [
    ({"owners": [owner("Ana Silva")]}, "owners.0.id", "pattern"),
    ({"owners": [owner("ana"), owner("ana")]}, "owners.1.id", "'ana' is already owners.0"),
    ({"owners": [owner("ana", timezone="Mars/Olympus")]}, "owners.0.timezone", "unknown time zone 'Mars/Olympus'"),
    ({"owners": [owner("ana", working_hours={"mon": [["17:00", "09:00"]]})]}, "owners.0.working_hours.mon.0",
     "start 17:00 must be before end 09:00"),
    ({"owners": [owner("ana", working_hours={"tue": [["09:00", "13:00"], ["12:00", "17:00"]]})]},
     "owners.0.working_hours.tue.1", "12:00-17:00 overlaps 09:00-13:00"),
    ({"owners": [owner("ana", working_hours={"mon": [["09:00", 1020]]})]}, "owners.0.working_hours.mon.0",
     "times are written in quotes"),
    ({"owners": [owner("ana", working_hours={"mon": [["9am", "17:00"]]})]}, "owners.0.working_hours.mon.0",
     "'9am' is not a time of day"),
    ({"owners": [owner("ana", working_hours={"monday": [["09:00", "17:00"]]})]}, "owners.0.working_hours.monday",
     "not a known field"),
    ({"owners": [owner("ana", working_hours={})]}, "owners.0.working_hours", "has no working time"),
    ({"owners": [owner("ana", working_hours="weekdays")]}, "owners.0.working_hours", "is not working hours"),
    ({"owners": [owner("ana", out_of_office=[{"from": "2026-03-10", "to": "2026-03-01"}])]},
     "owners.0.out_of_office.0.to", "2026-03-01 is before from (2026-03-10)"),
    ({"owners": [owner("ana", capacity={"per_day": 5, "per_week": 3})]}, "owners.0.capacity.per_week",
     "3 is below per_day (5)"),
    ({"owners": [owner("ana", weight=0)]}, "owners.0.weight", "greater than or equal to 1"),
    ({"owners": [owner("ana", status="holiday")]}, "owners.0.status", "'active', 'paused' or 'inactive'"),
    ({"owners": [owner("ana", colour="red")]}, "owners.0.colour", "not a known field"),
    ({"owners": []}, "owners", "needs at least one entry"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana", "zoe"]}]}, "teams.0.members.1", "unknown owner 'zoe'"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana", "ana"]}]}, "teams.0.members.1", "listed twice"),
    ({"teams": [{"id": "desk", "name": "D", "members": []}]}, "teams.0.members", "needs at least one entry"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana"]}, {"id": "desk", "name": "E", "members": ["ben"]}]},
     "teams.1.id", "'desk' is already teams.0"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana"], "strategy": "random"}]}, "teams.0.strategy",
     "'round_robin', 'weighted_round_robin' or 'least_loaded'"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana"], "queue": {"fallback": {"team": "desk"}}}]},
     "teams.0.queue.fallback", "must not be the team itself"),
    ({"teams": [{"id": "desk", "name": "D", "members": ["ana"], "queue": {"fallback": {"owner": "zoe"}}}]},
     "teams.0.queue.fallback.owner", "unknown owner 'zoe'"),
    ({"rules": [{"name": "r1", "assign_to": {"team": "desk"}}, {"name": "r2", "assign_to": {"team": "desk"}},
                {"name": "r3", "assign_to": {"team": "sales"}}]}, "rules.2.assign_to.team", "unknown team 'sales'"),
    ({"rules": [{"name": "r1", "assign_to": {"owner": "zoe"}}]}, "rules.0.assign_to.owner", "unknown owner 'zoe'"),
    ({"rules": [{"name": "r1", "assign_to": {"team": "desk", "owner": "ana"}}]}, "rules.0.assign_to",
     "exactly one of team or owner"),
    ({"rules": [{"name": "r1", "assign_to": {}}]}, "rules.0.assign_to", "exactly one of team or owner"),
    ({"rules": [{"name": "r1", "assign_to": {"team": "desk"}}, {"name": "r1", "assign_to": {"team": "desk"}}]},
     "rules.1.name", "'r1' is already rules.0"),
    ({"rules": [{"name": "fallback", "assign_to": {"team": "desk"}}]}, "rules.0.name", "reserved"),
    ({"rules": [{"name": "r", "when": {"score": {"gte": 80, "lte": 50}}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.score.lte", "50 is below gte (80)"),
    ({"rules": [{"name": "r", "when": {"score": {}}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.score", "needs gte, lte or both"),
    ({"rules": [{"name": "r", "when": {"company_size": {"gte": "big"}}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.company_size.gte", "must be a number"),
    ({"rules": [{"name": "r", "when": {"country": []}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.country", "needs at least one entry"),
    ({"rules": [{"name": "r", "when": {"country": ["SE", False]}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.country.1", 'like "NO" for Norway'),
    ({"rules": [{"name": "r", "when": {"grade": ["A?"]}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.grade.0", "pattern"),
    ({"rules": [{"name": "r", "when": {"city": ["Paris"]}, "assign_to": {"team": "desk"}}]},
     "rules.0.when.city", "not a known field"),
    ({"rules": [{"name": "r", "assign_to": {"team": "desk"}, "sla_minutes": 0}]}, "rules.0.sla_minutes",
     "greater than or equal to 1"),
    ({"fallback": {"team": "nobody"}}, "fallback.team", "unknown team 'nobody'"),
    ({"fallback": None}, "fallback", "valid dictionary"),
    ({"owner_queue": {"fallback": {"team": "nobody"}}}, "owner_queue.fallback.team", "unknown team 'nobody'"),
    ({"sla": {"max_reassignments": -1}}, "sla.max_reassignments", "greater than or equal to 0"),
    ({"sla": {"by_grade": {"A1": 0}}}, "sla.by_grade.A1", "greater than or equal to 1"),
    ({"free_mail_domains": ["gmail.com", "not a domain"]}, "free_mail_domains.1", "is not a domain name"),
    ({"version": "  "}, "version", "must not be blank"),
])
def test_each_problem_names_its_field(change, path, detail):
    message = problems(base(**change))
    assert f"{path}: " in message
    assert detail in message.split(f"{path}: ", 1)[1]


def test_whole_missing_sections_are_named():
    data = base()
    del data["fallback"]
    assert "fallback: Field required" in problems(data)


def test_queue_fallbacks_that_go_round_in_a_loop_are_refused():
    data = base(teams=[
        {"id": "desk", "name": "D", "members": ["ana"]},
        {"id": "east", "name": "E", "members": ["ben"], "queue": {"fallback": {"team": "west"}}},
        {"id": "west", "name": "W", "members": ["cleo"], "queue": {"fallback": {"team": "east"}}},
    ])
    message = problems(data)
    assert "teams.1.queue.fallback: queue fallbacks go round in a loop: east -> west -> east" in message
    assert "teams.2.queue.fallback: queue fallbacks go round in a loop: west -> east -> west" in message
    # through the policy fallback too: desk falls back (by default) to east, and east to desk
    data = base(fallback={"team": "east"}, teams=[
        {"id": "desk", "name": "D", "members": ["ana"], "queue": {"fallback": {"team": "east"}}},
        {"id": "east", "name": "E", "members": ["ben"], "queue": {"fallback": {"team": "desk"}}},
    ])
    assert "teams.0.queue.fallback: queue fallbacks go round in a loop: desk -> east -> desk" in problems(data)


def test_every_problem_is_reported_at_once_with_its_path():
    data = base(
        owners=[owner("Bad Id"), owner("ben")],
        rules=[{"name": "a", "assign_to": {"team": "desk"}}, {"name": "b", "assign_to": {"team": "desk"}},
               {"name": "c", "when": {"score": {"gte": 9, "lte": 1}}, "assign_to": {"team": "desk"}}],
    )
    message = problems(data)
    assert "owners.0.id: " in message and "; rules.2.when.score.lte: 1 is below gte (9)" in message


def test_cross_references_wait_for_their_section_to_be_valid():
    # the owners failed, so team members are not checked against them (no noise about 'ana')
    message = problems(base(owners=[owner("ana", timezone="Nowhere/Land"), owner("ben"), owner("cleo")]))
    assert "owners.0.timezone" in message and "unknown owner" not in message


def test_load_policy_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: '1'\nowners:\n  - id: Bad Id\n    name: X\n    email: x@y.z\nfallback: {owner: x}\n")
    with pytest.raises(PolicyError, match=rf"^{path} is invalid \(\d problems?\):\n  {path}:3:5: owners\.0\.id: "):
        load_policy(path)
    path.write_text("version: [unclosed\n")
    with pytest.raises(PolicyError, match=rf"{path}:2:1: not valid YAML: "):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.yaml")


def test_the_policy_is_immutable():
    p = policy()
    with pytest.raises(ValidationError, match="frozen"):
        p.version = "2"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# rules


def matching(when: dict[str, Any], **lead: Any) -> bool:
    p = policy(rules=[{"name": "r", "when": when, "assign_to": {"team": "desk"}}])
    return p.match_rule(facts(**lead)) is not None


@pytest.mark.parametrize(("when", "yes", "no"), [
    ({"country": ["US", "CA"]}, {"country": "us"}, {"country": "GB"}),
    ({"country": "DE"}, {"country": "DE"}, {}),
    ({"region": ["EMEA"]}, {"region": "emea"}, {"region": "APAC"}),
    ({"state": ["CA", "NY"]}, {"state": "NY"}, {"state": "TX"}),
    ({"industry": ["SaaS", "fintech"]}, {"industry": "saas"}, {"industry": "retail"}),
    ({"source": ["partner"]}, {"source": "Partner"}, {"source": "web-form"}),
    ({"grade": ["A1"]}, {"grade": "a1"}, {"grade": "A2"}),
    ({"grade": ["A*", "B1"]}, {"grade": "A3"}, {"grade": "B2"}),
    ({"grade": ["*1"]}, {"grade": "C1"}, {"grade": "C2"}),
    ({"company_size": {"gte": 200, "lte": 1000}}, {"company_size": 200}, {"company_size": 199}),
    ({"company_size": {"gte": 200, "lte": 1000}}, {"company_size": 1000}, {"company_size": 1001}),
    ({"score": {"gte": 80}}, {"score": 80}, {"score": 79}),
    ({"score": {"lte": 20}}, {"score": -5}, {"score": 21}),
    ({"score": {"gte": 80}}, {"score": 95}, {}),  # no score: the condition fails
    ({"country": ["US"], "company_size": {"gte": 5000}}, {"country": "US", "company_size": 5000},
     {"country": "US", "company_size": 4999}),
])
def test_each_condition_matches_and_fails(when, yes, no):
    assert matching(when, **yes)
    assert not matching(when, **no)


def test_a_rule_without_conditions_matches_every_lead():
    assert matching({})


def test_the_first_matching_rule_wins():
    p = policy(rules=[
        {"name": "big_us", "when": {"country": ["US"], "company_size": {"gte": 1000}}, "assign_to": {"owner": "ana"}},
        {"name": "us", "when": {"country": ["US"]}, "assign_to": {"owner": "ben"}},
        {"name": "anyone", "assign_to": {"owner": "cleo"}},
    ])
    assert p.match_rule(facts(country="US", company_size=5000)).name == "big_us"
    assert p.match_rule(facts(country="US", company_size=50)).name == "us"
    assert p.match_rule(facts(country="FR")).name == "anyone"
    assert policy().match_rule(facts(country="US")) is None


def test_lead_facts_from_an_attributes_dict():
    f = LeadFacts.from_attributes("id-1", {"email": "Ada@Acme.COM", "country": " gb ", "company_size": "250",
                                           "domain": "acme.com", "industry": "software", "score": 71,
                                           "grade": "A2", "colour": "red"}, source="web-form", score=88)
    assert f == LeadFacts(lead_id="id-1", email="Ada@Acme.COM", email_domain="acme.com", company_domain="acme.com",
                          country="GB", industry="software", company_size=250, source="web-form", score=88,
                          grade="A2")
    assert LeadFacts.from_attributes("x", {"company_size": "many"}).company_size is None
    with pytest.raises(TypeError, match="unknown lead facts: city"):
        LeadFacts.from_attributes("x", {}, city="Paris")


# ---------------------------------------------------------------------------------------------
# accounts


@pytest.mark.parametrize(("raw", "expected"), [
    ("acme.com", "acme.com"),
    ("ACME.com.", "acme.com"),
    ("www.acme.com", "acme.com"),
    ("https://www.acme.com/about?x=1#top", "acme.com"),
    ("http://acme.com:8080", "acme.com"),
    ("eu.sales.acme.com", "acme.com"),
    ("ana@EU.Acme.com", "acme.com"),
    ("www.acme.co.uk", "acme.co.uk"),
    ("shop.acme.com.au", "acme.com.au"),
    ("tokyo.acme.co.jp", "acme.co.jp"),
    ("loja.acme.com.br", "acme.com.br"),
    ("acme.co.nz", "acme.co.nz"),
    ("dept.ox.ac.uk", "ox.ac.uk"),
    ("", None),
    ("   ", None),
    (None, None),
    ("localhost", None),
    ("192.168.1.10", None),
    ("co.uk", None),
    ("not a domain", None),
])
def test_account_domains_are_normalised(raw, expected):
    assert normalise_account_domain(raw) == expected


def test_free_mail_domains_are_recognised_in_any_form():
    free = FREE_MAIL_DOMAINS
    assert is_free_mail("gmail.com", free) and is_free_mail("GMail.com", free)
    assert is_free_mail("mail.yahoo.co.uk", free) and is_free_mail("https://www.gmx.de/x", free)
    assert not is_free_mail("acme.com", free) and not is_free_mail(None, free)


ACCOUNTS = {"acme.com": "ben", "globex.co.uk": "cleo", "gmail.com": "ana", "partner.io": "dan"}


def account_owner(lead: LeadFacts, free: frozenset[str] = FREE_MAIL_DOMAINS) -> str | None:
    found = find_account(lead, ACCOUNTS, free)
    return None if found is None else found[1]


def test_the_company_domain_is_preferred_then_the_email_domain():
    lead = facts(company_domain="https://www.globex.co.uk", email_domain="acme.com")
    assert find_account(lead, ACCOUNTS, FREE_MAIL_DOMAINS) == ("globex.co.uk", "cleo")
    assert account_owner(facts(company_domain="unknown.io", email_domain="eu.acme.com")) == "ben"
    assert account_owner(facts(company_domain="unknown.io", email_domain="other.io")) is None
    assert account_owner(facts()) is None


def test_free_mail_never_matches_an_account_even_when_one_is_recorded():
    assert account_owner(facts(email_domain="gmail.com")) is None
    assert account_owner(facts(company_domain="gmail.com", email_domain="acme.com")) == "ben"
    # a policy's own free-mail domains add to the shared list
    assert account_owner(facts(email_domain="partner.io")) == "dan"
    assert account_owner(facts(email_domain="partner.io"), FREE_MAIL_DOMAINS | {"partner.io"}) is None
    assert policy(free_mail_domains=["partner.io"]).free_mail == FREE_MAIL_DOMAINS | {"partner.io"}


# ---------------------------------------------------------------------------------------------
# availability


def one_owner(**fields: Any) -> Owner:
    return Owner.model_validate(owner("ana", **fields))


def test_reasons_are_checked_in_order():
    everything_wrong = {"status": "inactive", "out_of_office": [{"from": "2026-03-01", "to": "2026-03-31"}],
                        "working_hours": {"sat": [["09:00", "10:00"]]}, "capacity": {"per_day": 1, "per_week": 1}}
    full = OwnerLoad(assigned_today=1, assigned_this_week=1)
    expected = ["inactive", "paused", "out_of_office", "outside_working_hours", "daily_cap", "weekly_cap", None]
    steps = [
        {},
        {"status": "paused"},
        {"status": "active"},
        {"out_of_office": []},
        {"working_hours": "always"},
        {"capacity": {"per_week": 1}},
        {"capacity": {}},
    ]
    fields = dict(everything_wrong)
    for step, reason in zip(steps, expected, strict=True):
        fields.update(step)
        assert unavailable_reason(one_owner(**fields), full, MONDAY) == reason


def test_working_hours_are_read_in_the_owners_time_zone():
    new_york = one_owner(timezone="America/New_York", working_hours=OFFICE)  # UTC-5 in March before the 8th
    assert unavailable_reason(new_york, None, MONDAY.replace(hour=13, minute=59)) == "outside_working_hours"
    assert unavailable_reason(new_york, None, MONDAY.replace(hour=14)) is None
    assert unavailable_reason(new_york, None, MONDAY.replace(hour=21, minute=59)) is None
    assert unavailable_reason(new_york, None, MONDAY.replace(hour=22)) == "outside_working_hours"  # end excluded
    tokyo = one_owner(timezone="Asia/Tokyo", working_hours=OFFICE)  # UTC+9
    assert in_working_hours(tokyo, MONDAY.replace(hour=0))  # 09:00 Monday in Tokyo
    assert not in_working_hours(tokyo, MONDAY.replace(hour=8))  # 17:00
    # Sunday 23:30 UTC is already Monday 08:30 in Tokyo: not yet; 00:30 UTC is 09:30 Monday: yes
    assert not in_working_hours(tokyo, MONDAY.replace(hour=0) - timedelta(minutes=30))
    assert in_working_hours(tokyo, MONDAY.replace(hour=0, minute=30))


def test_an_interval_may_end_at_midnight():
    late = one_owner(working_hours={"mon": [["20:00", "24:00"]]})
    assert in_working_hours(late, MONDAY.replace(hour=23, minute=59, second=59))
    assert not in_working_hours(late, MONDAY.replace(hour=0) + timedelta(days=1))


def test_out_of_office_dates_are_the_owners_local_dates():
    tokyo = one_owner(timezone="Asia/Tokyo", out_of_office=[{"from": "2026-03-03", "to": "2026-03-04"}])
    assert unavailable_reason(tokyo, None, datetime(2026, 3, 2, 14, 59, tzinfo=UTC)) is None  # 23:59 Mar 2
    assert unavailable_reason(tokyo, None, datetime(2026, 3, 2, 15, 0, tzinfo=UTC)) == "out_of_office"
    assert unavailable_reason(tokyo, None, datetime(2026, 3, 4, 14, 59, tzinfo=UTC)) == "out_of_office"  # last day
    assert unavailable_reason(tokyo, None, datetime(2026, 3, 4, 15, 0, tzinfo=UTC)) is None


def test_caps_use_the_loads_the_caller_counted():
    capped = one_owner(capacity={"per_day": 3, "per_week": 10})
    assert unavailable_reason(capped, OwnerLoad(2, 9, 50), MONDAY) is None  # open assignments do not count
    assert unavailable_reason(capped, OwnerLoad(3, 3, 0), MONDAY) == "daily_cap"
    assert unavailable_reason(capped, OwnerLoad(0, 10, 0), MONDAY) == "weekly_cap"


def test_days_and_weeks_are_the_owners_and_weeks_start_on_monday():
    la = one_owner(timezone="America/Los_Angeles")  # UTC-8 in early March
    sunday_evening_in_la = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # Monday in UTC, Sunday 21:00 in LA
    assert day_bounds(la, sunday_evening_in_la) == (datetime(2026, 3, 1, 8, tzinfo=UTC),
                                                    datetime(2026, 3, 2, 8, tzinfo=UTC))
    assert week_bounds(la, sunday_evening_in_la) == (datetime(2026, 2, 23, 8, tzinfo=UTC),
                                                     datetime(2026, 3, 2, 8, tzinfo=UTC))
    # a few hours later it is Monday in LA as well: a new week
    assert week_bounds(la, datetime(2026, 3, 2, 9, tzinfo=UTC))[0] == datetime(2026, 3, 2, 8, tzinfo=UTC)
    # the week of the US DST change (Sunday 8 March) is an hour short
    start, end = week_bounds(la, datetime(2026, 3, 10, tzinfo=UTC))
    assert (start, end - start) == (datetime(2026, 3, 9, 7, tzinfo=UTC), timedelta(days=7))
    start, end = week_bounds(la, datetime(2026, 3, 5, tzinfo=UTC))
    assert end - start == timedelta(days=7, hours=-1)


def test_now_must_be_time_zone_aware():
    with pytest.raises(ValueError, match="time-zone aware"):
        unavailable_reason(one_owner(), None, datetime(2026, 3, 2, 12))
    with pytest.raises(ValueError, match="time-zone aware"):
        route(policy(), facts(), now=datetime(2026, 3, 2, 12))


def test_next_available_at():
    berlin = one_owner(timezone="Europe/Berlin", working_hours=OFFICE,
                       out_of_office=[{"from": "2026-03-03", "to": "2026-03-04"}], capacity={"per_day": 2})
    # Monday 12:00 UTC is 13:00 in Berlin: available now
    assert next_available_at(berlin, MONDAY) == MONDAY
    # Monday 17:00 Berlin: Tuesday and Wednesday are out of office, so Thursday 09:00 Berlin (08:00 UTC)
    assert next_available_at(berlin, MONDAY.replace(hour=16)) == datetime(2026, 3, 5, 8, tzinfo=UTC)
    # the daily cap reached on Friday: next Monday morning
    friday = datetime(2026, 3, 6, 10, tzinfo=UTC)
    assert next_available_at(berlin, friday, OwnerLoad(2, 2, 0)) == datetime(2026, 3, 9, 8, tzinfo=UTC)
    # in the caller's time zone
    shown = next_available_at(berlin, MONDAY.replace(hour=16).astimezone(ZoneInfo("Asia/Tokyo")))
    assert shown.utcoffset() == timedelta(hours=9) and shown == datetime(2026, 3, 5, 8, tzinfo=UTC)
    assert next_available_at(one_owner(status="inactive"), MONDAY) is None
    assert next_available_at(one_owner(status="paused"), MONDAY) is None
    away = one_owner(out_of_office=[{"from": "2026-03-01", "to": "2026-04-30"}])
    assert next_available_at(away, MONDAY) is None  # beyond the 14-day horizon
    assert next_available_at(away, MONDAY, horizon_days=90) == datetime(2026, 5, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# strategies


def test_round_robin_takes_turns_and_skips_who_is_not_available():
    members = ("a", "b", "c")
    everyone = set(members)
    picks, state = [], PositionState()
    for _ in range(4):
        chosen, state = round_robin(members, everyone, state)
        picks.append(chosen)
    assert picks == ["a", "b", "c", "a"] and state == PositionState(1)
    assert round_robin(members, {"a", "c"}, PositionState(1)) == ("c", PositionState(0))
    assert round_robin(members, set(), PositionState(2)) == (None, PositionState(2))
    assert round_robin(members, everyone, PositionState(7)) == ("b", PositionState(2))  # 7 wraps to 1


def test_smooth_weighted_round_robin_follows_the_nginx_sequence():
    members, weights = ("a", "b", "c"), {"a": 5, "b": 1, "c": 1}
    picks, state = [], WeightedState()
    for _ in range(7):
        chosen, state = weighted_round_robin(members, weights, set(members), state)
        picks.append(chosen)
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]
    assert state == WeightedState({"a": 0, "b": 0, "c": 0})


def test_weighted_round_robin_lets_unavailable_owners_sit_the_round_out():
    members, weights = ("a", "b"), {"a": 3, "b": 1}
    chosen, state = weighted_round_robin(members, weights, {"b"}, WeightedState({"a": 2, "b": -1}))
    assert chosen == "b" and state == WeightedState({"a": 2, "b": -1})  # b: -1 + 1 - 1
    assert weighted_round_robin(members, weights, set(), WeightedState({"a": 2})) == (None, WeightedState({"a": 2}))
    # an owner who left the pool is dropped from the state; a new one starts at 0
    chosen, state = weighted_round_robin(("a", "c"), {"a": 1, "c": 1}, {"a", "c"}, WeightedState({"a": 0, "b": 9}))
    assert chosen == "a" and state == WeightedState({"a": -1, "c": 1})


def test_least_loaded_picks_the_fewest_open_and_breaks_ties_in_turn():
    members = ("a", "b", "c")
    assert least_loaded(members, {"a": 3, "b": 1, "c": 2}, set(members), PositionState()) == ("b", PositionState(2))
    assert least_loaded(members, {"a": 1, "b": 1, "c": 1}, set(members), PositionState(1)) == ("b", PositionState(2))
    assert least_loaded(members, {"a": 1, "b": 1, "c": 1}, set(members), PositionState(2)) == ("c", PositionState(0))
    assert least_loaded(members, {"a": 0, "b": 5}, {"b", "c"}, PositionState()) == ("c", PositionState(0))
    assert least_loaded(members, {}, set(), PositionState(1)) == (None, PositionState(1))


def test_states_survive_json_and_bad_states_start_afresh():
    for strategy, state in [("round_robin", PositionState(2)), ("least_loaded", PositionState(1)),
                            ("weighted_round_robin", WeightedState({"a": 3, "b": -3}))]:
        assert state_from_dict(strategy, json.loads(json.dumps(state.to_dict()))) == state
    assert state_from_dict("round_robin", None) == PositionState(0)
    assert state_from_dict("round_robin", {"position": "x"}) == PositionState(0)
    assert state_from_dict("round_robin", {"position": -4}) == PositionState(0)
    assert state_from_dict("weighted_round_robin", {"current": [1, 2]}) == WeightedState({})
    assert state_from_dict("weighted_round_robin", {"current": {"a": "x", "b": 2}}) == WeightedState({"a": 0, "b": 2})


def test_choose_dispatches_and_refuses_the_wrong_kind_of_state():
    assert choose("round_robin", ("a", "b"), {"a", "b"}, PositionState(1)) == ("b", PositionState(0))
    assert choose("least_loaded", ("a", "b"), {"a", "b"}, PositionState(), open_assignments={"a": 2})[0] == "b"
    assert choose("weighted_round_robin", ("a", "b"), {"a", "b"}, WeightedState(), weights={"b": 2})[0] == "b"
    with pytest.raises(TypeError, match="needs a WeightedState"):
        choose("weighted_round_robin", ("a",), {"a"}, PositionState())


# ---------------------------------------------------------------------------------------------
# route: the decision record


def enterprise_policy(**changes: Any) -> RoutingPolicy:
    data = base(
        owners=[
            owner("ana.silva", out_of_office=[{"from": "2026-03-01", "to": "2026-03-06"}]),
            owner("ben.okafor", weight=2, timezone="America/New_York", working_hours=OFFICE),
            owner("chloe.martin", capacity={"per_day": 3}),
            owner("dan.berg", status="inactive"),
            owner("eva.lind", working_hours={"sat": [["09:00", "12:00"]]}),
        ],
        teams=[
            {"id": "na_enterprise", "name": "NA enterprise", "members": ["ana.silva", "ben.okafor", "chloe.martin"],
             "strategy": "weighted_round_robin", "queue": {"max_wait_minutes": 90}},
            {"id": "desk", "name": "Desk", "members": ["chloe.martin", "ben.okafor"]},
            {"id": "gone", "name": "Gone", "members": ["dan.berg"]},
        ],
        rules=[
            {"name": "enterprise_us", "when": {"country": ["US"], "company_size": {"gte": 1000}},
             "assign_to": {"team": "na_enterprise"}, "sla_minutes": 30},
            {"name": "saturday_specialist", "when": {"industry": ["retail"]}, "assign_to": {"owner": "eva.lind"}},
            {"name": "leavers", "when": {"industry": ["mining"]}, "assign_to": {"team": "gone"}},
            {"name": "no_accounts", "when": {"source": ["partner"]}, "assign_to": {"team": "desk"},
             "account_match": False},
        ],
        fallback={"team": "desk"},
        sla={"default_minutes": 120, "by_grade": {"A1": 15}},
    )
    data.update(changes)
    return parse_policy(data)


US_ENTERPRISE = facts(country="US", company_size=5000, grade="A1", email_domain="bigco.com")
BUSY = {"chloe.martin": OwnerLoad(assigned_today=3, assigned_this_week=3, open_assignments=4)}
IN_NY_HOURS = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def test_a_team_decision_records_every_candidate_the_state_and_why():
    p = enterprise_policy()
    decision = route(p, US_ENTERPRISE, now=IN_NY_HOURS, loads=BUSY)
    assert decision.reason == ("rule enterprise_us -> team na_enterprise; weighted round robin chose ben.okafor; "
                               "skipped ana.silva (out_of_office), chloe.martin (daily_cap)")
    assert (decision.outcome, decision.owner_id, decision.team_id, decision.via) == (
        "assigned", "ben.okafor", "na_enterprise", "rule")
    assert decision.rule == "enterprise_us" and decision.target == {"team": "na_enterprise"}
    assert decision.strategy == "weighted_round_robin" and decision.policy_version == "test-1"
    assert [c.to_dict() for c in decision.candidates] == [
        {"owner_id": "ana.silva", "available": False, "skipped": "out_of_office",
         "considered_for": "team:na_enterprise", "chosen": False},
        {"owner_id": "ben.okafor", "available": True, "skipped": None,
         "considered_for": "team:na_enterprise", "chosen": True},
        {"owner_id": "chloe.martin", "available": False, "skipped": "daily_cap",
         "considered_for": "team:na_enterprise", "chosen": False},
    ]
    assert decision.state_before == {"current": {}}  # a fresh pool
    assert decision.state_after == {"current": {"ana.silva": 0, "ben.okafor": 0, "chloe.martin": 0}}  # ben 0+2-2
    # the rule's SLA (30) beats the grade's (15), counted in Ben's working time
    assert decision.sla_minutes == 30 and decision.accept_by == IN_NY_HOURS + timedelta(minutes=30)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["candidates"][1]["chosen"] is True and data["decided_at"] == "2026-03-02T15:00:00+00:00"
    assert data["accept_by"] == "2026-03-02T15:30:00+00:00" and data["queue"] is None


def test_the_state_passed_in_is_the_state_before():
    p = enterprise_policy()
    state = {"current": {"ana.silva": 0, "ben.okafor": -1, "chloe.martin": 1}}
    decision = route(p, US_ENTERPRISE, now=IN_NY_HOURS.replace(day=9), states={"na_enterprise": state})
    # everyone available on the 9th: ana 1, ben 1, chloe 2 -> chloe, minus the total 4
    assert decision.owner_id == "chloe.martin"
    assert decision.state_before == state
    assert decision.state_after == {"current": {"ana.silva": 1, "ben.okafor": 1, "chloe.martin": -2}}


def test_no_matching_rule_goes_to_the_fallback():
    decision = route(enterprise_policy(), facts(country="FR", grade="A1"), now=IN_NY_HOURS)
    assert (decision.rule, decision.via, decision.target, decision.owner_id) == (
        "fallback", "fallback", {"team": "desk"}, "chloe.martin")
    assert decision.reason == "no rule matched -> fallback team desk; round robin chose chloe.martin"
    assert decision.state_before == {"position": 0} and decision.state_after == {"position": 1}
    assert decision.sla_minutes == 15  # the grade's SLA


def test_a_decision_says_why_each_rule_did_not_match():
    decision = route(enterprise_policy(), facts(country="US", company_size=800, industry="Software", grade="A1"),
                     now=IN_NY_HOURS)
    assert decision.rule == "fallback"
    assert decision.to_dict()["rules"] == [
        {"rule": "enterprise_us", "matched": False, "failed": "company_size 800 < 1000"},
        {"rule": "saturday_specialist", "matched": False, "failed": "industry Software not in retail"},
        {"rule": "leavers", "matched": False, "failed": "industry Software not in mining"},
        {"rule": "no_accounts", "matched": False, "failed": "source unknown"},
    ]


def test_every_rule_is_tried_and_the_first_that_matched_decides():
    decision = route(enterprise_policy(), facts(country="us", company_size=5000, source="partner"), now=IN_NY_HOURS)
    assert decision.rule == "enterprise_us"
    assert [(c.rule, c.matched, c.failed) for c in decision.rules] == [
        ("enterprise_us", True, None), ("saturday_specialist", False, "industry unknown"),
        ("leavers", False, "industry unknown"), ("no_accounts", True, None)]


@pytest.mark.parametrize(("when", "lead", "failed"), [
    ({"company_size": {"lte": 200}}, {"company_size": 20000}, "company_size 20000 > 200"),
    ({"company_size": {"gte": 50, "lte": 200}}, {}, "company_size unknown"),
    ({"score": {"gte": 70.5}}, {"score": 70}, "score 70 < 70.5"),
    ({"grade": ["A*", "B1"]}, {"grade": "C2"}, "grade C2 not in A*/B1"),
    ({"grade": ["A1"]}, {}, "grade unknown"),
    ({"country": ["US", "CA", "MX", "BR", "AR", "CL", "CO", "PE"]}, {"country": "DE"},
     "country DE not in US/CA/MX/BR/AR/CL/... (8 in all)"),
    ({"country": ["DE"], "industry": ["government"]}, {"country": "FR", "industry": "government"},
     "country FR not in DE"),  # the first condition in the order they are checked
    ({"country": ["DE"], "industry": ["government"]}, {"country": "DE", "industry": " Government "}, None),
])
def test_the_first_failed_condition_names_the_leads_value(when, lead, failed):
    policy = parse_policy(base(rules=[{"name": "probe", "when": when, "assign_to": {"team": "desk"}}]))
    (check,) = policy.check_rules(facts(**lead))
    assert (check.matched, check.failed) == (failed is None, failed)
    assert (policy.match_rule(facts(**lead)) is not None) == (failed is None)


def test_a_queued_lead_tried_again_keeps_its_rule_and_explains_the_rules_now():
    decision = route_queued(enterprise_policy(), facts(country="US", company_size=800), queued_on={"team": "desk"},
                            queued_at=IN_NY_HOURS, rule="fallback", now=IN_NY_HOURS + timedelta(minutes=5))
    assert decision.rule == "fallback"
    assert decision.rules[0].failed == "company_size 800 < 1000"


def test_an_available_account_owner_gets_the_lead():
    decision = route(enterprise_policy(), US_ENTERPRISE, now=IN_NY_HOURS, accounts={"bigco.com": "chloe.martin"})
    assert (decision.via, decision.owner_id, decision.target, decision.team_id) == (
        "account_match", "chloe.martin", {"owner": "chloe.martin"}, None)
    assert decision.account == {"domain": "bigco.com", "owner_id": "chloe.martin"}
    assert decision.reason == ("rule enterprise_us -> team na_enterprise; "
                               "account bigco.com is owned by chloe.martin, who takes it")
    assert [(c.owner_id, c.considered_for, c.chosen) for c in decision.candidates] == [
        ("chloe.martin", "account", True)]
    assert decision.state_before is None and decision.state_after is None


def test_an_unavailable_account_owner_is_recorded_and_the_rule_carries_on():
    decision = route(enterprise_policy(), US_ENTERPRISE, now=IN_NY_HOURS, loads=BUSY,
                     accounts={"bigco.com": "chloe.martin"})
    assert decision.via == "rule" and decision.owner_id == "ben.okafor"
    assert decision.candidates[0].to_dict() == {"owner_id": "chloe.martin", "available": False,
                                                "skipped": "daily_cap", "considered_for": "account",
                                                "chosen": False}
    assert "account bigco.com owner chloe.martin unavailable (daily_cap)" in decision.reason
    assert decision.account == {"domain": "bigco.com", "owner_id": "chloe.martin"}
    # an account owner no longer in the policy is recorded as such
    decision = route(enterprise_policy(), US_ENTERPRISE, now=IN_NY_HOURS, accounts={"bigco.com": "zed"})
    assert decision.candidates[0].skipped == "not_in_policy" and decision.via == "rule"


def test_account_matching_can_be_switched_off_per_rule_and_never_uses_free_mail():
    accounts = {"bigco.com": "ana.silva", "gmail.com": "ana.silva"}
    decision = route(enterprise_policy(), facts(source="partner", email_domain="bigco.com"), now=IN_NY_HOURS,
                     accounts=accounts)
    assert decision.via == "rule" and all(c.considered_for != "account" for c in decision.candidates)
    decision = route(enterprise_policy(), facts(email_domain="gmail.com"), now=MONDAY.replace(day=9),
                     accounts=accounts)
    assert decision.via == "fallback" and decision.account is None
    off = enterprise_policy(fallback={"team": "desk", "account_match": False})
    decision = route(off, facts(email_domain="bigco.com"), now=MONDAY.replace(day=9), accounts=accounts)
    assert decision.via == "fallback" and decision.owner_id != "ana.silva"


def test_a_named_owner_gets_the_lead_when_available():
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    decision = route(enterprise_policy(), facts(industry="retail"), now=saturday)
    assert (decision.outcome, decision.owner_id, decision.team_id, decision.target) == (
        "assigned", "eva.lind", None, {"owner": "eva.lind"})
    assert decision.strategy is None and decision.state_after is None
    assert decision.reason == "rule saturday_specialist -> owner eva.lind; assigned to eva.lind"
    assert decision.accept_by == datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # 120 min of her Saturday morning


def test_an_unavailable_named_owner_queues_the_lead_on_them():
    decision = route(enterprise_policy(), facts(industry="retail"), now=MONDAY)
    assert (decision.outcome, decision.owner_id, decision.team_id, decision.target) == (
        "queued", None, None, {"owner": "eva.lind"})
    assert decision.queue.to_dict() == {
        "target": {"owner": "eva.lind"}, "queued_at": "2026-03-02T12:00:00+00:00", "max_wait_minutes": 60,
        "expires_at": "2026-03-02T13:00:00+00:00", "fallback": {"team": "desk"},
        "next_available_at": "2026-03-07T09:00:00+00:00"}
    assert decision.reason == ("rule saturday_specialist -> owner eva.lind; eva.lind unavailable "
                               "(outside_working_hours); queued on owner eva.lind, fallback team desk after 60 min")
    assert decision.accept_by is None


def test_an_excluded_named_owner_sends_the_lead_to_the_fallback_at_once():
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    decision = route(enterprise_policy(), facts(industry="retail"), now=saturday, exclude=frozenset({"eva.lind"}))
    assert (decision.outcome, decision.via, decision.rule, decision.team_id) == (
        "assigned", "fallback", "saturday_specialist", "desk")
    assert [(c.owner_id, c.skipped) for c in decision.candidates] == [
        ("eva.lind", "excluded"), ("chloe.martin", None), ("ben.okafor", "outside_working_hours")]
    assert decision.reason == ("rule saturday_specialist -> owner eva.lind; nobody there can ever take it: "
                               "skipped eva.lind (excluded); fallback -> team desk; round robin chose chloe.martin; "
                               "skipped ben.okafor (outside_working_hours)")
    assert decision.excluded == ("eva.lind",)


def test_a_team_nobody_can_ever_serve_sends_the_lead_on_at_once():
    decision = route(enterprise_policy(), facts(industry="mining"), now=MONDAY)
    assert decision.outcome == "assigned" and decision.via == "fallback" and decision.team_id == "desk"
    assert decision.candidates[0].skipped == "inactive"


def test_nobody_available_in_a_team_queues_the_lead_with_the_state_unchanged():
    night = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # Monday 22:00 in New York
    decision = route(enterprise_policy(), US_ENTERPRISE, now=night, loads=BUSY,
                     states={"na_enterprise": {"current": {"ben.okafor": 1}}})
    assert (decision.outcome, decision.owner_id, decision.team_id) == ("queued", None, "na_enterprise")
    assert decision.state_before == decision.state_after == {"current": {"ben.okafor": 1}}
    assert decision.queue.expires_at == night + timedelta(minutes=90)
    assert decision.queue.fallback == {"team": "desk"}
    # ben starts at 09:00 in New York (14:00 UTC), before chloe's daily cap is lifted at midnight UTC
    assert decision.queue.next_available_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    assert decision.reason == ("rule enterprise_us -> team na_enterprise; nobody available: skipped ana.silva "
                               "(out_of_office), ben.okafor (outside_working_hours), chloe.martin (daily_cap); "
                               "queued on team na_enterprise, fallback team desk after 90 min")


def test_a_queue_without_wait_moves_on_at_once():
    p = enterprise_policy(owner_queue={"max_wait_minutes": 0})
    decision = route(p, facts(industry="retail"), now=MONDAY)
    assert decision.outcome == "assigned" and decision.team_id == "desk"
    assert "nobody available and no wait allowed: skipped eva.lind (outside_working_hours)" in decision.reason


def test_the_last_stop_queues_without_a_time_limit():
    p = policy(owners=[owner("ana", status="paused"), owner("ben", status="paused"), owner("cleo", status="paused")])
    decision = route(p, facts(), now=MONDAY)
    assert decision.outcome == "queued" and decision.team_id == "desk"
    assert decision.queue.fallback is None and decision.queue.expires_at is None
    assert decision.queue.next_available_at is None  # paused: nobody knows when
    assert decision.reason.endswith("queued on team desk, no time limit")
    assert not queue_expired(p, Target(team="desk"), MONDAY, MONDAY + timedelta(days=365))
    assert queue_fallback(p, {"team": "desk"}) is None


def test_queued_leads_are_retried_on_their_queue_then_sent_to_its_fallback():
    p = enterprise_policy()
    night = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    where = {"team": "na_enterprise"}
    assert queue_fallback(p, where) == Target(team="desk")
    assert not queue_expired(p, where, night, night + timedelta(minutes=89))
    assert queue_expired(p, where, night, night + timedelta(minutes=90))
    # still waiting, and still nobody: queued again, since the original time
    later = night + timedelta(minutes=30)
    again = route_queued(p, US_ENTERPRISE, queued_on=where, queued_at=night, rule="enterprise_us", now=later,
                         loads=BUSY)
    assert again.outcome == "queued" and again.queue.queued_at == night and again.rule == "enterprise_us"
    # someone became available within the wait: assigned from the queue
    morning = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
    assert queue_expired(p, where, morning - timedelta(minutes=10), morning) is False
    taken = route_queued(p, US_ENTERPRISE, queued_on=where, queued_at=morning - timedelta(minutes=10),
                         rule="enterprise_us", now=morning, loads=BUSY)
    assert (taken.outcome, taken.owner_id, taken.via) == ("assigned", "ben.okafor", "rule")
    # the wait is over: the fallback
    expired = night + timedelta(minutes=95)
    moved = route_queued(p, US_ENTERPRISE, queued_on=where, queued_at=night, rule="enterprise_us", now=expired)
    assert (moved.outcome, moved.via, moved.team_id, moved.rule) == ("assigned", "fallback", "desk", "enterprise_us")
    assert moved.reason.startswith("queued on team na_enterprise for 95 min (max 90) -> fallback team desk; ")


def test_excluded_owners_are_never_chosen():
    p = enterprise_policy()
    decision = route(p, US_ENTERPRISE, now=IN_NY_HOURS.replace(day=9), exclude=frozenset({"ana.silva", "ben.okafor"}))
    assert decision.owner_id == "chloe.martin"
    assert [(c.owner_id, c.skipped) for c in decision.candidates] == [
        ("ana.silva", "excluded"), ("ben.okafor", "excluded"), ("chloe.martin", None)]
    # the account owner too
    decision = route(p, US_ENTERPRISE, now=IN_NY_HOURS.replace(day=9), accounts={"bigco.com": "ben.okafor"},
                     exclude=frozenset({"ben.okafor"}))
    assert decision.candidates[0].skipped == "excluded" and decision.owner_id != "ben.okafor"


def test_route_changes_nothing_it_is_given():
    p = enterprise_policy()
    states = {"na_enterprise": {"current": {"ana.silva": 1}}}
    kept = copy.deepcopy(states)
    route(p, US_ENTERPRISE, now=IN_NY_HOURS.replace(day=9), states=states)
    assert states == kept


def test_the_reference_dates_are_the_weekdays_the_tests_assume():
    assert MONDAY.date().weekday() == 0 and date(2026, 3, 7).weekday() == 5
