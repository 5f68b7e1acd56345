"""A single-node Apache Kafka (KRaft, broker+controller in one JVM) without Docker.

The jars come from Maven Central through deploy/kafka/pom.xml, so the only
prerequisites are Java 17+ and Maven.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devstack import child, paths
from devstack.errors import DevstackError
from devstack.sync import run_coroutine
from devstack.tls import make_broker_certificates
from shared.kafka.security import PLAINTEXT, KafkaConnection, KafkaSecurity

KAFKA_VERSION = "4.4.0"

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # Maven colours its errors even in batch mode

# C1-only JIT and the serial collector cut broker start from ~4 s to ~3 s on two cores;
# a development broker never runs long enough for C2 to pay off.
_JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xms128m")

_LOG4J2_YAML = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
"""


def _require(tool: str, why: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise DevstackError(f"`{tool}` not found on PATH: {why}")
    return found


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Return the directory of Kafka's runtime jars, downloading them with Maven on first use.

    A marker written after a successful copy makes an interrupted download start over
    instead of leaving a broker with half a classpath. A file lock lets parallel test
    runs share one download.
    """
    version_dir = paths.kafka_version_dir(version)
    libs = version_dir / "libs"
    marker = version_dir / "complete"
    if marker.exists():
        return libs
    version_dir.mkdir(parents=True, exist_ok=True)
    with open(version_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return libs
        mvn = _require("mvn", "Maven fetches the Kafka jars (Debian/Ubuntu: apt-get install maven)")
        _require(
            "java", "the Kafka broker needs Java 17+ (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
        shutil.rmtree(libs, ignore_errors=True)
        print(
            f"downloading Apache Kafka {version} from Maven Central (first run only) ...",
            file=sys.stderr,
            flush=True,
        )
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(paths.KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
                f"-Dkafka.version={version}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
            output = _ANSI_ESCAPE.sub("", "\n".join((result.stdout + result.stderr).splitlines()[-30:]))
            raise DevstackError(
                f"Maven could not fetch Apache Kafka {version} (exit {result.returncode}):\n{output}"
            )
        marker.write_text(f"{version}\n")
    return libs


@dataclass(frozen=True)
class SaslSslUsers:
    """The SASL_SSL listener's users: the clients' (SCRAM-SHA-512 or PLAIN) and the broker's own,
    which it talks to itself as over the same listener (SCRAM-SHA-512)."""

    password: str
    broker_password: str
    username: str = "handoff"
    broker_username: str = "handoff-broker"
    mechanism: str = "SCRAM-SHA-512"


# written once the storage was formatted with the SCRAM users: a store formatted without them
# (a plaintext stack's) cannot serve a SASL_SSL broker, and says so instead of refusing every login
_SCRAM_MARKER = "scram-users"


def _random_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints, without paying for a JVM start."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class KafkaBroker:
    """One KRaft node acting as broker and controller, listening on loopback only."""

    def __init__(
        self,
        *,
        libs: Path,
        state_dir: Path,
        log_path: Path,
        port: int,
        controller_port: int,
        heap: str = "512m",
        sasl_ssl: SaslSslUsers | None = None,
    ) -> None:
        self.libs = libs
        self.state_dir = state_dir
        self.log_path = log_path
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.sasl_ssl = sasl_ssl
        self._prepared = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_before = False  # a restart appends to the log instead of truncating it

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def ca_file(self) -> Path | None:
        """The certificate clients trust (made by ``prepare``); None: a plaintext broker."""
        return self.tls_dir / "ca.pem" if self.sasl_ssl else None

    @property
    def client_security(self) -> KafkaSecurity:
        """What a client needs to be let in: PLAINTEXT, or SASL_SSL as the stack's user (after ``prepare``)."""
        if self.sasl_ssl is None:
            return PLAINTEXT
        return KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism=self.sasl_ssl.mechanism,
                             sasl_username=self.sasl_ssl.username, sasl_password=self.sasl_ssl.password,
                             ssl_cafile=self.ca_file)

    @property
    def connection(self) -> KafkaConnection:
        return KafkaConnection(bootstrap_servers=self.bootstrap, security=self.client_security)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            _require("java", "the Kafka broker needs Java 17+"),
            f"-Xmx{self.heap}",
            *_JVM_FLAGS,
            "-cp",
            str(self.libs / "*"),
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.yaml'}",
            main,
            *args,
        ]

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if self.sasl_ssl is not None:
            settings.update(self._sasl_ssl_properties(self.sasl_ssl))
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _sasl_ssl_properties(self, users: SaslSslUsers) -> dict[str, str]:
        """Clients and the broker itself on one SASL_SSL listener (SCRAM-SHA-512 and PLAIN, TLS with
        the stack's CA); the controller stays PLAINTEXT on loopback."""
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            # SCRAM's users are in the metadata log (formatted in); these are the broker's own login
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                f'{scram} required username="{users.broker_username}" password="{users.broker_password}";',
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f'{plain} required user_{users.username}="{users.password}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls_dir / "broker.pem"),
            "ssl.truststore.type": "PEM",  # the broker's own client trusts the stack's CA
            "ssl.truststore.location": str(self.tls_dir / "ca.pem"),
            "ssl.client.auth": "none",
        }

    def prepare(self) -> None:
        """Write the configuration and format the storage if this state dir is new.

        Safe to call from any thread: it runs only short-lived processes.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "log4j2.yaml").write_text(_LOG4J2_YAML)
        if self.sasl_ssl is not None:
            make_broker_certificates(self.tls_dir)
        properties = self.state_dir / "server.properties"
        fd = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it may hold passwords
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self._server_properties())
        if not (self.data_dir / "meta.properties").exists():
            self._format(properties)
        elif self.sasl_ssl is not None and not (self.state_dir / _SCRAM_MARKER).exists():
            raise DevstackError(f"the Kafka storage in {self.data_dir} was formatted without the SASL users; "
                                "start with --fresh (an empty Kafka and database) or another --state-dir")
        self._prepared = True

    def _format(self, properties: Path) -> None:
        result = subprocess.run(
            # "=" form: a random id may start with "-" and would otherwise parse as an option.
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_random_cluster_id()}",
                f"--config={properties}",
                *self._scram_users(),
            ),
            cwd=self.state_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise DevstackError(
                f"formatting Kafka storage in {self.data_dir} failed:\n{result.stdout}{result.stderr}"
            )
        if self.sasl_ssl is not None:
            (self.state_dir / _SCRAM_MARKER).write_text(f"{self.sasl_ssl.username}\n{self.sasl_ssl.broker_username}\n")

    def _scram_users(self) -> list[str]:
        """``--add-scram`` for each SCRAM user: KRaft keeps them in the metadata log, from its first record."""
        users = self.sasl_ssl
        if users is None:
            return []
        return [f"--add-scram={users.mechanism}=[name={name},password={password}]"
                for name, password in ((users.username, users.password),
                                       (users.broker_username, users.broker_password))]

    def start(self) -> None:
        """Start the broker JVM (preparing first if `prepare` was not called)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._prepared:
            self.prepare()
        child.ensure_port_free(self.port, "the Kafka broker")
        child.ensure_port_free(self.controller_port, "the Kafka controller")
        self._proc = child.spawn(
            self._java("kafka.Kafka", str(self.state_dir / "server.properties")),
            log_path=self.log_path,
            cwd=self.state_dir,
            death_signal=signal.SIGTERM,
            append=self._started_before,
        )
        self._started_before = True

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the broker answers metadata requests and can coordinate consumer groups.

        Waiting for the group coordinator too saves every service's first consumer from
        a round of GroupCoordinatorNotAvailable right after start.
        """
        run_coroutine(self._wait_ready(timeout))

    async def _wait_ready(self, timeout: float) -> None:
        if self._proc is None:
            raise DevstackError("Kafka broker was not started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise child.failure("Kafka broker died during startup", self.log_path, self._proc)
            # Probing the port first keeps aiokafka from logging a connection error per try.
            if child.port_accepts(self.port) and await self._answers():
                return
            await asyncio.sleep(0.1)
        raise child.failure(
            f"Kafka broker not ready on {self.bootstrap} after {timeout:.0f} s", self.log_path, self._proc
        )

    async def _answers(self) -> bool:
        admin = AIOKafkaAdminClient(**self.connection.client_kwargs(), request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            await admin.find_coordinator("handoff-devstack-readiness")
        except KafkaError:
            return False
        finally:
            await admin.close()
        return True

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL after `timeout` seconds."""
        if self._proc is not None:
            child.terminate_all([(self._proc, signal.SIGTERM)], timeout)
            self._proc = None
