"""Where a service keeps a person's data: every table of its schema with a ``lead_id`` column,
and its outbox tables by the record key (the lead id). Found from the schema's metadata, not
listed by hand, so a new table is exported (and later erased) without anyone remembering to.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncSession


def person_tables(metadata: MetaData) -> list[tuple[Table, str]]:
    """(table, the column that names the person): ``lead_id``, or an outbox's ``key``."""
    found: list[tuple[Table, str]] = []
    for table in metadata.sorted_tables:
        if "lead_id" in table.c:
            found.append((table, "lead_id"))
        elif table.name in ("outbox", "outbox_refused") and "key" in table.c:
            found.append((table, "key"))
    return found


def _plain(value: Any) -> Any:
    """A stored value as JSON: bytes that hold JSON (an event) decoded, other bytes as base64."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return {"base64": base64.b64encode(raw).decode()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def export_person(session: AsyncSession, metadata: MetaData,
                        lead_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row of the schema about the person, by table (tables without any are left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table, column in person_tables(metadata):
        wanted = str(lead_id).encode() if column == "key" else lead_id
        rows = (await session.execute(select(table).where(table.c[column] == wanted))).mappings().all()
        if rows:
            found[str(table.name)] = [{str(k): _plain(v) for k, v in row.items()} for row in rows]  # plain str
    return found
