"""Which lead definition is in force: versions live in the database.

The file in config/ seeds the first version and deploys new ones (a file whose
version the database has not seen is published at start); the API publishes too.
The newest publication wins, whichever way it came.
"""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.definition import LeadDefinition, parse_definition
from services.scoring.tables import definitions
from shared.db.engine import unit_of_work

_PUBLISH_LOCK = 0x5C0_12E  # one publication at a time, across replicas


class VersionExists(ValueError):
    """A definition version is published once; change the version to publish a change."""


class DefinitionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], seed: LeadDefinition) -> None:
        self._sessions = sessions
        self._seed = seed
        self.active: LeadDefinition = seed

    async def bootstrap(self) -> None:
        async with unit_of_work(self._sessions) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
            known = (await session.execute(
                select(definitions.c.version).where(definitions.c.version == self._seed.version)
            )).first()
            if known is None:
                await self._activate(session, self._seed, published_by="config file")
        await self.refresh()

    async def refresh(self) -> bool:
        """Load the active version if another replica or request changed it."""
        async with self._sessions() as session:
            row = (await session.execute(
                select(definitions.c.version, definitions.c.body).where(definitions.c.active)
            )).first()
        if row is None or row.version == self.active.version:
            return False
        self.active = parse_definition(row.body, origin=f"stored definition {row.version}")
        return True

    async def publish(self, definition: LeadDefinition, published_by: str) -> None:
        async with unit_of_work(self._sessions) as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
            exists = (await session.execute(
                select(definitions.c.version).where(definitions.c.version == definition.version)
            )).first()
            if exists is not None:
                raise VersionExists(f"version {definition.version!r} is already published; "
                                    "give the changed definition a new version")
            await self._activate(session, definition, published_by)
        self.active = definition

    async def versions(self) -> list[dict]:
        async with self._sessions() as session:
            rows = (await session.execute(
                select(definitions.c.version, definitions.c.published_at, definitions.c.published_by,
                       definitions.c.active).order_by(definitions.c.published_at.desc())
            )).all()
        return [{"version": r.version, "published_at": r.published_at.isoformat(),
                 "published_by": r.published_by, "active": r.active} for r in rows]

    async def get(self, version: str) -> dict | None:
        async with self._sessions() as session:
            return (await session.execute(
                select(definitions.c.body).where(definitions.c.version == version)
            )).scalar_one_or_none()

    @staticmethod
    async def _activate(session: AsyncSession, definition: LeadDefinition, published_by: str) -> None:
        await session.execute(update(definitions).where(definitions.c.active).values(active=False))
        await session.execute(definitions.insert().values(
            version=definition.version, body=definition.model_dump(mode="json"),
            published_by=published_by, active=True,
        ))
