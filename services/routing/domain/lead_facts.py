"""The lead as routing sees it: what scoring told us, read defensively (numbers given as
text are read, a value of the wrong kind is missing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events.payloads import LeadProfile
from shared.identity import email_domain as domain_of_email


def facts_record(profile: LeadProfile, *, source: str | None, score: int, grade: str | None) -> dict[str, Any]:
    """What routing keeps of a scored lead to decide on (and to decide again later), as plain data."""
    record = {**profile.model_dump(), "source": source, "score": score, "grade": grade}
    return {k: v for k, v in record.items() if v is not None}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class LeadFacts:
    """What routing knows about a lead; everything but the id may be missing."""

    lead_id: str
    email: str | None = None
    email_domain: str | None = None
    company_domain: str | None = None
    country: str | None = None
    region: str | None = None
    state: str | None = None
    industry: str | None = None
    company_size: int | None = None
    source: str | None = None
    score: int | None = None
    grade: str | None = None

    @classmethod
    def from_attributes(cls, lead_id: Any, attributes: dict[str, Any] | None = None, **overrides: Any
                        ) -> LeadFacts:
        """From a profile or event attributes dict; keyword arguments win over the dict.

        ``email_domain`` defaults to the part of ``email`` after the @; ``company_domain`` may also be
        given as ``domain`` or ``website``; countries are upper-cased; numbers given as text are read.
        """
        data = {**(attributes or {}), **{k: v for k, v in overrides.items() if v is not None}}
        unknown = set(overrides) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown lead facts: {', '.join(sorted(unknown))}")
        email = _text(data.get("email"))
        email_domain = _text(data.get("email_domain"))
        if email_domain is None and email and "@" in email:
            email_domain = domain_of_email(email)
        country = _text(data.get("country"))
        return cls(
            lead_id=str(lead_id),
            email=email,
            email_domain=email_domain.lower() if email_domain else None,
            company_domain=_text(data.get("company_domain") or data.get("domain") or data.get("website")),
            country=country.upper() if country else None,
            region=_text(data.get("region")),
            state=_text(data.get("state")),
            industry=_text(data.get("industry")),
            company_size=_int(data.get("company_size")),
            source=_text(data.get("source")),
            score=_int(data.get("score")),
            grade=_text(data.get("grade")),
        )

