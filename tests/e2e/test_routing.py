"""Routing on its own stack (real Kafka and PostgreSQL, two routing replicas, a test
policy and a shrunk SLA clock): fair weighted shares under load with no double
assignment, capacity caps held, and an SLA breach escalated then reassigned."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from devstack.child import free_ports
from devstack.processes import ServiceProcess
from devstack.stack import Stack, StackConfig
from shared.db.engine import make_engine
from shared.events.envelope import Envelope
from shared.events.payloads import LeadProfile, LeadScored, Outcome, OutcomeRecorded
from shared.events.topics import LEAD_ROUTED, LEAD_SLA
from shared.identity import lead_id_for
from shared.webhooks.signature import verify
from tests.conftest import TEST_LEAD_ID_KEY, staff
from tests.e2e.helpers import wait_for

SLA_TIME_SCALE = 0.05  # one SLA minute lasts three seconds
CRM_SECRET = "crm-test-secret-of-routing-pushes"

ALWAYS = {"working_hours": "always"}
TEST_POLICY = {
    "version": "test-routing-1",
    "owners": [
        {"id": "w3", "name": "Weight Three", "email": "w3@example.com", "weight": 3, **ALWAYS},
        {"id": "w2", "name": "Weight Two", "email": "w2@example.com", "weight": 2, **ALWAYS},
        {"id": "w1", "name": "Weight One", "email": "w1@example.com", "weight": 1, **ALWAYS},
        {"id": "capped", "name": "Capped", "email": "capped@example.com", "capacity": {"per_day": 10}, **ALWAYS},
        {"id": "spare", "name": "Spare", "email": "spare@example.com", **ALWAYS},
        {"id": "sla1", "name": "Slow One", "email": "sla1@example.com", **ALWAYS},
        {"id": "sla2", "name": "Slow Two", "email": "sla2@example.com", **ALWAYS},
        {"id": "d1", "name": "Leaving Soon", "email": "d1@example.com", **ALWAYS},
        {"id": "d2", "name": "Staying", "email": "d2@example.com", **ALWAYS},
        {"id": "away", "name": "Away", "email": "away@example.com", "status": "paused", **ALWAYS},
        {"id": "key.account", "name": "Key Account", "email": "key@example.com", **ALWAYS},
        {"id": "not.in", "name": "Not In", "email": "not.in@example.com", "status": "paused", **ALWAYS},
    ],
    "teams": [
        {"id": "weighted", "name": "Weighted", "members": ["w3", "w2", "w1"], "strategy": "weighted_round_robin"},
        {"id": "small", "name": "Small", "members": ["capped", "spare"], "strategy": "round_robin"},
        {"id": "sla_team", "name": "SLA", "members": ["sla1", "sla2"], "strategy": "round_robin"},
        {"id": "deact", "name": "Deactivation", "members": ["d1", "d2"], "strategy": "round_robin"},
        {"id": "waiting", "name": "Waiting", "members": ["away"], "strategy": "round_robin",
         "queue": {"max_wait_minutes": 600, "fallback": {"team": "weighted"}}},
        {"id": "parked", "name": "Parked", "members": ["not.in"], "strategy": "round_robin",
         "queue": {"max_wait_minutes": 600, "fallback": {"team": "weighted"}}},
    ],
    "rules": [
        {"name": "capped_rule", "when": {"source": ["capped-test"]}, "assign_to": {"team": "small"}},
        {"name": "sla_rule", "when": {"source": ["sla-test"]}, "assign_to": {"team": "sla_team"}, "sla_minutes": 1},
        {"name": "deact_rule", "when": {"source": ["deact-test"]}, "assign_to": {"team": "deact"}},
        {"name": "queue_rule", "when": {"source": ["queue-test"]}, "assign_to": {"team": "waiting"}},
        {"name": "parked_rule", "when": {"source": ["manual-test"]}, "assign_to": {"team": "parked"}},
    ],
    "fallback": {"team": "weighted"},
    "sla": {"default_minutes": 600, "by_grade": {"C3": 1}, "reassign_after_minutes": 1, "max_reassignments": 1},
}


class CrmReceiver(BaseHTTPRequestHandler):
    """Stands in for the CRM: keeps every pushed delivery with its headers."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        CrmReceiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def crm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CrmReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/handoff"
    server.shutdown()


