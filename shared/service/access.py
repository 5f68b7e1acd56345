"""Every route says who may call it, and that is checked before its body is read.

A route declares its access with one dependency: ``Depends(Access(Role.viewer, Role.revops))``
(the caller's ``Caller`` is its value), or ``Depends(Access.public("why"))`` for the few
that anyone may reach (health, a web form's post with its publishable key, a signed
webhook). Routers are made with ``guarded_router``: its routes run the check before FastAPI
reads and validates the body, so a stranger learns nothing of a route's fields (401, not
422), and ``build_app`` refuses a route that declares nothing. Each operation's OpenAPI
entry carries its roles as ``x-handoff-access``, which the role-matrix test reads.

Credentials: ``Authorization: Bearer <token>`` (the scheme in any case, RFC 6750; a bare
token without it is refused), for source routes also ``X-API-Key``. A token is the
installation's (``shared.access.store``), or one the service's settings configure (intake's
per-source API keys). A looked-up token is remembered for a short while: a revocation
reaches every replica within that time (``shared.access.cache``).

A change by a person's role (``audited``) is written to the audit log once it is answered
well (``shared.access.audit``); its route may add what it was before (``record_before``) or
keep ids in place of bodies that hold personal data (``record_audit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer

from shared.access.roles import Role
from shared.access.store import Caller
from shared.access.tokens import well_formed
from shared.errors import Forbidden, Unauthorized
from shared.service.errors import error_responses
from shared.service.routes import api_routes

ACCESS_EXTENSION = "x-handoff-access"
log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, scheme_name="token", description=(
    "A Handoff token ('./handoff tokens create', or POST /access/tokens), as 'Authorization: Bearer <token>'."))
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="sourceKeyHeader",
                              description="A source's key in an X-API-Key header, for tools that cannot send "
                                          "a Bearer.")


@dataclass(frozen=True)
class Access:
    """The roles that may call a route (any one of them suffices), or why it is public."""

    roles: frozenset[Role] = frozenset()
    public_because: str | None = None
    api_key_header: bool = False

    def __post_init__(self) -> None:
        if not self.roles and self.public_because is None:
            raise ValueError("a route names the roles that may call it, or why it is public")

    def describe(self) -> dict[str, Any]:
        if self.public_because is not None:
            return {"public": self.public_because}
        return {"roles": sorted(r.value for r in self.roles)}


def _caller(request: Request) -> Caller:
    caller = getattr(request.state, "caller", None)
    return caller if caller is not None else Caller("anonymous", frozenset())


def requires(*roles: Role, api_key_header: bool = False) -> Any:
    """``caller: Annotated[Caller, requires(Role.revops)]``, or in ``dependencies=[...]``: the
    roles that may call the route; its value is the caller."""
    access = Access(frozenset(roles), api_key_header=api_key_header)
    if api_key_header:
        async def declared(request: Request, _bearer: Annotated[Any, Depends(bearer)],
                     _key: Annotated[Any, Depends(api_key_scheme)]) -> Caller:
            return _caller(request)
    else:
        async def declared(request: Request, _bearer: Annotated[Any, Depends(bearer)]) -> Caller:  # type: ignore[misc]
            return _caller(request)
    declared.access = access  # type: ignore[attr-defined]
    return Depends(declared)


def public(because: str) -> Any:
    """In ``dependencies=[...]``: anyone may call the route, for this reason (which the route
    itself makes true: a signature, a publishable key, nothing to hide)."""
    async def declared(request: Request) -> Caller:
        return _caller(request)
    declared.access = Access(public_because=because)  # type: ignore[attr-defined]
    return Depends(declared)


def declared_access(dependant: Dependant) -> Access | None:
    """The Access a route's dependencies declare (there must be exactly one)."""
    found = [getattr(d.call, "access", None) for d in _walk(dependant)]
    declared = {a for a in found if isinstance(a, Access)}
    if len(declared) > 1:
        raise ValueError(f"a route declares its access more than once: {declared}")
    return next(iter(declared), None)


def _walk(dependant: Dependant) -> list[Dependant]:
    out = []
    for d in dependant.dependencies:
        out.append(d)
        out.extend(_walk(d))
    return out


