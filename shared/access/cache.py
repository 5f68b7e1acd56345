"""Credentials recently looked up, so a busy token costs no statement per request.

A revocation reaches every replica within ``CACHE_SECONDS``; in the process that revoked it
(``forget``), at once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access.store import Caller, TokenStore
from shared.db.engine import autocommit
from shared.service.auth import tokens_match

CACHE_SECONDS = 30.0
CACHE_ENTRIES = 10_000


class CallerCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], static: Mapping[str, Caller]) -> None:
        self.sessions = sessions
        self.static = dict(static)
        self._known: dict[str, tuple[float, Caller]] = {}

    async def caller_for(self, presented: str) -> Caller | None:
        match: Caller | None = None
        for value, configured in self.static.items():  # every one compared: timing reveals nothing
            if tokens_match(presented, value):
                match = configured
        if match is not None:
            return match
        hit = self._known.get(presented)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        async with autocommit(self.sessions) as session:
            caller = await TokenStore(session).authenticate(presented, datetime.now(UTC))
        if caller is not None:
            if len(self._known) >= CACHE_ENTRIES:
                self._known.clear()
            self._known[presented] = (time.monotonic() + CACHE_SECONDS, caller)
        return caller

    def forget(self) -> None:
        """After a revocation in this process: it takes effect here at once."""
        self._known.clear()


