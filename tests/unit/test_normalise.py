import pytest

from services.intake.domain.normalise import (
    email_domain,
    normalise_domain,
    normalise_email,
    normalise_phone,
    normalise_utm,
)


def test_email_is_trimmed_and_lower_cased():
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("bad", ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com"])
def test_non_addresses_are_refused_with_the_reason(bad):
    with pytest.raises(ValueError, match="not an email address"):
        normalise_email(bad)


@pytest.mark.parametrize("raw, expected", [
    ("https://WWW.Acme.com/about?x=1", "acme.com"),
    ("www.acme.co.uk", "acme.co.uk"),
    ("acme.com.", "acme.com"),
    ("sub.acme.io", "sub.acme.io"),
    ("   ", None),
    (None, None),
])
def test_company_domain(raw, expected):
    assert normalise_domain(raw) == expected


def test_email_domain():
    assert email_domain("x@acme.com") == "acme.com"


@pytest.mark.parametrize("raw, expected", [
    ("+44 (20) 7946-0958", "+442079460958"),
    ("020.7946.0958", "02079460958"),
    ("call me", None),
    (None, None),
])
def test_phone(raw, expected):
    assert normalise_phone(raw) == expected


def test_utm_keeps_the_five_fields_lower_cased_and_drops_empties():
    raw = {"utm_source": " LinkedIn ", "utm_medium": "", "utm_campaign": "Q4-Launch", "other": "x",
           "utm_term": None}
    assert normalise_utm(raw) == {"utm_source": "linkedin", "utm_campaign": "q4-launch"}