def presented_credential(request: Request, access: Access) -> str:
    """The token a request presents; 401 naming what is wrong when there is none, or it is malformed."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
    elif access.api_key_header and request.headers.get("x-api-key"):
        token = request.headers["x-api-key"].strip()
    else:
        how = "'Authorization: Bearer <token>'" + (" or 'X-API-Key: <key>'" if access.api_key_header else "")
        raise Unauthorized(f"this needs a credential: send {how}")
    if not well_formed(token):
        raise Unauthorized("the credential is not a token Handoff issued (16 to 200 token characters)")
    return token


async def authorize(request: Request, access: Access) -> None:
    if access.public_because is not None:
        return
    from shared.service.dependencies import resources_of
    token = presented_credential(request, access)
    caller = await resources_of(request).runtime.callers.caller_for(token)
    if caller is None:
        raise Unauthorized("unknown, expired or revoked credential")
    if not caller.roles & access.roles:
        raise Forbidden(f"{caller.name!r} may not do this: it needs the role "
                        f"{' or '.join(sorted(r.value for r in access.roles))}")
    request.state.caller = caller


class GuardedRoute(APIRoute):
    """An APIRoute whose access is checked before the body is read and validated."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.access = declared_access(self.dependant)
        if self.access is not None and self.access.roles:  # what the guard answers, documented
            responses = dict(kwargs.get("responses") or {})
            missing = {s: e for s, e in error_responses(401, 403, 503).items() if s not in responses}
            if missing:
                kwargs["responses"] = {**responses, **missing}
                super().__init__(path, endpoint, **kwargs)
        if self.access is not None:
            described = {**self.access.describe(), **({"audited": True} if self.audited else {})}
            self.openapi_extra = {**(self.openapi_extra or {}), ACCESS_EXTENSION: described}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        access = declared_access(self.dependant)
        if access is None:
            return handler

        if not audited(access, self.methods):
            async def guarded(request: Request) -> Response:
                await authorize(request, access)
                return await handler(request)
            return guarded

        async def guarded_and_audited(request: Request) -> Response:
            await authorize(request, access)
            response = await handler(request)
            if response.status_code < 400:
                await audit_change(request, response, self)
            return response
        return guarded_and_audited

    @property
    def audited(self) -> bool:
        return self.access is not None and audited(self.access, self.methods)


CHANGE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_ROLES = frozenset({Role.revops, Role.operator, Role.privacy})
READING_ROLES = frozenset({Role.viewer})
"""A route a viewer may call is a read, even when it takes a POST (a preview, a simulation)."""


def audited(access: Access, methods: set[str] | None) -> bool:
    """A change by a person's role (RevOps, an operator, privacy) is written to the audit log;
    reads, and what sources, CRMs and the public send, are not."""
    return (bool((methods or set()) & CHANGE_METHODS) and bool(access.roles & AUDITED_ROLES)
            and not access.roles & READING_ROLES)


def record_before(request: Request, state: Any) -> None:
    """What a change's target was before it: the audit log keeps it beside the answer (after)."""
    request.state.audit_before = state


def record_audit(request: Request, *, request_body: Any, after: Any) -> None:
    """What the audit log keeps instead of the request and the answer, for routes whose bodies
    hold personal data (an export, an erasure): ids and counts."""
    request.state.audit_request = request_body
    request.state.audit_after = after


async def audit_change(request: Request, response: Response, route: GuardedRoute) -> None:
    """Written once the change is committed and answered well. If the log cannot be written the
    change stands and the loss is logged (ids only): refusing now would invite a retry of a
    change that is already made."""
    from shared.access.audit import AuditEntry, AuditLog
    from shared.db.engine import unit_of_work
    from shared.observability.redaction import describe_error
    from shared.service.dependencies import resources_of

    caller = _caller(request)
    runtime = resources_of(request).runtime
    entry = AuditEntry(
        actor=caller.name, roles=tuple(sorted(r.value for r in caller.roles)), service=runtime.service,
        action=f"{request.method} {route.path}", status=response.status_code,
        address=request.client.host if request.client else None, target=dict(request.path_params),
        request=(request.state.audit_request if hasattr(request.state, "audit_request")
                 else _json_or_none(await request.body())),
        before=getattr(request.state, "audit_before", None),
        after=(request.state.audit_after if hasattr(request.state, "audit_after")
               else _json_or_none(bytes(response.body)) if hasattr(response, "body") else None))
    try:
        async with unit_of_work(runtime.sessions) as session:
            await AuditLog(session).record(entry)
    except Exception as exc:  # the change is made; say loudly that its record is not
        log.error("audit entry lost for %s %s by %s: %s", request.method, route.path, caller.name,
                  describe_error(exc))


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"not_json": f"{len(body)} bytes"}


def guarded_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=GuardedRoute, **kwargs)


def undeclared_routes(routes: list[Any]) -> list[str]:
    """The API routes that say nothing of who may call them (an app with any does not start)."""
    return [f"{sorted(r.methods or ())} {r.path}" for r in api_routes(routes)
            if not isinstance(r, GuardedRoute) or r.access is None]


def acting(*roles: Role) -> Any:
    """Like ``requires``, with the caller's name as the value: who acted, for the record."""
    declared = requires(*roles)

    async def name(caller: Caller = declared) -> str:
        return caller.name
    return Depends(name)


RevOps = Annotated[str, acting(Role.revops)]
"""A route parameter that admits only RevOps; its value names who acted (the token's name)."""
READERS = requires(Role.viewer, Role.revops)
"""``dependencies=[READERS]``: reports, timelines, scores, decisions, the rules in force."""
OPERATORS = requires(Role.operator)
"""``dependencies=[OPERATORS]``: the operator page and its figures."""
