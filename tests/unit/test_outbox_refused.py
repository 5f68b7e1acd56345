"""Refused outbox rows, the pure parts: which of Kafka's answers refuse a record for good,
the record size the producer checks, the relay's backoff and order check, and what the
operator tool prints and refuses to replay. No broker, no database."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import errors as kafka_errors

from ops import defaults
from ops.refused import (
    LIST_HEADERS,
    ReplayRefused,
    ServiceRefused,
    check_replay,
    format_refused,
    refused_rows,
    refused_to_dict,
)
from shared.db.metadata import REFUSAL_REASON_MAX
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured
from shared.kafka.producer import (
    MAX_RECORD_BYTES,
    Delivery,
    limit_warning,
    producer_state_lost,
    record_size,
    refused_for_good,
)
from shared.outbox.refused import OutboxRow, RefusedRow, refusal_reason
from shared.outbox.relay import backoff_s, overtaken

T0 = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def nurture_event(email: str) -> Envelope:
    return Envelope(type="lead.nurture", lead_id=uuid.uuid4(), correlation_id="c-1", producer="test",
                    payload=LeadNurtured(email=email, cycle=1, reason="test").model_dump(mode="json"))


@pytest.mark.parametrize(("error", "refused"), [
    (kafka_errors.MessageSizeTooLargeError("The message is 2000089 bytes when serialized"), True),
    (kafka_errors.RecordListTooLargeError(), True),
    (kafka_errors.InvalidTopicError(), True),
    (kafka_errors.TopicAuthorizationFailedError("lead.captured.v1"), True),
    (kafka_errors.CorruptRecordException(), True),
    (kafka_errors.InvalidTimestampError(), True),
    (kafka_errors.KafkaConnectionError("Unable to bootstrap"), False),
    (kafka_errors.RequestTimedOutError(), False),
    (kafka_errors.NotLeaderForPartitionError(), False),
    (kafka_errors.KafkaTimeoutError(), False),
    (kafka_errors.UnknownTopicOrPartitionError(), False),  # the topic may be created yet
    (kafka_errors.OutOfOrderSequenceNumber(), False),  # the producer's fault, not the record's
    (kafka_errors.ClusterAuthorizationFailedError(), False),  # the whole producer's right to write
    (kafka_errors.UnknownError(), False),  # not known to be about the record
    (TimeoutError(), False),
    (ValueError("anything else"), False),
])
def test_only_answers_about_the_record_refuse_it_for_good(error, refused):
    assert refused_for_good(error) is refused
    assert Delivery(error).refused is refused


def test_no_retriable_kafka_error_refuses_a_record():
    retriable = [cls for _, cls in inspect.getmembers(kafka_errors, inspect.isclass)
                 if issubclass(cls, kafka_errors.KafkaError) and getattr(cls, "retriable", False)]
    assert len(retriable) > 10
    assert [cls.__name__ for cls in retriable if refused_for_good(cls())] == []


def test_a_producer_out_of_step_with_the_broker_is_told_apart():
    for cls in (kafka_errors.OutOfOrderSequenceNumber, kafka_errors.UnknownProducerId,
                kafka_errors.InvalidProducerEpoch, kafka_errors.ProducerFenced):
        assert producer_state_lost(cls()) and Delivery(cls()).producer_state_lost
    assert not producer_state_lost(kafka_errors.MessageSizeTooLargeError())
    assert Delivery().acked and not Delivery().refused


def test_record_size_counts_key_value_and_headers_either_way_they_come():
    empty = record_size("t", None, b"")
    assert record_size("t", None, b"x" * 100) == empty + 100 + 1  # the value and its longer length varint
    assert record_size("t", b"k" * 36, b"v") == record_size("other.topic", b"k" * 36, b"v")  # topic is per batch
    as_object = record_size("t", b"k", b"v", {"type": "lead.captured", "n": 3})
    assert as_object == record_size("t", b"k", b"v", [("type", b"lead.captured"), ("n", b"3")])
    assert as_object > record_size("t", b"k", b"v")
    assert MAX_RECORD_BYTES == 1_048_576


def test_the_broker_limit_warning():
    assert limit_warning(None) is None and limit_warning(1_048_588) is None and limit_warning(MAX_RECORD_BYTES) is None
    warning = limit_warning(500_000)
    assert warning and "message.max.bytes (500000)" in warning and str(MAX_RECORD_BYTES) in warning


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_s(n, 1.0, 5.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff_s(0, 0.5, 5.0) == 0.5


def _row(id_: int, key: bytes | None) -> OutboxRow:
    return OutboxRow(id_, "t", key, b"v", {}, T0)


def test_overtaken_names_a_lead_whose_later_event_went_before_an_earlier_one():
    refused, lost = Delivery(kafka_errors.MessageSizeTooLargeError()), Delivery(kafka_errors.OutOfOrderSequenceNumber())
    rows = [_row(1, b"a"), _row(2, b"b"), _row(3, b"a"), _row(4, b"b"), _row(5, b"c")]
    # the usual case: on the partition, what was acknowledged comes before what was not
    assert overtaken(rows, [Delivery(), refused, Delivery(), lost, Delivery()]) == []
    # a fresh producer whose first batch was refused: a later batch got through
    assert overtaken(rows, [refused, refused, Delivery(), lost, Delivery()]) == [b"a"]
    assert overtaken(rows, [Delivery()] * 5) == []


def test_the_reason_is_the_error_class_and_message_bounded():
    assert refusal_reason(kafka_errors.MessageSizeTooLargeError("too big")) == \
        "MessageSizeTooLargeError: [Error 10] MessageSizeTooLargeError: too big"
    long = refusal_reason(ValueError("x" * 5000))
    assert len(long) == REFUSAL_REASON_MAX and long.startswith("ValueError: xxx") and long.endswith("…")


# -- the operator tool -----------------------------------------------------------------

def refused(value: bytes, *, id_: int = 7, key: bytes | None = b"lead-1", headers: dict | None = None,
            reason: str = "MessageSizeTooLargeError: [Error 10] MessageSizeTooLargeError") -> ServiceRefused:
    return ServiceRefused("intake", RefusedRow(
        id=id_, outbox_id=41, topic="lead.captured.v1", key=key, value=value,
        headers=headers if headers is not None else {"type": "lead.captured", "correlation_id": "c-1"},
        created_at=T0, refused_at=T0 + timedelta(seconds=2), reason=reason))


def test_list_rows_and_json_say_where_what_how_large_and_why():
    event = nurture_event("ada@acme.com")
    item = refused(event.to_bytes(), key=event.key)
    [line] = refused_rows([item])
    assert len(line) == len(LIST_HEADERS)
    assert line[:6] == ["intake", 7, 41, "lead.captured.v1", "lead.captured", event.key.decode()]
    assert line[6] == item.row.size == record_size("lead.captured.v1", event.key, event.to_bytes(), item.row.headers)
    assert line[7:9] == ["2026-12-02T09:30:00.000Z", "2026-12-02T09:30:02.000Z"]
    assert line[9] == "MessageSizeTooLargeError: [Error 10] MessageSizeTooLargeError"
    data = refused_to_dict(item, full=True)
    assert data["event"]["event_id"] == str(event.event_id) and data["value_b64"] is None
    assert data["too_large"] is False and data["lead_id"] == event.key.decode()
    assert "event" not in refused_to_dict(item)


def test_show_prints_the_whole_reason_and_the_event_or_the_raw_start():
    event = nurture_event("ada@acme.com")
    shown = format_refused(refused(event.to_bytes(), reason="InvalidTopicError: [Error 17]\nsecond line"))
    assert shown.splitlines()[0] == "intake refused row 7  (outbox row 41)"
    assert "  InvalidTopicError: [Error 17]" in shown and "  second line" in shown
    assert str(event.event_id) in shown
    raw = format_refused(refused(b"\x00not json" + b"z" * 1000, key=None, headers={}))
    assert "value, not a decodable event" in raw and "lead         -" in raw and "event        -" in raw
    assert len(raw.splitlines()[-1]) <= 400


def test_a_row_larger_than_the_producer_sends_is_not_put_back():
    check_replay(refused(b"v" * 1000))
    with pytest.raises(ReplayRefused, match="larger than the producer sends .* ops refused discard intake 7"):
        check_replay(refused(b"v" * MAX_RECORD_BYTES))
    assert refused(b"v" * 10).summary().startswith(
        "intake refused row 7: lead.captured of lead lead-1 to lead.captured.v1 (")


def test_database_url_defaults_and_plain_postgres_urls(monkeypatch):
    monkeypatch.delenv(defaults.DATABASE_URL_ENV, raising=False)
    assert defaults.database_url(None) == "postgresql+asyncpg://postgres@127.0.0.1:55432/handoff"
    assert defaults.database_url("postgresql://u:p@db:5432/h") == "postgresql+asyncpg://u:p@db:5432/h"
    monkeypatch.setenv(defaults.DATABASE_URL_ENV, "postgres://db/h")
    assert defaults.database_url(None) == "postgresql+asyncpg://db/h"
    assert defaults.database_url("postgresql+asyncpg://x/y") == "postgresql+asyncpg://x/y"
