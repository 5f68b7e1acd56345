"""One identity for a person everywhere: the normalised email, the person it reaches (by the
reviewed rules of config/identity.yaml), its domain, the lead id and the one free-mail list."""

import uuid

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared import identity
from shared.identity import (
    FREE_MAIL_DOMAINS,
    LEAD_NAMESPACE,
    UNKEYED,
    InvalidEmail,
    LeadIdKeyMissing,
    domain_of,
    email_domain,
    host_of,
    identity_of,
    is_free_mail,
    lead_id_for,
    normalise_email,
)
from shared.identity_policy import (
    DEFAULT_POLICY,
    IdentityPolicy,
    IdentityPolicyError,
    load_identity_policy,
)
from shared.reviewed_documents import parse_document
from shared.settings import REPO_CONFIG_DIR

quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHIPPED = {"sub_addressing": [{"separators": ["+"], "domains": "all"}],
           "domain_aliases": {"googlemail.com": "gmail.com"}, "insignificant_dots": ["gmail.com"]}
DASHES_AT = [{"separators": ["+"]}, {"separators": ["-"], "domains": ["yahoo.com"]}]


def test_email_is_trimmed_and_lower_cased():
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("bad", ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com",
                                 "ada..l@example.com", "ada@[1.2.3.4]", "ada@host.local", "x" * 320 + "@acme.com"])
def test_non_addresses_are_refused_with_the_reason(bad):
    with pytest.raises(ValueError, match="not an email address"):
        normalise_email(bad)


def test_the_lead_id_is_the_same_for_the_same_normalised_email_and_no_other():
    assert lead_id_for(normalise_email("Ada@Acme.com")) == lead_id_for("ada@acme.com")
    assert lead_id_for("ada@acme.com") != lead_id_for("bob@acme.com")
    assert lead_id_for("ada@acme.com").version == 8 and isinstance(lead_id_for("x@y.io"), uuid.UUID)


# -- the person behind an address ---------------------------------------------------------------

@pytest.mark.parametrize("raw, person", [
    # the issue's examples
    ("ada+news@acme.com", "ada@acme.com"),
    ("Ada@googlemail.com", "ada@gmail.com"),
    ("a.da@gmail.com", "ada@gmail.com"),
    # case and whitespace
    ("  ADA@Acme.COM\t", "ada@acme.com"),
    ("Ada.Lovelace@Acme.com", "ada.lovelace@acme.com"),  # dots count outside Gmail
    # sub-addressing on every domain, from the first '+'
    ("ada+news+weekly@acme.com", "ada@acme.com"),
    ("ada+@acme.com", "ada@acme.com"),
    ("ada.+news@acme.com", "ada@acme.com"),  # never a local part ending with a dot
    ("+news@acme.com", "+news@acme.com"),  # all tag and no person: kept as it is
    ("ada-news@acme.com", "ada-news@acme.com"),  # '-' is part of names: not a separator by default
    ("jean-luc+crm@acme.com", "jean-luc@acme.com"),
    # Gmail under both its names, its dots and tags together
    ("A.Da+Promo.2026@GoogleMail.com", "ada@gmail.com"),
    ("a.d.a@gmail.com", "ada@gmail.com"),
    ("ada@mail.gmail.com", "ada@mail.gmail.com"),  # another domain: its own rules
    ("a.da@outlook.com", "a.da@outlook.com"),
    # international addresses are left alone but for the rules
    ("Jörg+x@Bücher.de", "jörg@bücher.de"),
])
def test_an_address_becomes_its_person(raw, person):
    assert identity_of(raw) == person
    assert lead_id_for(raw) == lead_id_for(person)


def test_the_issues_spellings_are_one_lead_each():
    acme = {lead_id_for(e) for e in ("ada+news@acme.com", "ADA@acme.com", " ada@ACME.com ", "ada+x@acme.com")}
    gmail = {lead_id_for(e) for e in ("Ada@googlemail.com", "a.da@gmail.com", "ADA+news@gmail.com")}
    assert len(acme) == 1 and len(gmail) == 1 and acme != gmail
    assert lead_id_for("bob+news@acme.com") not in acme


