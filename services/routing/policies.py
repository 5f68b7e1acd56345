"""Which routing policy is in force (a versioned store over routing.policies), and
policies derived from it when RevOps changes an owner or a team through the API:
every change is a new version, so each decision names the exact rules it used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.policy import RoutingPolicy, parse_policy
from services.routing.tables import policies
from shared.db.versioned_store import VersionedStore

PolicyStore = VersionedStore[RoutingPolicy]


def policy_store(sessions: async_sessionmaker[AsyncSession], seed: RoutingPolicy) -> PolicyStore:
    return VersionedStore(sessions, policies, seed=seed, parse=parse_policy, lock_key=0x20_0_7F)


def derive(policy: RoutingPolicy, change: Callable[[dict[str, Any]], None], version: str) -> RoutingPolicy:
    """A new version of ``policy`` with ``change`` applied to its document; validated like a file."""
    body = policy.model_dump(mode="json")
    change(body)
    body["version"] = version
    return RoutingPolicy.model_validate(body)


def next_version(policy: RoutingPolicy, published_count: int) -> str:
    """'2026-11-30.1' -> '2026-11-30.1+api.7': the reviewed base, and how many publications since."""
    return f"{policy.version.split('+api.')[0]}+api.{published_count + 1}"