@pytest.fixture(scope="module")
def routing_stack(crm: str) -> Iterator[tuple[Stack, ServiceProcess]]:
    state_dir = Path(tempfile.mkdtemp(prefix="handoff-test-routing-"))
    config_dir = state_dir / "config"
    config_dir.mkdir()
    (config_dir / "routing_policy.yaml").write_text(yaml.safe_dump(TEST_POLICY, sort_keys=False))
    env = {"HANDOFF_ROUTING_SLA_TIME_SCALE": str(SLA_TIME_SCALE), "HANDOFF_ROUTING_CLOCK_INTERVAL_S": "0.5",
           "HANDOFF_ROUTING_OUTBOX_IDLE_INTERVAL_S": "0.2", "HANDOFF_ROUTING_CRM_WEBHOOK_URL": crm,
           "HANDOFF_ROUTING_CRM_WEBHOOK_SECRET": CRM_SECRET}
    config = StackConfig.ephemeral(state_dir, services=("routing",), config_dir=config_dir,
                                   lead_id_key=TEST_LEAD_ID_KEY, service_env={"routing": env})
    try:
        with Stack(config) as stack:
            # a replica of its own: the same instance id would fence the first one out of its groups
            second_env = {**stack.env_for("routing"), "HANDOFF_ROUTING_INSTANCE_ID": "local-routing-2"}
            second = ServiceProcess("routing", port=free_ports(1)[0], env=second_env,
                                    log_path=state_dir / "routing-2.log", cwd=Path.cwd())
            second.start()
            second.wait_ready(timeout=60)
            try:
                yield stack, second
            finally:
                second.stop()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def scored(email: str, source: str, grade: str = "A4") -> Envelope:
    return Envelope.start(LeadScored(email=email, cycle=1, definition_version="t", fit_score=70,
                                     engagement_score=0, score=70, threshold=50, qualified=True, rules_fired=[],
                                     stage="mql", grade=grade, newly_qualified=True, source=source,
                                     profile=LeadProfile(country="US", company_size=200)),
                          lead_id=lead_id_for(email), correlation_id=f"rt-{email}", producer="test")


async def produce(bootstrap: str, envelopes: list[Envelope]) -> None:
    """Each event on its own topic, as a service would send it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(e.topic, e.to_bytes(), key=e.key) for e in envelopes]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def query(database_url: str, sql: str, **params) -> list:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()
    finally:
        await engine.dispose()


async def events_for(bootstrap: str, topic, lead_ids: set[str], *, at_least: int,
                     timeout_s: float = 30) -> list[Envelope]:
    """The leads' events on ``topic``: waits for ``at_least`` of them, then reads on to the end
    of every partition as it is then, so anything extra already written is in the answer too."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await reader.start()
    partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
    reader.assign(partitions)
    found: list[Envelope] = []

    async def read(timeout_ms: int) -> None:
        for records in (await reader.getmany(timeout_ms=timeout_ms)).values():
            found.extend(e for r in records if str((e := Envelope.from_bytes(r.value)).lead_id) in lead_ids)

    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < at_least:
                await read(300)
            end = await reader.end_offsets(partitions)

            async def behind() -> bool:
                return any([await reader.position(tp) < end[tp] for tp in partitions])
            while await behind():
                await read(100)
    finally:
        await reader.stop()
    return found


async def test_two_replicas_share_the_load_fairly_without_double_assignment(routing_stack):
    stack, second = routing_stack
    leads = [scored(f"load{i}.{uuid.uuid4().hex[:6]}@load{i % 50}.com", "load") for i in range(600)]
    ids = {str(e.lead_id) for e in leads}
    await produce(stack.kafka_bootstrap, leads + leads[:100])  # the first 100 delivered twice

    async def all_assigned():
        rows = await query(stack.database_url, "SELECT count(*) FROM routing.assignments WHERE lead_id = ANY(:ids)",
                           ids=[uuid.UUID(i) for i in ids])
        return rows[0][0] == len(ids)
    async with asyncio.timeout(90):
        while not await all_assigned():
            await asyncio.sleep(0.5)

    routed = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, ids, at_least=len(ids))
    per_lead = Counter(str(e.lead_id) for e in routed)
    assert set(per_lead) == ids and max(per_lead.values()) == 1  # every lead routed once, none twice

    shares = Counter(e.payload["owner_id"] for e in routed)
    # smooth weighted round robin under one lock: 3:2:1 within one lead of exact
    assert abs(shares["w3"] - 300) <= 1 and abs(shares["w2"] - 200) <= 1 and abs(shares["w1"] - 100) <= 1, shares

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups(["handoff.routing.router"])
    finally:
        await admin.close()
    [group] = response.to_object()["groups"]
    assert len(group["members"]) == 2  # both replicas were consuming