def test_an_email_gives_no_id_without_the_installation_key():
    """The id is an HMAC of the identity: not uuid5 of it (anyone could compute that), another
    under another key, a UUID of version 8, and nothing at all before a key is configured."""
    email = "ada.lovelace@acme.com"
    keyed = lead_id_for(email)
    assert keyed != uuid.uuid5(LEAD_NAMESPACE, identity_of(email)) == lead_id_for(email, key=UNKEYED)
    assert lead_id_for(email, key=b"another installation's key 32 b!") != keyed
    assert keyed.version == 8 and keyed.variant == uuid.RFC_4122
    replaced = identity.configure_key(None)
    try:
        with pytest.raises(LeadIdKeyMissing):
            lead_id_for(email)
    finally:
        identity.configure_key(replaced)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        identity.configure_key(b"short")


def test_what_is_not_an_address_is_refused_as_before():
    for bad in ("", "ada", "ada@example", "ada@host.local", "a da@acme.com"):
        with pytest.raises(InvalidEmail, match="not an email address"):
            identity_of(bad)
        with pytest.raises(InvalidEmail):
            lead_id_for(bad)


def test_rules_given_explicitly_win_over_the_process_rules():
    dashes = parse_document(IdentityPolicy, {"sub_addressing": DASHES_AT, "domain_aliases": {},
                                             "insignificant_dots": []}, "test", IdentityPolicyError)
    assert identity_of("ada-news@yahoo.com", dashes) == "ada@yahoo.com"
    assert identity_of("ada-news@acme.com", dashes) == "ada-news@acme.com"
    assert identity_of("a.da@googlemail.com", dashes) == "a.da@googlemail.com"  # no alias, no dots rule here
    assert identity_of("ada-news@yahoo.com") == "ada-news@yahoo.com"  # the process's rules are untouched


def test_configure_replaces_the_process_rules_and_gives_back_the_old_ones():
    nothing = IdentityPolicy(sub_addressing=(), domain_aliases={}, insignificant_dots=())
    previous = identity.configure(nothing)
    try:
        assert previous == DEFAULT_POLICY and identity.active_policy() is nothing
        assert identity_of("ada+news@acme.com") == "ada+news@acme.com"
    finally:
        identity.configure(previous)
    assert identity_of("ada+news@acme.com") == "ada@acme.com"


# -- properties -----------------------------------------------------------------------------------

def _valid(email: str) -> bool:
    try:
        normalise_email(email)
    except InvalidEmail:
        return False
    return True


def _recased(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if i < len(flips) and flips[i] else c.lower() for i, c in enumerate(text))


@quick
@given(st.emails())
def test_identity_is_an_address_and_its_own_identity(email):
    assume(_valid(email))
    person = identity_of(email)
    assert normalise_email(person) == person
    assert identity_of(person) == person


@quick
@given(st.emails(), st.lists(st.booleans()), st.sampled_from(["", " ", "\t", "  "]))
def test_identity_ignores_case_and_surrounding_whitespace(email, flips, pad):
    assume(_valid(email))
    assert identity_of(f"{pad}{_recased(email, flips)}{pad}") == identity_of(email)


@quick
@given(st.text(max_size=80) | st.emails() | st.builds("{}@{}".format, st.text(max_size=30), st.text(max_size=30)))
def test_identity_never_fails_but_by_refusing_a_non_address(text):
    try:
        person = identity_of(text)
    except InvalidEmail:
        return
    assert "@" in person


@quick
@given(st.emails())
def test_every_address_gets_a_keyed_id_unlike_the_unkeyed_one(email):
    assume(_valid(email))
    assert lead_id_for(email) != lead_id_for(email, key=UNKEYED)
    assert lead_id_for(email).version == 8


local_parts = st.from_regex(r"[a-z0-9][a-z0-9_]{0,15}(\.[a-z0-9_]{1,8}){0,3}", fullmatch=True)
tags = st.from_regex(r"[a-z0-9.+_-]{0,12}", fullmatch=True)


