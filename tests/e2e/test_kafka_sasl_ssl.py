"""The pipeline over a broker whose one client listener is SASL_SSL (``StackConfig.kafka_sasl_ssl``,
``./handoff up --kafka-sasl-ssl``): a stack of its own, with a CA it made itself and SCRAM users
formatted into the metadata log. A lead goes from intake to a routing decision through it; a
plaintext client, a TLS client without SASL, a wrong password and a client that does not trust
the stack's CA are all turned away by the broker, while the right user gets in on the same port."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from aiokafka.helpers import create_ssl_context
from typer.testing import CliRunner

from devstack.stack import SERVICES, Stack, StackConfig
from ops.cli import app as ops_app
from shared.events.topics import LEAD_CAPTURED
from shared.kafka.security import KafkaSecurity
from tests.conftest import FAST_RETRIES, staff
from tests.e2e.helpers import QUALIFIED, wait_for_event

pytestmark = pytest.mark.stack

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def sasl_stack() -> Iterator[Stack]:
    service_env = {name: {f"HANDOFF_{name.upper()}_{k}": v for k, v in FAST_RETRIES.items()} for name in SERVICES}
    state_dir = Path(tempfile.mkdtemp(prefix="handoff-test-sasl-stack-"))
    config = StackConfig.ephemeral(state_dir, kafka_sasl_ssl=True, service_env=service_env)
    try:
        with Stack(config) as running:
            yield running
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def security(stack: Stack, **changes: object) -> KafkaSecurity:
    """The stack's client security with some settings changed (a wrong password, another protocol)."""
    return KafkaSecurity.model_validate({**stack.kafka_connection.security.model_dump(), **changes})


async def admin_answers(stack: Stack, kafka_security: KafkaSecurity) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=5000,
                                **kafka_security.client_kwargs())
    try:
        await admin.start()
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def log_in(stack: Stack, kafka_security: KafkaSecurity) -> None:
    """One connection: TLS handshake, ApiVersions and the SASL exchange; raises what the broker answers."""
    conn = await create_conn(HOST, stack.config.kafka_port, request_timeout_ms=5000,
                             **kafka_security.client_kwargs())
    conn.close()


def test_the_stack_gives_its_services_the_sasl_ssl_settings(sasl_stack):
    env = sasl_stack.env_for("routing")
    assert env["HANDOFF_ROUTING_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["HANDOFF_ROUTING_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["HANDOFF_ROUTING_KAFKA_SASL_USERNAME"] == "handoff"
    assert env["HANDOFF_ROUTING_KAFKA_SASL_PASSWORD"] == sasl_stack.secrets.kafka_password
    assert Path(env["HANDOFF_ROUTING_KAFKA_SSL_CAFILE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    properties = (sasl_stack.layout.kafka_dir / "server.properties").read_text()
    assert "listeners=SASL_SSL://127.0.0.1:" in properties and "PLAINTEXT://" not in properties
    assert (sasl_stack.layout.kafka_dir / "server.properties").stat().st_mode & 0o077 == 0  # it holds passwords


def test_a_lead_is_captured_scored_and_routed_through_the_sasl_ssl_broker(sasl_stack, email):
    for name, url in sasl_stack.urls.items():
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["checks"]["kafka"] == "ok", name
    key = sasl_stack.secrets.intake_api_keys["web-form"]
    with httpx.Client(base_url=sasl_stack.urls["intake"], timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as intake, \
            httpx.Client(base_url=sasl_stack.urls["feedback"], timeout=10, headers=staff(sasl_stack)) as feedback:
        accepted = intake.post("/leads", json={"email": email, **QUALIFIED})
        assert accepted.status_code == 202, accepted.text
        story = wait_for_event(feedback, accepted.json()["lead_id"], "lead.routed", timeout_s=30)
        overview = feedback.get("/ops/overview")  # the operator page samples the broker with the same settings
        assert overview.status_code == 200, overview.text
        topics = {t["topic"]: t for t in overview.json()["kafka"]["topics"]}
        assert topics[LEAD_CAPTURED.name]["messages"] >= 1
    assert [e["type"] for e in story["events"]] == ["lead.captured", "lead.scored", "lead.routed"]
    assert story["events"][-1]["payload"]["owner_id"]


async def test_the_stacks_user_gets_in_with_scram_and_with_plain(sasl_stack):
    assert LEAD_CAPTURED.name in await admin_answers(sasl_stack, security(sasl_stack))
    assert LEAD_CAPTURED.name in await admin_answers(sasl_stack, security(sasl_stack, sasl_mechanism="PLAIN"))


async def test_the_broker_refuses_a_wrong_password_with_either_mechanism(sasl_stack):
    for mechanism in ("SCRAM-SHA-512", "PLAIN"):
        wrong = security(sasl_stack, sasl_mechanism=mechanism, sasl_password="not-the-stack-password-at-all")
        with pytest.raises(SaslAuthenticationFailed):
            await log_in(sasl_stack, wrong)
        await log_in(sasl_stack, security(sasl_stack, sasl_mechanism=mechanism))  # the right one, same port


async def test_the_broker_refuses_plaintext_and_tls_without_sasl(sasl_stack):
    with pytest.raises(KafkaConnectionError):
        await admin_answers(sasl_stack, KafkaSecurity())  # PLAINTEXT
    tls_only = KafkaSecurity(security_protocol="SSL", ssl_cafile=sasl_stack.kafka_connection.security.ssl_cafile)
    with pytest.raises(KafkaConnectionError):
        await admin_answers(sasl_stack, tls_only)


async def test_the_broker_presents_a_certificate_of_the_stacks_own_ca_for_127_0_0_1(sasl_stack):
    ca_file = sasl_stack.kafka_connection.security.ssl_cafile
    context = create_ssl_context(cafile=ca_file)  # verifies the chain and the name 127.0.0.1
    _, writer = await asyncio.open_connection(HOST, sasl_stack.config.kafka_port, ssl=context)
    try:
        peer = writer.get_extra_info("peercert")
    finally:
        writer.close()
    assert ("IP Address", HOST) in peer["subjectAltName"]
    assert dict(item for rdn in peer["issuer"] for item in rdn)["commonName"] == "Handoff local stack CA"
    # a client that trusts only the system's authorities is refused the handshake
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(HOST, sasl_stack.config.kafka_port, ssl=ssl.create_default_context())


def test_the_operator_tool_takes_the_broker_security_from_its_environment(sasl_stack):
    runner = CliRunner()
    result = runner.invoke(ops_app, ["topics", "--json", "--interval", "0"], env=sasl_stack.kafka_env())
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert LEAD_CAPTURED.name in {t["name"] for t in json.loads(result.stdout)["topics"]}

    plaintext = runner.invoke(ops_app, ["topics", "--json", "--interval", "0", "--bootstrap", sasl_stack.kafka_bootstrap],
                              env={"HANDOFF_KAFKA_SECURITY_PROTOCOL": None})
    assert plaintext.exit_code == 2, (plaintext.stdout, plaintext.stderr)  # unreachable: the broker let it not in

    half = runner.invoke(ops_app, ["topics", "--interval", "0"],
                         env={**sasl_stack.kafka_env(), "HANDOFF_KAFKA_SASL_USERNAME": ""})
    assert half.exit_code == 1
    assert "HANDOFF_KAFKA_SASL_USERNAME" in half.stderr
