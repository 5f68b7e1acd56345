"""The operator's command line against the real stack: topics and lag, tail, dead letters
(a real handler failure injected into the real database, then fixed and replayed), timeline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from devstack.child import free_ports
from devstack.paths import REPO_ROOT
from ops.cli import app
from shared.events.topics import LEAD_CAPTURED
from shared.identity import lead_id_for
from tests.e2e.helpers import QUALIFIED, event_types, wait_for, wait_for_event

SCORER = "handoff.scoring.scorer"


@pytest.fixture(autouse=True)
def _the_stacks_database(stack, monkeypatch) -> None:
    """The tool reads the erasure register before it shows a record: the stack's database."""
    monkeypatch.setenv("HANDOFF_DATABASE_URL", stack.database_url)


def ops(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = ops(*args)
    assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr, result.exception)
    return result.stdout


def post_lead(intake, email: str, profile: dict | None = None) -> str:
    response = intake.post("/leads", json={"email": email, **(profile or QUALIFIED)})
    assert response.status_code == 202, response.text
    return response.json()["lead_id"]


def topic_of(overview: dict, name: str) -> dict:
    return next(t for t in overview["topics"] if t["name"] == name)


def group_of(topic: dict, group: str) -> dict | None:
    return next((g for g in topic["groups"] if g["group"] == group), None)


def dead_letters(stack) -> list[dict]:
    return json.loads(ok("dead-letters", "list", "--json", "--limit", "1000", "--bootstrap", stack.kafka_bootstrap))


# -- topics ---------------------------------------------------------------------------

def test_topics_counts_the_posted_leads_and_the_scoring_lag_drains_to_zero(stack, intake, email):
    bootstrap = stack.kafka_bootstrap
    before = json.loads(ok("topics", "--json", "--interval", "0", "--bootstrap", bootstrap))
    start = topic_of(before, LEAD_CAPTURED.name)["end_offsets"]
    emails = [f"n{i}.{email}" for i in range(3)]
    for address in emails:
        post_lead(intake, address)

    def settled() -> dict | None:
        now = json.loads(ok("topics", "--json", "--interval", "0.2", "--bootstrap", bootstrap))
        captured = topic_of(now, LEAD_CAPTURED.name)
        scorer = group_of(captured, SCORER)
        if captured["end_offsets"] - start >= len(emails) and scorer and scorer["lag"] == 0:
            return now
        return None

    after = wait_for(settled, 30, "the posted leads on lead.captured.v1 and scoring's lag back to 0")
    captured = topic_of(after, LEAD_CAPTURED.name)
    assert captured["end_offsets"] - start == len(emails)
    assert captured["partitions"] == 6 and captured["messages_per_s"] is not None
    scorer = group_of(captured, SCORER)
    assert sum(p["end_offset"] for p in scorer["partitions"]) == captured["end_offsets"]
    assert all(p["lag"] == 0 for p in scorer["partitions"])
    assert SCORER in after["consumer_groups"] and isinstance(after["dead_letter_depth"], int)

    text = ok("topics", "--interval", "0.5", "--bootstrap", bootstrap)
    assert any(line.split()[:2] == [LEAD_CAPTURED.name, "6"] for line in text.splitlines() if line)
    assert f"  {SCORER}" in text and "dead letters:" in text


# -- tail -----------------------------------------------------------------------------

def test_tail_shows_the_posted_lead_and_nothing_else(stack, intake, email):
    lead_id = post_lead(intake, email)
    args = ("tail", LEAD_CAPTURED.name, "--lead", lead_id, "--from-beginning", "--no-follow",
            "--bootstrap", stack.kafka_bootstrap)
    out = wait_for(lambda: ok(*args).strip(), 20, "the lead on lead.captured.v1")
    [line] = out.splitlines()
    assert f"  lead.captured  {lead_id}  email={email} source=web-form" in line

    [record] = [json.loads(raw) for raw in ok(*args, "--json").splitlines()]
    assert record["key"] == lead_id and record["topic"] == LEAD_CAPTURED.name
    assert record["envelope"]["type"] == "lead.captured" and record["envelope"]["payload"]["email"] == email

    by_email = ok("tail", "lead.captured", "--lead", email.upper(), "--from-beginning", "--no-follow",
                  "--limit", "1", "--bootstrap", stack.kafka_bootstrap, "--database-url", stack.database_url)
    assert by_email.splitlines() == [line]


