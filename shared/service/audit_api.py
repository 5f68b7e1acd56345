"""``GET /audit``: the audit log for RevOps, newest first, filtered and paged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, Field

from shared.access.audit import AuditLog
from shared.service.access import RevOps, guarded_router
from shared.service.dependencies import Reading
from shared.service.errors import error_responses

router = guarded_router(tags=["access"])


class AuditView(BaseModel):
    audit_id: int
    at: datetime
    actor: str = Field(description="the token's name (cli:<user> for the command line)")
    roles: list[str]
    address: str | None = Field(description="the client's address, as the service saw it")
    service: str
    action: str = Field(description="method and route, e.g. 'PATCH /owners/{owner_id}'")
    target: dict[str, Any] = Field(description="the route's path parameters: which thing changed")
    status: int
    request: Any = Field(description="the body as sent, secrets redacted")
    before: Any = Field(description="the target before the change, where the route records it")
    after: Any = Field(description="the answer: the target after the change, secrets redacted")


class AuditPage(BaseModel):
    entries: list[AuditView]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page; none: the last")


Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


@router.get("/audit", response_model=AuditPage, responses=error_responses(401, 403, 422, 503),
            summary="Who changed what, when, from where, before and after (RevOps); newest first")
async def read_audit(actor_: RevOps, session: Reading,
                     since: Annotated[AwareDatetime | None, Query(description="from this time on")] = None,
                     until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
                     actor: Text = None, service: Text = None,
                     action: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                                         description="part of the action, e.g. /owners")] = None,
                     before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AuditPage:
    entries = await AuditLog(session).read(since=since, until=until, actor=actor, service=service, action=action,
                                           before_id=before_id, limit=limit)
    views = [AuditView.model_validate(e.__dict__) for e in entries]
    return AuditPage(entries=views, next_before_id=views[-1].audit_id if len(views) == limit else None)
