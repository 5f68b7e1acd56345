"""What intake's routes get through Depends: the posting source (its API key), and the
repository in the request's transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.intake.repository import SubmissionRepository
from services.intake.settings import IntakeSettings
from shared.errors import Unauthorized
from shared.service.auth import tokens_match
from shared.service.dependencies import Transaction, resources_of

source_bearer = HTTPBearer(auto_error=False, scheme_name="sourceKey",
                           description="The API key issued for your source, as 'Authorization: Bearer <key>'.")
source_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="sourceKeyHeader",
                             description="The same key in an X-API-Key header, for tools that cannot send a Bearer.")


def source_for_key(presented: str, settings: IntakeSettings) -> str | None:
    """The source whose key matches; every key is compared so timing reveals nothing."""
    match = None
    for source, secret in settings.api_keys.items():
        if tokens_match(presented, secret.get_secret_value()):
            match = source
    return match


def authenticated_source(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(source_bearer)],
    header_key: Annotated[str | None, Depends(source_header)],
) -> str:
    presented = bearer.credentials if bearer is not None else header_key
    settings = resources_of(request).runtime.settings
    assert isinstance(settings, IntakeSettings)
    source = source_for_key(presented, settings) if presented else None
    if source is None:
        raise Unauthorized("missing or unknown API key: send 'Authorization: Bearer <key>' issued for your source")
    return source


def submissions(session: Transaction) -> SubmissionRepository:
    return SubmissionRepository(session)


Source = Annotated[str, Depends(authenticated_source)]
Submissions = Annotated[SubmissionRepository, Depends(submissions)]
