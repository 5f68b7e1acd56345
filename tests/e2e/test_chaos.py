"""Bounded chaos on a stack of its own, with two replicas each of scoring and routing: while
leads keep arriving (single posts and batches, qualified and below the threshold), every
service process is killed -9 and started again in turn, then the broker, then PostgreSQL
is restarted and frozen. The test client is a form tool that retries what got a 503 or no
answer with the same idempotency key, and keeps a ledger of what intake accepted.

Afterwards, read from the beginning of the topics (the outside view: what a CRM or a
nurture tool sees): every accepted lead has exactly one decision for its cycle (one
lead.routed or one lead.nurture event id from routing, of the kind its profile calls for),
none twice, none missing, none for a lead intake did not accept; routing's own tables
agree; and the dead-letter topic holds exactly the poison records injected by the test,
each once per consumer group that reads its topic, and nothing else. A record the outbox
relay sent again after a kill (the same event id twice) is a redelivery, which consumers
dedupe by event id; it is counted, not a second decision.

The figures (leads, faults and how long each took, retries, the drain after the last
fault) are printed at the end of the run (``tests/conftest.py``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

from devstack.stack import Stack, StackConfig
from shared.db.engine import make_engine
from shared.events.envelope import Envelope
from shared.events.payloads import DeadLetter, LeadCaptured, LeadProfile, LeadScored
from shared.events.topics import (
    DEAD_LETTER,
    LEAD_ACTIVITY,
    LEAD_CAPTURED,
    LEAD_NURTURE,
    LEAD_OUTCOME,
    LEAD_ROUTED,
    LEAD_SCORED,
    LEAD_SCORED_V1,
    LEAD_TOPICS,
    Topic,
)
from shared.identity import lead_id_for
from tests.conftest import FAST_RETRIES, TEST_LEAD_ID_KEY
from tests.e2e.helpers import QUALIFIED

pytestmark = pytest.mark.stack

CHAOS: list[str] = []
"""The figures of the last run, for the terminal summary (tests/conftest.py)."""

REPLICAS = {"scoring": 2, "routing": 2}
BELOW_THRESHOLD = {"first_name": "Ivo", "job_title": "Intern", "company_size": 5, "country": "US"}
ROUTED, NURTURE = "lead.routed", "lead.nurture"

# the pace of the traffic: about six leads a second while nothing is broken, and a burst of
# leads accepted right before each fault, so that it strikes while every service has work in flight
SINGLE_PAUSE_S, BATCH_PAUSE_S, BATCH_SIZE = 0.4, 2.5, 8
BURST_SIZE, BURST_TO_FAULT_S = 40, 0.2
WARM_UP_LEADS = 30  # accepted before the first fault, so the pipeline is busy when it strikes
DEAD_S = 1.0  # how long a killed process stays dead before it is started again: the fault, not a wait
BROKER_DEAD_S, DATABASE_DOWN_S, FROZEN_S = 2.0, 2.0, 3.0
BETWEEN_FAULTS_S = 2.0  # traffic flowing normally after each fault (after the last: leads posted after it)
GIVE_UP_S = 90.0  # a form tool retrying longer than this means intake was away too long: a failure
RETRYABLE = {429, 500, 502, 503, 504}

DRAIN_TIMEOUT_S = 150.0
WHOLE_TEST_S = 300.0

GROUP_TOPICS: dict[str, tuple[Topic, ...]] = {
    "handoff.scoring.scorer": (LEAD_CAPTURED, LEAD_ACTIVITY, LEAD_OUTCOME),
    "handoff.routing.router": (LEAD_SCORED, LEAD_SCORED_V1, LEAD_OUTCOME),
    "handoff.feedback.timeline": LEAD_TOPICS,
}
READERS = {topic.name: sorted(g for g, topics in GROUP_TOPICS.items() if topic in topics)
           for topic in (LEAD_CAPTURED, LEAD_SCORED)}
"""The consumer groups that read each topic poison is put on: each dead-letters it once."""


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[Stack]:
    service_env = {name: {f"HANDOFF_{name.upper()}_{k}": v for k, v in FAST_RETRIES.items()}
                   for name in ("intake", "scoring", "routing", "feedback")}
    state_dir = Path(tempfile.mkdtemp(prefix="handoff-test-chaos-"))
    config = StackConfig.ephemeral(state_dir, service_env=service_env, replicas=dict(REPLICAS),
                                   lead_id_key=TEST_LEAD_ID_KEY)
    try:
        with Stack(config) as stack:
            yield stack
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


# -- the form tool: posts leads, retries with the same key, keeps the ledger ------------------


@dataclass
class Traffic:
    intake: httpx.AsyncClient
    run: str
    accepted: dict[str, str] = field(default_factory=dict)  # lead id -> the decision its profile calls for
    submissions: Counter[str] = field(default_factory=Counter)  # "single" / "batch" -> answered
    retried: Counter[str] = field(default_factory=Counter)  # why a request was sent again -> how often
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def _lead(self) -> tuple[dict[str, object], str, str]:
        n = next(self._numbers)
        qualified = n % 3 != 0
        email = f"chaos{n}.{self.run}@firm{n}-{self.run}.com"  # a company of its own: no account effects
        return {"email": email, **(QUALIFIED if qualified else BELOW_THRESHOLD)}, ROUTED if qualified else NURTURE, \
            f"{self.run}-{n}"

    def _accept(self, lead_id: str, email: str, kind: str) -> None:
        assert lead_id == str(lead_id_for(email)), f"intake answered lead id {lead_id} for {email}"
        assert self.accepted.setdefault(lead_id, kind) == kind

    async def _until_answered(self, send: Callable[[], Awaitable[httpx.Response]], ok: int) -> httpx.Response:
        """Send until intake answers ``ok``; what a fault causes (a 503, no connection, no answer in
        time) is retried as it is, other answers fail the test."""
        give_up = time.monotonic() + GIVE_UP_S
        delay = 0.1
        while True:
            try:
                response = await send()
            except httpx.TransportError as exc:
                why, pause = type(exc).__name__, delay
            else:
                if response.status_code == ok:
                    return response
                assert response.status_code in RETRYABLE, f"intake answered {response.status_code}: {response.text}"
                why = f"HTTP {response.status_code}"
                pause = min(float(response.headers.get("Retry-After", delay)), 1.0)
            self.retried[why] += 1
            assert time.monotonic() < give_up, f"intake did not accept a submission in {GIVE_UP_S:.0f} s ({why})"
            await asyncio.sleep(pause)
            delay = min(delay * 2, 1.0)

    async def singles(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            body, kind, key = self._lead()
            answer = await self._until_answered(
                partial(self.intake.post, "/leads", json=body, headers={"Idempotency-Key": key}), 202)
            self._accept(answer.json()["lead_id"], str(body["email"]), kind)
            self.submissions["single"] += 1
            await asyncio.sleep(SINGLE_PAUSE_S)

    async def batch(self, size: int, what: str = "batch") -> None:
        leads = [self._lead() for _ in range(size)]
        items = [{**body, "idempotency_key": key} for body, _, key in leads]
        answer = (await self._until_answered(
            partial(self.intake.post, "/leads/batch", json={"leads": items}), 200)).json()
        assert answer["accepted"] == size, answer
        for (body, kind, _), item in zip(leads, answer["items"], strict=True):
            self._accept(item["lead_id"], str(body["email"]), kind)
        self.submissions[what] += 1

    async def batches(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.batch(BATCH_SIZE)
            await asyncio.sleep(BATCH_PAUSE_S)


# -- the faults ------------------------------------------------------------------------------


@dataclass
class Faults:
    stack: Stack
    traffic: Traffic
    done: list[tuple[str, float]] = field(default_factory=list)  # fault -> seconds from injected to healed
    last_healed_at: float = 0.0

    async def inject(self, name: str, break_it: Callable[[], None], heal: Callable[[], None],
                     broken_s: float) -> None:
        """``break_it``, ``broken_s`` seconds of the fault, ``heal`` until ready; then traffic flows
        normally for a while. The stack's calls block, so they run off the event loop (the traffic
        goes on meanwhile)."""
        await self.traffic.batch(BURST_SIZE, "burst")
        await asyncio.sleep(BURST_TO_FAULT_S)
        began = time.monotonic()
        await asyncio.to_thread(break_it)
        try:
            await asyncio.sleep(broken_s)
        finally:
            await asyncio.to_thread(heal)
        self.last_healed_at = time.monotonic()
        self.done.append((name, self.last_healed_at - began))
        print(f"chaos: {name} healed after {self.done[-1][1]:.1f} s", flush=True)
        await asyncio.sleep(BETWEEN_FAULTS_S)

    async def kill_and_restart(self, process: str) -> None:
        await self.inject(f"kill -9 {process}", partial(self.stack.kill_service, process),
                          partial(self.stack.start_service, process), DEAD_S)


# -- poison ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poison:
    topic: str
    value: bytes
    partition: int = -1
    offset: int = -1


def poison_records(run: str) -> list[Poison]:
    """Undecodable bytes and two envelopes missing their event id, on the topics scoring and
    routing read (the feedback timeline reads them too)."""
    email = f"poison.{run}@poison-{run}.com"
    captured = Envelope.start(LeadCaptured(submission_id=uuid.uuid4(), source="chaos", email=email),
                              lead_id=lead_id_for(email), correlation_id=f"chaos-{run}", producer="chaos")
    scored = Envelope.start(LeadScored(email=email, cycle=1, definition_version="t", fit_score=70, engagement_score=0,
                                       score=70, threshold=50, qualified=True, rules_fired=[], stage="mql",
                                       grade="A4", newly_qualified=True, source="chaos",
                                       profile=LeadProfile(country="US", company_size=200)),
                            lead_id=lead_id_for(email), correlation_id=f"chaos-{run}", producer="chaos")

    def without_event_id(envelope: Envelope) -> bytes:
        body = envelope.model_dump(mode="json")
        del body["event_id"]
        return orjson.dumps(body)
    return [Poison(LEAD_CAPTURED.name, b"\x00\xff chaos: not an event, not even JSON"),
            Poison(LEAD_CAPTURED.name, without_event_id(captured)),
            Poison(LEAD_SCORED.name, without_event_id(scored))]


async def inject_poison(bootstrap: str, run: str) -> list[Poison]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = []
        for poison in poison_records(run):
            meta = await producer.send_and_wait(poison.topic, poison.value, key=f"poison-{uuid.uuid4()}".encode())
            sent.append(Poison(poison.topic, poison.value, meta.partition, meta.offset))
        return sent
    finally:
        await producer.stop()


async def until_poison_is_behind_every_reader(bootstrap: str, poison: list[Poison], timeout_s: float) -> None:
    """Each group that reads a poison record has committed past it (so it was dead-lettered, and no
    later fault can make it read the record again and write a second letter)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                behind = []
                for group in sorted({g for p in poison for g in READERS[p.topic]}):
                    committed = await admin.list_consumer_group_offsets(group)
                    for p in poison:
                        tp = TopicPartition(p.topic, p.partition)
                        if group in READERS[p.topic] and (tp not in committed or committed[tp].offset <= p.offset):
                            behind.append((group, p.topic, p.offset))
                if not behind:
                    return
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


