"""What the operator tool shows of a record once its person is erased: where it is and whose
lead id, never its value, its decoded event, a letter's error or its original; a letter of an
erased person is not replayed, not even with --force; the register is asked once per batch,
and a register the tool cannot reach shows nothing. No broker, no database."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterable
from contextlib import asynccontextmanager

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from ops import erased as erased_module
from ops import streams
from ops.erased import ErasedLeads, erased_leads, hidden, leads_of, redacted
from ops.errors import UNREACHABLE, OpsError
from ops.letters import ReplayRefused, format_letter, letter_rows, letter_to_dict, plan_replay
from ops.records import RecordView, format_record_line, matches_lead, record_to_dict, record_view
from shared.events.topics import DEAD_LETTER, LEAD_CAPTURED
from shared.kafka.dead_letters import dead_letter_for
from tests.unit.test_ops_format import EMAIL, LEAD, captured, consumer_record, letter_view

OTHER = uuid.uuid4()


def event_view(offset: int = 41, lead: uuid.UUID = LEAD, *, key: bytes | None = None) -> RecordView:
    envelope = captured().model_copy(update={"lead_id": lead})
    return record_view(LEAD_CAPTURED.name, 3, offset, 1_700_000_000_000,
                       key if key is not None else str(lead).encode(), envelope.to_bytes(),
                       [("traceparent", b"00-abc-def-01")])


def shown(*texts: str) -> str:
    return "\n".join(texts).lower()


def nothing_of_the_person(text: str) -> None:
    text = text.lower()
    assert EMAIL not in text and "acme" not in text and "vp sales" not in text and "injected fault" not in text


# -- what an erased record still shows ------------------------------------------------

def test_an_erased_event_is_shown_by_its_coordinates_and_lead_only():
    view = event_view()
    assert EMAIL in format_record_line(view)  # as it is, before

    hidden_view = redacted(view, str(LEAD))
    line, data = format_record_line(hidden_view), record_to_dict(hidden_view)
    assert line.endswith(f"  lead.captured.v1[3]@41  lead {LEAD}: erased (not shown)")
    assert data == {"topic": LEAD_CAPTURED.name, "partition": 3, "offset": 41, "lead_id": str(LEAD), "erased": True}
    nothing_of_the_person(line + json.dumps(data))


def test_an_erased_persons_dead_letter_keeps_where_it_came_from_and_nothing_of_them():
    view = letter_view(captured().to_bytes())
    assert EMAIL in json.dumps(letter_to_dict(view, full=True))  # before

    hidden_view = redacted(view, str(LEAD))
    data = letter_to_dict(hidden_view, full=True)
    assert data["erased"] is True and data["lead_id"] == str(LEAD) and data["error"] == "erased"
    assert (data["original_topic"], data["original_offset"], data["attempts"]) == (LEAD_CAPTURED.name, 41, 3)
    assert "event" not in data and "value_b64" not in data and "decode_error" not in data
    text = format_letter(hidden_view)
    assert f"lead {LEAD} was erased" in text and "nor replayed" in text
    [row] = letter_rows([hidden_view])
    assert row[5] == "erased" and row[6] == f"lead {LEAD} was erased (not shown)"
    nothing_of_the_person(shown(json.dumps(data), text, json.dumps(row, default=str), format_record_line(hidden_view),
                                json.dumps(record_to_dict(hidden_view))))


@pytest.mark.parametrize("force", [False, True])
def test_an_erased_persons_letter_is_not_replayed(force):
    assert plan_replay(letter_view(captured().to_bytes())).event is not None  # it would be, before
    with pytest.raises(ReplayRefused) as refused:
        plan_replay(redacted(letter_view(captured().to_bytes()), str(LEAD)), force=force)
    assert str(refused.value) == f"lead {LEAD} was erased; its events are not replayed"


# -- whom a record is about -----------------------------------------------------------

def test_a_record_names_its_key_and_its_envelopes_lead():
    assert leads_of(event_view()) == {str(LEAD)}
    assert leads_of(event_view(key=str(OTHER).encode())) == {str(LEAD), str(OTHER)}  # disagreeing: both checked
    undecodable = record_view(LEAD_CAPTURED.name, 0, 1, None, str(LEAD).encode(), b"{not json")
    assert leads_of(undecodable) == {str(LEAD)}
    assert leads_of(record_view(LEAD_CAPTURED.name, 0, 1, None, None, b"{not json")) == set()


def test_a_letter_without_a_key_names_the_lead_of_its_decoded_original():
    view = letter_view(captured().to_bytes(), key=None, keep_dlq_key=False)
    assert view.letter is not None and view.letter.key is None and view.key is None
    assert leads_of(view) == {str(LEAD)}


def test_hidden_redacts_the_records_of_erased_leads_and_keeps_the_others_in_order():
    views = [event_view(1), event_view(2, OTHER), letter_view(captured().to_bytes(), key=None, keep_dlq_key=False)]
    out = hidden(views, {str(LEAD)})
    assert [v.erased_lead for v in out] == [str(LEAD), None, str(LEAD)]
    assert out[1] is views[1]
    assert out[0].value is None and out[0].event is None and out[0].headers == ()
    assert out[2].letter is not None and out[2].letter.value_b64 == "" and out[2].letter.error == "erased"


# -- the register: once per batch, and nothing shown without it ------------------------

@pytest.fixture
def queries(monkeypatch) -> list[set[uuid.UUID]]:
    """The register's answers without a database: LEAD is erased; each look-up is recorded."""
    asked: list[set[uuid.UUID]] = []

    async def erased_among(session, lead_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        wanted = set(lead_ids)
        asked.append(wanted)
        return wanted & {LEAD}

    monkeypatch.setattr(erased_module, "erased_among", erased_among)
    return asked


async def test_hide_asks_once_for_a_whole_batch_and_only_for_lead_ids(queries):
    register = ErasedLeads("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    poison = record_view(LEAD_CAPTURED.name, 0, 9, None, b"not-a-lead-id", b"{")
    try:
        out = await register.hide([event_view(1), event_view(2, OTHER), poison, event_view(3)])
        assert await register.hide([]) == [] and await register.hide([poison]) == [poison]
    finally:
        await register.close()
    assert queries == [{LEAD, OTHER}]
    assert [v.erased for v in out] == [True, False, False, True]


async def test_erased_leads_answers_the_erased_ones_in_one_query(queries):
    assert await erased_leads("postgresql+asyncpg://nobody@127.0.0.1:1/none", [LEAD, OTHER]) == {LEAD}
    assert queries == [{LEAD, OTHER}]


class PolledConsumer:
    """Hands out its records in the polls given, advancing positions as aiokafka does."""

    def __init__(self, polls: list[list[int]]) -> None:
        self.tp = TopicPartition(LEAD_CAPTURED.name, 3)
        self.polls = polls
        self.at = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    def pause(self, *tps: TopicPartition) -> None:
        pass

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        offsets = self.polls.pop(0)
        self.at = offsets[-1] + 1
        return {self.tp: [consumer_record(event_view(o, LEAD if o % 2 else OTHER).value, offset=o,
                                          key=str(LEAD if o % 2 else OTHER).encode()) for o in offsets]}


async def test_tail_looks_up_each_poll_once_after_the_lead_filter(queries):
    consumer = PolledConsumer([[0, 1, 2], [3, 4], [5]])
    register = ErasedLeads("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        every = [v async for v in streams._views(consumer, [consumer.tp], {consumer.tp: 6}, register.hide)]  # type: ignore[arg-type]
    finally:
        await register.close()
    assert [(v.offset, v.erased) for v in every] == [(0, False), (1, True), (2, False), (3, True), (4, False),
                                                      (5, True)]
    assert queries == [{LEAD, OTHER}, {LEAD, OTHER}, {LEAD}]
    assert all(EMAIL not in format_record_line(v) for v in every if v.erased)

    queries.clear()
    consumer = PolledConsumer([[0, 1, 2], [4], [5]])
    others = [v async for v in streams._views(consumer, [consumer.tp], {consumer.tp: 6}, ErasedLeads(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none").hide, lambda v: matches_lead(v, str(OTHER)))]  # type: ignore[arg-type]
    assert [v.offset for v in others] == [0, 2, 4] and queries == [{OTHER}, {OTHER}]  # the poll of 5 asked nothing


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_without_the_register_no_record_is_shown():
    register = ErasedLeads(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/handoff")
    try:
        with pytest.raises(OpsError) as failed:
            await register.hide([event_view(1), event_view(2, OTHER)])
    finally:
        await register.close()
    message = str(failed.value)
    assert message.startswith("cannot check erasures (PostgreSQL at 127.0.0.1:")
    assert "--database-url" in message and "HANDOFF_DATABASE_URL" in message
    assert failed.value.exit_code == UNREACHABLE
    assert "password" not in message and EMAIL not in message


class LetterTopic(PolledConsumer):
    """The dead-letter topic over two partitions, one partition's letters per poll."""

    def __init__(self, leads: dict[int, list[uuid.UUID]]) -> None:
        self.letters = {TopicPartition(DEAD_LETTER.name, p): [
            dead_letter_for(consumer_record(event_view(lead=lead).value, key=str(lead).encode()),
                            error="injected fault for <email>", group="handoff.scoring.scorer", attempts=3)
            for lead in ids] for p, ids in leads.items()}
        self.at_of = dict.fromkeys(self.letters, 0)

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.letters[tp]) for tp in tps}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at_of[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.at_of[tp]

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        tp = next(tp for tp, at in self.at_of.items() if at < len(self.letters[tp]))
        start, self.at_of[tp] = self.at_of[tp], len(self.letters[tp])
        return {tp: [ConsumerRecord(topic=tp.topic, partition=tp.partition, offset=o, timestamp=1_700_000_000_000 + o,
                                    timestamp_type=0, key=out.key, value=out.value, checksum=None,
                                    serialized_key_size=0, serialized_value_size=0, headers=out.headers)
                     for o, out in enumerate(self.letters[tp]) if o >= start]}


async def test_the_list_of_letters_is_hidden_in_one_look_up_after_the_newest_are_chosen(queries, monkeypatch):
    topic = LetterTopic({0: [LEAD, OTHER, OTHER], 1: [LEAD, OTHER]})

    @asynccontextmanager
    async def reader(bootstrap, client_id):
        yield topic

    async def partitions_of(bootstrap, name):
        return [0, 1]

    monkeypatch.setattr(streams, "reader", reader)
    monkeypatch.setattr(streams, "partitions_of", partitions_of)
    async with ErasedLeads("postgresql+asyncpg://nobody@127.0.0.1:1/none") as register:
        views = await streams.read_letters("127.0.0.1:9", newest=2, hide=register.hide)
    # two polls, one look-up, for the letters shown only: the newest two are OTHER's
    assert [(v.partition, v.offset, v.erased) for v in views] == [(1, 1, False), (0, 2, False)]
    assert queries == [{OTHER}]
    async with ErasedLeads("postgresql+asyncpg://nobody@127.0.0.1:1/none") as register:
        every = await streams.read_letters("127.0.0.1:9", hide=register.hide)
    assert len(queries) == 2 and queries[-1] == {LEAD, OTHER}
    assert sorted((v.partition, v.offset) for v in every if v.erased) == [(0, 0), (1, 0)]
    assert all(EMAIL not in json.dumps(letter_to_dict(v, full=True)) for v in every if v.erased)
