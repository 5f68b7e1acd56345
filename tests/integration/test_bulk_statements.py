"""shared.db.bulk's statements built once: the same statement object, executed with rows of
any number, inserts exactly those rows, and an ``= ANY`` with a named parameter finds them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.tables import rate_windows
from shared.db.bulk import any_named, columns_of, insert_columns

NAMES = ("subject", "window_start", "requests")
INSERT = insert_columns(rate_windows, NAMES, prefix="r_")
FIND = select(rate_windows.c.subject, rate_windows.c.requests).where(any_named(rate_windows.c.subject, "subjects"))


async def test_one_statement_inserts_one_row_or_many_and_any_named_finds_them(session: AsyncSession) -> None:
    window = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    tag = uuid.uuid4().hex[:8]
    first = [{"subject": f"one:{tag}", "window_start": window, "requests": 7}]
    then = [{"subject": f"many:{tag}:{i}", "window_start": window, "requests": i} for i in range(3)]
    for rows in (first, then):
        await session.execute(INSERT, columns_of(rows, NAMES, prefix="r_"))
    wanted = [row["subject"] for row in first + then] + [f"absent:{tag}"]
    found = dict((await session.execute(FIND, {"subjects": wanted})).all())
    assert found == {row["subject"]: row["requests"] for row in first + then}
