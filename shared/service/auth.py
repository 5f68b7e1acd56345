"""Who is calling: RevOps changes (publishing definitions and policies, owners, teams,
accounts, parked outcomes) need the service's admin token, sent as a Bearer token and
compared in constant time. Declared as an OpenAPI security scheme, so ``/docs`` can send it."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Forbidden, Unauthorized
from shared.service.dependencies import resources_of

admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="adminToken",
    description="The service's admin token (HANDOFF_<SERVICE>_ADMIN_TOKEN), as 'Authorization: Bearer <token>'.",
)


def tokens_match(presented: str, expected: str) -> bool:
    """Constant time in the length of ``expected``, whatever is presented."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def require_admin(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)]) -> str:
    """Who is acting, for the record; refuses without the service's admin token."""
    runtime = resources_of(request).runtime
    expected = runtime.settings.admin_token
    if expected is None:
        raise Forbidden(f"changes are disabled: set HANDOFF_{runtime.service.upper()}_ADMIN_TOKEN")
    if credentials is None or not tokens_match(credentials.credentials, expected.get_secret_value()):
        raise Unauthorized("this change needs the admin token: send 'Authorization: Bearer <token>'")
    return "api"


Admin = Annotated[str, Depends(require_admin)]
"""A route parameter that admits only the admin; its value names who acted."""
