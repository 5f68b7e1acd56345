"""Multi-row statements within the driver's limits.

asyncpg runs an executemany as one statement per row (SQLAlchemy's insertmanyvalues is not
used without RETURNING on asyncpg), so set-based handlers write each table with one
``INSERT ... VALUES (...), (...)`` instead; a statement takes at most 32,767 bind
parameters, so very large sets are split, which never happens for a poll's batch (500
records)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Executable, any_, bindparam, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

MAX_BIND_PARAMETERS = 32_767


def row_chunks(rows: Sequence[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """``rows`` (dicts with the same keys) in as few chunks as the parameter limit allows."""
    if not rows:
        return
    per_chunk = max(1, MAX_BIND_PARAMETERS // max(1, len(rows[0])))
    for start in range(0, len(rows), per_chunk):
        yield list(rows[start:start + per_chunk])


def any_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY($1)`` with the values as one array parameter: one statement text whatever
    their number (an IN list would prepare a new statement for every size)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


async def execute_together(session: AsyncSession, statements: Sequence[Executable]) -> None:
    """Run data-changing statements as one: each becomes a CTE of a ``SELECT 1``. PostgreSQL runs
    every data-modifying CTE exactly once, to completion, on one snapshot, so the statements
    must touch different rows (the callers write different tables). Split only where the
    bind parameters would pass the driver's limit."""
    group: list[Executable] = []
    size = 0
    for statement in statements:
        n = len(statement.compile().params)  # type: ignore[attr-defined]
        if group and size + n > MAX_BIND_PARAMETERS:
            await _run(session, group)
            group, size = [], 0
        group.append(statement)
        size += n
    if group:
        await _run(session, group)


async def _run(session: AsyncSession, group: Sequence[Executable]) -> None:
    if len(group) == 1:
        await session.execute(group[0])
        return
    ctes = [statement.cte(f"change_{i}") for i, statement in enumerate(group)]  # type: ignore[attr-defined]
    await session.execute(select(literal(1)).add_cte(*ctes))
