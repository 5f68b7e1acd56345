"""Is this database error the database being away (retry later) or our statement's fault?

The answer decides everything downstream: an HTTP request gets 503 with Retry-After
instead of 500, and a consumer retries its batch instead of dead-lettering a record.
PostgreSQL says "not now" with SQLSTATE classes 08 (connection exception), 57P (operator
intervention: shutting down, starting up) and 53300 (too many connections); asyncpg and
SQLAlchemy add their own ways of saying the connection went away. A serialization failure,
a deadlock and a statement or lock timeout are "not now" too for a consumer: the same batch
succeeds when redone (``try_again_later``).
"""

from __future__ import annotations

import asyncio

from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
from asyncpg.exceptions import PostgresConnectionError
from sqlalchemy import exc as sa_exc

UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53300")
TRY_AGAIN_SQLSTATES = frozenset({
    "40001",  # serialization_failure: a concurrent transaction won; the same work succeeds when redone
    "40P01",  # deadlock_detected: PostgreSQL chose us as the victim
    "55P03",  # lock_not_available: lock_timeout passed
    "57014",  # query_canceled: statement_timeout passed (the database was slow, not the record wrong)
})


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def try_again_later(error: BaseException) -> bool:
    """True when redoing the same work later can succeed: the database away (``database_unavailable``),
    or a conflict or timeout PostgreSQL resolves by itself. A consumer retries such a batch
    with backoff and never dead-letters it; only an error of the record itself does that."""
    if database_unavailable(error):
        return True
    return any(getattr(cause, "sqlstate", None) in TRY_AGAIN_SQLSTATES for cause in _chain(error))


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) means the database cannot serve us right now."""
    for cause in _chain(error):
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sa_exc.TimeoutError | sa_exc.DisconnectionError | sa_exc.PendingRollbackError
                      | sa_exc.InterfaceError | PostgresConnectionError | AsyncpgInterfaceError
                      | ConnectionError | OSError | asyncio.TimeoutError):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES):
            return True
    return False
