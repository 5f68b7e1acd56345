"""Declaring access: a route that says nothing of who may call it cannot be served, and the
Authorization header is read as RFC 6750 says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import APIRouter, FastAPI
from starlette.requests import Request

from shared.access.roles import Role, parse_roles
from shared.access.store import check_new
from shared.access.tokens import new_token, token_hash, well_formed
from shared.errors import InvalidInput, Unauthorized
from shared.service.access import READERS, Access, guarded_router, presented_credential, public, undeclared_routes


def request(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


def test_a_route_without_a_declaration_is_found_and_a_declared_one_is_not():
    plain = APIRouter()
    guarded = guarded_router()

    @plain.get("/plain")
    def plain_route() -> None: ...

    @guarded.get("/forgotten")
    def forgotten() -> None: ...

    @guarded.get("/read", dependencies=[READERS])
    def read() -> None: ...

    @guarded.get("/open", dependencies=[public("nothing to hide")])
    def open_route() -> None: ...

    assert undeclared_routes([*plain.routes, *guarded.routes]) == ["['GET'] /plain", "['GET'] /forgotten"]
    assert guarded.routes[1].openapi_extra == {"x-handoff-access": {"roles": ["revops", "viewer"]}}
    app = FastAPI()  # an app keeps each included router whole: the check must look inside them
    app.include_router(plain)
    app.include_router(guarded)
    assert undeclared_routes(app.routes) == ["['GET'] /plain", "['GET'] /forgotten"]


def test_an_access_names_roles_or_why_it_is_public():
    with pytest.raises(ValueError, match="roles"):
        Access()


@pytest.mark.parametrize("header", ["Bearer {t}", "bearer {t}", "BEARER {t}", "  Bearer   {t} "])
def test_the_bearer_scheme_in_any_case(header):
    token = new_token()
    assert presented_credential(request({"Authorization": header.format(t=token)}), Access(frozenset({Role.viewer}))) \
        == token


@pytest.mark.parametrize("header", ["{t}", "Basic {t}", "Bearer", "Bearer ", "Token {t}", "Bearer sh0rt",
                                    "Bearer {t}\u00e9"])
def test_anything_else_is_401(header):
    with pytest.raises(Unauthorized):
        presented_credential(request({"Authorization": header.format(t=new_token())}),
                             Access(frozenset({Role.viewer})))


def test_x_api_key_only_where_the_route_takes_it():
    token = new_token()
    assert presented_credential(request({"X-API-Key": token}), Access(frozenset({Role.source}), api_key_header=True)) \
        == token
    with pytest.raises(Unauthorized, match="Bearer"):
        presented_credential(request({"X-API-Key": token}), Access(frozenset({Role.viewer})))


def test_tokens_are_random_and_kept_as_a_hash():
    a, b = new_token(), new_token()
    assert a != b and a.startswith("hnd_") and well_formed(a) and len(a) > 40
    assert token_hash(a) != token_hash(b) and len(token_hash(a)) == 64 and a not in token_hash(a)


def test_roles_parse_and_name_the_unknown():
    assert parse_roles("viewer, revops") == {Role.viewer, Role.revops}
    with pytest.raises(ValueError, match="'admin'"):
        parse_roles("admin")
    with pytest.raises(ValueError, match="at least one"):
        parse_roles(" , ")


def test_a_source_token_names_its_source_and_only_it_does():
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="source"):
        check_new("sync", frozenset({Role.source}), None, None, now)
    with pytest.raises(InvalidInput, match="source"):
        check_new("ada", frozenset({Role.viewer}), "web-form", None, now)
    with pytest.raises(InvalidInput, match="expires_at"):
        check_new("ada", frozenset({Role.viewer}), None, now - timedelta(seconds=1), now)
    check_new("sync", frozenset({Role.source}), "web-form", now + timedelta(days=1), now)
