"""Static checks of docker-compose.yml, against deploy/Dockerfile and deploy/env.example.

No Docker daemon and no network: the compose file is parsed with yaml, the Dockerfile is
read as Docker builds it (tests/unit/deploy/dockerfile.py; the images themselves are
checked in tests/unit/deploy/test_dockerfile.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml

from shared.events.topics import ALL_TOPICS
from tests.unit.deploy.dockerfile import DOCKERFILE, Dockerfile, Image

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
APP_SERVICES = ("intake", "scoring", "routing", "feedback")
SERVICE_TARGET, MIGRATE_TARGET = "service", "migrate"  # deploy/Dockerfile's stages
HOST_PORTS = {"intake": 8001, "scoring": 8002, "routing": 8003, "feedback": 8004}
SECRET_KEY = re.compile(r"(_API_KEYS|_SECRET|PASSWORD|_TOKEN)$")
# ${VAR}, ${VAR:?msg} or ${VAR?msg}: required, and no default that could be a literal secret.
REQUIRED_VAR = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*|:-)?\}"  # required, or optional and empty by default
# $$ is an escaped dollar; ${VAR...} and $VAR are interpolations.
INTERPOLATION = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def strings_in(node) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return [node] if isinstance(node, str) else []


def split_url(value: str) -> tuple[SplitResult, dict[str, str]]:
    """urlsplit, with each ${...} swapped for a plain token first (its '?' and ':' would
    confuse the parser); returns the parts and token -> original interpolation."""
    originals: dict[str, str] = {}

    def token(m: re.Match) -> str:
        key = f"interpolated{len(originals)}"
        originals[key] = m.group(0)
        return key

    return urlsplit(re.sub(r"\$\{[^}]*\}", token, value)), originals


def build_of(service: dict) -> dict:
    build = service["build"]
    return {"context": build} if isinstance(build, str) else build


def dockerfile_of(service: dict) -> Path:
    build = build_of(service)
    context = (ROOT / build.get("context", ".")).resolve()
    return (context / build.get("dockerfile", "Dockerfile")).resolve()


def build_args_of(service: dict) -> dict[str, str]:
    args = build_of(service).get("args") or {}
    if isinstance(args, list):
        args = dict(item.split("=", 1) if "=" in item else (item, "") for item in args)
    return {key: "" if value is None else str(value) for key, value in args.items()}


def image_of(service: dict) -> Image:
    """The image compose builds for a service: its target (default: the last stage) and build args."""
    return Dockerfile(dockerfile_of(service)).image(build_of(service).get("target"), **build_args_of(service))


def published_ports(service: dict) -> list[tuple[str, str]]:
    """(published, target) for each entry of ports."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((str(port.get("published")), str(port.get("target"))))
        else:
            found.append(tuple(str(port).split(":")[-2:]))
    return found


LOOPBACK = "127.0.0.1"
BIND_VARIABLE = "HANDOFF_BIND_ADDRESS"  # opens the services' ports (deploy/env.example); never the infra's
# ${VAR:-default} or ${VAR-default}: the value compose uses when VAR is unset (or, for :-, empty)
DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}")


def host_ip(port) -> tuple[str | None, str | None]:
    """(the host address a ports entry binds as written, that address with no variable set).
    None: no address (compose then publishes on every interface), or a ${VAR} without default."""
    if isinstance(port, dict):
        written = port.get("host_ip")
        written = None if written is None else str(written)
    else:
        text = str(port)
        m = re.fullmatch(r"(\[[^\]]+\]|\$\{[^}]*\}|[^:\[$]+):[^:]+:[^:]+", text)
        written = m.group(1) if m else None
    if written is None:
        return None, None
    resolved = DEFAULTED.sub(lambda m: m.group(2), written)
    return written, None if "$" in resolved else resolved.strip("[]")


def kafka_internal_listener(services: dict) -> str:
    """host:port the kafka service advertises on its inter-broker (in-network) listener."""
    env = env_of(services["kafka"])
    name = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        listener_name, _, address = listener.strip().partition("://")
        if listener_name == name:
            return address
    raise AssertionError(f"kafka advertises no {name} listener")


def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m:
            names.add(m.group(1))
    return names


