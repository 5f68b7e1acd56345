"""The operator tool's PostgreSQL: each service's ``outbox_refused``, read and changed directly.

The tool imports no service: every schema has the same common tables
(``shared.db.metadata.service_metadata``), so the tool reaches them with the database URL,
as the migrate job does. No service endpoint is needed, and the operator works even while
a service is down (that is often when refused rows matter).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from ops.defaults import DATABASE_URL_ENV
from ops.errors import UNREACHABLE, OpsError
from ops.refused import ServiceRefused
from shared.access.audit import AuditEntry, AuditLog
from shared.access.erasures import IdOf, current_lead_ids
from shared.access.installation import InstallationNotMigrated
from shared.access.installation import lead_id_key as installation_key
from shared.db.engine import make_engine, make_sessionmaker, unit_of_work
from shared.db.errors import database_unavailable
from shared.db.metadata import outbox_refused_table, outbox_table, service_metadata
from shared.db.migrations import SERVICES
from shared.outbox import refused as store


def _where(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _tables(service: str) -> tuple[Table, Table]:
    if service not in SERVICES:
        raise OpsError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    metadata = service_metadata(service)
    return outbox_table(metadata), outbox_refused_table(metadata)


@asynccontextmanager
async def transaction(url: str) -> AsyncIterator[AsyncSession]:
    """One transaction; the database's errors said the operator's way."""
    engine = make_engine(url, pool_size=1, timeout_s=5.0)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            yield session
    except OpsError:
        raise
    except ProgrammingError as exc:
        if "outbox_refused" in str(exc) and "does not exist" in str(exc):
            raise OpsError("a service schema has no outbox_refused table yet: run the migrations "
                           "(python -m shared.db.migrations)") from None
        raise
    except Exception as exc:
        if database_unavailable(exc):
            raise OpsError(f"cannot reach PostgreSQL at {_where(url)}: start the stack (./handoff up) or point the "
                           f"tool at your database with --database-url URL or {DATABASE_URL_ENV}",
                           exit_code=UNREACHABLE) from None
        raise
    finally:
        await engine.dispose()


async def read_refused(url: str, services: Sequence[str] = SERVICES, *, limit: int | None = None,
                       ids: Sequence[int] | None = None) -> list[ServiceRefused]:
    """Refused rows of each service, oldest first within a service; ``limit`` per service."""
    tables = {service: _tables(service)[1] for service in services}
    found: list[ServiceRefused] = []
    async with transaction(url) as session:
        for service, refused in tables.items():
            found += [ServiceRefused(service, row)
                      for row in await store.list_refused(session, refused, limit=limit, ids=ids)]
    return found


async def read_one(url: str, service: str, ids: Sequence[int]) -> list[ServiceRefused]:
    """Exactly these rows of one service, or OpsError naming the ids that are not there."""
    items = await read_refused(url, [service], ids=ids)
    missing = sorted(set(ids) - {i.row.id for i in items})
    if missing:
        raise OpsError(f"no refused row {', '.join(map(str, missing))} in {service}'s outbox_refused "
                       f"(see: ops refused list --service {service})")
    return items


async def replay_refused(url: str, service: str, ids: Sequence[int]) -> dict[int, int]:
    """Back at the end of the service's outbox: {refused id: new outbox id}; audited with it."""
    outbox, refused = _tables(service)
    async with transaction(url) as session:
        placed = await store.replay(session, outbox, refused, ids)
        await AuditLog(session).record(tool_entry("refused replay", {"service": service, "ids": list(ids)},
                                                  after={"placed": {str(k): v for k, v in placed.items()}}))
        return placed


async def discard_refused(url: str, service: str, ids: Sequence[int]) -> list[int]:
    _, refused = _tables(service)
    async with transaction(url) as session:
        gone = await store.discard(session, refused, ids)
        await AuditLog(session).record(tool_entry("refused discard", {"service": service, "ids": list(ids)},
                                                  after={"discarded": gone}))
        return gone


async def record_change(url: str, entry: AuditEntry) -> None:
    """An operator's change made elsewhere (a replay to Kafka), written to the audit log."""
    async with transaction(url) as session:
        await AuditLog(session).record(entry)


def cli_actor() -> str:
    """Who acts through this tool: the account that ran it."""
    import getpass
    return f"cli:{getpass.getuser()}"[:100]


def tool_entry(action: str, target: dict[str, Any], **changes: Any) -> AuditEntry:
    """The audit log's record of a change this tool makes."""
    return AuditEntry(actor=cli_actor(), roles=(), service="cli", action=action, status=0, address="cli",
                      target=target, **changes)


async def read_audit(url: str, **filters: Any) -> list[AuditEntry]:
    async with transaction(url) as session:
        return await AuditLog(session).read(**filters)


async def lead_id_now(url: str, email: str, id_of: IdOf) -> uuid.UUID:
    """The lead an address names now: after an erasure, the person's next generation."""
    async with transaction(url) as session:
        return (await current_lead_ids(session, [email], id_of))[email]


async def lead_id_key(url: str) -> bytes:
    """The installation's lead id key: an email's lead id is computed with it (shared.identity)."""
    async with transaction(url) as session:
        connection = await session.connection()
        try:
            return await connection.run_sync(installation_key)
        except InstallationNotMigrated as exc:
            raise OpsError(str(exc)) from None
