"""Kafka transport security as settings: what is refused (naming the setting or the variable), and
what aiokafka is handed for what is accepted. No broker: the SASL_SSL broker itself is
tests/e2e/test_kafka_sasl_ssl.py."""

from __future__ import annotations

import secrets
import shutil
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from devstack.errors import DevstackError
from devstack.kafka import KafkaBroker, SaslSslUsers
from devstack.tls import make_broker_certificates
from ops.defaults import kafka_connection as ops_connection
from services.routing.settings import RoutingSettings
from shared.kafka.clients import admin_client, reader
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from shared.kafka.producer import make_producer
from shared.kafka.security import PLAINTEXT, KafkaConnection, KafkaSecurity, kafka_connection, problems_of

PASSWORD = secrets.token_urlsafe(24)  # random: settings refuse placeholders and short secrets


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl makes the test CA")
    return make_broker_certificates(tmp_path_factory.mktemp("tls")).ca_file


def sasl_ssl(ca_file: Path, **changes: object) -> KafkaSecurity:
    return KafkaSecurity(**{"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                            "sasl_username": "handoff", "sasl_password": PASSWORD, "ssl_cafile": ca_file,
                            **changes})


def refusal(**settings: object) -> str:
    with pytest.raises(ValidationError) as caught:
        KafkaSecurity(**settings)
    return problems_of(caught.value)


# -- what is refused --------------------------------------------------------------------