# -- dead letters ---------------------------------------------------------------------

def _superuser_dsn(stack) -> str:
    return stack.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _sql(stack, statement: str) -> None:
    connection = await asyncpg.connect(_superuser_dsn(stack))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def fault_on_scoring_leads(stack, email: str) -> str:
    """Make scoring's real handler fail for one email: a trigger on scoring.leads that raises."""
    name = f"ops_test_fault_{uuid.uuid4().hex[:8]}"
    literal = email.replace("'", "''")
    asyncio.run(_sql(stack, f"""
        CREATE FUNCTION scoring.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.email = '{literal}' THEN
                RAISE EXCEPTION 'injected fault for %', NEW.email;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON scoring.leads
            FOR EACH ROW EXECUTE FUNCTION scoring.{name}();
    """))
    return name


def remove_fault(stack, name: str) -> None:
    asyncio.run(_sql(stack, f"DROP TRIGGER IF EXISTS {name} ON scoring.leads; "
                            f"DROP FUNCTION IF EXISTS scoring.{name}();"))


def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(stack, intake, feedback, routing, scoring, email):
    bad_id, good_email = str(lead_id_for(email)), f"good.{email}"
    fault = fault_on_scoring_leads(stack, email)
    try:
        assert post_lead(intake, email) == bad_id
        good_id = post_lead(intake, good_email)

        def letter_for_bad_lead() -> dict | None:
            return next((d for d in dead_letters(stack)
                         if d.get("lead_id") == bad_id and d.get("consumer_group") == SCORER), None)

        letter = wait_for(letter_for_bad_lead, 40, f"scoring's dead letter for lead {bad_id}")
        assert (letter["original_topic"], letter["attempts"], letter["decodable"]) == (LEAD_CAPTURED.name, 3, True)
        assert "injected fault for" in letter["error"]
        # the partition flowed on: the good lead behind it was scored and routed
        wait_for_event(feedback, good_id, "lead.routed")
        assert scoring.get(f"/leads/{bad_id}/score").status_code == 404
        assert event_types(feedback, bad_id) == ["lead.captured"]

        shown = ok("dead-letters", "show", str(letter["offset"]), "--bootstrap", stack.kafka_bootstrap)
        assert f"consumer group  {SCORER}" in shown and f'"email": "{email}"' in shown
    finally:
        # the cause is fixed
        remove_fault(stack, fault)

    out = ok("dead-letters", "replay", str(letter["offset"]), "--yes", "--bootstrap", stack.kafka_bootstrap)
    assert f"replayed to {LEAD_CAPTURED.name}[" in out
    assert f"handoff-replay-of: deadletter:{letter['offset']}" in out

    story = wait_for_event(feedback, bad_id, "lead.routed", timeout_s=30)
    # feedback had already recorded the capture: it skipped the replay (dedupe by event id)
    assert [e["type"] for e in story["events"]] == ["lead.captured", "lead.scored", "lead.routed"]
    assert scoring.get(f"/leads/{bad_id}/score").json()["qualified"] is True
    assert [a["cycle"] for a in routing.get(f"/leads/{bad_id}/assignments").json()] == [1]

    records = ok("tail", LEAD_CAPTURED.name, "--lead", bad_id, "--from-beginning", "--no-follow",
                 "--bootstrap", stack.kafka_bootstrap).splitlines()
    assert len(records) == 2 and records[1].endswith(f"(replay of deadletter:{letter['offset']})")


