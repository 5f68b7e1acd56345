"""Set-based statements whose text does not depend on the number of rows.

A multi-row ``INSERT ... VALUES (...), (...)`` is a new statement for every row count:
SQLAlchemy compiles it afresh each time (a fifth of a consumer's CPU was spent there) and
asyncpg prepares it again. Rows go instead as one array per column through
``unnest(...)``, and a set of keys as one array with ``= ANY(...)``: one text per table,
compiled once and prepared once per connection, whatever the batch size.

On a hot path (intake's, per request) even building the statement costs: SQLAlchemy
constructs it and computes its cache key on every call, about a fifth of a request's CPU.
There the statement is built once (a module-level ``functools.cache`` function) from
``insert_columns``/``unnest_columns``, whose array parameters are named, and each call
passes only the values (``columns_of``); SQLAlchemy keeps a statement's cache key on the
statement object, so a statement built once is keyed once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Executable, Table, TableValuedAlias, any_, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> Insert:
    """``INSERT INTO table (columns) SELECT * FROM unnest($1::type[], ...)`` for ``rows`` (dicts
    with the same keys; columns left out take their server defaults). PostgreSQL's own insert,
    so ``on_conflict_do_nothing``/``on_conflict_do_update`` and ``excluded`` apply as usual."""
    if not rows:
        raise ValueError("insert_rows needs at least one row")
    names = list(rows[0])
    source = rows_as_table({name: table.c[name].type for name in names}, rows)
    return insert(table).from_select(names, select(*source.c), include_defaults=False)


def rows_as_table(types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]],
                  name: str | None = None) -> TableValuedAlias:
    """``rows`` as a FROM item, ``unnest($1::type[], ...) AS name(columns)``, to join against."""
    # one dimension: a JSON column's value may itself be a list, and is one element, not a row
    arrays = [bindparam(None, [row[column] for row in rows], type_=ARRAY(type_, dimensions=1))
              for column, type_ in types.items()]
    return func.unnest(*arrays).table_valued(*types).render_derived(name=name)


def unnest_columns(types: Mapping[str, TypeEngine[Any]], *, prefix: str = "",
                   name: str | None = None) -> TableValuedAlias:
    """``unnest(:prefix_column, ...) AS name(columns)`` with named array parameters, the values
    given at execution (``columns_of``): a FROM item to build a statement once around."""
    arrays = [bindparam(f"{prefix}{column}", type_=ARRAY(type_, dimensions=1)) for column, type_ in types.items()]
    return func.unnest(*arrays).table_valued(*types).render_derived(name=name)


def insert_columns(table: Table, names: Sequence[str], *, prefix: str = "") -> Insert:
    """``insert_rows`` with named array parameters: ``INSERT INTO table (names) SELECT * FROM
    unnest(:prefix_name, ...)``, built once, its rows given at execution (``columns_of``)."""
    source = unnest_columns({name: table.c[name].type for name in names}, prefix=prefix)
    return insert(table).from_select(list(names), select(*source.c), include_defaults=False)


def columns_of(rows: Sequence[Mapping[str, Any]], names: Sequence[str], *, prefix: str = "") -> dict[str, list[Any]]:
    """The parameters of ``insert_columns``/``unnest_columns`` for ``rows``: one list per column."""
    return {f"{prefix}{name}": [row[name] for row in rows] for name in names}


def any_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY($1)`` with the values as one array parameter: one statement text whatever
    their number (an IN list would prepare a new statement for every size)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def any_named(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``any_of`` with a named parameter, its values given at execution: for a statement built once."""
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


async def execute_together(session: AsyncSession, statements: Sequence[Executable]) -> None:
    """Run data-changing statements as one: each becomes a CTE of a ``SELECT 1``. PostgreSQL runs
    every data-modifying CTE exactly once, to completion, on one snapshot, so the statements
    must touch different rows (the callers write different tables)."""
    if not statements:
        return
    if len(statements) == 1:
        await session.execute(statements[0])
        return
    ctes = [statement.cte(f"change_{i}") for i, statement in enumerate(statements)]  # type: ignore[attr-defined]
    await session.execute(select(literal(1)).add_cte(*ctes))
