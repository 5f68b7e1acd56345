"""Which lead definition is in force: a versioned store over scoring.definitions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.definition import LeadDefinition, parse_definition
from services.scoring.tables import definitions
from shared.db.versioned_store import VersionedStore

DefinitionStore = VersionedStore[LeadDefinition]


def definition_store(sessions: async_sessionmaker[AsyncSession], seed: LeadDefinition) -> DefinitionStore:
    return VersionedStore(sessions, definitions, seed=seed, parse=parse_definition, lock_key=0x5C0_12E)
