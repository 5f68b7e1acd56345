"""Engine and the unit of work: one session per request or per batch, committed at the edge."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.observability.metrics import count_sql_statement

# libpq's sslmode values, which asyncpg takes as its ``ssl`` argument (docs/architecture.md,
# "Network and transport"). Unset: asyncpg's default, prefer (TLS if offered, unverified).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING = ("verify-ca", "verify-full")
SYSTEM_ROOTS = "system"  # sslrootcert=system: the system's certificate authorities (as libpq 16)
_UNSUPPORTED = ("sslcert", "sslkey", "sslpassword", "sslcrl", "sslnegotiation")


def database_tls(database_url: str | URL) -> tuple[URL, dict[str, Any]]:
    """A DATABASE_URL's TLS query parameters as asyncpg takes them: the URL without them, and the
    connect argument ``ssl`` they make ({} when there are none).

    ``ssl`` (or libpq's spelling, ``sslmode``) is one of SSL_MODES; ``sslrootcert`` the CA file
    that verify-ca and verify-full check the server's certificate against (``system``: the
    system's authorities; unset: asyncpg's PGSSLROOTCERT or ~/.postgresql/root.crt). SQLAlchemy
    passes every query parameter to ``asyncpg.connect`` as a keyword, and asyncpg takes neither
    ``sslmode`` nor ``sslrootcert`` as one (only inside a DSN, which SQLAlchemy does not give
    it), so they are read here. A ValueError names the parameter, never the URL (it holds the
    password)."""
    url = make_url(database_url)
    query = url.query
    for name in ("ssl", "sslmode", "sslrootcert"):
        if isinstance(query.get(name), tuple):
            raise ValueError(f"DATABASE_URL: {name} given more than once")
    if unsupported := [name for name in _UNSUPPORTED if name in query]:
        raise ValueError(f"DATABASE_URL: {', '.join(unsupported)} not supported (client certificates are not)")
    modes = {str(query[name]) for name in ("ssl", "sslmode") if name in query}  # one value each, checked above
    root = str(query["sslrootcert"]) if "sslrootcert" in query else None
    if len(modes) > 1:
        raise ValueError("DATABASE_URL: ssl and sslmode disagree; give one")
    mode = modes.pop() if modes else None
    url = url.difference_update_query(["ssl", "sslmode", "sslrootcert"])
    if mode is None and root is None:
        return url, {}
    if mode is not None and mode not in SSL_MODES:
        raise ValueError(f"DATABASE_URL: ssl must be one of {', '.join(SSL_MODES)}")
    if root is None:
        return url, {"ssl": mode}
    if mode not in VERIFYING:
        raise ValueError(f"DATABASE_URL: sslrootcert needs ssl=verify-ca or ssl=verify-full, not {mode or 'none'}")
    if root != SYSTEM_ROOTS and not Path(root).is_file():
        raise ValueError(f"DATABASE_URL: sslrootcert {root}: no such file")
    # verify the chain against that CA alone, and for verify-full the host name too; an
    # SSLContext makes asyncpg insist on TLS (no plaintext fallback)
    context = ssl.create_default_context(cafile=None if root == SYSTEM_ROOTS else root)
    context.check_hostname = mode == "verify-full"
    return url, {"ssl": context}


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 5,
                timeout_s: float = 10.0) -> AsyncEngine:
    """``timeout_s`` bounds connecting, waiting for a pooled connection and every statement, so a
    database that is frozen or gone is an error (a 503, a retried batch) in seconds, not a hang.

    No pre-ping: it cost a round trip on every checkout, on every request and batch. A pooled
    connection the database dropped fails its first statement instead; SQLAlchemy then
    invalidates the pool, and that one request answers 503 with Retry-After, or that one
    batch is retried (``shared.db.errors``).

    TLS from the URL's query (``database_tls``): ``?ssl=verify-full&sslrootcert=/path/ca.pem``."""
    url, tls = database_tls(database_url)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False,
                                 pool_timeout=timeout_s, hide_parameters=True,  # errors carry no lead's data
                                 connect_args={"timeout": timeout_s, "command_timeout": timeout_s, **tls})
    event.listen(engine.sync_engine, "before_cursor_execute", count_sql_statement)  # handoff_sql_statements_total
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit if the block finishes, roll back if it raises: the only place that commits."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Each statement commits by itself: no BEGIN and COMMIT round trips, for a single write
    that is a whole unit on its own (a rate-limit count), never for several that belong together."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True