async def test_capacity_caps_are_held_and_the_skip_is_explained(routing_stack):
    stack, _ = routing_stack
    leads = [scored(f"cap{i}.{uuid.uuid4().hex[:6]}@cap.com", "capped-test") for i in range(30)]
    ids = {str(e.lead_id) for e in leads}
    await produce(stack.kafka_bootstrap, leads)
    routed = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, ids, at_least=30)
    shares = Counter(e.payload["owner_id"] for e in routed)
    assert shares == {"capped": 10, "spare": 20}
    after_cap = [e for e in routed if e.payload["owner_id"] == "spare"
                 and any(c["owner_id"] == "capped" and c["skipped"] == "daily_cap"
                         for c in e.payload["decision"]["candidates"])]
    assert after_cap, "no decision record shows the capped owner skipped for its daily cap"
    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        record = (await client.get(f"/leads/{after_cap[0].lead_id}/decisions")).json()[0]
    assert record["rule"] == "capped_rule" and record["policy_version"] == "test-routing-1"
    assert any(c["owner_id"] == "capped" and c["skipped"] == "daily_cap" for c in record["candidates"])


async def test_sla_breach_escalates_then_reassigns_and_acceptance_stops_the_clock(routing_stack):
    stack, _ = routing_stack
    slow, quick = (scored(f"{n}.{uuid.uuid4().hex[:6]}@sla.com", "sla-test") for n in ("slow", "quick"))
    await produce(stack.kafka_bootstrap, [slow])
    [first] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(slow.lead_id)}, at_least=1)
    await produce(stack.kafka_bootstrap, [quick])
    [quick_routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(quick.lead_id)}, at_least=1)
    accepted = Envelope.start(OutcomeRecorded(email=quick.payload["email"], outcome=Outcome.ACCEPTED, cycle=1),
                              lead_id=quick.lead_id, correlation_id="rt", producer="test")
    await produce(stack.kafka_bootstrap, [accepted])

    breaches = await events_for(stack.kafka_bootstrap, LEAD_SLA, {str(slow.lead_id)}, at_least=2, timeout_s=30)
    assert [b.payload["action"] for b in breaches[:2]] == ["escalate", "reassign"]
    assert all(b.payload["owner_id"] == first.payload["owner_id"] for b in breaches[:2])
    routed = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(slow.lead_id)}, at_least=2)
    assert routed[1].payload["reassigned_from"] == first.payload["owner_id"]
    assert routed[1].payload["owner_id"] != first.payload["owner_id"]

    rows = await query(stack.database_url, "SELECT owner_id, reassignments, status FROM routing.assignments "
                       "WHERE lead_id = :lead", lead=slow.lead_id)
    assert [tuple(r) for r in rows] == [(routed[1].payload["owner_id"], 1, "assigned")]
    quick_rows = await query(stack.database_url, "SELECT status, sla_due_at FROM routing.assignments "
                             "WHERE lead_id = :lead", lead=quick.lead_id)
    assert [tuple(r) for r in quick_rows] == [("accepted", None)]
    assert quick_routed.payload["owner_id"] in {"sla1", "sla2"}
    # the clock is stopped (above), and nothing it wrote so far is about the accepted lead
    assert not await events_for(stack.kafka_bootstrap, LEAD_SLA, {str(quick.lead_id)}, at_least=0)


