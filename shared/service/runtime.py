"""The resources a service holds while it runs, built and closed by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import identity
from shared.access.cache import CallerCache
from shared.access.installation import load_lead_id_key
from shared.db.engine import database_answers, make_engine, make_sessionmaker
from shared.db.metadata import outbox_table, processed_events_table
from shared.db.versioned_store import FileBehindDatabase
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from shared.kafka.producer import broker_answers, make_producer
from shared.observability import metrics
from shared.outbox.relay import OutboxRelay
from shared.outbox.writer import Outbox
from shared.service.erasure import BeforeErasure, eraser
from shared.service.startup import refuse_while_serving
from shared.service.supervision import supervised
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    """Engine, producer, outbox relay and consumers of one service process."""

    def __init__(self, service: str, settings: ServiceSettings, metadata: MetaData,
                 consumers: Sequence[ConsumerSpec] = ()) -> None:
        self.service = service
        self.settings = settings
        self.engine: AsyncEngine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                                               max_overflow=settings.database_max_overflow,
                                               timeout_s=settings.database_timeout_s)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.callers = CallerCache(self.sessions, settings.static_callers())
        self.outbox = Outbox(outbox_table(metadata))
        self.producer = make_producer(settings.kafka_connection(), client_id=f"handoff.{service}")
        self.relay = OutboxRelay(self.sessions, outbox_table(metadata), self.producer,
                                 idle_interval_s=settings.outbox_idle_interval_s)
        self._metadata = metadata
        self.consumers: list[EventConsumer] = []
        for spec in consumers:
            self.add_consumer(spec)
        self._before_erasure: list[BeforeErasure] = []
        self.add_consumer(eraser(metadata, service, self._before_erasure))  # every service erases its own
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_consumer(self, spec: ConsumerSpec) -> EventConsumer:
        consumer = EventConsumer(
            spec,
            service=self.service,
            bootstrap_servers=self.settings.kafka_connection(),
            sessions=self.sessions,
            processed=processed_events_table(self._metadata),
            producer=self.producer,
            on_committed=self.relay.wake,
            max_attempts=self.settings.consumer_max_attempts,
            retry_backoff_s=self.settings.consumer_retry_backoff_s,
            instance_id=self.settings.instance_id,
        )
        self.consumers.append(consumer)
        return consumer

    def before_erasure(self, step: BeforeErasure) -> None:
        """A step of this service's own before the eraser anonymises a person's rows."""
        self._before_erasure.append(step)

    def on_startup(self, step: Callable[[], Awaitable[None]]) -> None:
        """Runs once the producer is up, before consumers and loops start."""
        self._startup.append(step)

    def add_loop(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A background loop that lives as long as the service, like the outbox relay."""
        self._loops.append((name, loop))

    async def start(self) -> None:
        identity.configure_key(await load_lead_id_key(self.engine))  # before anything computes a lead id
        await self.producer.start()
        for step in self._startup:
            try:
                await step()
            except FileBehindDatabase as exc:  # one line and EX_CONFIG, not a lifespan traceback
                refuse_while_serving(self.service, str(exc))
        for consumer in self.consumers:
            await consumer.start()
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]], Callable[[], Awaitable[None]] | None]] = [
            ("outbox-relay", self.relay.run, None), ("metrics", self._refresh_metrics, None),
            *((name, loop, None) for name, loop in self._loops),
            *((c.spec.name, c.run, c.restart) for c in self.consumers),
        ]
        self._tasks = [asyncio.create_task(supervised(f"{self.service}.{name}", loop, before_restart=restart),
                                           name=f"{self.service}.{name}") for name, loop, restart in loops]
        for task in self._tasks:
            task.add_done_callback(self._report_crash)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self.consumers:
            await consumer.stop()
        await self.producer.stop()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; ready only if all say ok and no loop has died."""
        checks: dict[str, str] = {}
        for name, probe in (("database", database_answers(self.engine)),
                            ("kafka", broker_answers(self.producer))):
            try:
                await asyncio.wait_for(probe, timeout=3)
                checks[name] = "ok"
            except Exception as exc:  # readiness reports any failure; it does not handle it
                checks[name] = f"unavailable: {type(exc).__name__}: {exc}"
        dead = [t.get_name() for t in self._tasks if t.done()]
        checks["loops"] = "ok" if not dead else f"stopped: {', '.join(dead)}"
        return checks

    async def refresh_metrics_once(self) -> None:
        """Consumer lag of every consumer and the outbox backlog, read from the broker and
        the database; each part on its own, so one that fails leaves the others fresh."""
        interval = self.settings.metrics_lag_interval_s
        parts = [(f"lag of {c.group_id}", c.refresh_lag_metric) for c in self.consumers]
        parts.append(("outbox backlog", self._refresh_backlog))
        for what, refresh in parts:
            try:
                await asyncio.wait_for(refresh(), timeout=max(interval, 5.0))
            except asyncio.CancelledError:
                raise
            except Exception:  # metrics never stop the service; the next round tries again
                log.warning("could not refresh the %s metric", what, exc_info=True)

    async def _refresh_backlog(self) -> None:
        metrics.OUTBOX_BACKLOG.set(await self.relay.backlog())

    async def _refresh_metrics(self) -> None:
        while True:
            await self.refresh_metrics_once()
            await asyncio.sleep(self.settings.metrics_lag_interval_s)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background loop %s crashed", task.get_name(), exc_info=task.exception())
