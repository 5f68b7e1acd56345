"""A person erased: captured, scored, routed, accepted and recycled, then forgotten through
``./handoff privacy erase``. Afterwards every table of every schema, every topic as the
operator tool shows it, the dead letters and every service's log are searched for the
person's email, names and phone; the funnel counts the same; asking again answers the first
erasure; the audit log records it by ids; and the same address later is a new lead that
reaches its own decision."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from ops.cli import app as ops_app
from ops.privacy import app as privacy_app
from shared.events.envelope import Envelope
from shared.events.topics import LEAD_CAPTURED, LEAD_TOPICS
from tests.e2e.helpers import QUALIFIED, send_outcome, wait_for, wait_for_event
from tests.e2e.test_dead_letters import dead_letters_for

SERVICES = ("intake", "scoring", "routing", "feedback")


def privacy(stack, *args: str) -> tuple[int, str]:
    urls = [arg for service in SERVICES for arg in (f"--{service}-url", stack.urls[service])]
    if args[0] != "export":
        urls = ["--intake-url", stack.urls["intake"]]
    result = CliRunner().invoke(privacy_app, [*args, "--token", stack.secrets.role_tokens["privacy"], *urls])
    return result.exit_code, result.output


def plain_url(stack) -> str:
    return stack.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def tables_holding(stack, values: tuple[str, ...]) -> dict[str, list[str]]:
    """Every table of every schema, each row as text, searched for each value (any case)."""
    found: dict[str, list[str]] = {}
    connection = await asyncpg.connect(plain_url(stack))
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        assert len(tables) > 30, "every service's schema is searched"
        for row in tables:
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            for value in values:  # a row as text shows bytea as hex: decoded_bytea_hits reads those
                hits = await connection.fetchval(
                    f"SELECT count(*) FROM {name} t WHERE position(lower($1) in lower(t::text)) > 0", value)
                if hits:
                    found.setdefault(name, []).append(value)
    finally:
        await connection.close()
    return found


async def decoded_bytea_hits(stack, values: tuple[str, ...]) -> dict[str, list[str]]:
    """The bytea columns (outbox values, CRM bodies, refused rows) decoded as UTF-8 and searched."""
    found: dict[str, list[str]] = {}
    connection = await asyncpg.connect(plain_url(stack))
    try:
        columns = await connection.fetch(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'bytea' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        assert columns, "the outboxes hold bytea values"
        for c in columns:
            name = f'"{c["table_schema"]}"."{c["table_name"]}"'
            for value in values:
                hits = await connection.fetchval(
                    f'SELECT count(*) FROM {name} WHERE position(lower($1) in lower('
                    f'encode("{c["column_name"]}", \'escape\'))) > 0', value)
                if hits:
                    found.setdefault(f"{name}.{c['column_name']}", []).append(value)
    finally:
        await connection.close()
    return found


def tool_output(stack, *args: str) -> str:
    result = CliRunner().invoke(ops_app, [*args, "--bootstrap", stack.kafka_bootstrap,
                                          "--database-url", stack.database_url])
    assert result.exit_code == 0, result.output
    return result.output


def every_topic_as_the_tool_shows_it(stack) -> str:
    shown = [tool_output(stack, "tail", topic.name, "--from-beginning", "--no-follow", "--json")
             for topic in LEAD_TOPICS]
    shown.append(tool_output(stack, "dead-letters", "list", "--json"))
    return "\n".join(shown)


def campaign_funnel(feedback: httpx.Client, campaign: str) -> dict | None:
    report = feedback.get("/reports/funnel", params={"group_by": "campaign"}).json()
    return next((g for g in report["groups"] if g["key"] == campaign), None)


async def poison_about(stack, lead_id: str, email: str, first: str, phone: str) -> None:
    """A record about the person that no consumer can take: it becomes a dead letter holding them."""
    poison = Envelope(type="lead.captured", lead_id=uuid.UUID(lead_id), correlation_id=f"erase-{uuid.uuid4().hex[:6]}",
                      producer="test", payload={"submission_id": str(uuid.uuid4()), "source": "test", "email": email,
                                                "first_name": first, "company_size": f"{phone} people"})
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(LEAD_CAPTURED.name, poison.to_bytes(), key=lead_id.encode())
    finally:
        await producer.stop()
    await dead_letters_for(stack.kafka_bootstrap, lead_id.encode(), want=2)


async def test_an_erased_person_is_nowhere_and_the_counts_stay(stack, intake, scoring, feedback, email):
    tag = uuid.uuid4().hex[:8]
    first, last, phone = f"Grace{tag}", f"Hopper{tag}", f"+4420794{int(tag[:6], 16) % 100000:05d}"
    campaign = f"erasure-{tag}"
    posted = intake.post("/leads", json={**QUALIFIED, "email": email, "first_name": first, "last_name": last,
                                         "phone": phone, "utm_campaign": campaign})
    assert posted.status_code == 202, posted.text
    lead_id = posted.json()["lead_id"]
    activity = intake.post("/activities", json={"email": email, "activity_type": "pricing_page_view",
                                                "detail": {"note": f"{first} {last} read pricing"}})
    assert activity.status_code == 202, activity.text
    await asyncio.to_thread(wait_for_event, feedback, lead_id, "lead.routed")
    secret = stack.secrets.crm_webhook_secret
    assert send_outcome(feedback, secret, lead_id, "accepted").status_code == 202
    assert send_outcome(feedback, secret, lead_id, "recycled", reason="timing").status_code == 202
    await asyncio.to_thread(wait_for_event, feedback, lead_id, "lead.outcome", 2)
    await asyncio.to_thread(wait_for_event, feedback, lead_id, "lead.nurture")
    await poison_about(stack, lead_id, email, first, phone)
    personal = (email, first, last, phone)

    # before: the export lists every piece, and the scans find the person (so they can fail)
    code, output = privacy(stack, "export", email)
    assert code == 0, output
    held = json.loads(output)["services"]
    assert {"submissions"} <= set(held["intake"]) and {"leads", "activities", "submissions"} <= set(held["scoring"])
    assert {"routed_leads", "assignments", "decisions"} <= set(held["routing"])
    assert {"lead_stages", "outcomes", "timeline"} <= set(held["feedback"])
    before_tables = await tables_holding(stack, personal)
    assert any(name.startswith('"scoring"') for name in before_tables), before_tables
    assert email in await asyncio.to_thread(every_topic_as_the_tool_shows_it, stack)
    funnel_before = await asyncio.to_thread(wait_for, lambda: campaign_funnel(feedback, campaign))

    code, output = privacy(stack, "erase", email.upper())
    assert code == 0, output
    erasure = json.loads(output[output.index("{"):])
    assert erasure["status"] == "erased" and erasure["lead_id"] == lead_id and erasure["waiting_for"] == []
    assert set(erasure["finished"]) == set(SERVICES)
    assert erasure["finished"]["scoring"]["rows"]["leads"] == 1
    assert "waiting for" in output  # it said how far it was while it waited

    # after: nothing anywhere
    assert await tables_holding(stack, personal) == {}
    assert await decoded_bytea_hits(stack, personal) == {}
    shown = await asyncio.to_thread(every_topic_as_the_tool_shows_it, stack)
    for value in personal:
        assert value.lower() not in shown.lower(), f"{value!r} shown by the operator tool"
    assert "erased" in shown
    letters = json.loads(await asyncio.to_thread(tool_output, stack, "dead-letters", "list", "--json", "--limit", "1000"))
    ours = [letter for letter in letters if letter.get("lead_id") == lead_id]
    assert len(ours) == 2 and all(letter["erased"] for letter in ours), ours
    shown_letter = await asyncio.to_thread(tool_output, stack, "dead-letters", "show", str(ours[0]["offset"]))
    assert "was erased" in shown_letter and email not in shown_letter and first not in shown_letter
    replay = await asyncio.to_thread(CliRunner().invoke, ops_app, [
        "dead-letters", "replay", str(ours[0]["offset"]), "--yes", "--force", "--bootstrap", stack.kafka_bootstrap,
        "--database-url", stack.database_url])
    assert replay.exit_code == 1 and "was erased" in replay.output, replay.output
    for service in SERVICES:
        log = stack.log_path(service).read_text(encoding="utf-8", errors="replace").lower()
        for value in personal:
            assert value.lower() not in log, f"{value!r} in {service}'s log"
    assert scoring.get(f"/leads/{lead_id}/profile").status_code == 404
    assert feedback.get(f"/leads/{lead_id}/timeline").status_code == 404
    code, output = privacy(stack, "export", lead_id)
    assert code == 0 and all(tables == {} for tables in json.loads(output)["services"].values()), output

    # the counts stay
    assert campaign_funnel(feedback, campaign) == funnel_before

    # asking again answers the first erasure, by address or by id
    for person in (email, lead_id):
        again = httpx.post(f"{stack.urls['intake']}/privacy/erasures", json={"email": person} if "@" in person
                           else {"lead_id": person}, timeout=10,
                           headers={"Authorization": f"Bearer {stack.secrets.role_tokens['privacy']}"})
        assert again.status_code == 200 and again.json()["erasure_id"] == erasure["erasure_id"], again.text

    # recorded by ids: the audit log and the register hold no one
    with httpx.Client(base_url=stack.urls["feedback"], timeout=10,
                      headers={"Authorization": f"Bearer {stack.secrets.role_tokens['revops']}"}) as revops:
        recorded = revops.get("/audit", params={"action": "/privacy/erasures", "limit": 20}).json()["entries"]
    ours = [e for e in recorded if e["request"] == {"lead_id": lead_id}]
    assert len(ours) == 3 and {e["actor"] for e in ours} == {"local-privacy"}
    assert [e["after"]["new"] for e in sorted(ours, key=lambda e: e["at"])] == [True, False, False]

    # the same address later is a new lead, with its own decision
    again = intake.post("/leads", json={**QUALIFIED, "email": email, "first_name": first})
    assert again.status_code == 202, again.text
    new_id = again.json()["lead_id"]
    assert new_id != lead_id
    fresh = await asyncio.to_thread(wait_for_event, feedback, new_id, "lead.routed")
    assert [e["type"] for e in fresh["events"]].count("lead.captured") == 1
    profile = scoring.get(f"/leads/{new_id}/profile").json()
    assert profile["email"] == email and len(profile["submissions"]) == 1  # nothing of the erased lead
    code, output = privacy(stack, "export", email)
    assert code == 0 and json.loads(output)["lead_id"] == new_id


def test_only_the_privacy_role_erases(stack, email):
    for role in ("viewer", "revops", "operator"):
        refused = httpx.post(f"{stack.urls['intake']}/privacy/erasures", json={"email": email}, timeout=10,
                             headers={"Authorization": f"Bearer {stack.secrets.role_tokens[role]}"})
        assert refused.status_code == 403, (role, refused.text)
    assert httpx.post(f"{stack.urls['intake']}/privacy/erasures", json={"email": email}).status_code == 401
    with httpx.Client(base_url=stack.urls["intake"], timeout=10,
                      headers={"Authorization": f"Bearer {stack.secrets.role_tokens['privacy']}"}) as dpo:
        assert dpo.post("/privacy/erasures", json={}).status_code == 422
        assert dpo.post("/privacy/erasures", json={"email": "ada@localhost"}).status_code == 422
        assert dpo.get(f"/privacy/erasures/{uuid.uuid4()}").status_code == 404
