"""What erasing replaces in a stored document: the person's fields, any address, and their
own values wherever a text quotes them, as whole words only."""

from __future__ import annotations

from shared.db.personal_data import ERASED, personal_values, scrubbed, scrubber

ERASED_EMAIL = "erased.0123456789abcdef@example.com"


def test_fields_addresses_and_quoted_values_go_firmographics_stay():
    stored = {"email": "ada@acme.com", "first_name": "Ada", "last_name": "King", "phone": "+442079460958",
              "company": "Acme", "country": "CA", "attributes": {"twitter": "@ada"},
              "rules_fired": [{"detail": "job_title 'VP Sales' contains ['vp']"}],
              "notes": ["call Ada King at +442079460958 or ada@acme.com", "Canada and Adam stay"],
              "job_title": "VP Sales"}
    known = scrubber(ERASED_EMAIL, personal_values(stored, set()))
    clean = scrubbed(stored, ERASED_EMAIL, known)
    assert clean == {"email": ERASED_EMAIL, "first_name": None, "last_name": None, "phone": None,
                     "company": "Acme", "country": "CA", "attributes": {},
                     "rules_fired": [{"detail": f"job_title '{ERASED}' contains ['vp']"}],
                     "notes": [f"call {ERASED} {ERASED} at {ERASED} or {ERASED_EMAIL}", "Canada and Adam stay"],
                     "job_title": None}


def test_nothing_known_leaves_text_but_addresses_alone():
    assert scrubber(ERASED_EMAIL, set()) is None
    assert scrubbed("from bob@acme.com", ERASED_EMAIL) == f"from {ERASED_EMAIL}"
