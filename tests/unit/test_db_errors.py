"""Which database errors are "not now" (retry the batch, answer 503) and which are the
record's own fault (dead-letter it, answer as the handler says): asyncpg's real exception
classes, raw and wrapped as SQLAlchemy wraps them."""

from __future__ import annotations

import asyncpg.exceptions as pg
import pytest
from sqlalchemy import exc as sa_exc

from shared.db.errors import database_unavailable, try_again_later
from shared.kafka.consumer import not_now


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: a DBAPIError whose cause is asyncpg's error."""
    try:
        try:
            raise orig
        except BaseException as exc:
            raise sa_exc.DBAPIError("INSERT ...", {}, exc) from exc
    except sa_exc.DBAPIError as error:
        return error


AWAY = [pg.AdminShutdownError("terminating connection due to administrator command"),
        pg.CannotConnectNowError("the database system is starting up"),
        pg.TooManyConnectionsError("sorry, too many clients already"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionRefusedError(111, "Connect call failed"),
        sa_exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back")]
RESOLVES_ITSELF = [pg.SerializationError("could not serialize access due to concurrent update"),
                   pg.DeadlockDetectedError("deadlock detected"),
                   pg.QueryCanceledError("canceling statement due to statement timeout"),
                   pg.LockNotAvailableError("canceling statement due to lock timeout")]
THE_RECORDS_FAULT = [pg.UniqueViolationError("duplicate key value violates unique constraint"),
                     pg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
                     pg.CheckViolationError("new row violates check constraint"),
                     pg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
                     ValueError("a bug in a handler")]


@pytest.mark.parametrize("error", AWAY, ids=lambda e: type(e).__name__)
def test_the_database_away_is_unavailable_and_not_now_raw_or_wrapped(error):
    for seen in (error, wrapped(error)):
        assert database_unavailable(seen) and try_again_later(seen) and not_now(seen)


@pytest.mark.parametrize("error", RESOLVES_ITSELF, ids=lambda e: type(e).__name__)
def test_conflicts_and_timeouts_are_not_now_for_a_consumer(error):
    for seen in (error, wrapped(error)):
        assert try_again_later(seen) and not_now(seen)


@pytest.mark.parametrize("error", THE_RECORDS_FAULT, ids=lambda e: type(e).__name__)
def test_an_error_of_the_record_itself_is_not_retried_as_not_now(error):
    for seen in (error, wrapped(error)):
        assert not try_again_later(seen) and not not_now(seen)