async def test_deactivating_an_owner_routes_their_open_leads_again(routing_stack):
    stack, _ = routing_stack
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    leads = [scored(f"deact{i}.{uuid.uuid4().hex[:6]}@deact.com", "deact-test") for i in range(4)]
    await produce(stack.kafka_bootstrap, leads)
    first = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(e.lead_id) for e in leads}, at_least=4)
    held_by_d1 = {str(e.lead_id) for e in first if e.payload["owner_id"] == "d1"}
    assert len(held_by_d1) == 2

    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        assert (await client.post("/owners/d1/deactivate", headers={"Authorization": ""})).status_code == 401
        viewer = {"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"}
        assert (await client.post("/owners/d1/deactivate", headers=viewer)).status_code == 403
        response = await client.post("/owners/d1/deactivate", headers=admin)
        assert response.status_code == 200, response.text
        result = response.json()
        assert {r["lead_id"] for r in result["rerouted"]} == held_by_d1
        assert {r["owner_id"] for r in result["rerouted"]} == {"d2"}
        owners = {o["id"]: o for o in (await client.get("/owners")).json()}
        assert owners["d1"]["status"] == "inactive"
        versions = (await client.get("/policies")).json()
        assert versions[0]["version"] == result["policy_version"] and versions[0]["active"]

        bad = await client.patch("/owners/d2", json={"weight": 0}, headers=admin)
        assert bad.status_code == 422 and any("weight" in e["field"] for e in bad.json()["detail"])

    again = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, held_by_d1, at_least=4)
    reassigned = [e for e in again if e.payload.get("reassigned_from") == "d1"]
    assert {str(e.lead_id) for e in reassigned} == held_by_d1
    assert all(e.payload["owner_id"] == "d2" and e.payload["policy_version"] == result["policy_version"]
               for e in reassigned)

    later = scored(f"deact-late.{uuid.uuid4().hex[:6]}@deact.com", "deact-test")
    await produce(stack.kafka_bootstrap, [later])
    [routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(later.lead_id)}, at_least=1)
    assert routed.payload["owner_id"] == "d2"
    skipped = {c["owner_id"]: c["skipped"] for c in routed.payload["decision"]["candidates"]}
    assert skipped.get("d1") == "inactive"


OPEN_LEADS = """SELECT r.lead_id::text FROM routing.routed_leads r
 WHERE EXISTS (SELECT 1 FROM routing.assignments a
                WHERE a.lead_id = r.lead_id AND a.cycle = r.cycle AND a.status = 'assigned')
    OR EXISTS (SELECT 1 FROM routing.queued q WHERE q.lead_id = r.lead_id AND q.cycle = r.cycle)"""


async def test_preview_routes_the_open_leads_against_today_s_owners_without_assigning(routing_stack):
    stack, _ = routing_stack
    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        current = (await client.get("/policy")).json()
        before = await query(stack.database_url, "SELECT count(*) FROM routing.assignments")
        candidate = {**current, "version": "candidate-preview",
                     "fallback": {"team": "small"}, "rules": []}  # everything to the small team
        response = await client.post("/policies/preview?sample_size=3", json=candidate)
        assert response.status_code == 200, response.text
        report = response.json()
        open_ids = {row[0] for row in await query(stack.database_url, OPEN_LEADS)}
        seen = (await query(stack.database_url, "SELECT count(*) FROM routing.routed_leads"))[0][0]
        assert report["leads"] == len(open_ids) > 0 and seen > len(open_ids)  # nurtured and closed ones are not
        assert sum(report["changes"].values()) == report["leads"]
        assert sum(report["assigned_per_owner"].values()) + report["queued"] == report["leads"]
        assert set(k for k, v in report["assigned_per_owner"].items() if v) <= {"capped", "spare"}
        assert set(report["per_rule"]) <= {"fallback", "manual"}
        gained = sum(m["gained"] for m in report["moves_per_owner"].values())
        lost = sum(m["lost"] for m in report["moves_per_owner"].values())
        assert gained == report["changes"]["moved"] + report["changes"]["now_assigned"]
        assert lost == report["changes"]["moved"] + report["changes"]["now_queued"]
        for kind, samples in report["samples"].items():
            assert len(samples) == min(3, report["changes"][kind])
            assert all(s["change"] == kind for s in samples)

        async with client.stream("POST", "/policies/preview/leads", json=candidate) as streamed:
            assert streamed.status_code == 200
            assert streamed.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) async for line in streamed.aiter_lines() if line]
        leads = [line for line in lines if line["type"] == "lead"]
        assert {line["lead_id"] for line in leads} == open_ids
        assert lines[-1]["type"] == "summary" and lines[-1]["changes"] == report["changes"]
        progress = [line for line in lines if line["type"] == "progress"]
        assert progress and progress[-1] == {"type": "progress", "done": len(open_ids), "total": len(open_ids)}
        for line in leads:
            today = line["today"]
            assert line["change"] != "unchanged" or today["owner_id"] == line["candidate"]["owner_id"]
        after = await query(stack.database_url, "SELECT count(*) FROM routing.assignments")
        assert after == before  # nothing was assigned


