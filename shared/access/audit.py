"""The audit log: who changed what, when, from where, and what it was before and after.

Rows are only ever added (``access_0003``'s trigger refuses UPDATE, DELETE and TRUNCATE).
Every service writes its changes here as they are answered (``shared.service.access``), and
the operator tool writes its own (tokens, replays). Secrets never enter it: any field named
like one (``token``, ``webhook_secret``, ``password``, ``api_key``) is ``"<redacted>"``, and a
body larger than ``MAX_KEPT_BYTES`` is kept as its size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.tables import audit

MAX_KEPT_BYTES = 64 * 1024
REDACTED = "<redacted>"
_SECRET_FIELD = re.compile(r"(^|_)(token|secret|password|api_?key|key|keys)$", re.IGNORECASE)


def without_secrets(value: Any) -> Any:
    """``value`` with every field named like a secret redacted, however deep."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_FIELD.search(k) else without_secrets(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def kept(value: Any) -> Any:
    """What the log keeps of a body: secrets out, and no more than ``MAX_KEPT_BYTES``."""
    if value is None:
        return None
    clean = without_secrets(value)
    size = len(orjson.dumps(clean, default=str, option=orjson.OPT_NON_STR_KEYS))
    return clean if size <= MAX_KEPT_BYTES else {"not_kept": f"{size} bytes, larger than {MAX_KEPT_BYTES}"}


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    roles: tuple[str, ...]
    service: str
    action: str
    status: int
    address: str | None = None
    target: dict[str, Any] = field(default_factory=dict)
    request: Any = None
    before: Any = None
    after: Any = None
    at: datetime | None = None
    audit_id: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {"actor": self.actor[:100], "roles": sorted(self.roles), "service": self.service,
                "action": self.action[:200], "status": self.status,
                "address": self.address[:64] if self.address else None,
                "target": _json(self.target),
                "request": _json(kept(self.request)), "before": _json(kept(self.before)),
                "after": _json(kept(self.after))}


def _json(value: Any) -> Any:
    return None if value is None else orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, entry: AuditEntry) -> None:
        await self._session.execute(insert(audit).values(**entry.as_row()))

    async def read(self, *, since: datetime | None = None, until: datetime | None = None,
                   actor: str | None = None, service: str | None = None, action: str | None = None,
                   before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first; ``before_id`` pages on (the smallest id of the page before)."""
        query = select(audit).order_by(audit.c.audit_id.desc()).limit(limit)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if until is not None:
            query = query.where(audit.c.at < until)
        if actor is not None:
            query = query.where(audit.c.actor == actor)
        if service is not None:
            query = query.where(audit.c.service == service)
        if action is not None:
            query = query.where(audit.c.action.contains(action, autoescape=True))
        if before_id is not None:
            query = query.where(audit.c.audit_id < before_id)
        rows = (await self._session.execute(query)).mappings().all()
        return [AuditEntry(actor=r["actor"], roles=tuple(r["roles"]), service=r["service"], action=r["action"],
                           status=r["status"], address=r["address"], target=r["target"], request=r["request"],
                           before=r["before"], after=r["after"], at=r["at"], audit_id=r["audit_id"])
                for r in rows]
