"""The whole local system: Kafka, PostgreSQL, topics, migrations and the four services.

`Stack` is what `./handoff up`, the demo and the stack tests share, so a test run
starts exactly what a developer runs by hand, only on free ports and a temporary
state directory.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from devstack import child, credentials, paths
from devstack.credentials import StackSecrets
from devstack.errors import DevstackError
from devstack.kafka import KAFKA_VERSION, KafkaBroker, SaslSslUsers, ensure_kafka_jars
from devstack.postgres import EmbeddedPostgres
from devstack.processes import ServiceProcess
from devstack.sync import run_coroutine
from devstack.topics import ensure_topics
from shared.kafka.security import ENV_NAMES, PLAINTEXT, KafkaConnection
from shared.settings import (
    LOCAL_KAFKA_CONTROLLER_PORT,
    LOCAL_KAFKA_PORT,
    LOCAL_POSTGRES_PORT,
    LOCAL_SERVICE_PORTS,
)

SERVICES: tuple[str, ...] = tuple(LOCAL_SERVICE_PORTS)
EXAMPLE_FORM_PAGE = "http://127.0.0.1:8080"  # where README serves examples/forms/contact.html from


def replica_name(service: str, index: int) -> str:
    """How the stack names the ``index``-th process of ``service`` (from 1): the first is the
    service itself ("routing"), the others "routing-2", "routing-3", ... That name is the
    process's handle (``kill_service``, ``start_service``, ``log_path``, ``replica_urls``) and
    its log file; its consumers' static-membership instance id is ``local-<name>``."""
    if index < 1:
        raise DevstackError(f"replica indexes start at 1, not {index}")
    return service if index == 1 else f"{service}-{index}"


@dataclass
class StackConfig:
    """Everything that differs between the interactive stack and a test stack."""

    state_dir: Path
    kafka_port: int = LOCAL_KAFKA_PORT
    kafka_controller_port: int = LOCAL_KAFKA_CONTROLLER_PORT
    postgres_port: int = LOCAL_POSTGRES_PORT
    service_ports: dict[str, int] = field(default_factory=lambda: dict(LOCAL_SERVICE_PORTS))
    services: Sequence[str] = SERVICES
    database_url: str | None = None  # set: use this database instead of starting PostgreSQL
    config_dir: Path = paths.CONFIG_DIR
    echo: bool = False  # copy service logs to our stderr, prefixed with the service name
    migrate: bool = True
    lead_id_key: bytes | None = None  # tests: the key the installation takes (None: the migration's own)
    kafka: bool = True  # False: PostgreSQL (and the migrations) only, e.g. for tests of use cases
    kafka_version: str = KAFKA_VERSION
    # True: the broker's one client listener is SASL_SSL (SCRAM-SHA-512 or PLAIN as user handoff, TLS with
    # a CA the stack makes), and the services and tools it starts get the matching HANDOFF_*_KAFKA_* settings
    kafka_sasl_ssl: bool = False
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> extra env vars
    intake_sources: Sequence[str] = credentials.INTAKE_SOURCES  # each gets an API key
    durable_database: bool = True  # False: fsync and synchronous_commit off (throw-away test stacks only)
    ready_timeout: float = 90.0
    # service -> how many processes of it run (default 1), e.g. {"scoring": 2, "routing": 2}: every
    # further replica ("routing-2", see replica_name) shares the database, the topics and the consumer
    # groups, has an instance id of its own (static membership: the same id would fence the other
    # replica out of its groups) and listens on a port of its own (replica_ports, else a free one)
    replicas: dict[str, int] = field(default_factory=dict)
    replica_ports: dict[str, int] = field(default_factory=dict)  # replica name ("routing-2") -> port

    @classmethod
    def default(cls, state_dir: Path | None = None, **overrides: Any) -> StackConfig:
        """The interactive stack: fixed well-known ports, state kept in the cache between runs."""
        overrides.setdefault("database_url", os.environ.get("DATABASE_URL") or None)
        return cls(state_dir=state_dir or paths.default_state_dir(), **overrides)

    @classmethod
    def ephemeral(cls, state_dir: Path, **overrides: Any) -> StackConfig:
        """A test stack on free loopback ports, so it can run beside `up` or another test run.
        Its PostgreSQL is not durable (fsync off): the data is thrown away with the stack."""
        ports = child.free_ports(3 + len(SERVICES))
        overrides.setdefault("database_url", os.environ.get("DATABASE_URL") or None)
        overrides.setdefault("durable_database", False)
        return cls(
            state_dir=state_dir,
            kafka_port=ports[0],
            kafka_controller_port=ports[1],
            postgres_port=ports[2],
            service_ports=dict(zip(SERVICES, ports[3:], strict=True)),
            **overrides,
        )