# -- reading what came out -------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    lead_id: str
    type: str
    cycle: int
    event_id: str
    producer: str


async def read_to_end(bootstrap: str, topics: tuple[Topic, ...]) -> list[ConsumerRecord]:
    """Every record of ``topics``, from the beginning to the end offsets as they are now."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    found: list[ConsumerRecord] = []
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        end = await reader.end_offsets(partitions)

        async def behind() -> bool:
            return any([await reader.position(tp) < end[tp] for tp in partitions])
        while await behind():
            for tp, records in (await reader.getmany(timeout_ms=500)).items():
                found += [r for r in records if r.offset < end[tp]]
    finally:
        await reader.stop()
    return found


def decisions_in(records: list[ConsumerRecord]) -> list[Decision]:
    out = []
    for record in records:
        envelope = Envelope.from_bytes(record.value)
        out.append(Decision(str(envelope.lead_id), envelope.type, envelope.payload["cycle"], str(envelope.event_id),
                            envelope.producer))
    return out


class Undecided(AssertionError):
    def __init__(self, missing: set[str], of: int, timeout_s: float) -> None:
        super().__init__(f"{len(missing)} of {of} accepted leads got no decision in {timeout_s:.0f} s, "
                         f"e.g. {sorted(missing)[:5]}")
        self.missing = missing


async def until_decided(bootstrap: str, lead_ids: set[str], timeout_s: float) -> None:
    """Follow lead.routed and lead.nurture from the beginning until each of ``lead_ids`` has a decision."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    seen: set[str] = set()
    try:
        partitions = [TopicPartition(t.name, p) for t in (LEAD_ROUTED, LEAD_NURTURE) for p in range(t.partitions)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while not lead_ids <= seen:
            if time.monotonic() > deadline:
                raise Undecided(lead_ids - seen, len(lead_ids), timeout_s)
            for records in (await reader.getmany(timeout_ms=500)).values():
                seen.update(str(Envelope.from_bytes(r.value).lead_id) for r in records)
    finally:
        await reader.stop()


async def lagging_groups(bootstrap: str) -> list[str]:
    """Partitions some group has not committed to their end: "group topic[partition] committed/end"."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        lagging = []
        for group, topics in GROUP_TOPICS.items():
            partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
            end = await probe.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group)
            for tp in partitions:
                at = committed[tp].offset if tp in committed else 0
                if end[tp] > 0 and at < end[tp]:
                    lagging.append(f"{group} {tp.topic}[{tp.partition}] {at}/{end[tp]}")
        return lagging
    finally:
        await probe.stop()
        await admin.close()


SERVICE_SCHEMAS = ("intake", "scoring", "routing", "feedback")


async def outbox_rows(database_url: str) -> dict[str, tuple[int, int]]:
    """Per service: rows still in its outbox, rows Kafka refused for good."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {s: ((await conn.execute(text(f"SELECT count(*) FROM {s}.outbox"))).scalar_one(),
                        (await conn.execute(text(f"SELECT count(*) FROM {s}.outbox_refused"))).scalar_one())
                    for s in SERVICE_SCHEMAS}
    finally:
        await engine.dispose()