def test_all_services_defined(services: dict) -> None:
    expected = {"kafka", "postgres", "migrate", "topics", *APP_SERVICES}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_builds_from_its_dockerfile(services: dict, name: str) -> None:
    service = services[name]
    build = build_of(service)
    dockerfile = dockerfile_of(service)
    assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
    assert (ROOT / "deploy") in dockerfile.parents, f"{name}: {dockerfile} is not under deploy/"
    assert (ROOT / build.get("context", ".")).resolve() == ROOT, f"{name}: the context is not the repo root"
    assert dockerfile == DOCKERFILE, f"{name}: builds {dockerfile}, not deploy/Dockerfile"
    assert build.get("target", Dockerfile().stage_names[-1]) == SERVICE_TARGET, f"{name}: target {build.get('target')}"
    assert build_args_of(service) == {"SERVICE": name}, f"{name}: build args {build_args_of(service)}"
    assert (ROOT / "services" / name / "app.py").is_file(), f"SERVICE={name}: no services/{name}/app.py"
    assert "command" not in service and "entrypoint" not in service, f"{name} overrides the image CMD"
    argv = image_of(service).argv()
    assert argv[:1] == ["uvicorn"] or argv[:3] == ["python", "-m", "uvicorn"], f"{dockerfile}: {argv}"
    assert "--factory" in argv and f"services.{name}.app:create_app" in argv, f"{dockerfile}: {argv}"
    assert re.search(r"^FROM\s+python:3\.11-slim\b", dockerfile.read_text(), re.MULTILINE)


def test_every_image_is_built_from_the_one_dockerfile(services: dict) -> None:
    built = {name: service for name, service in services.items() if "build" in service}
    assert set(built) == {*APP_SERVICES, "migrate"}, sorted(built)
    for name, service in built.items():
        assert dockerfile_of(service) == DOCKERFILE, f"{name}: {dockerfile_of(service)}"
        assert (ROOT / build_of(service).get("context", ".")).resolve() == ROOT, name
        assert "image" not in service, f"{name}: names its image; compose's default is handoff-{name}"


def test_migrate_builds_the_migrate_target(services: dict) -> None:
    migrate = services["migrate"]
    assert build_of(migrate).get("target") == MIGRATE_TARGET, build_of(migrate)
    assert not build_args_of(migrate), "the migrate target takes no SERVICE: it carries all four"
    argv = image_of(migrate).argv()
    assert argv == ["python", "-m", "shared.db.migrations"], argv
    assert migrate.get("command", argv) == argv, "compose's command is not the migrate image's CMD"
    assert "entrypoint" not in migrate and "ports" not in migrate


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_health_dependencies_and_port(services: dict, name: str) -> None:
    service = services[name]
    test = service["healthcheck"]["test"]
    command = test if isinstance(test, str) else " ".join(test)
    assert "/readyz" in command and ":8000" in command, f"{name} healthcheck: {command}"
    depends = service["depends_on"]
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
    conditions = {dep: (depends.get(dep) or {}).get("condition") for dep in ("kafka", "postgres", "migrate", "topics")}
    assert conditions == {
        "kafka": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
        "topics": "service_completed_successfully",
    }, f"{name}: {conditions}"
    ports = published_ports(service)
    assert (str(HOST_PORTS[name]), "8000") in ports, f"{name}: {ports}"
    # consistent with the image: the port it exposes, the user it runs as (and the healthcheck with it)
    image = image_of(service)
    assert {int(target) for _, target in ports} <= image.expose, f"{name}: {ports}, image exposes {image.expose}"
    assert any(f":{port}/readyz" in command for port in image.expose), f"{name} healthcheck: {command}"
    assert test[:2] == ["CMD", "python"] or not isinstance(test, list), "the healthcheck needs only the image's Python"
    assert service.get("user", image.user) == image.user == "handoff", f"{name}: runs as {service.get('user')}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_environment(services: dict, name: str) -> None:
    env = env_of(services[name])
    prefix = f"HANDOFF_{name.upper()}_"
    for suffix in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "CONFIG_DIR"):
        assert env.get(prefix + suffix), f"{name}: {prefix + suffix} is not set"
    url, _ = split_url(env[prefix + "DATABASE_URL"])
    assert (url.scheme, url.hostname, url.path) == ("postgresql+asyncpg", "postgres", "/handoff"), url.geturl()
    bootstrap = [s.strip() for s in env[prefix + "KAFKA_BOOTSTRAP_SERVERS"].split(",")]
    assert kafka_internal_listener(services) in bootstrap, f"{name}: bootstrap {bootstrap}"
    assert kafka_internal_listener(services).split(":")[0] == "kafka"
    assert env[prefix + "CONFIG_DIR"] == "/app/config"


