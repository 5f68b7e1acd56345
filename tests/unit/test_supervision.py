"""A background loop that fails is started again after a backoff, with its client made anew
first (and that retried too when it fails); cancelling the service stops it for good."""

from __future__ import annotations

import asyncio

import pytest

from shared.observability import metrics
from shared.service.supervision import supervised


async def test_a_failing_loop_is_restarted_with_a_fresh_client_until_it_runs():
    runs: list[str] = []
    prepared: list[int] = []
    settled = asyncio.Event()

    async def loop() -> None:
        runs.append("run")
        if len(runs) < 3:
            raise RuntimeError("coordinator broke")
        settled.set()
        await asyncio.Event().wait()  # runs until cancelled

    async def fresh_client() -> None:
        prepared.append(len(runs))
        if len(prepared) == 1:
            raise ConnectionError("broker still down")  # retried before the loop runs again

    before = metrics.LOOP_RESTARTS.labels("test.loop")._value.get()
    task = asyncio.create_task(supervised("test.loop", loop, before_restart=fresh_client, first_backoff_s=0.001,
                                          max_backoff_s=0.002))
    await asyncio.wait_for(settled.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert runs == ["run", "run", "run"]
    assert prepared == [1, 1, 2]  # after the first failure: refused once, then made; after the second: made
    assert metrics.LOOP_RESTARTS.labels("test.loop")._value.get() - before == 2


async def test_a_loop_that_returns_is_started_again_too():
    runs = 0
    third = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            third.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(supervised("test.returning", loop, first_backoff_s=0.001))
    await asyncio.wait_for(third.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == 3
