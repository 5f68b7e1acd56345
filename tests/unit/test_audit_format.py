"""The audit log's pure parts: what it keeps of a body, and how the operator tool says it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops.audit import format_entry, parse_since
from shared.access.audit import MAX_KEPT_BYTES, REDACTED, AuditEntry, kept, without_secrets

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_fields_named_like_secrets_are_redacted_however_deep():
    body = {"name": "ci", "token": "hnd_x", "token_id": "t1", "nested": [{"webhook_secret": "s", "password": "p",
                                                                          "api_key": "k", "keys": {"a": "b"}}]}
    assert without_secrets(body) == {"name": "ci", "token": REDACTED, "token_id": "t1", "nested": [
        {"webhook_secret": REDACTED, "password": REDACTED, "api_key": REDACTED, "keys": REDACTED}]}


def test_a_body_too_large_is_kept_as_its_size():
    assert kept({"rules": "x" * (MAX_KEPT_BYTES + 1)}) == {
        "not_kept": f"{MAX_KEPT_BYTES + 13} bytes, larger than {MAX_KEPT_BYTES}"}
    assert kept(None) is None and kept({"a": 1}) == {"a": 1}


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", NOW - timedelta(minutes=30)), ("6h", NOW - timedelta(hours=6)), ("7d", NOW - timedelta(days=7)),
    ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
])
def test_since_is_an_age_or_a_time_with_its_zone(text, expected):
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "reason"), [("yesterday", "neither an ISO 8601 time nor an age"),
                                               ("2026-12-01T09:00", "no time zone")])
def test_since_refuses_what_it_cannot_read(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_since(text, now=NOW)


def test_an_entry_is_one_line_and_its_changes_with_full():
    entry = AuditEntry(actor="ana", roles=("revops",), service="routing", action="PATCH /teams/{team_id}",
                       status=200, address="10.0.0.7", target={"team_id": "emea"}, request={"name": "EMEA"},
                       before={"team": {"name": "Emea"}}, after={"team": {"name": "EMEA"}}, at=NOW, audit_id=41)
    line = format_entry(entry)
    assert line == ("2026-12-03T12:00:00.000Z  #41  ana (revops) from 10.0.0.7  routing: PATCH /teams/{team_id} "
                    "team_id=emea -> 200")
    assert format_entry(entry, full=True).splitlines()[1:] == [
        '    request: {"name": "EMEA"}', '    before: {"team": {"name": "Emea"}}', '    after: {"team": {"name": "EMEA"}}']
