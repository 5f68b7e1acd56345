"""The tool shows nothing of an erased person: records about a lead id in the erasure register
(``shared.access.erasures``) keep their coordinates and lead id, and lose their value, their
decoded event and a dead letter's error and original. Their events stay on the topics until
retention deletes them, so the register is asked once per batch of records read; without the
database the tool refuses to show records at all (it cannot tell which are erased)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from types import TracebackType

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.defaults import DATABASE_URL_ENV
from ops.errors import FAILED, UNREACHABLE, OpsError
from ops.letters import ERASED, original_event
from ops.records import RecordView
from shared.access.erasures import erased_among
from shared.db.engine import make_engine, make_sessionmaker
from shared.db.errors import database_unavailable


def leads_of(view: RecordView) -> set[str]:
    """Every lead a record names: its key, its envelope's lead, and for a dead letter the
    original's key and decoded envelope. Any of them erased hides the record."""
    named = {view.key_text, view.lead_id}
    if view.letter is not None:
        event, _ = original_event(view)
        named |= {view.letter.key, str(event.envelope.lead_id) if event is not None else None}
    return {lead for lead in named if lead}


def redacted(view: RecordView, lead_id: str) -> RecordView:
    """The record as the tool may show it once ``lead_id``, a lead it names, is erased."""
    letter = view.letter
    if letter is not None:
        letter = letter.model_copy(update={"error": ERASED, "value_b64": "", "value_kept": False})
    return replace(view, value=None, headers=(), event=None, letter=letter, error=None, erased_lead=lead_id)


def hidden(views: Sequence[RecordView], erased: set[str]) -> list[RecordView]:
    """``views`` in order, each naming an ``erased`` lead redacted."""
    shown = []
    for view in views:
        gone = sorted(leads_of(view) & erased)
        shown.append(redacted(view, gone[0]) if gone else view)
    return shown


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:  # a key that is no lead id (a poison record's): no person to look up
        return None


def _where(url: str) -> str:
    """host:port/database, never the password."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        return "(an unreadable URL)"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


class ErasedLeads:
    """The register, read over one engine for the life of a command (``tail --follow`` asks it
    again for every batch); ``close`` disposes of the engine."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._engine: AsyncEngine | None = None

    async def erased(self, lead_ids: Iterable[str]) -> set[str]:
        """The erased ones among ``lead_ids``, in one query; OpsError if the register cannot be read."""
        ids = {i for i in (_uuid(text) for text in lead_ids) if i is not None}
        if not ids:
            return set()
        try:
            if self._engine is None:
                self._engine = make_engine(self._url, pool_size=1, max_overflow=0, timeout_s=5.0)
            async with make_sessionmaker(self._engine)() as session:
                return {str(i) for i in await erased_among(session, ids)}
        except Exception as exc:
            unreachable = database_unavailable(exc)
            if not unreachable and not isinstance(exc, SQLAlchemyError):
                raise
            first_line = (str(exc).splitlines() or [""])[0]
            why = "does not answer" if unreachable else f"failed: {type(exc).__name__}: {first_line}"
            raise OpsError(f"cannot check erasures (PostgreSQL at {_where(self._url)} {why}), so no record is "
                           "shown: an erased person's events stay unseen. Start the stack (./handoff up) or point "
                           f"the tool at the database with --database-url URL or {DATABASE_URL_ENV}",
                           exit_code=UNREACHABLE if unreachable else FAILED) from None

    async def hide(self, views: Sequence[RecordView]) -> list[RecordView]:
        """What the tool may show of a batch of records: one query for all of them."""
        named = set().union(*(leads_of(v) for v in views)) if views else set()
        return hidden(views, await self.erased(named))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> ErasedLeads:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()


async def erased_leads(database_url: str, lead_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The erased ones among ``lead_ids``: one query, the engine disposed of after."""
    async with ErasedLeads(database_url) as register:
        return {uuid.UUID(i) for i in await register.erased(str(i) for i in lead_ids)}
