"""New versions of the routing policy made from the active one, when RevOps changes an
owner or a team through the API: every change is a new version, so each decision names
the exact rules it used (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.routing.domain.policy import RoutingPolicy
from shared.reviewed_documents import DOCUMENT_VERSION_MAX

API_SUFFIX = "+api."


def derive(policy: RoutingPolicy, change: Callable[[dict[str, Any]], None], version: str) -> RoutingPolicy:
    """A new version of ``policy`` with ``change`` applied to its document; validated like a file
    (pydantic's ValidationError names the field)."""
    body = policy.model_dump(mode="json")
    change(body)
    body["version"] = version
    return RoutingPolicy.model_validate(body)


def next_version(policy: RoutingPolicy, published_count: int) -> str:
    """'2026-11-30.1' -> '2026-11-30.1+api.7': the reviewed base, and how many publications since."""
    suffix = f"{API_SUFFIX}{published_count + 1}"
    base = policy.version.split(API_SUFFIX)[0]
    return base[: DOCUMENT_VERSION_MAX - len(suffix)] + suffix