def test_one_shot_jobs(services: dict) -> None:
    migrate = services["migrate"]
    assert "shared.db.migrations" in " ".join(strings_in(migrate.get("command", [])))
    assert split_url(env_of(migrate)["DATABASE_URL"])[0].hostname == "postgres"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    topics = services["topics"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = " ".join(strings_in([topics.get("entrypoint"), topics.get("command")]))
    assert "kafka-topics.sh" in script and "--create" in script
    declared = dict(item.split(":") for item in env_of(topics)["TOPICS"].split())
    assert {topic: int(n) for topic, n in declared.items()} == {t.name: t.partitions for t in ALL_TOPICS}


def test_kafka_runs_in_kraft_mode(services: dict) -> None:
    env = env_of(services["kafka"])
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false"
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["postgres"]
    assert "zookeeper" not in COMPOSE_FILE.read_text().lower()


def test_no_literal_secrets(services: dict) -> None:
    for name, service in services.items():
        for key, value in env_of(service).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(REQUIRED_VAR, value), f"{name}.{key} is not a ${{VAR}} interpolation"
            url, originals = split_url(value)
            if "://" in value and url.password is not None:
                password = originals.get(url.password, url.password)
                assert re.fullmatch(REQUIRED_VAR, password), f"{name}.{key} has a literal password"


def test_every_variable_is_documented(compose: dict) -> None:
    used = {m.group(1) or m.group(2) for s in strings_in(compose) for m in INTERPOLATION.finditer(s)}
    used.discard(None)
    assert used, "the compose file interpolates no variables at all"
    missing = used - env_example_names()
    assert not missing, f"not in deploy/env.example: {sorted(missing)}"


def test_host_ip_reads_every_way_of_writing_a_port() -> None:
    assert host_ip("8001:8000") == (None, None)  # every interface: must fail the test below
    assert host_ip("8000") == (None, None)
    assert host_ip("0.0.0.0:8001:8000") == ("0.0.0.0", "0.0.0.0")
    assert host_ip("127.0.0.1:8001:8000/tcp") == ("127.0.0.1", "127.0.0.1")
    assert host_ip("[::1]:8001:8000") == ("[::1]", "::1")
    assert host_ip("${HANDOFF_BIND_ADDRESS:-127.0.0.1}:8001:8000")[1] == "127.0.0.1"
    assert host_ip("${HANDOFF_BIND_ADDRESS-127.0.0.1}:8001:8000")[1] == "127.0.0.1"
    assert host_ip("${HANDOFF_BIND_ADDRESS}:8001:8000")[1] is None  # unset: empty, every interface
    assert host_ip({"target": 8000, "published": 8001}) == (None, None)
    assert host_ip({"target": 8000, "published": 8001, "host_ip": "127.0.0.1"})[1] == "127.0.0.1"


def test_every_published_port_listens_on_loopback_by_default(services: dict) -> None:
    """A port published without a host address listens on every interface of the host: refused."""
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert set(APP_SERVICES) <= set(published), sorted(published)
    problems = []
    for name, ports in published.items():
        for port in ports:
            written, default = host_ip(port)
            if default != LOOPBACK:
                problems.append(f"{name}: {port!r} binds {default or 'every interface'} by default, not {LOOPBACK}")
            elif name in APP_SERVICES and written != f"${{{BIND_VARIABLE}:-{LOOPBACK}}}":
                problems.append(f"{name}: {port!r}: write ${{{BIND_VARIABLE}:-{LOOPBACK}}}:<host>:<container>")
            elif name not in APP_SERVICES and written != LOOPBACK:
                problems.append(f"{name}: {port!r}: plaintext infrastructure stays on a literal {LOOPBACK}")
    assert not problems, "\n".join(problems)
    assert BIND_VARIABLE in env_example_names()
