"""A submission as the pipeline carries it: the validated fields of a form post or an
activity, normalised into the event that leaves intake (pure)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson

from services.intake.domain.normalise import clean_text, code, normalise_phone, normalise_utm
from shared.events.payloads import ActivityRecorded, LeadCaptured
from shared.identity import email_domain, host_of

Kind = Literal["lead", "activity"]


def request_hash(fields: dict[str, Any]) -> str:
    """The same fields in any key order hash the same: an idempotent retry is recognised."""
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def lead_captured(fields: dict[str, Any], *, submission_id: uuid.UUID, source: str) -> LeadCaptured:
    """``fields``: a validated lead form (email already normalised)."""
    email = fields["email"]
    return LeadCaptured(
        submission_id=submission_id,
        source=source,
        email=email,
        first_name=clean_text(fields.get("first_name")),
        last_name=clean_text(fields.get("last_name")),
        company=clean_text(fields.get("company")),
        company_domain=host_of(fields.get("company_domain")) or email_domain(email),
        job_title=clean_text(fields.get("job_title")),
        phone=normalise_phone(fields.get("phone")),
        country=code(fields.get("country")),
        region=clean_text(fields.get("region")),
        state=code(fields.get("state")),
        company_size=fields.get("company_size"),
        industry=clean_text(fields.get("industry")),
        utm=normalise_utm(fields),
        attributes=fields.get("attributes") or {},
    )


def activity_recorded(fields: dict[str, Any], *, submission_id: uuid.UUID, source: str,
                      now: datetime) -> ActivityRecorded:
    """``fields``: a validated activity (email already normalised); no time given means now."""
    return ActivityRecorded(
        submission_id=submission_id,
        source=source,
        email=fields["email"],
        activity_type=fields["activity_type"],
        occurred_at=fields.get("occurred_at") or now,
        detail=fields.get("detail") or {},
    )
