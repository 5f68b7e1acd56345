"""The background loops every service runs (the outbox relay, the re-scoring sweep, the SLA
clock, the CRM push): one round after another until cancelled. A round that found a full
batch runs again at once; otherwise the loop waits for the idle interval, or less when
woken. A round that fails is logged and retried after a pause: a loop never dies of it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def repeat(round_: Callable[[], Awaitable[bool]], *, what: str, idle_s: float,
                 wake: asyncio.Event | None = None, error_pause_s: float | None = None) -> None:
    """Run ``round_`` until cancelled; it returns True when there may be more work right away."""
    while True:
        if wake is not None:
            wake.clear()
        try:
            busy = await round_()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; it is tried again", what)
            await asyncio.sleep(idle_s if error_pause_s is None else error_pause_s)
            continue
        if busy:
            continue
        if wake is None:
            await asyncio.sleep(idle_s)
            continue
        try:
            await asyncio.wait_for(wake.wait(), idle_s)
        except TimeoutError:
            pass
