"""A document published in versions, one of them active: the lead definition, the
routing policy. Versions live in the service's database, which holds the truth; the
API publishes, and activates an earlier version again (a rollback: its text comes back
as a new publication that says which version it brings back).

The file in config/ seeds the first version and deploys new ones, under one rule that
never discards a publication unseen: a file whose version the database has not seen is
published at start only while the version in force came from a file. When the version
in force was published through the API (or is a rollback), such a file would silently
undo it, so the service refuses to start and says how to reconcile the two (export the
version in force, merge, or publish the file through the API). A file whose version is
known already changes nothing; when it is not the version in force, the start says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.engine import unit_of_work
from shared.reviewed_documents import DOCUMENT_VERSION_MAX

log = logging.getLogger(__name__)


class VersionedDocument(Protocol):
    """What the store needs of a document (a pydantic model with a ``version`` field has it)."""

    @property
    def version(self) -> str: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


T = TypeVar("T", bound=VersionedDocument)


FILE_PUBLISHER = "config file"
ROLLBACK_SUFFIX = "+rollback."


class VersionExists(ValueError):
    """A version is published once; change the version to publish a change."""


class FileBehindDatabase(Exception):
    """The file brings a new version, but the version in force was published through the API:
    deploying the file would discard it without anyone noticing."""


class CannotActivate(ValueError):
    """The version asked for is active already, or no longer valid under today's rules."""


def rollback_version(version: str, published_count: int) -> str:
    """'2026-11-30.1+api.3' -> '2026-11-30.1+rollback.8': its reviewed base, and how many
    publications there were."""
    suffix = f"{ROLLBACK_SUFFIX}{published_count + 1}"
    base = version.split("+")[0]
    return base[: DOCUMENT_VERSION_MAX - len(suffix)] + suffix


class VersionedStore(Generic[T]):
    """``table`` needs columns version, body (JSONB), published_at, published_by, active,
    rollback_of; ``seed_origin`` names the file the seed came from, ``api`` the path its
    versions are read at (for the messages that tell how to reconcile)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table, *, seed: T,
                 parse: Callable[[Any, str], T], lock_key: int, seed_origin: str = "the config file",
                 api: str = "/versions") -> None:
        self._sessions = sessions
        self._table = table
        self._seed = seed
        self._parse = parse
        self._lock_key = lock_key
        self._seed_origin = seed_origin
        self._api = api
        self.active: T = seed

    async def bootstrap(self) -> None:
        """Publish the file's version if it is new and may be (see the module's rule)."""
        t = self._table
        async with unit_of_work(self._sessions) as session:
            await self._lock(session)
            in_force = (await session.execute(
                select(t.c.version, t.c.published_by, t.c.published_at, t.c.rollback_of).where(t.c.active)
            )).first()
            known = await self._body(session, self._seed.version) is not None
            if not known and in_force is not None and in_force.published_by != FILE_PUBLISHER:
                how = "as a rollback" if in_force.rollback_of else "through the API"
                when = in_force.published_at.isoformat(timespec="minutes")
                raise FileBehindDatabase(
                    f"{self._seed_origin} brings version {self._seed.version!r}, but the version in force, "
                    f"{in_force.version!r}, was published {how} by {in_force.published_by} at "
                    f"{when} and is not in the file; starting would discard "
                    f"it. Export it (GET {self._api}/{in_force.version} with Accept: application/yaml), bring "
                    f"your change into it under a new version and deploy that file, or publish your file "
                    f"through the API (POST {self._api}) if it is meant to win")
            if not known:
                await self._activate(session, self._seed, published_by=FILE_PUBLISHER)
            elif in_force is not None and in_force.version != self._seed.version:
                log.warning("%s holds version %r, but the database's version in force is %r (published by %s): "
                            "the database wins; export %s/%s to bring the file up to date", self._seed_origin,
                            self._seed.version, in_force.version, in_force.published_by, self._api,
                            in_force.version)
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

    async def activate(self, version: str, published_by: str) -> T:
        """Bring ``version`` back: its text published again as a new version, recorded as a
        rollback of it. NotFound is the caller's (None); CannotActivate when it is in force or
        no longer valid."""
        t = self._table
        async with unit_of_work(self._sessions) as session:
            await self._lock(session)
            row = (await session.execute(select(t.c.body, t.c.active).where(t.c.version == version))).first()
            if row is None:
                raise LookupError(version)
            if row.active:
                raise CannotActivate(f"version {version!r} is the version in force already")
            count = (await session.execute(select(func.count()).select_from(t))).scalar_one()
            body = {**row.body, "version": rollback_version(version, count)}
            try:
                document = self._parse(body, f"version {version!r}")
            except ValueError as exc:
                raise CannotActivate(f"version {version!r} cannot be brought back: {exc}") from None
            await self._activate(session, document, published_by, rollback_of=version)
        self.active = document
        return document

    async def count(self) -> int:
        async with self._sessions() as session:
            return (await session.execute(select(func.count()).select_from(self._table))).scalar_one()

    async def versions(self) -> list[dict[str, Any]]:
        t = self._table
        async with self._sessions() as session:
            rows = (await session.execute(
                select(t.c.version, t.c.published_at, t.c.published_by, t.c.active, t.c.rollback_of)
                .order_by(t.c.published_at.desc(), t.c.version.desc())
            )).all()
        return [{"version": r.version, "published_at": r.published_at.isoformat(),
                 "published_by": r.published_by, "active": r.active, "rollback_of": r.rollback_of} for r in rows]

    async def get(self, version: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            return await self._body(session, version)

    async def _lock(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})

    async def _body(self, session: AsyncSession, version: str) -> dict[str, Any] | None:
        t = self._table
        return (await session.execute(select(t.c.body).where(t.c.version == version))).scalar_one_or_none()

    async def _activate(self, session: AsyncSession, document: T, published_by: str,
                        rollback_of: str | None = None) -> None:
        t = self._table
        await session.execute(update(t).where(t.c.active).values(active=False))
        await session.execute(t.insert().values(version=document.version, body=document.model_dump(mode="json"),
                                                published_by=published_by, active=True, rollback_of=rollback_of))
