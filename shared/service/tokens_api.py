"""``/access/tokens``: RevOps creates, lists and revokes the installation's tokens. A new
token's value is in the answer to its creation, and nowhere else ever again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.access.roles import DESCRIPTIONS, Role
from shared.access.store import TokenInfo, TokenStore
from shared.events.envelope import utcnow
from shared.observability.metrics import after_commit
from shared.service.access import RevOps, guarded_router, record_before
from shared.service.dependencies import Reading, Transaction, resources_of
from shared.service.errors import error_responses

router = guarded_router(tags=["access"])
TokenName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
ROLES_HELP = "; ".join(f"{role.value}: {text}" for role, text in DESCRIPTIONS.items())


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                      description="who holds it (a person or a system); recorded as who acted")
    roles: list[Role] = Field(min_length=1, max_length=len(Role), description=ROLES_HELP)
    source: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                               description="for the source role: the one source it posts for")
    expires_at: AwareDatetime | None = Field(None, description="when it stops working; none: until revoked")


class TokenView(BaseModel):
    token_id: str
    name: str
    roles: list[str]
    source: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenView:
        return cls(**{**info.__dict__, "token_id": str(info.token_id)})


class TokenCreated(TokenView):
    token: str = Field(description="the token's value: shown this once, stored only as a hash")


@router.get("/access/tokens", response_model=list[TokenView], responses=error_responses(401, 403, 503),
            summary="The live tokens: names, roles, creation, last use and expiry (never their values)")
async def list_tokens(actor: RevOps, session: Reading) -> list[TokenView]:
    return [TokenView.of(t) for t in await TokenStore(session).list()]


@router.post("/access/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated,
             responses=error_responses(400, 401, 403, 409, 413, 422, 503),
             summary="Create a token with one or more roles; its value is shown once, in this answer")
async def create_token(body: TokenIn, actor: RevOps, session: Transaction) -> TokenCreated:
    value, info = await TokenStore(session).create(name=body.name, roles=frozenset(body.roles), source=body.source,
                                                   expires_at=body.expires_at, created_by=actor, now=utcnow())
    return TokenCreated(**TokenView.of(info).model_dump(), token=value)


@router.delete("/access/tokens/{name}", response_model=TokenView, responses=error_responses(401, 403, 404, 422, 503),
               summary="Revoke a token: it stops working at once here, within 30 s everywhere")
async def revoke_token(name: TokenName, actor: RevOps, session: Transaction, request: Request) -> TokenView:
    info = await TokenStore(session).revoke(name, utcnow())
    record_before(request, {**TokenView.of(info).model_dump(mode="json"), "revoked_at": None})
    after_commit(session, resources_of(request).runtime.callers.forget)  # this process: at once
    return TokenView.of(info)
