"""The roles a credential can hold; each endpoint names the roles that may call it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    source = "source"
    crm = "crm"
    viewer = "viewer"
    revops = "revops"
    operator = "operator"
    privacy = "privacy"


DESCRIPTIONS: dict[Role, str] = {
    Role.source: "post leads and activities, for its own source only",
    Role.crm: "send outcome webhooks (signed with the shared secret)",
    Role.viewer: "read reports, timelines, scores and decisions",
    Role.revops: "publish definitions and policies; change owners, teams, accounts, parked outcomes; tokens",
    Role.operator: "the operator page and tools, dead letters",
    Role.privacy: "export and erase a person",
}

STAFF_ROLES = frozenset({Role.viewer, Role.revops, Role.operator, Role.privacy})
"""Roles of people (not of systems): what the local stack's admin token holds."""


def parse_roles(names: str | list[str]) -> frozenset[Role]:
    """'viewer,revops' or a list -> the roles; an unknown name is a ValueError naming it."""
    items = names.split(",") if isinstance(names, str) else names
    roles = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            roles.add(Role(item))
        except ValueError:
            raise ValueError(f"unknown role {item!r}; the roles are {', '.join(r.value for r in Role)}") from None
    if not roles:
        raise ValueError("at least one role is needed")
    return frozenset(roles)
