"""Every door locked: every operation of the four OpenAPI documents, tried without a credential
and with a token of each role, on the real stack. A route declares who may call it
(``x-handoff-access``); the guard answers before the body is read, so the bodies sent here are
deliberately broken: a 422 would mean the body was looked at first."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from shared.access.roles import Role
from tests.e2e.helpers import wait_for_event

SERVICES = ("intake", "scoring", "routing", "feedback")
PERSONS_WHO_CHANGE = {Role.revops, Role.operator, Role.privacy}
MATRIX: list[str] = []  # the counts of each run, for the test summary (tests/conftest.py)
PUBLIC = {  # what anyone may reach, each for the reason its OpenAPI entry gives
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("POST", "/webhooks/crm"), ("POST", "/webhooks/hubspot"), ("POST", "/forms/{form_id}"),
}
PATH_VALUES = {"lead_id": str(uuid.uuid4()), "version": "no-such-version", "owner_id": "nobody", "team_id": "nobody",
               "domain": "nothing.example", "parked_id": "999999999", "name": "nobody", "form_id": "contact",
               "erasure_id": str(uuid.uuid4())}
BROKEN_BODY = b'{"not": json'


@pytest.fixture(scope="module")
def role_tokens(stack) -> dict[Role, str]:
    """A token of each role alone: the stack's, and source and crm ones made through the API."""
    tokens = {Role(role): value for role, value in stack.secrets.role_tokens.items()}
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    suffix = uuid.uuid4().hex[:8]
    for role, extra in ((Role.source, {"source": "web-form"}), (Role.crm, {})):
        made = httpx.post(f"{stack.urls['feedback']}/access/tokens", headers=admin, timeout=10,
                          json={"name": f"matrix-{role.value}-{suffix}", "roles": [role.value], **extra})
        assert made.status_code == 201, made.text
        tokens[role] = made.json()["token"]
    return tokens


def operations(stack) -> list[tuple[str, str, str, dict]]:
    found = []
    for service in SERVICES:
        document = httpx.get(f"{stack.urls[service]}/openapi.json", timeout=10).json()
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                found.append((service, method.upper(), path, operation))
    return found


def call(stack, service: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    url = stack.urls[service] + path.format(**PATH_VALUES)
    content = BROKEN_BODY if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(method, url, headers={"Content-Type": "application/json", **headers}, content=content,
                         timeout=10)


def test_every_operation_declares_who_may_call_it_and_the_guard_holds_to_it(stack, role_tokens):
    checked: Counter[str] = Counter()
    problems = []
    ops = operations(stack)
    assert len(ops) > 40, "the four documents list every operation"
    for service, method, path, operation in ops:
        access = operation.get("x-handoff-access")
        where = f"{service} {method} {path}"
        if access is None:
            problems.append(f"{where}: declares no access")
            continue
        if "public" in access:
            if (method, path) not in PUBLIC:
                problems.append(f"{where}: public ({access['public']}) but not in the reviewed list of open doors")
            checked["public"] += 1
            continue
        allowed = {Role(r) for r in access["roles"]}
        assert {401, 403} <= {int(s) for s in operation["responses"]}, f"{where}: 401 and 403 documented"
        a_change = method != "GET" and bool(allowed & PERSONS_WHO_CHANGE) and Role.viewer not in allowed
        if access.get("audited", False) != a_change:
            problems.append(f"{where}: audited is {access.get('audited', False)}, but a change by a person is "
                            "always audited and nothing else is")
        checked["audited (a person's change)"] += a_change
        anonymous = call(stack, service, method, path, {})
        if anonymous.status_code != 401 or anonymous.headers.get("www-authenticate") != "Bearer":
            problems.append(f"{where}: without a credential {anonymous.status_code}, not 401 with WWW-Authenticate")
        checked["without a credential"] += 1
        for role, token in role_tokens.items():
            scheme = "bearer" if role is Role.viewer else "Bearer"  # the scheme in any case (RFC 6750)
            answer = call(stack, service, method, path, {"Authorization": f"{scheme} {token}"})
            if role in allowed and answer.status_code in (401, 403):
                problems.append(f"{where}: {role.value} may call it but got {answer.status_code}: {answer.text[:100]}")
            if role not in allowed and answer.status_code != 403:
                problems.append(f"{where}: {role.value} may not call it but got {answer.status_code}")
            checked[f"{'allowed' if role in allowed else 'refused'} role"] += 1
        some = role_tokens[next(iter(sorted(allowed)))]
        for wrong in (some, f"Basic {some}", f"Bearer {some}x", "Bearer " + "a" * 40):  # bare, other scheme, unknown
            if call(stack, service, method, path, {"Authorization": wrong}).status_code != 401:
                problems.append(f"{where}: Authorization {wrong[:12]}... not refused with 401")
            checked["wrong credential"] += 1
    MATRIX.append(f"{len(ops)} operations of {len(SERVICES)} services; " +
                  ", ".join(f"{what}: {n}" for what, n in sorted(checked.items())))
    print(f"\naccess matrix: {MATRIX[-1]}")
    assert not problems, "\n".join(problems)


def test_a_revoked_token_stops_working_and_a_token_shows_its_last_use(stack):
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    tokens_url = f"{stack.urls['feedback']}/access/tokens"
    name = f"ada-{uuid.uuid4().hex[:8]}"
    made = httpx.post(tokens_url, headers=admin, json={"name": name, "roles": ["viewer"]}, timeout=10)
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token.startswith("hnd_") and made.json()["created_by"] == "local-admin"
    again = httpx.post(tokens_url, headers=admin, json={"name": name, "roles": ["viewer"]}, timeout=10)
    assert again.status_code == 409, "one live token per name"
    reader = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{stack.urls['feedback']}/reports/funnel", headers=reader, timeout=10).status_code == 200
    listed = {t["name"]: t for t in httpx.get(tokens_url, headers=admin, timeout=10).json()}
    assert listed[name]["last_used_at"] is not None and "token" not in listed[name] and "token_hash" not in listed[name]

    revoked = httpx.delete(f"{tokens_url}/{name}", headers=admin, timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    # at once in the process that revoked it
    assert httpx.get(f"{stack.urls['feedback']}/reports/funnel", headers=reader, timeout=10).status_code == 401
    assert name not in {t["name"] for t in httpx.get(tokens_url, headers=admin, timeout=10).json()}


def test_a_source_token_posts_for_its_own_source_only(stack, feedback, email):
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    made = httpx.post(f"{stack.urls['feedback']}/access/tokens", headers=admin, timeout=10,
                      json={"name": f"crm-sync-{uuid.uuid4().hex[:8]}", "roles": ["source"],
                            "source": "marketing-automation"})
    assert made.status_code == 201, made.text
    posted = httpx.post(f"{stack.urls['intake']}/leads", headers={"X-API-Key": made.json()["token"]}, timeout=10,
                        json={"email": email, "first_name": "Ada"})
    assert posted.status_code == 202, posted.text
    found = wait_for_event(feedback, posted.json()["lead_id"], "lead.captured")
    [captured] = [e for e in found["events"] if e["type"] == "lead.captured"]
    assert captured["payload"]["source"] == "marketing-automation", "the token's source, whatever the body says"
    missing_source = httpx.post(f"{stack.urls['feedback']}/access/tokens", headers=admin, timeout=10,
                                json={"name": "no-source", "roles": ["source"]})
    assert missing_source.status_code == 422 and "source" in missing_source.text
