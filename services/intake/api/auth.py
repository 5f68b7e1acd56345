"""Per-source API keys, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Header, HTTPException, Request, status

from services.intake.settings import IntakeSettings


def source_for_key(presented: str, api_keys: dict) -> str | None:
    """The source whose key matches; every key is compared so timing reveals nothing."""
    match = None
    for source, secret in api_keys.items():
        if hmac.compare_digest(presented.encode(), secret.get_secret_value().encode()):
            match = source
    return match


async def authenticated_source(
    request: Request,
    authorization: str | None = Header(None, description="Bearer <source API key>"),
    x_api_key: str | None = Header(None, description="alternative to Authorization"),
) -> str:
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    settings: IntakeSettings = request.app.state.runtime.settings
    source = source_for_key(presented, settings.api_keys) if presented else None
    if source is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or unknown API key: send 'Authorization: Bearer <key>' issued for your source",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return source
