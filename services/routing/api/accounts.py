"""Accounts with owners: a lead from an account's domain goes to the account's owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from services.routing.api.dependencies import Reads, RouterDep, Writes
from services.routing.api.models import Account, AccountIn
from services.routing.domain.accounts import normalise_account_domain
from services.routing.use_cases.accounts import put_account
from shared.service.access import READERS, RevOps, guarded_router, record_before
from shared.service.errors import error_responses

router = guarded_router(tags=["accounts"])

DomainPath = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="a domain, a website or an email address", examples=["globex.example"])]


@router.get("/accounts", dependencies=[READERS], response_model=list[Account], responses=error_responses(503),
            summary="Every account and its owner")
async def list_accounts(reads: Reads) -> list[Account]:
    return [Account(domain=r.domain, owner_id=r.owner_id, name=r.name) for r in await reads.accounts()]


@router.put("/accounts/{domain:path}", response_model=Account,
            responses=error_responses(400, 401, 403, 413, 422, 503),
            summary="Name an account's owner (RevOps): leads from its domain and subdomains go to them")
async def put(domain: DomainPath, account: AccountIn, actor: RevOps, router: RouterDep, writes: Writes,
              request: Request) -> Account:
    if (known := normalise_account_domain(domain)) is not None:  # for the audit log: whose it was
        record_before(request, {"domain": known, "owner_id": (await writes.accounts_for([known])).get(known)})
    normalised = await put_account(writes, router.policy, domain, owner_id=account.owner_id, name=account.name)
    return Account(domain=normalised, owner_id=account.owner_id, name=account.name)
