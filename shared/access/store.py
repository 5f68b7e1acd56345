"""The credentials in the ``access`` schema: create, list, revoke, and authenticate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.roles import Role
from shared.access.tables import tokens
from shared.access.tokens import new_token, token_hash
from shared.errors import Conflict, InvalidInput, NotFound

TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, not on every request."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: a credential's name (what ``published_by`` and the audit record) and roles."""

    name: str
    roles: frozenset[Role]
    source: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    token_id: uuid.UUID
    name: str
    roles: list[str]
    source: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def check_new(name: str, roles: frozenset[Role], source: str | None, expires_at: datetime | None,
              now: datetime) -> None:
    problems = []
    if not name or len(name) > 100 or not name.isprintable():
        problems.append(("name", "1 to 100 printable characters"))
    if Role.source in roles and not source:
        problems.append(("source", "a token with the source role posts for one source: name it"))
    if source is not None and Role.source not in roles:
        problems.append(("source", "only a token with the source role has a source"))
    if source is not None and not (0 < len(source) <= 100):
        problems.append(("source", "1 to 100 characters"))
    if expires_at is not None and expires_at <= now:
        problems.append(("expires_at", "must be in the future"))
    if problems:
        raise InvalidInput(problems)


class TokenStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, name: str, roles: frozenset[Role], created_by: str, now: datetime,
                     source: str | None = None, expires_at: datetime | None = None,
                     token: str | None = None) -> tuple[str, TokenInfo]:
        """A new token (or ``token``, for a stack that keeps its own); its value is returned once."""
        check_new(name, roles, source, expires_at, now)
        value = token or new_token()
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(insert(tokens).values(
                    token_id=uuid.uuid4(), name=name, roles=sorted(r.value for r in roles), source=source,
                    token_hash=token_hash(value), created_by=created_by, created_at=now, expires_at=expires_at,
                ).returning(*tokens.c))).one()
        except IntegrityError:
            raise Conflict(f"a live token named {name!r} exists; revoke it first or choose another name") from None
        return value, TokenInfo(**{k: v for k, v in row._mapping.items() if k != "token_hash"})

    async def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        query = select(*(c for c in tokens.c if c.name != "token_hash")).order_by(tokens.c.created_at)
        if not include_revoked:
            query = query.where(tokens.c.revoked_at.is_(None))
        return [TokenInfo(**row._mapping) for row in (await self.session.execute(query)).all()]

    async def named(self, name: str) -> TokenInfo | None:
        return next((t for t in await self.list() if t.name == name), None)

    async def revoke(self, name: str, now: datetime) -> TokenInfo:
        row = (await self.session.execute(
            update(tokens).where(tokens.c.name == name, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
            .returning(*(c for c in tokens.c if c.name != "token_hash")))).first()
        if row is None:
            raise NotFound(f"no live token named {name!r}")
        return TokenInfo(**row._mapping)

    async def authenticate(self, presented: str, now: datetime) -> Caller | None:
        """The live, unexpired token with this value, its last use noted (at most once a minute)."""
        t = tokens.c
        live = (t.token_hash == token_hash(presented), t.revoked_at.is_(None),
                or_(t.expires_at.is_(None), t.expires_at > now))
        row = (await self.session.execute(
            update(tokens).where(*live, or_(t.last_used_at.is_(None), t.last_used_at < now - TOUCH_EVERY))
            .values(last_used_at=now).returning(t.name, t.roles, t.source))).first()
        if row is None:  # used within the minute, or unknown
            row = (await self.session.execute(select(t.name, t.roles, t.source).where(*live))).first()
        if row is None:
            return None
        return Caller(row.name, frozenset(Role(r) for r in row.roles if r in Role._value2member_map_), row.source)


async def ensure_tokens(session: AsyncSession, wanted: dict[str, tuple[str, frozenset[Role]]], *,
                        created_by: str, now: datetime) -> list[str]:
    """Make the live tokens of these names exactly these values and roles (a local stack keeps
    its own in its state dir); the names created or replaced."""
    changed = []
    for name, (value, roles) in sorted(wanted.items()):
        row = (await session.execute(select(tokens.c.token_hash, tokens.c.roles).where(
            tokens.c.name == name, tokens.c.revoked_at.is_(None)))).first()
        if row is not None and row.token_hash == token_hash(value) and set(row.roles) == {r.value for r in roles}:
            continue
        store = TokenStore(session)
        if row is not None:
            await store.revoke(name, now)
        await store.create(name=name, roles=roles, created_by=created_by, now=now, token=value)
        changed.append(name)
    return changed
