"""The operator tool's pure parts: lag arithmetic, record decoding, dead-letter formatting,
the choice of what a replay publishes, and the timeline text. No broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from ops import defaults
from ops.errors import OpsError
from ops.formatting import error_summary, event_facts, format_overview, rules_short, shorten, table
from ops.letters import (
    REPLAY_HEADER,
    ReplayRefused,
    format_letter,
    letter_rows,
    letter_to_dict,
    original_bytes,
    plan_replay,
    replay_marker,
)
from ops.records import format_record_line, matches_lead, record_to_dict, record_view
from ops.timeline import event_lines, format_timeline, resolve_lead
from shared.events.envelope import Envelope
from shared.events.payloads import LeadCaptured
from shared.events.topics import DEAD_LETTER, LEAD_CAPTURED
from shared.identity import lead_id_for
from shared.kafka.dead_letters import MAX_KEPT_BYTES, dead_letter_for
from shared.kafka.overview import TopicOverview, TopicStats, group_lags
from shared.kafka.producer import MAX_RECORD_BYTES, record_size
from tests.conftest import TEST_LEAD_ID_KEY

EMAIL = "ada@acme.com"
LEAD = lead_id_for(EMAIL)
SQL_ERROR = (
    "DBAPIError: (sqlalchemy.dialects.postgresql.asyncpg.Error) <class 'asyncpg.exceptions.RaiseError'>: "
    "injected fault for ada@acme.com\n[SQL: INSERT INTO scoring.leads (lead_id, email) VALUES ($1, $2)]\n"
    "[parameters: (UUID('...'), 'ada@acme.com')]\n(Background on this error at: https://sqlalche.me/e/21/dbapi)"
)
PYDANTIC_ERROR = (
    "UndecodableEvent: not an event envelope: 1 validation error for Envelope\n"
    "  Invalid JSON: EOF while parsing an object at line 1 column 5 [type=json_invalid, input_value=b'{', "
    "input_type=bytes]\n    For further information visit https://errors.pydantic.dev/2.14/v/json_invalid"
)


def captured() -> Envelope:
    payload = LeadCaptured(submission_id=uuid.uuid4(), source="web-form", email=EMAIL, company="Acme",
                           job_title="VP Sales", company_size=300, country="US")
    return Envelope(type="lead.captured", lead_id=LEAD, correlation_id="c-1", producer="intake",
                    payload=payload.model_dump(mode="json"))


def consumer_record(value: bytes | None, key: bytes | None = str(LEAD).encode(), offset: int = 41):
    return ConsumerRecord(topic=LEAD_CAPTURED.name, partition=3, offset=offset, timestamp=1_700_000_000_000,
                          timestamp_type=0, key=key, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=0, headers=())


def letter_view(value: bytes | None, *, error: str = SQL_ERROR, key: bytes | None = str(LEAD).encode(),
                dlq_offset: int = 7, keep_dlq_key: bool = True):
    """A dead letter exactly as a consumer writes it (dead_letter_for), read back off the topic."""
    out = dead_letter_for(consumer_record(value, key), error=error, group="handoff.scoring.scorer", attempts=3)
    return record_view(DEAD_LETTER.name, 0, dlq_offset, 1_700_000_001_000,
                       out.key if keep_dlq_key else None, out.value, out.headers)


# -- text helpers ---------------------------------------------------------------------

def test_shorten_keeps_one_line_and_marks_the_cut():
    assert shorten("a\n  b\tc") == "a b c"
    assert shorten("x" * 100, 10) == "x" * 9 + "…"
    assert shorten(None) == ""


def test_error_summary_drops_sql_parameters_and_driver_wrappers():
    assert error_summary(SQL_ERROR) == "DBAPIError: injected fault for ada@acme.com"
    summary = error_summary(PYDANTIC_ERROR, 200)
    assert summary == ("UndecodableEvent: not an event envelope: 1 validation error for Envelope "
                       "Invalid JSON: EOF while parsing an object at line 1 column 5")


def test_table_pads_columns_and_right_aligns_numbers():
    lines = table(["name", "n"], [["a", 5], ["long name", 12], ["b", None]], right=(1,))
    assert lines == ["name        n", "a           5", "long name  12", "b           -"]


# -- topics and lag -------------------------------------------------------------------

def test_lag_is_end_minus_committed_and_counts_uncommitted_partitions_from_the_beginning():
    [group] = group_lags([0, 1, 2], beginning={0: 0, 1: 5, 2: 10}, end={0: 10, 1: 8, 2: 12},
                         committed_by_group={"g": {0: 7, 2: 3}, "idle": {}})
    assert group.group == "g"  # a group with no commits on the topic is not listed
    assert [(p.partition, p.committed, p.lag) for p in group.partitions] == [
        (0, 7, 3),  # 10 - 7
        (1, None, 3),  # never committed: everything retained is unread
        (2, 3, 2),  # committed offset already deleted by retention: counts from the beginning
    ]
    assert group.lag == 8


def overview_sample(dead: int | None = 2) -> TopicOverview:
    lag = group_lags([0, 1], {0: 0, 1: 0}, {0: 4, 1: 6}, {"handoff.scoring.scorer": {0: 4, 1: 5}})
    return TopicOverview(
        bootstrap="127.0.0.1:9092", sampled_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), interval_s=2.0,
        topics=[TopicStats("lead.captured.v1", 2, 10, 10, 1.5, lag),
                TopicStats(DEAD_LETTER.name, 1, 2, 2, 0.0)],
        consumer_groups=["handoff.scoring.scorer"], dead_letter_depth=dead,
    )


def test_overview_to_dict_is_plain_json_ready_data():
    data = overview_sample().to_dict()
    assert data["sampled_at"] == "2025-01-02T03:04:05+00:00"
    captured_topic = data["topics"][0]
    assert captured_topic["lag"] == 1 and captured_topic["messages_per_s"] == 1.5
    assert captured_topic["groups"][0]["partitions"][1] == {"partition": 1, "committed": 5, "end_offset": 6,
                                                            "lag": 1}
    assert data["dead_letter_depth"] == 2


def test_overview_text_has_the_summary_the_lag_per_partition_and_the_dead_letters():
    text = format_overview(overview_sample())
    rows = [line.split() for line in text.splitlines()]
    assert ["lead.captured.v1", "2", "10", "10", "1.50", "1"] in rows  # partitions, end, retained, rate, lag
    assert [DEAD_LETTER.name, "1", "2", "2", "0.00", "-"] in rows  # nobody consumes it: no lag
    assert ["handoff.scoring.scorer", "0", "4", "4", "0"] in rows  # group, partition, committed, end, lag
    assert ["1", "5", "6", "1"] in rows
    assert ["all", "10", "1"] in rows
    assert "dead letters: 2 on handoff.deadletter.v1" in text
    assert "dead letters: none" in format_overview(overview_sample(dead=0))


# -- events and records ---------------------------------------------------------------

def test_scored_and_routed_facts_say_why():
    scored = {"score": 65, "threshold": 50, "grade": "A4", "stage": "mql", "qualified": True,
              "newly_qualified": True, "trigger": "captured", "rules_fired": [
                  {"rule": "decision_maker", "points": 20, "detail": "..."},
                  {"rule": "free_mail_address", "points": -30}]}
    assert event_facts("lead.scored", scored).startswith("score 65/50 grade A4 stage mql qualified (new)")
    judged = {**scored, "score": -55, "judgement": {"by": "rita", "reason": "x", "qualified": True}}
    assert event_facts("lead.scored", judged).startswith("score -55/50 grade A4 stage mql qualified by hand (new)")
    dropped = {**judged, "qualified": False, "newly_qualified": False, "stage": "below"}
    assert "not qualified by hand" in event_facts("lead.scored", dropped)
    assert rules_short(scored["rules_fired"]) == "decision_maker +20, free_mail_address -30"
    routed = {"owner_id": "ana.silva", "owner_name": "Ana Silva", "team_id": "inbound", "rule": "fallback",
              "reason": "round robin chose ana.silva"}
    assert event_facts("lead.routed", routed) == ("-> ana.silva (Ana Silva) team_id=inbound rule=fallback "
                                                  "reason: round robin chose ana.silva")


def test_an_event_record_is_decoded_into_one_line_with_type_lead_and_facts():
    view = record_view(LEAD_CAPTURED.name, 3, 41, 1_700_000_000_000, str(LEAD).encode(), captured().to_bytes())
    line = format_record_line(view)
    assert f"lead.captured.v1[3]@41  lead.captured  {LEAD}  email={EMAIL} source=web-form company=Acme" in line
    assert matches_lead(view, str(LEAD)) and not matches_lead(view, str(uuid.uuid4()))
    assert record_to_dict(view)["envelope"]["payload"]["email"] == EMAIL


def test_undecodable_records_are_shown_not_raised():
    for value in (b"\xff\xfe junk", None, b'{"type": "lead.nope", "payload": {}}'):
        view = record_view(LEAD_CAPTURED.name, 0, 1, 1_700_000_000_000, b"k", value)
        assert view.event is None and view.error
        assert "UNDECODABLE  k" in format_record_line(view)
        assert record_to_dict(view)["error"] == view.error


def test_a_replayed_record_is_marked_in_tail():
    view = record_view(LEAD_CAPTURED.name, 3, 42, 1, str(LEAD).encode(), captured().to_bytes(),
                       [(REPLAY_HEADER, b"deadletter:7")])
    assert format_record_line(view).endswith("(replay of deadletter:7)")
    assert record_to_dict(view)["headers"] == {REPLAY_HEADER: "deadletter:7"}


# -- dead letters ---------------------------------------------------------------------

def test_a_letter_line_names_where_it_came_from_and_the_gist_of_the_error():
    [row] = letter_rows([letter_view(captured().to_bytes())])
    assert row[:4] == [7, "lead.captured.v1[3]@41", "handoff.scoring.scorer", 3]
    assert row[5:] == ["lead.captured", "DBAPIError: injected fault for <email>"]  # scrubbed as written
    data = letter_to_dict(letter_view(captured().to_bytes()))
    assert (data["offset"], data["original_offset"], data["decodable"], data["lead_id"]) == (7, 41, True, str(LEAD))


def test_show_prints_the_whole_error_and_the_decoded_event_or_the_raw_bytes():
    text = format_letter(letter_view(captured().to_bytes()))
    assert "[SQL: INSERT INTO scoring.leads" in text  # the whole error, nothing cut
    assert '"type": "lead.captured"' in text and f'"email": "{EMAIL}"' in text
    raw = format_letter(letter_view(b'{"not": "an envelope"}', error=PYDANTIC_ERROR))
    assert "original record, undecodable (not an event envelope" in raw
    assert raw.endswith('{"not": "an envelope"}')


def test_replay_publishes_the_original_bytes_and_key_to_the_original_topic_with_a_marker():
    original = captured().to_bytes()
    plan = plan_replay(letter_view(original, dlq_offset=12))
    assert (plan.topic, plan.key, plan.value) == (LEAD_CAPTURED.name, str(LEAD).encode(), original)
    assert plan.headers == ((REPLAY_HEADER, b"deadletter:12"),)
    assert plan.event is not None and plan.event.envelope.lead_id == LEAD


def test_replay_key_falls_back_to_the_letters_copy():
    plan = plan_replay(letter_view(captured().to_bytes(), keep_dlq_key=False))
    assert plan.key == str(LEAD).encode()
    assert plan_replay(letter_view(captured().to_bytes(), key=None)).key is None


def test_an_undecodable_original_is_refused_unless_forced():
    view = letter_view(b"\xff not json", error="UndecodableEvent: ...")
    with pytest.raises(ReplayRefused, match="would fail again.*--force"):
        plan_replay(view)
    forced = plan_replay(view, force=True)
    assert forced.value == b"\xff not json" and forced.event is None


def test_an_unreadable_letter_is_never_replayed():
    view = record_view(DEAD_LETTER.name, 0, 3, 1, None, b"garbage")
    assert view.letter is None and "not a dead letter" in view.error
    with pytest.raises(ReplayRefused, match="readable dead letter"):
        plan_replay(view, force=True)
    assert letter_rows([view])[0][5] == "unreadable letter"


def test_a_letter_whose_bytes_are_not_base64_is_refused():
    good = letter_view(captured().to_bytes())
    bad_value = good.letter.model_copy(update={"value_b64": "%%%"}).model_dump_json().encode()
    view = record_view(DEAD_LETTER.name, 0, 9, 1, good.key, bad_value)
    with pytest.raises(ReplayRefused, match="not base64"):
        plan_replay(view, force=True)


def test_replay_marker():
    assert replay_marker(5) == b"deadletter:5"
    assert replay_marker(5, partition=2) == b"deadletter:2:5"


# -- timeline -------------------------------------------------------------------------

def test_a_lead_is_given_by_id_or_by_email_in_any_case():
    assert resolve_lead(f"  {EMAIL.upper()} ", key=TEST_LEAD_ID_KEY) == LEAD  # the key: the database's
    assert resolve_lead(str(LEAD)) == LEAD
    for bad in ("nobody", "a@@b", ""):
        with pytest.raises(OpsError):
            resolve_lead(bad, key=TEST_LEAD_ID_KEY)


def test_timeline_text_keeps_the_order_and_explains_score_and_routing():
    data = {"lead_id": str(LEAD), "stage": "routed", "cycle": 1, "owner_id": "ana.silva", "events": [
        {"type": "lead.captured", "occurred_at": "2025-01-01T10:00:00+00:00", "producer": "intake",
         "payload": {"email": EMAIL, "source": "web-form"}},
        {"type": "lead.scored", "occurred_at": "2025-01-01T10:00:01+00:00", "producer": "scoring",
         "payload": {"score": 65, "threshold": 50, "qualified": True, "stage": "mql",
                     "rules_fired": [{"rule": "decision_maker", "points": 20}]}},
        {"type": "lead.routed", "occurred_at": "2025-01-01T10:00:02+00:00", "producer": "routing",
         "payload": {"owner_id": "ana.silva", "owner_name": "Ana Silva", "reason": "round robin chose ana.silva",
                     "decision": {"via": "rule", "sla_minutes": 60, "accept_by": "2025-01-01T11:00:02+00:00",
                                  "rules": [{"rule": "enterprise", "matched": False,
                                             "failed": "company_size 80 < 5000"},
                                            {"rule": "desk", "matched": True, "failed": None}],
                                  "candidates": [{"owner_id": "ana.silva", "chosen": True},
                                                 {"owner_id": "ben.okafor", "skipped": "out_of_office"}]}}},
    ]}
    text = format_timeline(data, asked=EMAIL)
    assert text.splitlines()[0] == f"lead {LEAD} ({EMAIL}): stage routed, cycle 1, owner ana.silva; 3 events"
    heads = [line.split("  ")[1] for line in text.splitlines() if line.startswith("2025")]
    assert heads == ["lead.captured", "lead.scored", "lead.routed"]
    assert "    rules: decision_maker +20" in text
    assert "    why: round robin chose ana.silva" in text
    assert "    rules tried: enterprise (company_size 80 < 5000), desk (matched)" in text
    assert "    candidates: ana.silva (chosen), ben.okafor (skipped: out_of_office)" in text
    assert "    accept by 2025-01-01T11:00:02.000Z (60 min SLA)" in text
    assert event_lines({"type": "lead.custom", "payload": {"x": 1}})[1] == "    x=1"


# -- defaults -------------------------------------------------------------------------

def test_bootstrap_comes_from_the_option_then_the_environment_then_the_local_stack(monkeypatch):
    monkeypatch.delenv(defaults.BOOTSTRAP_ENV, raising=False)
    assert defaults.kafka_bootstrap(None) == "127.0.0.1:9092"  # what `./handoff up` listens on
    monkeypatch.setenv(defaults.BOOTSTRAP_ENV, "kafka:29092")
    assert defaults.kafka_bootstrap(None) == "kafka:29092"
    assert defaults.kafka_bootstrap("other:1") == "other:1"


def test_feedback_url_comes_from_the_option_then_the_environment_then_the_local_stack(monkeypatch):
    monkeypatch.delenv(defaults.FEEDBACK_URL_ENV, raising=False)
    assert defaults.feedback_url(None) == "http://127.0.0.1:8004"
    monkeypatch.setenv(defaults.FEEDBACK_URL_ENV, "http://feedback:8000/")
    assert defaults.feedback_url(None) == "http://feedback:8000"


def test_a_record_too_large_to_carry_makes_a_letter_that_fits_and_says_where_the_original_is():
    huge = b"x" * (MAX_KEPT_BYTES + 1)
    out = dead_letter_for(consumer_record(huge), error="too big to apply", group="handoff.feedback.timeline",
                          attempts=3)
    assert record_size(out.topic, out.key, out.value, out.headers) < MAX_RECORD_BYTES // 4
    view = letter_view(huge)
    assert view.letter is not None and not view.letter.value_kept and view.letter.value_bytes == len(huge)
    assert original_bytes(view) is None
    with pytest.raises(ReplayRefused, match=f"{len(huge)} bytes, was too large to keep"):
        plan_replay(view)
    kept = letter_view(b"y" * MAX_KEPT_BYTES)  # at the bound, the bytes are carried
    assert kept.letter is not None and kept.letter.value_kept and original_bytes(kept) == b"y" * MAX_KEPT_BYTES
