"""Is this database error the database being away (retry later) or our statement's fault?

The answer decides everything downstream: an HTTP request gets 503 with Retry-After
instead of 500, and a consumer retries its batch instead of dead-lettering a record.
PostgreSQL says "not now" with SQLSTATE classes 08 (connection exception), 57P (operator
intervention: shutting down, starting up) and 53300 (too many connections); asyncpg and
SQLAlchemy add their own ways of saying the connection went away.
"""

from __future__ import annotations

import asyncio

from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
from asyncpg.exceptions import PostgresConnectionError
from sqlalchemy import exc as sa_exc

UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53300")


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
