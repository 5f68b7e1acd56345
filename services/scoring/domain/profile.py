"""A person's profile as scoring keeps it: what each submission says, merged (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events.payloads import LeadCaptured, LeadProfile
from shared.identity import email_domain

PROFILE_FIELDS = ("first_name", "last_name", "company", "company_domain", "job_title", "phone",
                  "country", "region", "state", "company_size", "industry")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def profile_of(captured: LeadCaptured) -> dict[str, Any]:
    """The submission as scoring sees it: fields, UTM, custom attributes, email domain."""
    profile: dict[str, Any] = dict(_free_form(captured.attributes))
    profile.update({name: getattr(captured, name) for name in PROFILE_FIELDS})
    profile.update(captured.utm)
    profile["email"] = captured.email
    profile["email_domain"] = email_domain(captured.email)
    profile["source"] = captured.source
    return {k: v for k, v in profile.items() if not _empty(v)}


def _free_form(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Custom attributes, without any that would stand in for a validated field. Intake
    refuses those; events written before it did may still carry them."""
    return {key: value for key, value in attributes.items() if key not in _VALIDATED}


_VALIDATED = frozenset({*PROFILE_FIELDS, "email", "email_domain", "source", "utm_source", "utm_medium",
                        "utm_campaign", "utm_term", "utm_content"})


def merge_profile(current: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """A later submission's non-empty values win; empty ones never erase what we knew."""
    merged = dict(current)
    for key, value in submitted.items():
        if not _empty(value):
            merged[key] = value
    return merged


def routing_profile(profile: Mapping[str, Any]) -> LeadProfile:
    """The part of the profile routing decides on, typed; a value of the wrong kind is left out."""
    def text(name: str) -> str | None:
        value = profile.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None
        return str(value).strip() or None

    size = profile.get("company_size")
    return LeadProfile(
        company=text("company"), company_domain=text("company_domain"), email_domain=text("email_domain"),
        job_title=text("job_title"), country=text("country"), region=text("region"), state=text("state"),
        company_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        industry=text("industry"),
    )