async def test_every_assignment_is_pushed_to_the_crm_signed(routing_stack):
    stack, _ = routing_stack
    lead = scored(f"crm.{uuid.uuid4().hex[:6]}@crm.com", "capped-test")
    await produce(stack.kafka_bootstrap, [lead])
    [routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(lead.lead_id)}, at_least=1)

    def delivered():
        return [(h, b) for h, b in CrmReceiver.received if json.loads(b)["lead_id"] == str(lead.lead_id)]
    [(headers, body)] = await asyncio.to_thread(wait_for, delivered, 20, "the CRM push")
    verify(headers["Handoff-Signature"], body, [CRM_SECRET], now=time.time())
    pushed = json.loads(body)
    assert headers["Handoff-Delivery-Id"] == str(routed.event_id)
    assert pushed["owner"]["id"] == routed.payload["owner_id"] and pushed["rule"] == "capped_rule"


async def test_a_lead_waits_in_the_queue_until_someone_is_available(routing_stack):
    stack, _ = routing_stack
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    lead = scored(f"queue.{uuid.uuid4().hex[:6]}@queue.com", "queue-test")
    await produce(stack.kafka_bootstrap, [lead])
    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        waiting = await asyncio.to_thread(wait_for, lambda: [q for q in httpx.get(f"{stack.urls['routing']}/queues", headers=staff(stack))
                                                             .json() if q["lead_id"] == str(lead.lead_id)],
                                          20, "the lead in the queue")
        assert waiting[0]["team_id"] == "waiting"
        [decision] = (await client.get(f"/leads/{lead.lead_id}/decisions")).json()
        assert decision["outcome"] == "queued"
        assert [(c["owner_id"], c["skipped"]) for c in decision["candidates"]] == [("away", "paused")]

        assert (await client.patch("/owners/away", json={"status": "active"}, headers=admin)).status_code == 200
    [routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(lead.lead_id)}, at_least=1)
    assert routed.payload["owner_id"] == "away" and routed.payload["team_id"] == "waiting"


async def test_a_lead_from_an_owned_account_goes_to_the_account_owner(routing_stack):
    stack, _ = routing_stack
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        put = await client.put("/accounts/https://www.globex.example/about", json={"owner_id": "key.account"},
                               headers=admin)
        assert put.status_code == 200 and put.json()["domain"] == "globex.example"
        free = await client.put("/accounts/gmail.com", json={"owner_id": "key.account"}, headers=admin)
        assert free.status_code == 422 and "free-mail" in free.json()["detail"][0]["reason"]
    lead = scored(f"buyer.{uuid.uuid4().hex[:6]}@eu.globex.example", "load")
    await produce(stack.kafka_bootstrap, [lead])
    [routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {str(lead.lead_id)}, at_least=1)
    assert routed.payload["owner_id"] == "key.account"
    assert routed.payload["decision"]["via"] == "account_match"


