"""``POST /privacy/exports`` on every service: what this service holds about one person, for
the ``privacy`` role (GDPR article 15, CCPA's right to know). ``./handoff privacy export``
asks all four and hands over one document.

The person is named in the body (an email, or a lead id), never in a URL, so no access log
holds it; the audit log records the export by lead id and row counts, never what was sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.erasures import current_lead_ids
from shared.access.roles import Role
from shared.db.personal_data import export_person
from shared.errors import InvalidInput
from shared.events.envelope import utcnow
from shared.identity import InvalidEmail
from shared.service.access import guarded_router, record_audit, requires
from shared.service.dependencies import Reading, resources_of
from shared.service.errors import error_responses


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "ada@acme.com"}]})

    email: str | None = Field(None, min_length=3, max_length=320, description="any spelling of the person's address")
    lead_id: uuid.UUID | None = Field(None, description="or the person's lead id")

    @model_validator(mode="after")
    def _one_of_them(self) -> PersonIn:
        if (self.email is None) == (self.lead_id is None):
            raise ValueError("give the person's email or their lead id, one of them")
        return self

    async def resolved(self, session: AsyncSession) -> uuid.UUID:
        """The lead id the person has now (after an erasure, their next generation's)."""
        if self.lead_id is not None:
            return self.lead_id
        email = self.email or ""
        try:
            return (await current_lead_ids(session, [email]))[email]
        except InvalidEmail as exc:
            raise InvalidInput([("email", str(exc))]) from None


class ServiceExport(BaseModel):
    service: str
    lead_id: uuid.UUID
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="every row of this service's schema about the person, by table; tables without any left out")


def privacy_router(metadata: MetaData) -> APIRouter:
    """The export route over this service's own schema (its tables found from ``metadata``)."""
    router = guarded_router(tags=["privacy"])

    @router.post("/privacy/exports", response_model=ServiceExport, dependencies=[requires(Role.privacy)],
                 responses=error_responses(400, 401, 403, 413, 422, 503),
                 summary="Everything this service holds about a person (privacy role)")
    async def export(person: PersonIn, session: Reading, request: Request) -> ServiceExport:
        lead_id = await person.resolved(session)
        tables = await export_person(session, metadata, lead_id)
        record_audit(request, request_body={"lead_id": str(lead_id)},
                     after={"rows": {name: len(rows) for name, rows in tables.items()}})
        return ServiceExport(service=resources_of(request).runtime.service, lead_id=lead_id, exported_at=utcnow(),
                             tables=tables)

    return router