async def _send_raw(bootstrap: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(LEAD_CAPTURED.name, value, key=key)
    finally:
        await producer.stop()


def test_an_undecodable_letter_is_shown_raw_and_not_replayed_without_force(stack):
    key = f"ops-poison-{uuid.uuid4().hex[:8]}"
    poison = b'{"type": "lead.captured", "payload": "not an event"'
    asyncio.run(_send_raw(stack.kafka_bootstrap, key.encode(), poison))
    letter = wait_for(lambda: next((d for d in dead_letters(stack) if d.get("key") == key), None), 20,
                      "the poison record's dead letter")
    assert letter["decodable"] is False and letter["event_type"] is None

    shown = ok("dead-letters", "show", str(letter["offset"]), "--bootstrap", stack.kafka_bootstrap)
    assert "original record, undecodable (not an event envelope" in shown
    assert shown.rstrip().endswith(poison.decode())

    refused = ops("dead-letters", "replay", str(letter["offset"]), "--yes", "--bootstrap", stack.kafka_bootstrap)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "would fail again" in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    missing = ops("dead-letters", "show", "999999", "--bootstrap", stack.kafka_bootstrap)
    assert missing.exit_code == 1 and "no dead letter at offset 999999" in missing.stderr


# -- an erased person -----------------------------------------------------------------

def erase_in_register(stack, lead_id: str) -> None:
    """What an erasure makes true at once, and all the tool reads: the id in access.erased_ids.
    The person's events stay on the topics (retention deletes them, not the erasure)."""
    asyncio.run(_sql(stack, f"INSERT INTO access.erased_ids (lead_id, erasure_id) "
                            f"VALUES ('{uuid.UUID(lead_id)}', '{uuid.uuid4()}')"))


def test_tail_shows_an_erased_leads_events_by_where_they_are_and_nothing_of_them(stack, intake, email):
    lead_id = post_lead(intake, email)
    args = ("tail", LEAD_CAPTURED.name, "--lead", lead_id, "--from-beginning", "--no-follow",
            "--bootstrap", stack.kafka_bootstrap)
    [before] = wait_for(lambda: ok(*args).strip(), 20, "the lead on lead.captured.v1").splitlines()
    assert f"email={email}" in before
    where = before.split("  ")[1]  # lead.captured.v1[p]@o

    erase_in_register(stack, lead_id)
    [line] = ok(*args).splitlines()
    assert line.endswith(f"  {where}  lead {lead_id}: erased (not shown)") and email not in line
    [record] = [json.loads(raw) for raw in ok(*args, "--json").splitlines()]
    topic, rest = where.split("[")
    partition, offset = rest.split("]@")
    assert record == {"topic": topic, "partition": int(partition), "offset": int(offset), "lead_id": lead_id,
                      "erased": True}
    # the whole topic, as an operator reads it: the record is there, the person is not
    everything = ok("tail", LEAD_CAPTURED.name, "--from-beginning", "--no-follow", "--json",
                    "--bootstrap", stack.kafka_bootstrap)
    assert email not in everything and record in [json.loads(raw) for raw in everything.splitlines()]

    [port] = free_ports(1)  # the register out of reach: no record is shown at all
    away = ops(*args, "--database-url", f"postgresql://postgres@127.0.0.1:{port}/handoff")
    assert away.exit_code == 2 and away.stdout == "" and "Traceback" not in away.output
    assert away.stderr.startswith("ops: error: cannot check erasures") and "--database-url" in away.stderr


def test_an_erased_leads_dead_letter_shows_nothing_of_them_and_is_not_replayed(stack, intake, email):
    lead_id = str(lead_id_for(email))
    fault = fault_on_scoring_leads(stack, email)
    try:
        assert post_lead(intake, email) == lead_id
        letter = wait_for(lambda: next((d for d in dead_letters(stack)
                                        if d.get("lead_id") == lead_id and d.get("consumer_group") == SCORER), None),
                          40, f"scoring's dead letter for lead {lead_id}")
        assert "injected fault for" in letter["error"]
    finally:
        remove_fault(stack, fault)
    offset = str(letter["offset"])
    assert email in ok("dead-letters", "show", offset, "--bootstrap", stack.kafka_bootstrap)  # before

    erase_in_register(stack, lead_id)
    [listed] = [d for d in dead_letters(stack) if d["offset"] == letter["offset"]]
    assert (listed["erased"], listed["lead_id"], listed["error"]) == (True, lead_id, "erased")
    table = ok("dead-letters", "list", "--limit", "1000", "--bootstrap", stack.kafka_bootstrap)
    assert f"lead {lead_id} was erased (not shown)" in table
    shown = [ok("dead-letters", "show", offset, "--bootstrap", stack.kafka_bootstrap),
             ok("dead-letters", "show", offset, "--json", "--bootstrap", stack.kafka_bootstrap)]
    assert f"lead {lead_id} was erased" in shown[0] and json.loads(shown[1])["erased"] is True
    assert all("injected fault" not in text for text in shown)
    on_the_topic = ok("tail", "handoff.deadletter.v1", "--from-beginning", "--no-follow",
                      "--bootstrap", stack.kafka_bootstrap)
    assert f"@{offset}  lead {lead_id}: erased (not shown)" in on_the_topic
    for text in (table, *shown, on_the_topic):  # the original event held the address; nothing does now
        assert email not in text

    for force in ((), ("--force",)):
        refused = ops("dead-letters", "replay", offset, "--yes", *force, "--bootstrap", stack.kafka_bootstrap)
        assert refused.exit_code == 1 and refused.stdout == ""
        assert refused.stderr.strip() == f"ops: error: lead {lead_id} was erased; its events are not replayed"


# -- timeline -------------------------------------------------------------------------

def viewer(stack) -> str:
    return stack.secrets.role_tokens["viewer"]


def test_timeline_by_email_prints_captured_scored_routed_in_order_with_the_reasons(stack, intake, feedback, email):
    lead_id = post_lead(intake, email)
    routed = wait_for_event(feedback, lead_id, "lead.routed")["events"][-1]["payload"]

    out = ok("timeline", email.upper(), "--feedback-url", stack.urls["feedback"], "--token", viewer(stack),
             "--database-url", stack.database_url)
    lines = out.splitlines()
    assert lines[0].startswith(f"lead {lead_id} ({email.upper()}): stage routed, cycle 1, owner ")
    heads = [line.split("  ")[1] for line in lines if line[:1].isdigit()]
    assert heads == ["lead.captured", "lead.scored", "lead.routed"]
    assert any(line.startswith("    rules: ") and "decision_maker +" in line for line in lines)
    assert f"    why: {routed['reason']}" in lines
    assert any(line.startswith(f"    -> {routed['owner_id']} ") for line in lines)

    as_json = json.loads(ok("timeline", lead_id, "--json", "--feedback-url", stack.urls["feedback"], "--token", viewer(stack)))
    assert [e["type"] for e in as_json["events"]] == heads


# -- failures an operator can act on ---------------------------------------------------

def test_an_unreachable_broker_is_one_line_and_exit_code_2():
    [port] = free_ports(1)
    done = subprocess.run([sys.executable, "-m", "ops", "topics", "--bootstrap", f"127.0.0.1:{port}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"ops: error: cannot reach Kafka at 127.0.0.1:{port}: start the stack (./handoff up) or point "
        "the tool at your broker with --bootstrap HOST:PORT or HANDOFF_KAFKA_BOOTSTRAP_SERVERS (a broker that "
        "wants TLS or SASL: HANDOFF_KAFKA_SECURITY_PROTOCOL and the others, docs/architecture.md)"]


@pytest.mark.parametrize("args", [("timeline", "someone@example.com"), ("tail", "lead.captured.v1")])
def test_the_feedback_service_or_broker_away_is_exit_code_2_without_traceback(args):
    [port] = free_ports(1)
    where = ("--feedback-url", f"http://127.0.0.1:{port}", "--token", "hnd_" + "x" * 40) if args[0] == "timeline" else (
        "--bootstrap", f"127.0.0.1:{port}")
    result = ops(*args, *where)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("ops: error: cannot reach") and "Traceback" not in result.output


def test_a_timeline_without_a_token_says_how_to_get_one(stack, intake, email):
    lead_id = post_lead(intake, email)
    result = ops("timeline", lead_id, "--feedback-url", stack.urls["feedback"])
    assert result.exit_code == 1 and "--token" in result.stderr and "Traceback" not in result.output
    refused = ops("timeline", lead_id, "--feedback-url", stack.urls["feedback"], "--token",
                  stack.secrets.role_tokens["operator"])
    assert refused.exit_code == 1 and "needs the role" in refused.stderr


def test_handoff_cli_has_the_ops_commands():
    done = subprocess.run([sys.executable, "-m", "devstack", "ops", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("topics", "tail", "dead-letters", "timeline"):
        assert command in done.stdout