async def until_settled(stack: Stack, timeout_s: float) -> None:
    """Every outbox empty and every consumer group at the end of its topics: nothing more is
    coming, so what the topics hold now is all the pipeline will say about these leads."""
    deadline = time.monotonic() + timeout_s
    while True:
        outboxes = await outbox_rows(stack.database_url)
        refused = {s: n for s, (_, n) in outboxes.items() if n}
        assert not refused, f"Kafka refused outbox rows for good (set aside in outbox_refused): {refused}"
        backlog = {s: n for s, (n, _) in outboxes.items() if n}
        lagging = await lagging_groups(stack.kafka_bootstrap)
        if not backlog and not lagging:
            return
        assert time.monotonic() < deadline, f"not settled in {timeout_s:.0f} s: outboxes {backlog}, lag {lagging[:10]}"
        await asyncio.sleep(0.5)


async def routing_tables(database_url: str, lead_ids: set[str]) -> tuple[Counter[str], Counter[str]]:
    """Routing's own view: assignment rows and nurture marks per lead."""
    engine = make_engine(database_url)
    ids = [uuid.UUID(i) for i in lead_ids]
    try:
        async with engine.connect() as conn:
            assigned = (await conn.execute(text("SELECT lead_id FROM routing.assignments WHERE lead_id = ANY(:ids)"),
                                           {"ids": ids})).scalars().all()
            nurtured = (await conn.execute(text("SELECT lead_id FROM routing.nurtured WHERE lead_id = ANY(:ids)"),
                                           {"ids": ids})).scalars().all()
    finally:
        await engine.dispose()
    return Counter(str(i) for i in assigned), Counter(str(i) for i in nurtured)


