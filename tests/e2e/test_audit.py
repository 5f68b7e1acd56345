"""The audit log: each change by a person's role is recorded with who, when, from where, the
request, before and after; reads and refused requests are not; secrets never enter it; the
database refuses to change or delete what is recorded; RevOps reads it through the API and
the operator tool."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from ops.cli import app as ops_app
from ops.tokens import app as tokens_app


def client(stack, service: str, role: str) -> httpx.Client:
    token = stack.secrets.role_tokens[role]
    return httpx.Client(base_url=stack.urls[service], timeout=10, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def revops(stack) -> Iterator[dict[str, httpx.Client]]:
    clients = {service: client(stack, service, "revops") for service in ("routing", "feedback")}
    yield clients
    for c in clients.values():
        c.close()


def audit(feedback: httpx.Client, **filters: str | int) -> list[dict]:
    response = feedback.get("/audit", params=filters)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def test_a_change_is_recorded_with_who_when_where_request_before_and_after(stack, revops):
    routing, feedback = revops["routing"], revops["feedback"]
    owner = routing.get("/owners").json()[0]["id"]
    team = f"audit-{uuid.uuid4().hex[:8]}"
    assert routing.post("/teams", json={"id": team, "name": "Audit one", "members": [owner]}).status_code == 201
    changed = routing.patch(f"/teams/{team}", json={"name": "Audit two"})
    assert changed.status_code == 200, changed.text

    [entry] = [e for e in audit(feedback, action="/teams/{team_id}") if e["target"] == {"team_id": team}]
    assert (entry["actor"], entry["roles"], entry["address"], entry["service"], entry["status"]) == (
        "local-revops", ["revops"], "127.0.0.1", "routing", 200)
    assert entry["action"] == "PATCH /teams/{team_id}" and entry["request"] == {"name": "Audit two"}
    assert entry["before"]["team"]["name"] == "Audit one" and entry["after"]["team"]["name"] == "Audit two"
    assert entry["before"]["policy_version"] != entry["after"]["policy_version"] == changed.json()["policy_version"]
    [created] = [e for e in audit(feedback, action="POST /teams") if (e["request"] or {}).get("id") == team]
    assert created["audit_id"] < entry["audit_id"] and created["status"] == 201


def test_an_accounts_new_owner_is_recorded_with_its_previous_one(stack, revops):
    routing, feedback = revops["routing"], revops["feedback"]
    first, second = [o["id"] for o in routing.get("/owners").json()[:2]]
    domain = f"audit-{uuid.uuid4().hex[:8]}.example"
    for owner in (first, second):
        assert routing.put(f"/accounts/{domain}", json={"owner_id": owner}).status_code == 200
    made, moved = sorted((e for e in audit(feedback, action="/accounts/") if e["target"] == {"domain": domain}),
                         key=lambda e: e["audit_id"])
    assert (made["before"], made["after"]["owner_id"]) == ({"domain": domain, "owner_id": None}, first)
    assert (moved["before"]["owner_id"], moved["after"]["owner_id"]) == (first, second)


def test_reads_and_refused_changes_are_not_recorded(stack, revops):
    routing, feedback = revops["routing"], revops["feedback"]
    newest = audit(feedback, limit=1)
    mark = newest[0]["audit_id"] if newest else 0
    with client(stack, "routing", "viewer") as viewer:
        assert viewer.post("/policies/preview?sample_size=1", json={}).status_code in (200, 422)  # a read by POST
        assert viewer.post("/teams", json={"id": "nope", "name": "x", "members": ["x"]}).status_code == 403
    assert routing.patch("/teams/no-such-team", json={"name": "x"}).status_code == 404
    assert routing.post("/teams", json={"id": "Bad Id"}).status_code == 422
    assert [e for e in audit(feedback, limit=50) if e["audit_id"] > mark] == []


def test_secrets_never_enter_the_log(stack, revops):
    feedback = revops["feedback"]
    name = f"audit-token-{uuid.uuid4().hex[:8]}"
    created = feedback.post("/access/tokens", json={"name": name, "roles": ["viewer"]})
    assert created.status_code == 201
    value = created.json()["token"]
    assert feedback.delete(f"/access/tokens/{name}").status_code == 200

    raw = feedback.get("/audit", params={"action": "/access/tokens"}).text
    assert value not in raw
    entries = [e for e in audit(feedback, action="/access/tokens") if name in str(e["target"]) + str(e["request"])]
    assert {e["action"] for e in entries} == {"POST /access/tokens", "DELETE /access/tokens/{name}"}
    made = next(e for e in entries if e["action"] == "POST /access/tokens")
    assert made["after"]["token"] == "<redacted>" and made["after"]["name"] == name
    revoked = next(e for e in entries if e["action"].startswith("DELETE"))
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoked_at"] is not None


def test_only_revops_reads_the_log(stack):
    for role in ("viewer", "operator", "privacy"):
        with client(stack, "feedback", role) as someone:
            assert someone.get("/audit").status_code == 403, role
    assert httpx.get(f"{stack.urls['feedback']}/audit").status_code == 401


async def test_the_database_refuses_to_change_or_delete_what_is_recorded(stack, revops):
    assert audit(revops["feedback"], limit=1), "something is recorded by now"
    url = make_url(stack.database_url)
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    try:
        for statement in ("UPDATE access.audit SET actor = 'someone else'", "DELETE FROM access.audit",
                          "TRUNCATE access.audit"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


def test_the_operator_tool_records_its_changes_and_reads_the_log(stack):
    name = f"audit-cli-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    made = runner.invoke(tokens_app, ["create", name, "--roles", "viewer", "--database-url", stack.database_url])
    assert made.exit_code == 0, made.output
    value = made.stdout.strip().splitlines()[-1]
    shown = runner.invoke(ops_app, ["audit", "--action", "tokens create", "--full", "--limit", "20",
                                    "--database-url", stack.database_url])
    assert shown.exit_code == 0, shown.output
    [line] = [line for line in shown.stdout.splitlines() if f"name={name}" in line]
    assert "cli:" in line and "cli: tokens create" in line
    assert value not in shown.stdout
    refused = runner.invoke(ops_app, ["audit", "--since", "yesterday", "--database-url", stack.database_url])
    assert refused.exit_code == 2 and "--since" in refused.output  # typer's usage error; the text: unit tests
