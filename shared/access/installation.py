"""The installation's own secret, read from the database: one key for every service and tool.

Kept in PostgreSQL rather than in each service's settings so that the services cannot
disagree about it (two keys would split every person into two leads), and so that nothing
has to be configured: the migration makes it. Whoever can read the database reads the
emails too, so it protects nothing there; it keeps an email from giving its id everywhere
else (Kafka keys, URLs, logs, exports of ids).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.access.tables import installation


class InstallationNotMigrated(RuntimeError):
    """The access schema has no key: the migrate job has not run (python -m shared.db.migrations)."""


def _key_of(row: bytes | None) -> bytes:
    if row is None:
        raise InstallationNotMigrated("access.installation holds no lead id key: run the migrate job first "
                                      "(python -m shared.db.migrations)")
    return bytes(row)


def lead_id_key(conn: Connection) -> bytes:
    """In a synchronous connection (migrations, the re-key)."""
    return _key_of(conn.execute(select(installation.c.lead_id_key)).scalar_one_or_none())


async def load_lead_id_key(engine: AsyncEngine) -> bytes:
    async with engine.connect() as conn:
        return _key_of((await conn.execute(select(installation.c.lead_id_key))).scalar_one_or_none())
