"""RevOps actions (publishing definitions and policies, changing owners) need the
admin token; compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from shared.service.app import runtime_of


def require_admin(request: Request) -> str:
    """Who is acting, for the record; refuses without the service's admin token."""
    settings = runtime_of(request).settings
    if settings.admin_token is None:
        prefix = f"HANDOFF_{runtime_of(request).service.upper()}_ADMIN_TOKEN"
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"changes are disabled: set {prefix}")
    presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(presented.encode(), settings.admin_token.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="this change needs the admin token",
                            headers={"WWW-Authenticate": "Bearer"})
    return "api"
