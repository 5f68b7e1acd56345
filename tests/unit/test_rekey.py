"""The re-key's plan (pure): which stored lead ids move to their identity's id, which stay apart
and why; and that its list of tables is every table that holds a lead id."""

from __future__ import annotations

import importlib
import uuid

import pytest

from shared.db.rekey import LOWER_CASED_EMAIL, SCHEMAS, Kept, plan_rekey
from shared.identity import LEAD_NAMESPACE, UNKEYED, lead_id_for
from shared.identity_policy import DEFAULT_POLICY


def old_id(email: str) -> uuid.UUID:
    """The id before one identity: uuid5 of the lower-cased email."""
    return uuid.uuid5(LEAD_NAMESPACE, email)


ADA = lead_id_for("ada@acme.com", key=UNKEYED)  # these plans are of one identity (scoring_0004 ...)


def test_a_tagged_lead_moves_to_its_person_and_a_plain_one_stays():
    stored = {old_id("ada+news@acme.com"): {"ada+news@acme.com"}, old_id("bob@acme.com"): {"bob@acme.com"}}
    plan = plan_rekey(stored, keyed=set(stored), policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {old_id("ada+news@acme.com"): ADA} and plan.kept == ()


def test_every_spelling_of_the_issue_moves_to_the_one_id():
    for email, person in [("ada+news@acme.com", "ada@acme.com"), ("ada@googlemail.com", "ada@gmail.com"),
                          ("a.da@gmail.com", "ada@gmail.com")]:
        plan = plan_rekey({old_id(email): {email}}, keyed={old_id(email)}, policy=DEFAULT_POLICY, key=UNKEYED)
        assert plan.moves == {old_id(email): uuid.uuid5(LEAD_NAMESPACE, person)}


def test_no_lead_is_folded_into_a_lead_that_has_the_id_already():
    tagged = old_id("ada+news@acme.com")
    stored = {ADA: {"ada@acme.com"}, tagged: {"ada+news@acme.com"}}
    plan = plan_rekey(stored, keyed={ADA, tagged}, policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {}
    assert plan.kept == (Kept(tagged, ADA, "its identity's id is another stored lead"),)


def test_of_several_leads_of_one_person_the_plainest_email_takes_the_id():
    short, long_ = old_id("ada+x@acme.com"), old_id("ada+news@acme.com")
    same_length = old_id("ada+y@acme.com")
    stored = {long_: {"ada+news@acme.com"}, same_length: {"ada+y@acme.com"}, short: {"ada+x@acme.com"}}
    plan = plan_rekey(stored, keyed=set(stored), policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {short: ADA}
    assert {k.lead_id for k in plan.kept} == {long_, same_length}
    assert {k.why for k in plan.kept} == {"another stored lead of its identity took the id"}


def test_an_id_that_is_no_lead_joins_its_person_whatever_happens_to_the_leads():
    contact, tagged = old_id("ada+crm@acme.com"), old_id("ada+news@acme.com")
    stored = {ADA: {"ada@acme.com"}, tagged: {"ada+news@acme.com"}, contact: {"ada+crm@acme.com"}}
    plan = plan_rekey(stored, keyed={ADA, tagged}, policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {contact: ADA}
    assert [k.lead_id for k in plan.kept] == [tagged]


def test_the_identity_id_counts_as_taken_when_a_keyed_row_holds_it_even_without_an_email():
    tagged = old_id("ada+news@acme.com")
    plan = plan_rekey({tagged: {"ada+news@acme.com"}}, keyed={tagged, ADA}, policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {} and plan.kept[0].identity_id == ADA


def test_an_id_whose_emails_are_now_different_people_or_no_address_stays():
    mixed, broken = uuid.uuid4(), uuid.uuid4()
    stored = {mixed: {"ada@acme.com", "bob@acme.com"}, broken: {"not an address"}}
    plan = plan_rekey(stored, keyed=set(stored), policy=DEFAULT_POLICY, key=UNKEYED)
    assert plan.moves == {}
    assert {k.lead_id: k.why for k in plan.kept} == {
        mixed: "its stored emails are different people under these rules",
        broken: "a stored email is not an address"}


def test_going_back_to_the_lower_cased_email_undoes_the_moves():
    email = "A.da+news@googlemail.com".lower()
    forward = plan_rekey({old_id(email): {email}}, keyed={old_id(email)}, policy=DEFAULT_POLICY, key=UNKEYED)
    (new,) = forward.moves.values()
    back = plan_rekey({new: {email}}, keyed={new}, policy=LOWER_CASED_EMAIL, key=UNKEYED)
    assert back.moves == {new: old_id(email)}


def test_rekeying_twice_moves_nothing_the_second_time():
    stored = {old_id("ada+news@acme.com"): {"ada+news@acme.com"}, old_id("a.da@gmail.com"): {"a.da@gmail.com"}}
    first = plan_rekey(stored, keyed=set(stored), policy=DEFAULT_POLICY, key=UNKEYED)
    after = {first.moves.get(i, i): emails for i, emails in stored.items()}
    assert plan_rekey(after, keyed=set(after), policy=DEFAULT_POLICY, key=UNKEYED).moves == {}


def test_the_move_to_keyed_ids_moves_every_lead_plain_ones_too_to_the_hmac_of_its_identity():
    """scoring_0005 and the others: ids an email gave (uuid5 of the identity) become keyed ids."""
    key = b"k" * 32
    stored = {lead_id_for(e, key=UNKEYED): {e} for e in ("ada@acme.com", "bob@acme.com", "a.da+x@gmail.com")}
    plan = plan_rekey(stored, keyed=set(stored), policy=DEFAULT_POLICY, key=key)
    assert plan.kept == ()
    assert plan.moves == {old: lead_id_for(next(iter(emails)), key=key) for old, emails in stored.items()}
    assert all(new.version == 8 for new in plan.moves.values())
    back = plan_rekey({new: stored[old] for old, new in plan.moves.items()}, keyed=set(plan.moves.values()),
                      policy=DEFAULT_POLICY, key=UNKEYED)
    assert set(back.moves.values()) == set(stored), "the downgrade goes back to the ids of one identity"


@pytest.mark.parametrize("keys", SCHEMAS, ids=lambda k: k.schema)
def test_the_rekey_knows_every_table_that_holds_a_lead_id(keys):
    metadata = importlib.import_module(f"services.{keys.schema}.tables").metadata
    holding = {t.name for t in metadata.sorted_tables if "lead_id" in t.c}
    listed = {*keys.emails, *keys.keyed, *keys.carried} | ({keys.aliases} if keys.aliases else set())
    assert holding == listed
    for name in keys.emails:
        assert "email" in metadata.tables[f"{keys.schema}.{name}"].c
    for name in holding:
        table = metadata.tables[f"{keys.schema}.{name}"]
        unique = [set(table.primary_key.columns.keys())] + [
            set(c.columns.keys()) for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
        assert (name in keys.keyed) == any("lead_id" in u for u in unique), name


def test_intake_is_not_rekeyed_as_it_knows_no_email():
    metadata = importlib.import_module("services.intake.tables").metadata
    assert not any("email" in t.c for t in metadata.sorted_tables)
    assert "intake" not in {k.schema for k in SCHEMAS}
