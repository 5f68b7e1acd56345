"""Error texts and log lines without personal data: ids, types and reasons, never emails,
names or phone numbers.

Personal data reaches an error in three ways, each closed at its source: SQL parameters
(every engine is made with ``hide_parameters``), PostgreSQL's DETAIL line ("Key (email)=(...)
already exists": ``describe_error`` keeps the error's class, SQLSTATE and constraint, not its
text), and pydantic's echo of the input (``describe_error`` keeps each problem's place and
reason, not the value). ``scrub`` is the last net under all of them: any email address left
in a text becomes ``<email>``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, StatementError

EMAIL = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
REDACTED_EMAIL = "<email>"


def scrub(text: str) -> str:
    return EMAIL.sub(REDACTED_EMAIL, text)


def scrub_values(value: Any) -> Any:
    """Every string in a JSON-like structure, scrubbed (a log record's fields)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrub_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_values(item) for item in value]
    return value


_QUOTED_VALUE = re.compile(r""":\s*("[^"]*"|'[^']*')""")


def without_values(message: str) -> str:
    """PostgreSQL's primary message, first line only, with what it quotes after a colon cut
    ('invalid input syntax for type integer: "Ada"'); a constraint's quoted name stays."""
    return scrub(_QUOTED_VALUE.sub(': "…"', message.split("\n", 1)[0]))


def _database_error(exc: StatementError) -> str:
    orig = exc.orig
    cause = getattr(orig, "__cause__", None) or orig  # asyncpg's own exception, under the adapter's
    facts = [f"{type(exc).__name__} ({type(cause).__name__})"]
    for attribute in ("sqlstate", "constraint_name", "table_name", "column_name"):
        value = getattr(cause, attribute, None)
        if value:
            facts.append(f"{attribute}={value}")
    message = getattr(cause, "message", None)  # asyncpg's primary message: no DETAIL, no parameters
    if isinstance(message, str) and message:
        facts.append(f"message={without_values(message)}")
    elif not isinstance(exc, DBAPIError) or cause is None:  # not from the database: our own text
        facts.append(without_values(str(orig or exc)))
    return " ".join(facts)


def describe_error(error: BaseException) -> str:
    """What went wrong, fit for a dead letter or a log: no value of the record in it."""
    if isinstance(error, StatementError):
        return _database_error(error)
    if isinstance(error, ValidationError):
        problems = [f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['msg']}"
                    for e in error.errors(include_input=False, include_url=False)]
        return scrub(f"ValidationError: {'; '.join(problems)}")
    return scrub(f"{type(error).__name__}: {error}")