async def test_owners_and_teams_change_through_the_api_and_preview_one_lead(routing_stack):
    stack, _ = routing_stack
    admin = {"Authorization": f"Bearer {stack.secrets.admin_token}"}
    async with httpx.AsyncClient(base_url=stack.urls["routing"], headers=staff(stack)) as client:
        created = await client.post("/owners", headers=admin, json={
            "id": "newbie", "name": "New Starter", "email": "newbie@example.com", "timezone": "Europe/Berlin",
            "working_hours": "always", "capacity": {"per_day": 5}})
        assert created.status_code == 201, created.text
        team = await client.post("/teams", headers=admin, json={
            "id": "fresh", "name": "Fresh", "members": ["newbie"], "strategy": "least_loaded"})
        assert team.status_code == 201, team.text
        changed = await client.patch("/owners/newbie", headers=admin, json={"weight": 4, "capacity": {"per_day": 9}})
        assert changed.status_code == 200
        assert changed.json()["owner"]["weight"] == 4 and changed.json()["owner"]["capacity"]["per_day"] == 9
        duplicate = await client.post("/owners", headers=admin, json={"id": "newbie", "name": "X", "email": "x@x.io"})
        assert duplicate.status_code == 409
        unknown_member = await client.patch("/teams/fresh", headers=admin, json={"members": ["ghost"]})
        assert unknown_member.status_code == 422 and "ghost" in unknown_member.text

        published = [v["version"] for v in (await client.get("/policies")).json()]
        assert published[0] == changed.json()["policy_version"] and len(published) >= 4

        policy = (await client.get("/policy")).json()
        policy["rules"].insert(0, {"name": "fresh_rule", "when": {"source": ["fresh-test"]},
                                   "assign_to": {"team": "fresh"}})
        policy["version"] = "with-fresh-rule"
        assert (await client.post("/policies", headers=admin, json=policy)).status_code == 201
        preview = (await client.post("/preview", json={"email": "p@corp.example", "source": "fresh-test",
                                                       "score": 80, "grade": "A2"})).json()
        assert (preview["outcome"], preview["owner_id"], preview["rule"]) == ("assigned", "newbie", "fresh_rule")
        assert preview["policy_version"] == "with-fresh-rule"
        assert not await query(stack.database_url, "SELECT 1 FROM routing.assignments WHERE owner_id = 'newbie'")


async def test_a_lead_assigned_by_hand_is_held_to_the_sla_and_never_moved_by_the_clock(routing_stack):
    stack, _ = routing_stack
    lead = scored(f"manual.{uuid.uuid4().hex[:6]}@manual.com", "manual-test", grade="C3")  # SLA: 1 minute
    lead_id = str(lead.lead_id)
    await produce(stack.kafka_bootstrap, [lead])
    routing = stack.urls["routing"]
    await asyncio.to_thread(wait_for, lambda: any(q["lead_id"] == lead_id for q in
                                                  httpx.get(f"{routing}/queues", headers=staff(stack)).json()),
                            20, "the lead in the parked team's queue")
    path = f"/leads/{lead_id}/assignment"
    body = {"owner_id": "spare", "reason": "spoke to them at the booth"}
    async with httpx.AsyncClient(base_url=routing) as client:
        viewer = {"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"}
        assert (await client.post(path, json=body, headers=viewer)).status_code == 403
        assert (await client.post(path, json=body)).status_code == 401
        blank = await client.post(path, json={**body, "reason": "  "}, headers=staff(stack))
        assert blank.status_code == 422 and "reason" in blank.text
        unknown = await client.post(path, json={**body, "owner_id": "nobody"}, headers=staff(stack))
        assert unknown.status_code == 404 and "no owner 'nobody'" in unknown.json()["detail"]

        done = await client.post(path, json=body, headers=staff(stack))
        assert done.status_code == 200, done.text
        answer = done.json()
        assert (answer["owner_id"], answer["previous_owner_id"], answer["decision"]["via"]) == ("spare", None,
                                                                                               "manual")
        assert answer["decision"]["manual"]["reason"] == "spoke to them at the booth"
        again = await client.post(path, json=body, headers=staff(stack))
        assert again.status_code == 409 and "already assigned to spare" in again.json()["detail"]

    [routed] = await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {lead_id}, at_least=1)
    assert (routed.payload["owner_id"], routed.payload["strategy"], routed.payload["rule"]) == ("spare", "manual",
                                                                                                "manual")
    assert routed.payload["decision"]["manual"]["by"] == answer["decision"]["manual"]["by"]
    # the SLA clock holds the new owner to a minute (three seconds here): escalated, then left with them
    breaches = await events_for(stack.kafka_bootstrap, LEAD_SLA, {lead_id}, at_least=2, timeout_s=40)
    assert [(b.payload["action"], b.payload["owner_id"]) for b in breaches] == [("escalate", "spare"),
                                                                                ("give_up", "spare")]
    rows = await query(stack.database_url, "SELECT owner_id, rule, status, escalated_at IS NOT NULL, "
                       "sla_reassign_at FROM routing.assignments WHERE lead_id = :lead", lead=lead.lead_id)
    assert [tuple(r) for r in rows] == [("spare", "manual", "assigned", True, None)]
    assert len(await events_for(stack.kafka_bootstrap, LEAD_ROUTED, {lead_id}, at_least=1)) == 1
