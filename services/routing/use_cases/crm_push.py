"""Pushes routed leads to the CRM: a signed outbound webhook, retried until it lands.

The router queues a delivery (``RoutingRepository.enqueue_delivery``) inside the assignment's own transaction, so an
assignment and its delivery commit together, and a CRM that is down, slow or
misconfigured can neither undo nor lose an assignment: the row in
``routing.crm_deliveries`` waits until the CRM takes it. ``event_id`` is unique, so a
routed event is enqueued once however often it is handled.

``CrmPusher`` works the rows (``CrmDeliveryRepository``) (the rows are the queue; a restart loses nothing):

- **Claim, then send outside any transaction.** A short transaction claims due rows
  with ``FOR UPDATE SKIP LOCKED`` and leases them: ``attempts + 1`` and
  ``next_attempt_at = now + lease``, then commits. The POSTs run with no transaction
  open, and each outcome is written in its own short transaction. Unlike the outbox
  relay (which holds its row locks while Kafka acknowledges), we do not hold locks
  over HTTP: a hanging CRM takes ``timeout_s`` per request, a batch of them in a row,
  and a transaction and connection held that long would be a liability. Replicas
  share the table safely: a leased row is not due, so no one else takes it.
- **Crash in the middle:** the rows stay leased and come due again when the lease
  ends (``lease_s``, by default longer than a whole batch of timeouts), and are sent
  again. Delivery is *at least once*: the CRM dedupes on ``Handoff-Delivery-Id``.
  ``attempts`` doubles as a fencing token: the outcome of a pusher whose lease ran
  out, and whose row someone else claimed since, is ignored, except a success.
- **Retries never end** (the issue: never lose an assignment). After failed attempt
  *n* the row waits ``min(max_backoff_s, base_backoff_s * 2**(n-1))`` with **±20%
  jitter** (clipped at ``max_backoff_s``), rather than full jitter: the schedule still
  spreads a herd of retries, yet each wait is longer than the one before (until the
  cap), which keeps ``next_attempt_at`` readable for whoever looks at a failing row.
  Timeouts, connection errors and any non-2xx answer count as failures; a 4xx other
  than 408/429 means the CRM or our configuration is wrong: still retried, but
  logged at error level, since it will not heal by itself.
- **Order:** a batch is sent in enqueue order, one request at a time, but a retried
  delivery can arrive after a later one for the same lead; the body carries
  ``occurred_at``, ``cycle`` and ``reassigned_from`` so the CRM can tell which is newer.

Signature: ``Handoff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``,
the scheme our inbound CRM webhooks use, over exactly the stored body bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.crm_message import (
    ERROR_MAX_CHARS,
    RETRYABLE_CLIENT_ERRORS,
    backoff_s,
    failure_text,
    signed_headers,
)
from services.routing.repository import CrmDeliveryRepository
from shared.db.engine import unit_of_work
from shared.events.envelope import utcnow
from shared.loops import repeat

log = logging.getLogger(__name__)


class CrmPusher:
    """Delivers queued rows to ``url``, signed with ``secret``; see the module docstring.

    ``run`` is the service loop; it closes the HTTP client when cancelled. The client
    is made on first use, so ``push_once`` still works after ``aclose``.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, url: str, secret: str,
                 timeout_s: float = 5.0, batch_size: int = 50, max_backoff_s: float = 300.0,
                 base_backoff_s: float = 1.0, clock: Callable[[], datetime] = utcnow,
                 idle_interval_s: float = 1.0, lease_s: float | None = None) -> None:
        if not url or not url.strip():
            raise ValueError("CrmPusher needs the CRM webhook URL; with none configured, do not start it")
        try:
            parsed = httpx.URL(url.strip())
        except httpx.InvalidURL as exc:
            raise ValueError(f"the CRM webhook URL is not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"the CRM webhook URL must be an absolute http(s) URL, got {url!r}")
        if not secret:
            raise ValueError("CrmPusher needs a signing secret: the CRM must be able to verify what we send")
        if timeout_s <= 0 or batch_size < 1 or base_backoff_s <= 0 or max_backoff_s < base_backoff_s \
                or idle_interval_s <= 0:
            raise ValueError("CrmPusher: timeout_s, base_backoff_s and idle_interval_s must be > 0, "
                             "batch_size >= 1 and max_backoff_s >= base_backoff_s")
        self._sessions = sessions
        self.url = str(parsed)
        self._secret = secret
        self._timeout_s = timeout_s
        self._batch_size = batch_size
        self._max_backoff_s = max_backoff_s
        self._base_backoff_s = base_backoff_s
        self._clock = clock
        self._idle_interval_s = idle_interval_s
        # longer than a whole batch of requests that each run into the timeout
        self._lease = timedelta(seconds=lease_s if lease_s is not None else timeout_s * batch_size + 30)
        if self._lease.total_seconds() <= 0:
            raise ValueError("CrmPusher: lease_s must be > 0")
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0

    # -- HTTP client, owned by the pusher

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout_s), follow_redirects=False,
                                             headers={"User-Agent": "handoff-routing/crm-push"})
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- work

    async def run(self) -> None:
        """Push until cancelled; an error is logged and the loop goes on."""
        async def round_() -> bool:
            return await self.push_once() > 0

        try:
            await repeat(round_, what="CRM push round (deliveries stay queued)", idle_s=self._idle_interval_s)
        finally:
            await self.aclose()

    async def push_once(self) -> int:
        """Claim the due deliveries and POST each; the number attempted (0: nothing was due)."""
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            claimed = await CrmDeliveryRepository(session).claim(now, now + self._lease, self._batch_size)
        for row in claimed:
            await self._deliver(row)
        return len(claimed)

    async def _deliver(self, row: Any) -> bool:
        body: bytes = row.body
        headers = signed_headers(self._secret, body, row.event_id, int(self._clock().timestamp()))
        level = logging.WARNING
        try:
            async with asyncio.timeout(self._timeout_s):  # a hard bound over every phase together
                response = await self._http().post(self.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {self._timeout_s:g} s"
        except (httpx.HTTPError, OSError) as exc:  # refused, reset, TLS...: a failed attempt, never a lost row
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.is_success:
                async with unit_of_work(self._sessions) as session:
                    await CrmDeliveryRepository(session).delivered(row.id, self._clock())
                self.delivered += 1
                return True
            error = failure_text(response.status_code, response.text)
            if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_CLIENT_ERRORS:
                level = logging.ERROR  # will not heal by itself: the URL, the secret or the CRM is wrong
        log.log(level, "CRM delivery %s failed (attempt %d): %s; it is retried%s", row.event_id, row.attempts,
                error, "; check the CRM webhook configuration" if level == logging.ERROR else "",
                extra={"event_id": str(row.event_id), "attempt": row.attempts})
        wait = backoff_s(row.attempts, base_s=self._base_backoff_s, max_s=self._max_backoff_s)
        async with unit_of_work(self._sessions) as session:
            await CrmDeliveryRepository(session).failed(row.id, row.attempts, error=error[:ERROR_MAX_CHARS],
                                                        next_attempt_at=self._clock() + timedelta(seconds=wait))
        return False

    async def backlog(self) -> dict[str, Any]:
        """Pending deliveries, the age of the oldest in seconds (None if none), and how
        many of them have failed at least once (``failing``)."""
        async with self._sessions() as session:
            pending, oldest, failing = await CrmDeliveryRepository(session).backlog()
        age = max(0.0, (self._clock() - oldest).total_seconds()) if oldest is not None else None
        return {"pending": pending, "oldest_pending_age_s": age, "failing": failing}