async def group_members(bootstrap: str) -> dict[str, str]:
    """Each consumer group's state and its members' client ids, as the broker sees them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups(list(GROUP_TOPICS))
        found = {}
        for response in described:
            for group in response.to_object()["groups"]:
                members = sorted(f"{m['client_host']} {m['group_instance_id'] or m['member_id']}"
                                 for m in group["members"])
                found[group["group"]] = f"{group['group_state']}: {', '.join(members) or 'no members'}"
        return found
    finally:
        await admin.close()


async def diagnosis(stack: Stack, missing: set[str]) -> str:
    """Where the leads without a decision are stuck, for the failure message."""
    lines = []
    try:
        for topic in (LEAD_CAPTURED, LEAD_SCORED):
            on = {str(Envelope.from_bytes(r.value).lead_id) for r in await read_to_end(stack.kafka_bootstrap, (topic,))
                  if r.value and r.value.startswith(b"{") and b'"event_id"' in r.value}
            lines.append(f"{len(missing & on)} of the {len(missing)} on {topic.name}")
        lines.append(f"outboxes (rows, refused): {await outbox_rows(stack.database_url)}")
        lines.append(f"lagging: {await lagging_groups(stack.kafka_bootstrap)}")
        lines.append(f"groups: {await group_members(stack.kafka_bootstrap)}")
        lines.append(f"not ready: {await every_process_ready(stack)}")
    except Exception as exc:  # a diagnosis that fails must not hide the failure it explains
        lines.append(f"(diagnosis failed: {type(exc).__name__}: {exc})")
    return "\n".join(lines)


# -- the test --------------------------------------------------------------------------------


@contextlib.contextmanager
def logs_kept_on_failure(stack: Stack) -> Iterator[None]:
    """The stack's state goes with it; on a failure (or with HANDOFF_CHAOS_KEEP_LOGS=1) its logs
    are copied somewhere that stays, and the place is printed."""
    def keep() -> None:
        kept = Path(tempfile.mkdtemp(prefix="handoff-chaos-logs-"))
        shutil.copytree(stack.logs_dir, kept, dirs_exist_ok=True)
        print(f"chaos: the stack's logs are kept in {kept}", flush=True)
    try:
        yield
    except BaseException:
        keep()
        raise
    if os.environ.get("HANDOFF_CHAOS_KEEP_LOGS"):
        keep()


async def every_process_ready(stack: Stack) -> dict[str, str]:
    """Not ready: process name -> why (a loop that died under a fault makes its process unready)."""
    problems = {name: f"exited with status {status}" for name, status in stack.dead_components().items()}
    async with httpx.AsyncClient(timeout=5) as http:
        for name, url in stack.replica_urls.items():
            answer = await http.get(f"{url}/readyz")
            if answer.status_code != 200:
                problems[name] = f"HTTP {answer.status_code}: {answer.text[:300]}"
    return problems


async def test_every_accepted_lead_is_decided_exactly_once_through_kills_broker_and_database_faults(chaos_stack):
    stack = chaos_stack
    assert stack.replicas_of("scoring") == ["scoring", "scoring-2"]
    assert stack.replicas_of("routing") == ["routing", "routing-2"]
    CHAOS.clear()
    run = uuid.uuid4().hex[:8]
    began = time.monotonic()
    key = stack.secrets.intake_api_keys["marketing-automation"]
    with logs_kept_on_failure(stack):
        async with asyncio.timeout(WHOLE_TEST_S), \
                httpx.AsyncClient(base_url=stack.urls["intake"], timeout=15,
                                  headers={"Authorization": f"Bearer {key}"}) as intake:
            traffic = Traffic(intake, run)
            faults = Faults(stack, traffic)
            stop = asyncio.Event()
            posting = [asyncio.create_task(traffic.singles(stop)), asyncio.create_task(traffic.batches(stop))]
            try:
                while len(traffic.accepted) < WARM_UP_LEADS:
                    assert not any(task.done() for task in posting), [task.exception() for task in posting]
                    await asyncio.sleep(0.2)

                for process in ("intake", *stack.replicas_of("scoring")):
                    await faults.kill_and_restart(process)

                poison = await inject_poison(stack.kafka_bootstrap, run)
                await until_poison_is_behind_every_reader(stack.kafka_bootstrap, poison, timeout_s=30)

                for process in (*stack.replicas_of("routing"), "feedback"):
                    await faults.kill_and_restart(process)
                await faults.inject("kill -9 Kafka broker", stack.kill_kafka, stack.start_kafka, BROKER_DEAD_S)
                await faults.inject("PostgreSQL restart (fast shutdown)", stack.stop_postgres, stack.start_postgres,
                                    DATABASE_DOWN_S)
                await faults.inject("PostgreSQL frozen (SIGSTOP)", stack.freeze_postgres, stack.thaw_postgres,
                                    FROZEN_S)
            finally:
                stop.set()
                await asyncio.gather(*posting)  # the submissions in flight are answered (or fail the test)
            posted_s = time.monotonic() - began

            accepted = set(traffic.accepted)
            try:
                await until_decided(stack.kafka_bootstrap, accepted, DRAIN_TIMEOUT_S)
            except Undecided as exc:
                raise AssertionError(f"{exc}\n{await diagnosis(stack, exc.missing)}") from None
            drained_s = time.monotonic() - faults.last_healed_at
            await until_settled(stack, timeout_s=60)

            decisions = decisions_in(await read_to_end(stack.kafka_bootstrap, (LEAD_ROUTED, LEAD_NURTURE)))
            letters = await read_to_end(stack.kafka_bootstrap, (DEAD_LETTER,))
            assigned, nurtured = await routing_tables(stack.database_url, accepted)
            unready = await every_process_ready(stack)
        # exactly one decision per accepted lead and cycle, of the kind its profile calls for
        assert {d.producer for d in decisions} <= {"routing"}, Counter(d.producer for d in decisions)
        distinct = {(d.lead_id, d.cycle, d.event_id): d.type for d in decisions}
        per_lead: dict[str, list[tuple[int, str]]] = {}
        for (lead_id, cycle, _), kind in distinct.items():
            per_lead.setdefault(lead_id, []).append((cycle, kind))
        unknown = set(per_lead) - accepted
        assert not unknown, f"decisions for leads intake never accepted: {sorted(unknown)[:5]}"
        missing = accepted - set(per_lead)
        assert not missing, f"{len(missing)} accepted leads without a decision: {sorted(missing)[:5]}"
        twice = {lead: found for lead, found in per_lead.items() if len(found) != 1}
        assert not twice, f"{len(twice)} leads decided more than once: {dict(itertools.islice(twice.items(), 5))}"
        wrong = {lead: (found[0][1], traffic.accepted[lead]) for lead, found in per_lead.items()
                 if found[0][1] != traffic.accepted[lead]}
        assert not wrong, f"{len(wrong)} leads decided otherwise than their profile says: {list(wrong.items())[:5]}"
        redelivered = len(decisions) - len(distinct)

        # routing's tables say the same: one assignment per routed lead, one nurture mark per nurtured one
        routed = {lead for lead, kind in traffic.accepted.items() if kind == ROUTED}
        assert assigned == Counter(routed), "routing.assignments disagrees with lead.routed"
        assert nurtured == Counter(accepted - routed), "routing.nurtured disagrees with lead.nurture"

        # the dead letters are exactly the poison: once per group reading its topic, with its place and bytes
        expected = Counter((group, p.topic, p.partition, p.offset, p.value)
                           for p in poison for group in READERS[p.topic])
        found_letters: Counter[tuple[str, str, int, int, bytes]] = Counter()
        for record in letters:
            letter = DeadLetter.model_validate_json(record.value)
            header = dict(record.headers).get("original_topic", b"").decode()
            assert header == letter.original_topic, (header, letter)
            found_letters[(letter.consumer_group, letter.original_topic, letter.partition, letter.offset,
                           base64.b64decode(letter.value_b64))] += 1
        assert found_letters == expected, (f"dead letters other than the injected poison: "
                                           f"extra {found_letters - expected}, missing {expected - found_letters}")

        # every process came back whole: a loop that died under a fault makes its process unready
        assert not unready, f"not ready after the faults: {unready}"

    kinds = Counter(traffic.accepted.values())
    CHAOS.extend([
        f"leads accepted: {len(accepted)} ({kinds[ROUTED]} qualified, {kinds[NURTURE]} below the threshold) from "
        f"{traffic.submissions['single']} single posts, {traffic.submissions['batch']} batches of {BATCH_SIZE} and "
        f"{traffic.submissions['burst']} bursts of {BURST_SIZE} (one right before each fault), over {posted_s:.0f} s",
        f"replicas: {', '.join(f'{s} x{n}' for s, n in REPLICAS.items())}",
        f"faults: {len(faults.done)}: " + "; ".join(f"{name} ({s:.1f} s)" for name, s in faults.done),
        "client retries (same idempotency key): " + (", ".join(f"{why} x{n}" for why, n in
                                                               traffic.retried.most_common()) or "none"),
        f"decisions: {len(distinct)} (exactly one per lead), redelivered duplicates (same event id): {redelivered}",
        f"dead letters: {sum(found_letters.values())}, exactly the {len(poison)} poison records injected x their "
        "readers",
        f"drain: {drained_s:.1f} s from the last fault healed to every accepted lead decided; "
        f"whole test {time.monotonic() - began:.0f} s",
    ])
    print("\n" + "\n".join(f"chaos: {line}" for line in CHAOS))
