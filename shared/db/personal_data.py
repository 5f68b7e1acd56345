"""Where a service keeps a person's data: every table of its schema with a ``lead_id`` column,
and its outbox tables by the record key (the lead id). Found from the schema's metadata, not
listed by hand, so a new table is exported and erased without anyone remembering to.

Erasing keeps the rows and breaks their link to the person: they move to a random id that
nothing maps back, and the person's fields (email, names, phone, job title, free-form
attributes, any email address in any text) are replaced. Counts and reports keep every row;
a later capture with the same email is a new lead under the keyed id. Events still waiting
in the outbox for this lead are deleted.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import MetaData, Table, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.observability.redaction import EMAIL


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


PERSONAL_FIELDS = frozenset({"email", "first_name", "last_name", "full_name", "phone", "mobile", "job_title",
                             "linkedin", "street", "address"})
"""Keys of a stored document that hold the person; firmographics (company, domain, size,
industry, country) stay, since reports and segments count by them and they name no one."""
FREE_FORM_FIELDS = frozenset({"attributes"})  # whatever a source sent: emptied whole


@dataclass(frozen=True)
class Erased:
    anonymous_id: uuid.UUID
    rows: dict[str, int]  # table -> rows moved to the anonymous id and scrubbed
    deleted: dict[str, int]  # outbox tables -> events about the person deleted


def erased_email(anonymous_id: uuid.UUID) -> str:
    """Still an address (stored events parse), unique per erased person, naming no one."""
    return f"erased.{anonymous_id.hex[:16]}@example.com"


ERASED = "[erased]"


def personal_values(value: Any, found: set[str]) -> set[str]:
    """The person's own values in a stored document: what its personal fields hold."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in PERSONAL_FIELDS and isinstance(item, str) and len(item.strip()) >= 2:
                found.add(item.strip())
            else:
                personal_values(item, found)
    elif isinstance(value, list):
        for item in value:
            personal_values(item, found)
    return found


def scrubber(email: str, values: set[str]) -> re.Pattern[str] | None:
    """Any of the person's values as a whole word, in any case (an explanation that quotes
    their job title, a note that names them); None when there are none."""
    words = sorted((re.escape(v) for v in values if "@" not in v), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE) if words else None


def scrubbed(value: Any, email: str, known: re.Pattern[str] | None = None) -> Any:
    """``value`` without the person: their fields replaced, any address and any of their
    values in any text too."""
    if isinstance(value, str):
        value = EMAIL.sub(email, value)
        return known.sub(ERASED, value) if known is not None else value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in FREE_FORM_FIELDS:
                out[key] = {}
            elif key in PERSONAL_FIELDS:
                out[key] = email if key == "email" and item is not None else None
            else:
                out[key] = scrubbed(item, email, known)
        return out
    if isinstance(value, list):
        return [scrubbed(item, email, known) for item in value]
    return value


async def erase_person(session: AsyncSession, metadata: MetaData, lead_id: uuid.UUID) -> Erased:
    """In the caller's transaction; running it again finds nothing left (idempotent)."""
    anonymous = uuid.uuid4()
    email = erased_email(anonymous)
    moved: dict[str, int] = {}
    deleted: dict[str, int] = {}
    tables = person_tables(metadata)
    held: dict[str, list[Any]] = {}
    values: set[str] = set()
    for table, column in tables:  # first what the person's fields hold, everywhere in the schema
        if column == "lead_id":
            held[table.name] = list((await session.execute(
                select(table).where(table.c.lead_id == lead_id))).mappings().all())
            for row in held[table.name]:
                personal_values({k: _plain(v) for k, v in row.items()}, values)
    known = scrubber(email, values)
    for table, column in tables:
        if column == "key":
            gone = (await session.execute(delete(table).where(table.c.key == str(lead_id).encode())
                                          .returning(table.c.id))).all()
            if gone:
                deleted[str(table.name)] = len(gone)
            continue
        keys = list(table.primary_key.columns)
        rows = held[table.name]
        for row in rows:
            changes: dict[str, Any] = {"lead_id": anonymous}
            for name, value in row.items():
                if name == "lead_id" or table.c[name] in keys or value is None:
                    continue
                if name in PERSONAL_FIELDS:
                    changes[name] = email if name == "email" else None
                elif isinstance(value, str | dict | list):
                    if (clean := scrubbed(value, email, known)) != value:
                        changes[name] = clean
                elif isinstance(value, bytes | memoryview):  # a stored event: decoded, scrubbed, stored again
                    try:
                        document = orjson.loads(bytes(value))
                    except orjson.JSONDecodeError:
                        continue
                    if (clean := scrubbed(document, email, known)) != document:
                        changes[name] = orjson.dumps(clean)
            match = and_(*[c == row[c.name] for c in keys])  # the row as it is (lead_id may be in its key)
            await session.execute(update(table).where(match).values(**changes))
        if rows:
            moved[str(table.name)] = len(rows)
    return Erased(anonymous, moved, deleted)