def test_the_default_is_plaintext_and_hands_aiokafka_nothing_else():
    assert KafkaSecurity() == PLAINTEXT
    assert PLAINTEXT.client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert kafka_connection("127.0.0.1:9092").client_kwargs() == {"bootstrap_servers": "127.0.0.1:9092",
                                                                   "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_a_sasl_protocol_needs_a_mechanism_a_user_and_a_password(protocol):
    message = refusal(security_protocol=protocol)
    assert f"security_protocol={protocol} needs sasl_mechanism, sasl_username, sasl_password" in message
    message = refusal(security_protocol=protocol, sasl_mechanism="PLAIN", sasl_username="handoff", sasl_password="")
    assert message.endswith("needs sasl_password")


def test_an_unknown_protocol_or_mechanism_is_refused():
    assert "security_protocol" in refusal(security_protocol="TLS")
    assert "sasl_mechanism" in refusal(security_protocol="SASL_SSL", sasl_mechanism="GSSAPI", sasl_username="u",
                                       sasl_password=PASSWORD)


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_sasl_settings_beside_a_protocol_without_sasl_are_a_mistake_not_ignored(protocol):
    message = refusal(security_protocol=protocol, sasl_username="handoff", sasl_password=PASSWORD)
    assert f"sasl_username, sasl_password set, but security_protocol={protocol} uses no SASL" in message


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_tls_settings_beside_a_protocol_without_tls_are_refused(protocol, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    sasl = {"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": PASSWORD} if "SASL" in protocol else {}
    message = refusal(security_protocol=protocol, ssl_cafile=ca, ssl_check_hostname=False, **sasl)
    assert f"ssl_cafile, ssl_check_hostname set, but security_protocol={protocol} uses no TLS" in message


def test_tls_files_must_exist_and_a_key_needs_its_certificate(tmp_path):
    message = refusal(security_protocol="SSL", ssl_cafile=tmp_path / "missing-ca.pem")
    assert f"ssl_cafile: no file {tmp_path / 'missing-ca.pem'}" in message
    key = tmp_path / "client.key"
    key.write_text("")
    assert "ssl_keyfile set without ssl_certfile" in refusal(security_protocol="SSL", ssl_keyfile=key)


def test_with_a_prefix_the_messages_name_the_variables():
    with pytest.raises(ValidationError) as caught:
        KafkaSecurity.model_validate({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"},
                                     context={"prefix": "HANDOFF_SCORING_KAFKA_"})
    assert ("HANDOFF_SCORING_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs HANDOFF_SCORING_KAFKA_SASL_USERNAME, "
            "HANDOFF_SCORING_KAFKA_SASL_PASSWORD") in problems_of(caught.value)


# -- where the settings come from --------------------------------------------------------

def test_a_service_reads_its_kafka_security_from_its_own_variables(monkeypatch, ca_file):
    for name, value in {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512",
                        "SASL_USERNAME": "handoff", "SASL_PASSWORD": PASSWORD, "SSL_CAFILE": str(ca_file),
                        "BOOTSTRAP_SERVERS": "broker-1:9093,broker-2:9093"}.items():
        monkeypatch.setenv(f"HANDOFF_ROUTING_KAFKA_{name}", value)
    connection = RoutingSettings().kafka_connection()
    assert connection.bootstrap_servers == "broker-1:9093,broker-2:9093"
    assert connection.security == sasl_ssl(ca_file)


def test_a_service_with_half_its_kafka_security_does_not_start(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDOFF_ROUTING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HANDOFF_ROUTING_KAFKA_SASL_USERNAME", "handoff")
    monkeypatch.setenv("HANDOFF_ROUTING_KAFKA_SSL_CAFILE", str(tmp_path / "nowhere.pem"))
    with pytest.raises(ValidationError) as caught:
        RoutingSettings()
    message = str(caught.value)
    assert ("HANDOFF_ROUTING_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs HANDOFF_ROUTING_KAFKA_SASL_MECHANISM, "
            "HANDOFF_ROUTING_KAFKA_SASL_PASSWORD") in message
    assert f"HANDOFF_ROUTING_KAFKA_SSL_CAFILE: no file {tmp_path / 'nowhere.pem'}" in message


def test_a_service_with_no_kafka_security_set_is_plaintext_as_before(monkeypatch):
    for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD", "SSL_CAFILE"):
        monkeypatch.delenv(f"HANDOFF_ROUTING_KAFKA_{name}", raising=False)
    assert RoutingSettings().kafka_connection().security == PLAINTEXT


def test_the_operator_tool_reads_handoff_kafka_variables_and_a_password_file(monkeypatch, tmp_path, ca_file):
    password_file = tmp_path / "kafka-password"
    password_file.write_text(PASSWORD + "\n")  # as `echo` writes it
    for name, value in {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512",
                        "SASL_USERNAME": "handoff", "SASL_PASSWORD_FILE": str(password_file),
                        "SSL_CAFILE": str(ca_file)}.items():
        monkeypatch.setenv(f"HANDOFF_KAFKA_{name}", value)
    monkeypatch.delenv("HANDOFF_KAFKA_SASL_PASSWORD", raising=False)
    connection = ops_connection("broker:9093")
    assert connection == KafkaConnection(bootstrap_servers="broker:9093", security=sasl_ssl(ca_file))

    monkeypatch.setenv("HANDOFF_KAFKA_SASL_MECHANISM", "MD5")
    with pytest.raises(ValidationError) as caught:
        ops_connection("broker:9093")
    assert problems_of(caught.value, "HANDOFF_KAFKA_").startswith("HANDOFF_KAFKA_SASL_MECHANISM: Input should be")


# -- the local stack's SASL_SSL broker (its configuration; tests/e2e runs it) ------------------

def test_the_sasl_ssl_broker_has_no_plaintext_door_but_its_loopback_controller(tmp_path):
    users = SaslSslUsers(password=PASSWORD, broker_password="broker-" + PASSWORD)
    broker = KafkaBroker(libs=tmp_path, state_dir=tmp_path, log_path=tmp_path / "kafka.log", port=19092,
                         controller_port=19093, sasl_ssl=users)
    properties = dict(line.split("=", 1) for line in broker._server_properties().splitlines())
    assert properties["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert properties["advertised.listeners"] == "SASL_SSL://127.0.0.1:19092"
    assert properties["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert properties["inter.broker.listener.name"] == "SASL_SSL"
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert f'user_handoff="{PASSWORD}"' in properties["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert broker._scram_users() == [f"--add-scram=SCRAM-SHA-512=[name=handoff,password={PASSWORD}]",
                                     f"--add-scram=SCRAM-SHA-512=[name=handoff-broker,password=broker-{PASSWORD}]"]
    if shutil.which("openssl"):  # the CA file exists once prepared: the clients' settings check it
        make_broker_certificates(broker.tls_dir)
        assert broker.connection == KafkaConnection(bootstrap_servers="127.0.0.1:19092", security=KafkaSecurity(
            security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="handoff",
            sasl_password=PASSWORD, ssl_cafile=tmp_path / "tls" / "ca.pem"))
    plain = KafkaBroker(libs=tmp_path, state_dir=tmp_path, log_path=tmp_path / "kafka.log", port=19092,
                        controller_port=19093)
    assert "SASL" not in plain._server_properties() and plain._scram_users() == []
    assert plain.client_security == PLAINTEXT


def test_a_store_formatted_without_the_scram_users_is_refused_naming_the_way_out(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl makes the test CA")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("cluster.id=formatted-by-a-plaintext-stack\n")
    broker = KafkaBroker(libs=tmp_path, state_dir=tmp_path, log_path=tmp_path / "kafka.log", port=19092,
                         controller_port=19093, sasl_ssl=SaslSslUsers(password=PASSWORD, broker_password=PASSWORD))
    with pytest.raises(DevstackError, match="formatted without the SASL users; start with --fresh"):
        broker.prepare()
    assert (tmp_path / "server.properties").stat().st_mode & 0o077 == 0  # it holds the passwords


def test_the_stack_ca_signs_a_broker_certificate_for_127_0_0_1_and_keeps_no_ca_key(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl makes the test CA")
    made = make_broker_certificates(tmp_path / "tls")
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["broker.pem", "ca.pem"]
    assert made.keystore_file.stat().st_mode & 0o077 == 0
    keystore = made.keystore_file.read_text()
    assert keystore.count("-----BEGIN PRIVATE KEY-----") == 1 and keystore.count("-----BEGIN CERTIFICATE-----") == 2
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(made.keystore_file)  # the key matches the certificate


# -- what aiokafka is handed ------------------------------------------------------------

def test_sasl_ssl_maps_to_aiokafkas_arguments_with_a_context_that_trusts_the_ca(ca_file):
    kwargs = sasl_ssl(ca_file).client_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "handoff", "sasl_plain_password": PASSWORD}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    subjects = [dict(item for rdn in cert["subject"] for item in rdn) for cert in context.get_ca_certs()]
    assert {"commonName": "Handoff local stack CA"} in subjects


def test_check_hostname_off_still_verifies_the_chain(ca_file):
    context = sasl_ssl(ca_file, ssl_check_hostname=False).client_kwargs()["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_plaintext_hands_no_ssl_context():
    security = KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
                             sasl_password=PASSWORD)
    assert "ssl_context" not in security.client_kwargs()
    assert security.client_kwargs()["sasl_plain_password"] == PASSWORD


def test_the_password_shows_nowhere_but_in_the_client_arguments(ca_file):
    security = sasl_ssl(ca_file)
    connection = KafkaConnection(bootstrap_servers="broker:9093", security=security)
    for shown in (repr(security), str(security), security.describe(), str(connection), repr(connection)):
        assert PASSWORD not in shown
    assert security.describe() == f"SASL_SSL, SCRAM-SHA-512 as handoff, CA {ca_file}"
    assert str(connection) == "broker:9093"  # what errors and the operator page show


class Recorded:
    """Stands in for aiokafka's admin client and consumer: keeps what it was built with."""

    made: list[dict] = []

    def __init__(self, *topics: str, **kwargs: object) -> None:
        Recorded.made.append(kwargs)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    stop = close

    def subscribe(self, *args: object, **kwargs: object) -> None:
        pass


async def test_every_client_of_shared_kafka_is_built_with_the_connections_security(monkeypatch):
    import shared.kafka.clients
    import shared.kafka.consumer

    monkeypatch.setattr(shared.kafka.clients, "AIOKafkaAdminClient", Recorded)
    monkeypatch.setattr(shared.kafka.clients, "AIOKafkaConsumer", Recorded)
    monkeypatch.setattr(shared.kafka.consumer, "AIOKafkaConsumer", Recorded)
    Recorded.made.clear()
    security = KafkaSecurity(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                             sasl_username="handoff", sasl_password=PASSWORD)
    connection = KafkaConnection(bootstrap_servers="broker:9093", security=security)
    expected = {"bootstrap_servers": "broker:9093", "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "handoff", "sasl_plain_password": PASSWORD}

    producer = make_producer(connection, client_id="unit")
    renewed = producer.renewed()
    try:
        for made in (producer, renewed):  # aiokafka's own producer, never started
            client = made.client
            assert {k: getattr(client, f"_{k}") for k in expected} == expected
        async with admin_client(connection), reader(connection):
            pass
        consumer = EventConsumer(ConsumerSpec("c", ("t",), handler=None),  # type: ignore[arg-type]
                                 service="unit", bootstrap_servers=connection, sessions=None,  # type: ignore[arg-type]
                                 processed=None, producer=producer)  # type: ignore[arg-type]
        await consumer.start()
    finally:
        for made in (producer, renewed):
            await made.stop()
    assert len(Recorded.made) == 3
    for kwargs in Recorded.made:  # admin client, reader, the service's group consumer
        assert {k: kwargs.get(k) for k in expected} == expected
