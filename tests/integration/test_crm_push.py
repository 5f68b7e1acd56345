"""Routed leads pushed to a CRM, on the real database and a real HTTP receiver on
127.0.0.1: signed, exact body, retried with growing waits, nothing lost while the CRM
fails, hangs or is down, and each routed event delivered once.

Every test gets a schema of its own holding ``crm_deliveries`` (the same Table, mapped
with ``schema_translate_map``), so nothing else on the shared stack, such as a routing
service with a pusher of its own, can take or add rows. That the migration builds
this very table is test_migrations' job."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.crm_message import crm_body
from services.routing.repository import RoutingRepository
from services.routing.tables import SCHEMA, crm_deliveries
from services.routing.use_cases.crm_push import CrmPusher
from shared.db.engine import make_engine, make_sessionmaker, unit_of_work
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import LeadRouted
from shared.identity import lead_id_for
from shared.webhooks.signature import SignatureRefused, verify
from tests.e2e.support import wait_until

SECRET = "crm-test-secret"


# -- a CRM on loopback -----------------------------------------------------------------


@dataclass
class Request:
    headers: dict[str, str]  # names lower-cased
    body: bytes
    answered: int | None  # None: hung up without answering
    signature_error: str | None = None

    @property
    def delivery_id(self) -> str:
        return self.headers.get("handoff-delivery-id", "")


@dataclass
class Crm:
    """HTTP/1.1 on 127.0.0.1, one request per connection: checks the signature with the
    shared secret, records every request, and fails or hangs the next ones when told."""

    port: int = 0
    fail_next: int = 0
    fail_status: int = 500
    hang_next: int = 0
    requests: list[Request] = field(default_factory=list)
    active: int = 0  # connections being handled right now
    _server: asyncio.Server | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/handoff"

    def delivered(self, event_id: uuid.UUID | None = None) -> list[Request]:
        return [r for r in self.requests if r.answered == 200
                and (event_id is None or r.delivery_id == str(event_id))]

    def attempts_for(self, event_id: uuid.UUID) -> list[Request]:
        return [r for r in self.requests if r.delivery_id == str(event_id)]

    async def start(self) -> Crm:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def quiet(self) -> bool:
        """True once no request is being received: everything sent so far is recorded."""
        return self.active == 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            assert request_line.startswith("POST /hooks/handoff "), request_line
            headers = {}
            for line in filter(None, lines):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(headers, body, answered=None)
            self.requests.append(request)
            try:
                verify(headers.get("handoff-signature"), body, [SECRET], now=time.time())
            except SignatureRefused as exc:
                request.signature_error = str(exc)
                status, text = 401, str(exc)
            else:
                if self.hang_next:
                    self.hang_next -= 1
                    await self._release.wait()  # past the client's timeout; it hangs up first
                    return
                if self.fail_next:
                    self.fail_next -= 1
                    status, text = self.fail_status, "boom: the CRM is having a day " + "x" * 300
                else:
                    status, text = 200, '{"ok":true}'
            request.answered = status
            payload = text.encode()
            writer.write(f"HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.active -= 1
            writer.close()


@pytest.fixture
async def crm() -> AsyncIterator[Crm]:
    receiver = await Crm().start()
    yield receiver
    await receiver.close()


def free_port() -> int:
    """A loopback port with nothing listening on it (until a test starts something there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the database: a schema of our own -------------------------------------------------


@pytest.fixture
async def sessions(database_url) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    scratch = f"itest_crm_{uuid.uuid4().hex[:8]}"
    base = make_engine(database_url)
    engine = base.execution_options(schema_translate_map={SCHEMA: scratch})
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{scratch}"')
        await conn.run_sync(lambda sync: crm_deliveries.create(sync))
    yield make_sessionmaker(engine)
    async with base.begin() as conn:
        await conn.exec_driver_sql(f'DROP SCHEMA "{scratch}" CASCADE')
    await base.dispose()


def lead_routed(email: str | None = None) -> Envelope:
    email = email or f"crm.{uuid.uuid4().hex[:10]}@acme.com"
    return Envelope(type="lead.routed", lead_id=lead_id_for(email), correlation_id="itest", producer="routing",
                    payload=LeadRouted(email=email, cycle=1, owner_id="o-1", owner_name="Olivia Owner",
                                       policy_version="v1", strategy="round_robin", reason="next in turn",
                                       score=80, team_id="emea", rule="emea",
                                       sla_due_at=utcnow() + timedelta(minutes=15)).model_dump(mode="json"))


async def enqueue(sessions, *events: Envelope) -> None:
    async with unit_of_work(sessions) as session:
        for event in events:
            await RoutingRepository(session).enqueue_delivery(event.event_id, event.lead_id, crm_body(event))


async def delivery(sessions, event_id: uuid.UUID):
    async with sessions() as session:
        return (await session.execute(select(crm_deliveries).where(crm_deliveries.c.event_id == event_id))).one()


def pusher(sessions, url: str, **options) -> CrmPusher:
    options = {"timeout_s": 2.0, "base_backoff_s": 0.05, "max_backoff_s": 0.5, "idle_interval_s": 0.02,
               **options}
    return CrmPusher(sessions, url=url, secret=options.pop("secret", SECRET), **options)


async def running(p: CrmPusher) -> Callable[[], Awaitable[None]]:
    task = asyncio.create_task(p.run())

    async def stop() -> None:
        assert not task.done(), "the pusher loop died"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return stop


# -- tests -----------------------------------------------------------------------------


async def test_a_routed_lead_is_posted_once_signed_with_its_exact_body_and_marked_delivered(sessions, crm):
    event = lead_routed()
    await enqueue(sessions, event)
    p = pusher(sessions, crm.url)
    stop = await running(p)
    try:
        await wait_until(lambda: _async(crm.delivered(event.event_id)), timeout_s=10)
        row = await wait_until(lambda: _delivered_row(sessions, event.event_id), timeout_s=5)
        sentinel = lead_routed()  # queued after the first was delivered: once it arrives, the loop
        await enqueue(sessions, sentinel)  # has gone round again, and would have sent the first again
        await wait_until(lambda: _async(crm.delivered(sentinel.event_id)), timeout_s=10)
    finally:
        await stop()
    await wait_until(crm.quiet, timeout_s=5)

    [request] = crm.attempts_for(event.event_id)
    assert request.body == crm_body(event) == row.body, "the stored bytes are exactly what was signed and sent"
    assert request.signature_error is None
    assert verify(request.headers["handoff-signature"], request.body, [SECRET], now=time.time())
    assert request.headers["content-type"] == "application/json"
    assert request.headers["handoff-delivery-id"] == str(event.event_id)
    assert (row.attempts, row.last_error) == (1, None)
    assert row.delivered_at is not None
    assert await p.backlog() == {"pending": 0, "oldest_pending_age_s": None, "failing": 0}


async def test_a_crm_failing_twice_gets_the_delivery_on_the_third_attempt_after_growing_waits(sessions, crm):
    event = lead_routed()
    await enqueue(sessions, event)
    crm.fail_next = 2
    p = pusher(sessions, crm.url, base_backoff_s=0.5, max_backoff_s=10.0)
    waits = []
    try:
        for attempt in (1, 2, 3):
            before = utcnow()
            assert await p.push_once() == 1
            after = utcnow()
            if attempt == 3:
                break
            row = await delivery(sessions, event.event_id)
            assert (row.attempts, row.delivered_at) == (attempt, None)
            assert row.last_error.startswith("HTTP 500: boom: the CRM is having a day")
            assert len(row.last_error) == len("HTTP 500: ") + 200
            expected = 0.5 * 2 ** (attempt - 1)  # ±20%
            assert row.next_attempt_at - after <= timedelta(seconds=1.2 * expected)
            assert row.next_attempt_at - before >= timedelta(seconds=0.8 * expected)
            waits.append((row.next_attempt_at - before).total_seconds())
            assert await p.push_once() == 0, "not due yet: the pusher honours the backoff"
            backlog = await p.backlog()
            assert (backlog["pending"], backlog["failing"]) == (1, 1)
            await asyncio.sleep((row.next_attempt_at - utcnow()).total_seconds() + 0.02)
    finally:
        await p.aclose()
    assert waits[1] > waits[0], f"the wait grows: {waits}"

    row = await delivery(sessions, event.event_id)
    assert row.attempts == 3 and row.delivered_at is not None
    assert [r.answered for r in crm.attempts_for(event.event_id)] == [500, 500, 200]
    assert {r.body for r in crm.attempts_for(event.event_id)} == {crm_body(event)}
    assert all(r.signature_error is None for r in crm.requests)
    assert (await p.backlog())["pending"] == 0


async def test_a_crm_that_is_down_keeps_the_row_pending_until_it_listens_again(sessions):
    port = free_port()
    event = lead_routed()
    await enqueue(sessions, event)
    p = pusher(sessions, f"http://127.0.0.1:{port}/hooks/handoff", base_backoff_s=0.05, max_backoff_s=0.2)
    stop = await running(p)
    late = Crm(port=port)
    try:
        failing = await wait_until(lambda: _row_if(sessions, event.event_id, lambda r: r.attempts >= 3),
                                   timeout_s=10)
        assert failing.delivered_at is None
        assert failing.last_error.startswith("ConnectError"), failing.last_error
        backlog = await p.backlog()
        assert (backlog["pending"], backlog["failing"]) == (1, 1)
        assert backlog["oldest_pending_age_s"] > 0

        await late.start()  # the CRM is back, on the same address
        row = await wait_until(lambda: _delivered_row(sessions, event.event_id), timeout_s=10)
    finally:
        await stop()
        await late.close()
    assert [r.answered for r in late.attempts_for(event.event_id)] == [200]
    assert late.attempts_for(event.event_id)[0].body == crm_body(event)
    assert row.attempts > failing.attempts
    assert (await p.backlog())["pending"] == 0


async def test_enqueueing_one_event_twice_makes_one_delivery(sessions, crm):
    event, other = lead_routed(), lead_routed()
    await enqueue(sessions, event, event)  # twice in one transaction
    await enqueue(sessions, event, other)  # and again in another (a redelivered lead.scored)
    async with sessions() as session:
        count = (await session.execute(select(func.count()).select_from(crm_deliveries)
                                       .where(crm_deliveries.c.event_id == event.event_id))).scalar_one()
    assert count == 1
    p = pusher(sessions, crm.url)
    try:
        assert await p.push_once() == 2
        assert await p.push_once() == 0
    finally:
        await p.aclose()
    assert len(crm.attempts_for(event.event_id)) == 1 and len(crm.delivered(event.event_id)) == 1
    assert len(crm.delivered(other.event_id)) == 1


async def test_a_crm_that_hangs_times_out_and_the_delivery_is_retried(sessions, crm):
    event = lead_routed()
    await enqueue(sessions, event)
    crm.hang_next = 1
    p = pusher(sessions, crm.url, timeout_s=0.5)
    try:
        started = time.monotonic()
        assert await p.push_once() == 1
        assert time.monotonic() - started < 3, "the timeout bounds the attempt"
        row = await delivery(sessions, event.event_id)
        assert (row.attempts, row.delivered_at, row.last_error) == (1, None, "timeout after 0.5 s")
        await wait_until(p.push_once, timeout_s=5)
    finally:
        await p.aclose()
    assert (await delivery(sessions, event.event_id)).delivered_at is not None
    assert [r.answered for r in crm.attempts_for(event.event_id)] == [None, 200]


async def test_a_refusal_4xx_is_logged_as_an_error_and_still_retried(sessions, crm, caplog):
    event = lead_routed()
    await enqueue(sessions, event)
    misconfigured = pusher(sessions, crm.url, secret="not-the-crm-secret")
    try:
        with caplog.at_level(logging.WARNING, logger="services.routing.use_cases.crm_push"):
            assert await misconfigured.push_once() == 1
    finally:
        await misconfigured.aclose()
    row = await delivery(sessions, event.event_id)
    assert row.delivered_at is None and row.last_error.startswith("HTTP 401: signature does not match")
    assert [r.levelno for r in caplog.records if r.name == "services.routing.use_cases.crm_push"] == [logging.ERROR]

    fixed = pusher(sessions, crm.url)  # the secret is corrected: the row was kept, and goes through
    try:
        await wait_until(fixed.push_once, timeout_s=5)
    finally:
        await fixed.aclose()
    assert (await delivery(sessions, event.event_id)).delivered_at is not None
    assert [r.answered for r in crm.attempts_for(event.event_id)] == [401, 200]


async def test_two_pushers_side_by_side_deliver_each_event_exactly_once(sessions, crm):
    events = [lead_routed() for _ in range(30)]
    await enqueue(sessions, *events)
    crm.fail_next = 3  # a few retries in the mix
    pushers = [pusher(sessions, crm.url, batch_size=4) for _ in range(2)]
    stops = [await running(p) for p in pushers]
    try:
        # the pushers' own count, not the CRM's: a request the CRM has answered may not yet be
        # marked delivered, and stopping then would leave it pending for a later redelivery
        await wait_until(lambda: _async(sum(p.delivered for p in pushers) >= len(events)), timeout_s=15)
    finally:
        for stop in stops:
            await stop()
    await wait_until(crm.quiet, timeout_s=5)  # stopped, and every request they sent is recorded
    delivered = [r.delivery_id for r in crm.delivered()]
    assert sorted(delivered) == sorted(str(e.event_id) for e in events), "each exactly once"
    assert sum(p.delivered for p in pushers) == len(events)
    assert all(p.delivered for p in pushers), "both took a share"
    assert (await pushers[0].backlog())["pending"] == 0


# -- helpers ---------------------------------------------------------------------------


async def _async(value):
    return value


async def _row_if(sessions, event_id: uuid.UUID, condition):
    row = await delivery(sessions, event_id)
    return row if condition(row) else None


async def _delivered_row(sessions, event_id: uuid.UUID):
    return await _row_if(sessions, event_id, lambda r: r.delivered_at is not None)

