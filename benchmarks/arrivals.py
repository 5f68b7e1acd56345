"""When records reach a set of topics: the clock every benchmark reads its latencies from.

One reader with no consumer group (partitions assigned by hand, nothing committed), started
at the topics' ends, notes the moment it first sees each record's key. The sender keeps
its own send times in the same process, so latencies compare one monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


class Arrivals:
    """``seen``: key -> monotonic time it first arrived on any of ``topics`` (name, partitions)."""

    def __init__(self, bootstrap: str, topics: Sequence[tuple[str, int]],
                 key_of: Callable[[ConsumerRecord], Hashable]) -> None:
        self._reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        self._partitions = [TopicPartition(name, p) for name, count in topics for p in range(count)]
        self._key_of = key_of
        self._task: asyncio.Task[None] | None = None
        self.seen: dict[Hashable, float] = {}

    async def __aenter__(self) -> Arrivals:
        await self._reader.start()
        self._reader.assign(self._partitions)
        for tp, offset in (await self._reader.end_offsets(self._partitions)).items():
            self._reader.seek(tp, offset)
        for tp in self._partitions:  # resolve the positions now: a record sent next must count
            await self._reader.position(tp)
        self._task = asyncio.create_task(self._watch())
        return self

    async def _watch(self) -> None:
        while True:
            for records in (await self._reader.getmany(timeout_ms=200)).values():
                now = time.monotonic()
                for record in records:
                    self.seen.setdefault(self._key_of(record), now)

    async def wait_for(self, keys: Collection[Hashable], timeout: float) -> None:
        """Return once every key arrived; TimeoutError after ``timeout`` seconds (a stuck stack)."""
        deadline = time.monotonic() + timeout
        while any(key not in self.seen for key in keys):
            if self._task is not None and self._task.done():
                self._task.result()  # the reader failed: say why
            if time.monotonic() > deadline:
                missing = sum(key not in self.seen for key in keys)
                raise TimeoutError(f"{missing} of {len(keys)} records did not arrive within {timeout:.0f} s")
            await asyncio.sleep(0.05)

    def latencies(self, sent: dict[Hashable, float]) -> list[float]:
        """Sorted arrival minus send time of every key in ``sent`` (all of which arrived)."""
        return sorted(self.seen[key] - at for key, at in sent.items())

    def last(self, keys: Collection[Hashable]) -> float:
        return max(self.seen[key] for key in keys)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._reader.stop()
