"""Dead-letter errors and log lines carry ids and reasons, never the email, name or phone of a lead."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import BaseModel, EmailStr, ValidationError
from sqlalchemy.exc import IntegrityError

from shared.observability.logging import configure_logging
from shared.observability.redaction import describe_error, scrub

EMAIL, NAME, PHONE = "ada.lovelace+x@acme-corp.co.uk", "Ada Lovelace", "+44 20 7946 0958"


class _Lead(BaseModel):
    email: EmailStr
    company_size: int


class _UniqueViolation(Exception):
    """Stands in for asyncpg's exception: its text has PostgreSQL's DETAIL with the values."""
    sqlstate = "23505"
    constraint_name = "leads_email_key"
    table_name = "leads"
    message = 'duplicate key value violates unique constraint "leads_email_key"'

    def __str__(self) -> str:
        return f'duplicate key value violates unique constraint "leads_email_key"\nDETAIL:  Key (email, name)=({EMAIL}, {NAME}) already exists.'


def test_scrub_replaces_every_email_address_in_a_text():
    assert scrub(f"lead {EMAIL} and Jörg@bücher.de, not @handles or a@b") == "lead <email> and <email>, not @handles or a@b"


def test_a_database_error_keeps_its_class_and_constraint_not_its_values():
    error = IntegrityError("INSERT INTO leads (email, name, phone) VALUES ($1, $2, $3)",
                           (EMAIL, NAME, PHONE), _UniqueViolation())
    assert EMAIL in str(error) and PHONE in str(error)  # what SQLAlchemy's own text would have said
    text = describe_error(error)
    assert text == ("IntegrityError (_UniqueViolation) sqlstate=23505 constraint_name=leads_email_key "
                    'table_name=leads message=duplicate key value violates unique constraint "leads_email_key"')


def test_a_database_message_keeps_its_words_not_the_value_it_quotes():
    from shared.observability.redaction import without_values
    assert without_values(f'invalid input syntax for type integer: "{NAME}"\nDETAIL: x') == (
        'invalid input syntax for type integer: "…"')
    assert without_values(f"invalid input for query argument $1: '{PHONE}' (expected int)") == (
        'invalid input for query argument $1: "…" (expected int)')
    assert without_values(f"injected fault for {EMAIL}") == "injected fault for <email>"


def test_a_validation_error_keeps_the_place_and_reason_not_the_input():
    with pytest.raises(ValidationError) as refused:
        _Lead.model_validate({"email": f"{NAME} <{EMAIL}", "company_size": PHONE})
    assert PHONE in str(refused.value)  # pydantic's own text echoes the input
    text = describe_error(refused.value)
    assert text.startswith("ValidationError: email: ") and "company_size: Input should be a valid integer" in text
    for personal in (EMAIL, NAME, PHONE):
        assert personal not in text


def test_any_other_error_is_scrubbed_of_emails():
    assert describe_error(ValueError(f"no lead for {EMAIL}")) == "ValueError: no lead for <email>"


def test_log_lines_carry_no_email_whatever_logs_it(capsys):
    configure_logging("test")
    log = logging.getLogger("shared.kafka.test")
    try:
        raise RuntimeError(f"handler failed for {EMAIL}")
    except RuntimeError:
        log.exception("batch of %s failed", EMAIL, extra={"lead_email": EMAIL})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert EMAIL not in line
    assert record["message"] == "batch of <email> failed" and record["lead_email"] == "<email>"
    assert "handler failed for <email>" in record["exc_info"]
