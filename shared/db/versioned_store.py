"""A document published in versions, one of them active: the lead definition, the
routing policy. Versions live in the service's database; the file in config/ seeds
the first and deploys new ones (a file whose version the database has not seen is
published at start); the API publishes too. The newest publication wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.engine import unit_of_work


class VersionedDocument(Protocol):
    """What the store needs of a document (a pydantic model with a ``version`` field has it)."""

    @property
    def version(self) -> str: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


T = TypeVar("T", bound=VersionedDocument)


class VersionExists(ValueError):
    """A version is published once; change the version to publish a change."""


class VersionedStore(Generic[T]):
    """``table`` needs columns version, body (JSONB), published_at, published_by, active."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table, *, seed: T,
                 parse: Callable[[Any, str], T], lock_key: int) -> None:
        self._sessions = sessions
        self._table = table
        self._seed = seed
        self._parse = parse
        self._lock_key = lock_key
        self.active: T = seed

    async def bootstrap(self) -> None:
        async with unit_of_work(self._sessions) as session:
            await self._lock(session)
            if await self._body(session, self._seed.version) is None:
                await self._activate(session, self._seed, published_by="config file")
        await self.refresh()

    async def refresh(self) -> bool:
        """Load the active version if another replica or request changed it."""
        t = self._table
        async with self._sessions() as session:
            row = (await session.execute(select(t.c.version, t.c.body).where(t.c.active))).first()
        if row is None or row.version == self.active.version:
            return False
        self.active = self._parse(row.body, f"stored version {row.version}")
        return True

    async def publish(self, document: T, published_by: str) -> None:
        async with unit_of_work(self._sessions) as session:
            await self._lock(session)
            if await self._body(session, document.version) is not None:
                raise VersionExists(f"version {document.version!r} is already published; "
                                    "give the changed document a new version")
            await self._activate(session, document, published_by)
        self.active = document

    async def count(self) -> int:
        async with self._sessions() as session:
            return (await session.execute(select(func.count()).select_from(self._table))).scalar_one()

    async def versions(self) -> list[dict[str, Any]]:
        t = self._table
        async with self._sessions() as session:
            rows = (await session.execute(
                select(t.c.version, t.c.published_at, t.c.published_by, t.c.active)
                .order_by(t.c.published_at.desc())
            )).all()
        return [{"version": r.version, "published_at": r.published_at.isoformat(),
                 "published_by": r.published_by, "active": r.active} for r in rows]

    async def get(self, version: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            return await self._body(session, version)

    async def _lock(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})

    async def _body(self, session: AsyncSession, version: str) -> dict[str, Any] | None:
        t = self._table
        return (await session.execute(select(t.c.body).where(t.c.version == version))).scalar_one_or_none()

    async def _activate(self, session: AsyncSession, document: T, published_by: str) -> None:
        t = self._table
        await session.execute(update(t).where(t.c.active).values(active=False))
        await session.execute(t.insert().values(version=document.version, body=document.model_dump(mode="json"),
                                                published_by=published_by, active=True))