@quick
@given(local_parts, tags, st.sampled_from(["acme.com", "eu.acme.co.uk", "gmail.com", "googlemail.com", "web.de"]))
def test_a_tag_never_makes_another_person(local, tag, domain):
    plain, tagged = f"{local}@{domain}", f"{local}+{tag}@{domain}"
    assume(_valid(tagged))
    assert identity_of(tagged) == identity_of(plain)


@quick
@given(local_parts, st.lists(st.booleans(), max_size=20), st.sampled_from(["gmail.com", "googlemail.com"]))
def test_dots_never_make_another_gmail_user(local, dots, domain):
    bare = local.replace(".", "")
    dotted = "".join(c + ("." if i < len(bare) - 1 and i < len(dots) and dots[i] else "") for i, c in enumerate(bare))
    assert identity_of(f"{dotted}@{domain}") == identity_of(f"{bare}@gmail.com") == f"{bare}@gmail.com"


# -- the reviewed file ------------------------------------------------------------------------------

def test_the_shipped_file_is_the_built_in_default():
    assert (REPO_CONFIG_DIR / "identity.yaml").exists()
    assert load_identity_policy(REPO_CONFIG_DIR) == DEFAULT_POLICY


def test_no_file_means_the_built_in_default(tmp_path):
    assert load_identity_policy(tmp_path) is DEFAULT_POLICY


def test_domains_are_spelled_as_addresses_spell_them():
    policy = parse_document(IdentityPolicy, {"domain_aliases": {" GoogleMail.COM": "GMail.com"},
                                             "insignificant_dots": ["Gmail.COM"],
                                             "sub_addressing": [{"separators": ["+"], "domains": "all"}]},
                            "test", IdentityPolicyError)
    assert policy == DEFAULT_POLICY


