"""Background loops that come back: a loop that fails is restarted after a backoff, so one
broken client (aiokafka's coordinator, after a broker bounce, can fail for good and keep
failing every poll) never leaves a service up but no longer consuming."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.observability import metrics

log = logging.getLogger(__name__)

HEALTHY_RUN_S = 60.0
"""A loop that ran this long before it failed starts again from the shortest backoff."""


async def supervised(name: str, loop: Callable[[], Coroutine[Any, Any, None]], *,
                     before_restart: Callable[[], Awaitable[None]] | None = None,
                     first_backoff_s: float = 0.5, max_backoff_s: float = 15.0) -> None:
    """Run ``loop`` for ever: when it raises, log it, wait, ``before_restart`` (a fresh client,
    say; retried with the loop when it fails too) and run it again. Cancellation stops it."""
    backoff = first_backoff_s
    while True:
        began = time.monotonic()
        try:
            await loop()
            failure = "returned"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = f"failed ({type(exc).__name__}: {exc})"
            error: BaseException | None = exc
        else:
            error = None
        if time.monotonic() - began >= HEALTHY_RUN_S:
            backoff = first_backoff_s
        log.error("background loop %s %s; restarting it in %.1f s", name, failure, backoff, exc_info=error)
        metrics.LOOP_RESTARTS.labels(name).inc()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)
        if before_restart is not None:
            await _until_done(name, before_restart, backoff, max_backoff_s)


async def _until_done(name: str, step: Callable[[], Awaitable[None]], backoff: float, max_backoff_s: float) -> None:
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not prepare background loop %s again (%s: %s); retrying in %.1f s", name,
                        type(exc).__name__, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)
