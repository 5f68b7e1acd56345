"""Accounts and their owners: a lead from an account's domain (or a subdomain) goes to the
account's owner while they are available."""

from __future__ import annotations

from services.routing.domain.accounts import is_free_mail, normalise_account_domain
from services.routing.domain.policy import RoutingPolicy
from services.routing.repository import RoutingRepository
from shared.errors import InvalidInput


async def put_account(repository: RoutingRepository, policy: RoutingPolicy, domain: str, *, owner_id: str,
                      name: str | None) -> str:
    """Create or change the account; returns its normalised domain."""
    normalised = normalise_account_domain(domain)
    if normalised is None:
        raise InvalidInput.one("path.domain", "not a domain")
    if is_free_mail(normalised, policy.free_mail):
        raise InvalidInput.one("path.domain", f"{normalised} is a free-mail domain; it never matches an account")
    if not policy.has_owner(owner_id):
        raise InvalidInput.one("owner_id", f"no owner {owner_id!r} in the policy")
    await repository.put_account(normalised, owner_id, name)
    return normalised