def _refusal(tmp_path, body: str) -> str:
    (tmp_path / "identity.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(IdentityPolicyError) as info:
        load_identity_policy(tmp_path)
    return str(info.value)


@pytest.mark.parametrize("change, expected", [
    ({"sub_adressing": []}, "sub_adressing: not a known field (did you mean 'sub_addressing'?)"),
    ({"sub_addressing": None}, "sub_addressing: Input should be a valid tuple"),
    ({"sub_addressing": [{"separators": ["+"], "domain": "all"}]}, "sub_addressing.0.domain: not a known field"),
    ({"sub_addressing": [{"separators": ["+", "ab"]}]}, "sub_addressing.0.separators.1: must be one of the characters"),
    ({"sub_addressing": [{"separators": ["x"]}]}, "sub_addressing.0.separators.0: must be one of the characters"),
    ({"sub_addressing": [{"separators": ["."]}]}, "sub_addressing.0.separators.0: must be one of the characters"),
    ({"sub_addressing": [{"separators": ["+", "+"]}]}, "sub_addressing.0.separators.1: '+' is listed twice"),
    ({"sub_addressing": [{"separators": []}]}, "sub_addressing.0.separators: Tuple should have at least 1 item"),
    ({"sub_addressing": [{"domains": "all"}]}, "sub_addressing.0.separators: Field required"),
    ({"sub_addressing": [{"separators": ["-"], "domains": []}]},
     "sub_addressing.0.domains: name at least one domain, or write 'all'"),
    ({"sub_addressing": [{"separators": ["-"], "domains": "yahoo.com"}]},
     "sub_addressing.0.domains: Input should be a valid tuple"),
    ({"sub_addressing": [DASHES_AT[0], {"separators": ["-"], "domains": ["yahoo.com", "not a domain"]}]},
     "sub_addressing.1.domains.1: 'not a domain' is not a domain name"),
    ({"sub_addressing": [{"separators": ["-"], "domains": ["yahoo.com", "yahoo.com"]}]},
     "sub_addressing.0.domains.1: 'yahoo.com' is listed twice"),
    ({"sub_addressing": [{"separators": ["-"], "domains": ["googlemail.com"]}]},
     "sub_addressing.0.domains.0: googlemail.com is an alias of gmail.com (domain_aliases, applied first): "
     "name gmail.com"),
    ({"domain_aliases": {"gmail.com": "gmail.com"}}, "domain_aliases.gmail.com: is an alias of itself"),
    ({"domain_aliases": {"googlemail.com": "gmail.com", "gmail.com": "google.com"}},
     "domain_aliases.googlemail.com: gmail.com is itself an alias (of google.com): name the final domain"),
    ({"domain_aliases": {"googlemail.com": "localhost"}},
     "domain_aliases.googlemail.com: 'localhost' is not a domain name"),
    ({"domain_aliases": ["googlemail.com"]}, "domain_aliases: Input should be a valid dictionary"),
    ({"insignificant_dots": ["googlemail.com"]},
     "insignificant_dots.0: googlemail.com is an alias of gmail.com (domain_aliases, applied first)"),
    ({"insignificant_dots": ["gmail.com", "gmail.com"]}, "insignificant_dots.1: 'gmail.com' is listed twice"),
    ({"insignificant_dots": "gmail.com"}, "insignificant_dots: Input should be a valid tuple"),
])
def test_a_wrong_file_is_refused_naming_the_field(tmp_path, change, expected):
    message = _refusal(tmp_path, yaml.safe_dump({**SHIPPED, **change}))
    assert expected in message and str(tmp_path / "identity.yaml") in message


@pytest.mark.parametrize("body, expected", [
    ("", "(top level): Input should be a valid dictionary"),
    ("- gmail.com\n", "(top level): Input should be a valid dictionary"),
    ("domain_aliases: {}\ninsignificant_dots: []\n", "sub_addressing: Field required"),
    ("domain_aliases: {a: [}\n", ": not valid YAML: "),
])
def test_a_file_that_is_no_document_is_refused(tmp_path, body, expected):
    assert expected in _refusal(tmp_path, body)


def test_an_empty_rule_list_says_none(tmp_path):
    (tmp_path / "identity.yaml").write_text("sub_addressing: []\ndomain_aliases: {}\ninsignificant_dots: []\n")
    assert identity_of("A.da+x@googlemail.com", load_identity_policy(tmp_path)) == "a.da+x@googlemail.com"


def test_every_problem_is_reported_at_once(tmp_path):
    message = _refusal(tmp_path, yaml.safe_dump({**SHIPPED, "sub_addressing": [{"separators": ["ab", "%%"]}],
                                                 "extra": 1}))
    assert "sub_addressing.0.separators.0:" in message and "sub_addressing.0.separators.1:" in message
    assert "extra: not a known field" in message


def test_email_domain_and_domain_of():
    assert email_domain("x@Acme.COM") == "acme.com" and email_domain("no-at") == ""
    assert domain_of("x@eu.acme.com") == "eu.acme.com" and domain_of("ACME.com.") == "acme.com"


@pytest.mark.parametrize("raw, expected", [
    ("https://WWW.Acme.com/about?x=1", "acme.com"),
    ("www.acme.co.uk", "acme.co.uk"),
    ("acme.com.", "acme.com"),
    ("sub.acme.io", "sub.acme.io"),
    ("ada@acme.com", "acme.com"),
    ("http://[broken", None),
    ("   ", None),
    (None, None),
])
def test_a_website_or_domain_becomes_a_bare_host(raw, expected):
    assert host_of(raw) == expected


def test_free_mail_is_one_list_and_subdomains_count():
    assert {"gmail.com", "googlemail.com", "outlook.com", "gmx.de", "web.de", "proton.me"} <= FREE_MAIL_DOMAINS
    assert is_free_mail("ada@gmail.com") and is_free_mail("mail.yahoo.co.uk") and is_free_mail("GMX.de")
    assert not is_free_mail("acme.com") and not is_free_mail(None) and not is_free_mail("co.uk")
    assert not is_free_mail("partner.io") and is_free_mail("partner.io", {"partner.io"})
