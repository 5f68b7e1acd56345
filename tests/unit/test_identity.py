"""One identity for a person everywhere: the normalised email, its domain, the lead id and
the one free-mail list."""

import uuid

import pytest

from shared.identity import (
    FREE_MAIL_DOMAINS,
    domain_of,
    email_domain,
    host_of,
    is_free_mail,
    lead_id_for,
    normalise_email,
)


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
    assert lead_id_for("ada@acme.com").version == 5 and isinstance(lead_id_for("x@y.io"), uuid.UUID)


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
