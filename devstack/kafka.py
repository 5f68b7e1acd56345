"""A single-node Apache Kafka (KRaft, broker+controller in one JVM) without Docker.

The jars come from Maven Central through deploy/kafka/pom.xml, so the only
prerequisites are Java 17+ and Maven.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devstack import child, paths
from devstack.errors import DevstackError
from devstack.sync import run_coroutine

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
    ) -> None:
        self.libs = libs
        self.state_dir = state_dir
        self.log_path = log_path
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
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
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def prepare(self) -> None:
        """Write the configuration and format the storage if this state dir is new.

        Safe to call from any thread: it runs only short-lived processes.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "log4j2.yaml").write_text(_LOG4J2_YAML)
        properties = self.state_dir / "server.properties"
        properties.write_text(self._server_properties())
        if not (self.data_dir / "meta.properties").exists():
            self._format(properties)
        self._prepared = True

    def _format(self, properties: Path) -> None:
        result = subprocess.run(
            # "=" form: a random id may start with "-" and would otherwise parse as an option.
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_random_cluster_id()}",
                f"--config={properties}",
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
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
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