def _print_progress(message: str) -> None:
    print(f"handoff: {message}", file=sys.stderr, flush=True)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return tree


def _asyncpg_url(url: str) -> str:
    """Services use SQLAlchemy's asyncio engine, which needs the +asyncpg driver in the URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Stack:
    """Start and stop every component of a Handoff stack, in order, as child processes.

    `start()` blocks until everything is ready and may be called from any thread,
    including one running an event loop. The children cannot outlive this process:
    `stop()` runs at interpreter exit, SIGTERM unwinds like Ctrl-C (unless someone else
    handles SIGTERM), and the kernel signals the children if this process is killed outright.
    """

    def __init__(
        self, config: StackConfig, *, progress: Callable[[str], None] | None = _print_progress
    ) -> None:
        self.config = config
        self.layout = paths.StateLayout(config.state_dir)
        self._progress = progress or (lambda message: None)
        self._broker: KafkaBroker | None = None
        self._postgres: EmbeddedPostgres | None = None
        self._services: dict[str, ServiceProcess] = {}
        self._secrets: StackSecrets | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._sigterm_installed = False
        self._previous_sigterm: Any = None
        self._started_at = 0.0
        self.lead_id_key: bytes | None = None  # the installation's, once migrated

    # -- what tests and the demo read ----------------------------------------------

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.config.kafka_port}"

    @property
    def kafka_connection(self) -> KafkaConnection:
        """What a client needs to reach this stack's broker: its address, and with ``kafka_sasl_ssl``
        the stack's user, password and CA (whose file exists once the broker was prepared)."""
        if self._broker is not None:
            return self._broker.connection
        if self.config.kafka_sasl_ssl:
            raise DevstackError("this stack's SASL_SSL broker is not started: its CA and users come with it")
        return KafkaConnection(bootstrap_servers=self.kafka_bootstrap)

    def kafka_env(self, prefix: str = "HANDOFF_KAFKA_") -> dict[str, str]:
        """The Kafka client variables with ``prefix`` (the operator tool's by default, a service's
        with ``HANDOFF_<SVC>_KAFKA_``): the bootstrap servers, and the security unless PLAINTEXT."""
        connection = self.kafka_connection
        env = {prefix + "BOOTSTRAP_SERVERS": connection.bootstrap_servers}
        security = connection.security
        if security != PLAINTEXT:
            for field, value in security.model_dump(exclude_defaults=True).items():
                if hasattr(value, "get_secret_value"):
                    value = value.get_secret_value()
                env[prefix + ENV_NAMES[field]] = str(value)
        return env

    @property
    def database_url(self) -> str:
        if self.config.database_url:
            return _asyncpg_url(self.config.database_url)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.config.postgres_port}/handoff"

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each configured service, e.g. {"intake": "http://127.0.0.1:8001"}."""
        return {name: f"http://127.0.0.1:{self.config.service_ports[name]}" for name in self.config.services}

    @property
    def secrets(self) -> StackSecrets:
        if self._secrets is None:
            self._secrets = credentials.load_or_create(self.layout.secrets_file, self.config.intake_sources)
        return self._secrets

    @property
    def logs_dir(self) -> Path:
        return self.layout.logs_dir

    def env_for(self, service: str, index: int = 1) -> dict[str, str]:
        """The variables a service process gets on top of our environment (also handy in-process);
        ``index`` > 1: those of a further replica, whose instance id has its index appended."""
        env: dict[str, str] = {}
        for name in SERVICES:
            prefix = f"HANDOFF_{name.upper()}_"
            env[prefix + "DATABASE_URL"] = self.database_url
            env.update(self.kafka_env(prefix + "KAFKA_"))
            env[prefix + "CONFIG_DIR"] = str(self.config.config_dir)
            env[prefix + "INSTANCE_ID"] = f"local-{name}"  # one replica each: static group members
        env["HANDOFF_INTAKE_API_KEYS"] = json.dumps(self.secrets.intake_api_keys)
        env["HANDOFF_INTAKE_FORM_KEYS"] = json.dumps(self.secrets.intake_form_keys)
        env["HANDOFF_INTAKE_FORM_ORIGINS"] = json.dumps({"contact": [EXAMPLE_FORM_PAGE]})  # README: examples/forms
        env["HANDOFF_FEEDBACK_WEBHOOK_SECRET"] = self.secrets.crm_webhook_secret
        env["HANDOFF_FEEDBACK_HUBSPOT_CLIENT_SECRET"] = self.secrets.hubspot_client_secret
        env.update(self.config.service_env.get(service, {}))
        if index > 1:  # after service_env, so an instance id set there gets the suffix too
            key = f"HANDOFF_{service.upper()}_INSTANCE_ID"
            env[key] = f"{env[key]}-{index}"
        return env

    @property
    def replica_urls(self) -> dict[str, str]:
        """Base URL of every service process by its name (``replica_name``): the first replica of
        each service under the service's name, as in ``urls``, and the others, e.g. "routing-2"."""
        return {name: service.url for name, service in self._services.items()}

    def replicas_of(self, service: str) -> list[str]:
        """The names of the processes of ``service`` this stack started, the first one first."""
        return [name for name, process in self._services.items() if process.name == service]

    def dead_components(self) -> dict[str, int]:
        """Components that exited although the stack was not stopped: name -> exit status."""
        dead = {}
        for name, proc in self._processes():
            if proc.poll() is not None:
                dead[name] = proc.returncode
        return dead

    def log_path(self, component: str) -> Path:
        """Log of "kafka", "postgres" or a service name."""
        return self.layout.log(component)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Stack:
        """Bring everything up and return when all of it is ready; on failure stop what started."""
        if self._broker is not None:
            raise DevstackError("this stack is already started")
        if not self.config.kafka and self.config.services:
            raise DevstackError("the services need Kafka: start the stack with kafka=True, or with no services")
        unknown = set(self.config.services) - set(SERVICES)
        if unknown:
            raise DevstackError(
                f"unknown services: {', '.join(sorted(unknown))} (known: {', '.join(SERVICES)})"
            )
        for service, count in self.config.replicas.items():
            if service not in self.config.services:
                raise DevstackError(f"replicas of {service}, which this stack does not run")
            if count < 1:
                raise DevstackError(f"{service}: at least 1 replica, not {count}")
        self._started_at = time.monotonic()
        self._closing = False
        self._register_cleanup()
        try:
            self._start_infrastructure()
            self._start_services()
        except BaseException:
            self.stop()
            raise
        self._step(f"stack ready in {time.monotonic() - self._started_at:.1f} s")
        return self

    def stop(self) -> None:
        """Stop services, then Kafka and PostgreSQL; safe to call any number of times."""
        with self._lock:
            self._closing = True
            began = time.monotonic()
            services = list(self._services.values())
            if services:
                self._progress("stopping services")
                child.terminate_all([(s.process, signal.SIGTERM) for s in services if s.process], timeout=10)
                self._services.clear()
            infrastructure: dict[str, tuple[subprocess.Popen[bytes], signal.Signals]] = {}
            if self._broker and self._broker.process:
                infrastructure["Kafka"] = (self._broker.process, signal.SIGTERM)
            if self._postgres and self._postgres.process:
                infrastructure["PostgreSQL"] = (self._postgres.process, signal.SIGINT)
            if infrastructure:
                self._progress(f"stopping {' and '.join(infrastructure)}")
                child.terminate_all(list(infrastructure.values()), timeout=20)
            self._broker = self._postgres = None
            if services or infrastructure:
                self._progress(f"stopped in {time.monotonic() - began:.1f} s")
            self._unregister_cleanup()

    def kill_service(self, name: str) -> None:
        """kill -9 one service process, as a crash or the OOM killer does; the rest keeps running.
        ``name``: a service (its first replica) or a further replica ("routing-2")."""
        process = self._services[name].process
        if process is None or process.poll() is not None:
            raise DevstackError(f"{name} is not running")
        process.kill()
        process.wait(timeout=10)

    def start_service(self, name: str, timeout: float | None = None) -> None:
        """Start a service (or replica) killed by ``kill_service`` again, with the same environment
        and port, until ready."""
        service = self._services[name]
        self._launch(service)
        service.wait_ready(timeout or self.config.ready_timeout)

    def start_replica(self, service: str, index: int, timeout: float | None = None) -> str:
        """Start the ``index``-th replica (2, 3, ...) of a running service until ready and return its
        name ("routing-2"); a replica started before is started again, like ``start_service``.
        ``StackConfig.replicas`` has ``start`` do this for each replica it asks for."""
        if index < 2:
            raise DevstackError(f"replica {index} of {service}: the stack starts the first replica itself")
        if service not in self._services:
            raise DevstackError(f"{service} is not running in this stack")
        name = replica_name(service, index)
        if name not in self._services:
            self._services[name] = self._service_process(service, index)
            self._step(f"starting {name} on :{self._services[name].port}")
        self.start_service(name, timeout)
        return name

    def kill_kafka(self) -> None:
        """kill -9 the broker, as a crash does: no controlled shutdown, the logs recovered at the next
        start. Clients see connections refused until ``start_kafka``."""
        process = self._broker.process if self._broker else None
        if process is None or process.poll() is not None:
            raise DevstackError("this stack's Kafka broker is not running")
        process.kill()
        process.wait(timeout=10)

    def stop_kafka(self) -> None:
        """Stop the broker (SIGTERM: controlled shutdown) and leave the rest running: an outage."""
        if self._broker is None:
            raise DevstackError("this stack runs no Kafka broker")
        self._broker.stop()

    def start_kafka(self, timeout: float | None = None) -> None:
        """Start the broker stopped or killed before again, on the same ports and data, until it
        answers metadata requests and coordinates groups."""
        if self._broker is None:
            raise DevstackError("this stack runs no Kafka broker")
        self._launch(self._broker)
        self._broker.wait_ready(timeout or self.config.ready_timeout)

    def freeze_postgres(self) -> None:
        """SIGSTOP every PostgreSQL process: connections stay open and nothing answers, as with a
        stalled disk or a paused VM. ``thaw_postgres`` resumes them."""
        self._signal_postgres(signal.SIGSTOP)

    def thaw_postgres(self) -> None:
        self._signal_postgres(signal.SIGCONT)

    def _signal_postgres(self, sig: signal.Signals) -> None:
        if self._postgres is None or self._postgres.process is None:
            raise DevstackError("this stack runs no PostgreSQL of its own")
        for pid in process_tree(self._postgres.process.pid):  # the postmaster and every backend
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass  # a backend that ended meanwhile

    def stop_postgres(self) -> None:
        """Stop the stack's PostgreSQL (fast shutdown) and leave the rest running: an outage."""
        if self._postgres is None:
            raise DevstackError("this stack runs no PostgreSQL of its own")
        self._postgres.stop()

    def start_postgres(self, timeout: float = 30.0) -> None:
        """Start the PostgreSQL stopped by ``stop_postgres`` again, on the same port and data."""
        if self._postgres is None:
            raise DevstackError("this stack runs no PostgreSQL of its own")
        self._postgres.start()
        self._postgres.wait_ready(timeout)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- steps ---------------------------------------------------------------------

    def _step(self, message: str) -> None:
        self._progress(f"[{time.monotonic() - self._started_at:5.1f}s] {message}")

    def _start_infrastructure(self) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self._secrets = credentials.load_or_create(self.layout.secrets_file, self.config.intake_sources)
        broker = None
        if self.config.kafka:
            self._step("fetching Kafka jars")
            broker = self._broker = KafkaBroker(
                libs=ensure_kafka_jars(self.config.kafka_version),
                state_dir=self.layout.kafka_dir,
                log_path=self.layout.log("kafka"),
                port=self.config.kafka_port,
                controller_port=self.config.kafka_controller_port,
                sasl_ssl=SaslSslUsers(password=self._secrets.kafka_password,
                                      broker_password=self._secrets.kafka_broker_password)
                if self.config.kafka_sasl_ssl else None,
            )
        postgres = None
        if not self.config.database_url:
            postgres = self._postgres = EmbeddedPostgres(
                state_dir=self.layout.postgres_dir,
                log_path=self.layout.log("postgres"),
                port=self.config.postgres_port,
                durable=self.config.durable_database,
            )
        timeout = self.config.ready_timeout

        def kafka_and_topics() -> None:
            if broker is None:
                return
            broker.prepare()
            self._step(f"starting Kafka broker on {self.kafka_bootstrap}")
            self._launch(broker)
            self._step("waiting for Kafka")
            broker.wait_ready(timeout)
            self._step("creating topics")
            run_coroutine(ensure_topics(self.kafka_connection))

        def database_and_migrations() -> None:
            if postgres:
                postgres.prepare()
                self._step(f"starting PostgreSQL on 127.0.0.1:{self.config.postgres_port}")
                self._launch(postgres)
                postgres.wait_ready(timeout)
                self._step("PostgreSQL ready")
            if self.config.migrate:
                self._step("migrating")
                self._migrate()

        # Two independent chains: Kafka's storage format and slow JVM start overlap
        # initdb, PostgreSQL's start and the migrations.
        _concurrently([kafka_and_topics, database_and_migrations])

    def _migrate(self) -> None:
        """Runs on a _concurrently worker thread, where upgrade_all may start its own event
        loop even when start() was called from inside one (a pytest-asyncio fixture)."""
        from shared.db.migrations import upgrade_all

        upgrade_all(self.database_url)
        asyncio.run(self._ensure_tokens())
        self.lead_id_key = asyncio.run(self._lead_id_key(self.config.lead_id_key))

    async def _lead_id_key(self, wanted: bytes | None) -> bytes:
        """The installation's lead id key; ``wanted`` replaces it while no lead is stored (a
        test process that computes ids itself), never after: that would split every lead."""
        from sqlalchemy import func, select, update

        from services.scoring.tables import leads
        from shared.access.installation import load_lead_id_key
        from shared.access.tables import installation
        from shared.db.engine import make_engine

        engine = make_engine(self.database_url, pool_size=1)
        try:
            key = await load_lead_id_key(engine)
            if wanted is None or wanted == key:
                return key
            async with engine.begin() as conn:
                if (await conn.execute(select(func.count()).select_from(leads))).scalar_one():
                    raise DevstackError("this stack's database holds leads under another lead id key; "
                                        "start it with a fresh state dir")
                await conn.execute(update(installation).values(lead_id_key=wanted))
            return wanted
        finally:
            await engine.dispose()

    async def _ensure_tokens(self) -> None:
        """The stack's tokens (one per role, and local-admin with every role of a person) are
        in the access schema with the values of the state dir's secrets file."""
        from shared.access.store import ensure_tokens
        from shared.db.engine import make_engine, make_sessionmaker, unit_of_work

        engine = make_engine(self.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                await ensure_tokens(session, self.secrets.tokens(), created_by="local stack",
                                    now=datetime.now(UTC))
        finally:
            await engine.dispose()

    def _service_process(self, service: str, index: int) -> ServiceProcess:
        name = replica_name(service, index)
        if index == 1:
            port = self.config.service_ports[service]
        else:
            port = self.config.replica_ports.get(name) or child.free_ports(1)[0]
        return ServiceProcess(
            service,
            port=port,
            env={**os.environ, **self.env_for(service, index)},
            log_path=self.layout.log(name),
            cwd=paths.REPO_ROOT,
            echo=self.config.echo,
            label=name,
        )

    def _start_services(self) -> None:
        for service_name in self.config.services:
            for index in range(1, self.config.replicas.get(service_name, 1) + 1):
                service = self._service_process(service_name, index)
                self._step(f"starting {service.label} on :{service.port}")
                self._services[service.label] = service
                self._launch(service)
        timeout = self.config.ready_timeout
        _concurrently([partial(service.wait_ready, timeout) for service in self._services.values()])

    def _launch(self, component: KafkaBroker | EmbeddedPostgres | ServiceProcess) -> None:
        """Spawn under the lock stop() takes, so a start racing a stop cannot leave a child behind."""
        with self._lock:
            if self._closing:
                raise DevstackError("stack stopped while starting")
            component.start()

    def _processes(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        procs = []
        if self._broker and self._broker.process:
            procs.append(("kafka", self._broker.process))
        if self._postgres and self._postgres.process:
            procs.append(("postgres", self._postgres.process))
        procs.extend((name, s.process) for name, s in self._services.items() if s.process)
        return procs

    # -- cleanup on exit and SIGTERM -----------------------------------------------

    def _register_cleanup(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current is signal.SIG_DFL:  # leave a handler someone else installed alone
                self._previous_sigterm = current
                self._sigterm_installed = True
                signal.signal(signal.SIGTERM, _interrupt_on_sigterm)

    def _unregister_cleanup(self) -> None:
        atexit.unregister(self.stop)
        if self._sigterm_installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._sigterm_installed = False


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Unwind on SIGTERM exactly as on Ctrl-C, so `with Stack(...)`, fixture teardown or
    atexit stop the stack in order (pytest ends the session on KeyboardInterrupt, while a
    SystemExit would only fail the test that happened to be running)."""
    raise KeyboardInterrupt


def _concurrently(calls: Sequence[Callable[[], object]]) -> None:
    """Run blocking calls in parallel threads; re-raise the first failure after all finish."""
    if not calls:
        return
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="devstack") as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()
