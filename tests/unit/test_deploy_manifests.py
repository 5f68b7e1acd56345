"""Static checks of deploy/k8s, deploy/prometheus and deploy/grafana.

No cluster, no Prometheus and no Grafana here, so nothing is applied or loaded for real:
- every Kubernetes document is validated against the official Kubernetes JSON schemas,
  strict (unknown fields are errors), as bundled offline by ``kubernetes-validate``, for the
  oldest and the newest Kubernetes version named in K8S_VERSIONS (``kubectl kustomize``
  is not run: kubectl is not on every machine, and a skipped test proves nothing);
- the manifests are checked against the code: the env names each service's settings class
  reads, the Dockerfiles' user, port and command, docker-compose.yml, the topics;
- PromQL (alert rules and dashboard) is parsed with ``promql-parser`` and may only use the
  metrics in METRICS (the contract with shared/observability/metrics.py), with their labels;
- promtool (Debian's package prometheus, installed by ./handoff test) checks the rules, runs
  the alert unit tests (deploy/prometheus/alerts_test.yml) and checks the scrape config.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import promql_parser
import pytest
import yaml
from pydantic import SecretStr

from shared.events.topics import ALL_TOPICS
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "handoff-dashboard.json"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# The oldest Kubernetes the manifests support and the newest schema kubernetes-validate bundles.
K8S_VERSIONS = ("1.30.0", "1.37.0")
NAMESPACE = "handoff"
CONFIG_MAP = "handoff-config"
SECRET = "handoff-secrets"
APP_SERVICES = ("intake", "scoring", "routing", "feedback")
# feedback: one replica, one outbox relay (docs/architecture.md, Delivery guarantees).
REPLICAS = {"intake": 2, "scoring": 2, "routing": 2, "feedback": 1}
PORT = 8000

# The metrics contract: name -> (type, labels). The same list is in docs/architecture.md
# ("Deployment on Kubernetes", Metrics); test_metric_list_is_documented keeps them equal.
METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "handoff_events_consumed_total": ("counter", frozenset({"topic", "consumer_group"})),
    "handoff_events_produced_total": ("counter", frozenset({"topic"})),
    "handoff_batch_processing_seconds": ("histogram", frozenset({"consumer_group"})),
    "handoff_event_processing_seconds": ("histogram", frozenset({"consumer_group"})),
    "handoff_stage_latency_seconds": ("histogram", frozenset({"stage"})),
    "handoff_consumer_lag": ("gauge", frozenset({"consumer_group", "topic", "partition"})),
    "handoff_dead_letters_total": ("counter", frozenset({"topic", "consumer_group"})),
    "handoff_outbox_backlog": ("gauge", frozenset()),
    "handoff_http_requests_total": ("counter", frozenset({"method", "route", "status"})),
    "handoff_http_request_duration_seconds": ("histogram", frozenset({"method", "route"})),
    "handoff_sla_breaches_total": ("counter", frozenset({"action"})),
    "handoff_leads_captured_total": ("counter", frozenset({"source"})),
}
# Series Prometheus makes itself, allowed in expressions besides METRICS.
PROMETHEUS_SERIES = {"up": ("gauge", frozenset())}
# Labels every scraped series carries: Prometheus's job/instance and prometheus.yml's relabelling.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
RATE_FUNCTIONS = {"rate", "irate", "increase"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


# ---- loading -------------------------------------------------------------------------

def yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p != KUSTOMIZATION)


@pytest.fixture(scope="module")
def kustomization() -> dict:
    return yaml.safe_load(KUSTOMIZATION.read_text())


@pytest.fixture(scope="module")
def applied(kustomization: dict) -> list[dict]:
    """The documents kubectl apply -k creates: those of the kustomization's resources."""
    return [doc for name in kustomization["resources"] for doc in yaml_docs(K8S / name)]


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module")
def deployments(applied: list[dict]) -> dict[str, dict]:
    return of_kind(applied, "Deployment")


@pytest.fixture(scope="module")
def jobs(applied: list[dict]) -> dict[str, dict]:
    return of_kind(applied, "Job")


@pytest.fixture(scope="module")
def config_data(applied: list[dict]) -> dict[str, str]:
    return of_kind(applied, "ConfigMap")[CONFIG_MAP]["data"]


@pytest.fixture(scope="module")
def secret_example() -> dict:
    (secret,) = yaml_docs(SECRET_EXAMPLE)
    return secret


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def main_container(workload: dict, name: str) -> dict:
    (container,) = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    return container


def env_refs(container: dict) -> Iterator[tuple[str, str, str, bool]]:
    """(env name, kind, key, optional) for every env entry read from a ConfigMap or Secret."""
    for entry in container.get("env", []):
        source = entry.get("valueFrom", {})
        for kind, ref in (("configmap", source.get("configMapKeyRef")), ("secret", source.get("secretKeyRef"))):
            if ref is not None:
                yield entry["name"], kind, ref["key"], bool(ref.get("optional", False))


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
              if issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
    return cls


def dockerfile(service: str) -> str:
    return re.sub(r"\\\n", " ", (ROOT / "deploy" / service / "Dockerfile").read_text())


def dockerfile_cmd(text: str) -> list[str]:
    (cmd,) = re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    return json.loads(cmd)


def deployment_section() -> str:
    """The section "Deployment on Kubernetes" of docs/architecture.md, up to the next one."""
    text = ARCHITECTURE.read_text()
    assert "\n## Deployment on Kubernetes\n" in text
    return text.split("\n## Deployment on Kubernetes\n", 1)[1].split("\n## ", 1)[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---- Kubernetes: schema and kustomization ----------------------------------------------

def test_every_manifest_parses_into_named_objects() -> None:
    files = manifest_files()
    assert {p.name for p in files} >= {"namespace.yaml", "configmap.yaml", "secret.example.yaml",
                                       *(f"{s}.yaml" for s in APP_SERVICES)}
    for path in files:
        docs = yaml_docs(path)
        assert docs, f"{path.name}: no documents"
        for doc in docs:
            assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), path.name
            assert doc.get("metadata", {}).get("name"), f"{path.name}: a {doc['kind']} without a name"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_match_the_kubernetes_schema(version: str) -> None:
    problems = []
    for path in manifest_files():
        for doc in yaml_docs(path):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                problems.append(f"{path.name} {doc['kind']}/{doc['metadata']['name']} at {where}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                problems.append(f"{path.name}: {e.message}")
    assert not problems, "\n".join(problems)


def test_schema_validation_catches_a_typo() -> None:
    """The strict schema refuses an unknown field, so the test above can fail."""
    (deployment, *_) = yaml_docs(K8S / "intake.yaml")
    main_container(deployment, "intake")["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": PORT}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example(kustomization: dict) -> None:
    assert kustomization["apiVersion"].startswith("kustomize.config.k8s.io/")
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), f"listed twice: {resources}"
    expected = {p.name for p in manifest_files()} - {SECRET_EXAMPLE.name}
    assert set(resources) == expected, (
        f"missing: {sorted(expected - set(resources))}, unknown: {sorted(set(resources) - expected)}")
    assert "secretGenerator" not in kustomization, "secrets do not live in git"


def test_namespace_enforces_the_restricted_pod_security_standard(applied: list[dict]) -> None:
    namespace = of_kind(applied, "Namespace")[NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in applied:
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE, doc["metadata"]["name"]


def test_no_secret_is_applied_from_git(applied: list[dict]) -> None:
    assert not of_kind(applied, "Secret"), "the Secret is created out of band (secret.example.yaml)"


def test_secret_example_holds_placeholders_only(secret_example: dict, kustomization: dict) -> None:
    assert secret_example["kind"] == "Secret" and secret_example["metadata"]["name"] == SECRET
    assert "data" not in secret_example, "base64 data hides what the values are; use stringData"
    assert SECRET_EXAMPLE.name not in kustomization["resources"]
    for key, value in secret_example["stringData"].items():
        assert "change-me" in value, f"{key}: not a placeholder"
    assert re.search(rf"kubectl -n {NAMESPACE} create secret generic {SECRET}", SECRET_EXAMPLE.read_text())


def test_images_come_from_the_kustomization_or_are_pinned(applied: list[dict], kustomization: dict,
                                                          compose: dict) -> None:
    ours = {image["name"] for image in kustomization["images"]}
    assert ours == {f"handoff-{s}" for s in APP_SERVICES}
    for image in kustomization["images"]:
        assert image.get("newTag") and image["newTag"] != "latest", image
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        for container in containers(workload):
            image = container["image"]
            if image in ours:
                continue
            assert re.fullmatch(r"[^:]+:[\w.-]+", image) and not image.endswith(":latest"), image
            assert image == compose["services"]["kafka"]["image"], f"{image}: not the Kafka of docker-compose.yml"


# ---- Kubernetes: the services ------------------------------------------------------------

def test_one_deployment_per_service(deployments: dict[str, dict]) -> None:
    assert set(deployments) == set(APP_SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_runs_the_image_as_built(deployments: dict[str, dict], name: str) -> None:
    deployment = deployments[name]
    container = main_container(deployment, name)
    text = dockerfile(name)
    assert container["image"] == f"handoff-{name}"
    assert "command" not in container and "args" not in container, "the image's CMD starts the service"
    argv = dockerfile_cmd(text)
    assert f"services.{name}.app:create_app" in argv and "--factory" in argv, argv
    assert argv[argv.index("--port") + 1] == str(PORT), argv
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    assert re.search(r"^COPY config /app/config$", text, re.MULTILINE)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_replicas_and_rollout(deployments: dict[str, dict], name: str) -> None:
    spec = deployments[name]["spec"]
    assert spec["replicas"] == REPLICAS[name]
    if spec["replicas"] == 1:
        # one outbox relay, even during a rollout
        assert spec["strategy"] == {"type": "Recreate"}, f"{name}: a rolling update runs two relays"
    else:
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_probes(deployments: dict[str, dict], name: str) -> None:
    container = main_container(deployments[name], name)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{name}.{probe}: {get['path']}"
        assert port_names.get(get["port"], get["port"]) == PORT, f"{name}.{probe}: port {get['port']}"
    # /readyz asks the database and the broker, up to 3 s each (shared/service/runtime.py)
    assert container["readinessProbe"]["timeoutSeconds"] >= 6
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "too little time to start"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_resources(deployments: dict[str, dict], name: str) -> None:
    resources = main_container(deployments[name], name)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind} {resources.get(kind)}"


def test_every_container_has_resources(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        for container in containers(workload):
            assert {"requests", "limits"} <= set(container.get("resources", {})), container["name"]


def test_every_pod_runs_as_a_non_root_user_read_only(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        pod = pod_spec(workload)
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            # a named USER in the image cannot be checked by the kubelet: the uid must be numeric here
            assert isinstance(context.get("runAsUser"), int) and context["runAsUser"] > 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: no writable /tmp on a read-only root"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_pods_run_as_the_dockerfile_user(deployments: dict[str, dict], jobs: dict[str, dict], name: str) -> None:
    uid = re.search(r"useradd\b[^\n]*--uid (\d+)", dockerfile(name))
    assert uid, f"deploy/{name}/Dockerfile creates no user with a fixed uid"
    assert re.search(r"^USER \S+", dockerfile(name), re.MULTILINE)
    assert pod_spec(deployments[name])["securityContext"]["runAsUser"] == int(uid.group(1))
    assert pod_spec(jobs["migrate"])["securityContext"]["runAsUser"] == int(
        re.search(r"--uid (\d+)", dockerfile("intake")).group(1))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_is_scraped(deployments: dict[str, dict], name: str) -> None:
    annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_services_select_their_deployments(applied: list[dict], deployments: dict[str, dict]) -> None:
    services = of_kind(applied, "Service")
    assert set(services) == set(deployments), "one Service per Deployment, of the same name"
    for name, service in services.items():
        selector = service["spec"]["selector"]
        selected = [d for d, dep in deployments.items()
                    if matches(selector, dep["spec"]["template"]["metadata"]["labels"])]
        assert selected == [name], f"Service {name} selects {selected}"
        ports = {p["name"]: p["containerPort"] for p in main_container(deployments[name], name)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports or port["targetPort"] in ports.values(), port


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_selector_matches_its_pods(deployments: dict[str, dict], name: str) -> None:
    spec = deployments[name]["spec"]
    assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name  # prometheus.yml: service


def test_disruption_budgets_for_the_replicated_services(applied: list[dict], deployments: dict[str, dict]) -> None:
    budgets = of_kind(applied, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if matches(b["spec"]["selector"]["matchLabels"], labels)]
        replicas = deployment["spec"]["replicas"]
        if replicas == 1:
            assert not covering, f"{name}: a budget on a single replica blocks every node drain"
            continue
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        spec = covering[0]["spec"]
        if "minAvailable" in spec:
            assert 1 <= spec["minAvailable"] < replicas, spec
        else:
            assert 1 <= spec["maxUnavailable"] < replicas, spec


# ---- Kubernetes: configuration and secrets -------------------------------------------------

def test_env_refers_only_to_keys_that_exist(applied: list[dict], config_data: dict[str, str],
                                             secret_example: dict) -> None:
    keys = {"configmap": set(config_data), "secret": set(secret_example["stringData"])}
    names = {"configmap": CONFIG_MAP, "secret": SECRET}
    used: dict[str, set[str]] = {"configmap": set(), "secret": set()}
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        for container in containers(workload):
            assert "envFrom" not in container, "each container names the keys it needs"
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                for kind, field in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
                    if field in source:
                        ref = source[field]
                        assert ref["name"] == names[kind], f"{entry['name']}: {ref['name']}"
                        assert ref["key"] in keys[kind], f"{entry['name']}: no key {ref['key']} in {names[kind]}"
                        used[kind].add(ref["key"])
    assert used == keys, f"unused keys: { {k: sorted(keys[k] - used[k]) for k in keys} }"


def test_configmap_holds_no_secret(config_data: dict[str, str]) -> None:
    for key, value in config_data.items():
        assert not re.search(r"SECRET|TOKEN|PASSWORD|API_KEYS|DATABASE_URL", key), key
        assert "://" not in value or "@" not in value, f"{key}: credentials in a URL"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_env_names_are_read_by_the_service_settings(deployments: dict[str, dict], name: str, compose: dict) -> None:
    """Each name the manifest sets is a field of the settings class, under its env prefix."""
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    assert prefix == f"HANDOFF_{name.upper()}_"
    env_names = [e["name"] for e in main_container(deployments[name], name)["env"]]
    assert len(env_names) == len(set(env_names)), env_names
    for env_name in env_names:
        assert env_name.startswith(prefix), f"{env_name}: the service reads only {prefix}*"
        assert env_name[len(prefix):].lower() in cls.model_fields, f"{env_name}: no such setting in {cls.__name__}"
    for field in ("database_url", "kafka_bootstrap_servers", "config_dir"):
        assert f"{prefix}{field.upper()}" in env_names, f"{name}: {field} not set"
    compose_env = compose["services"][name]["environment"]
    assert set(compose_env) <= set(env_names), f"set by docker-compose.yml only: {set(compose_env) - set(env_names)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secret_settings_come_from_the_secret(deployments: dict[str, dict], name: str) -> None:
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    secret_fields = {f for f, info in cls.model_fields.items() if "SecretStr" in repr(info.annotation)}
    secret_fields.add("database_url")  # the URL carries the password
    container = main_container(deployments[name], name)
    by_name = {e["name"]: e for e in container["env"]}
    refs = {env_name: kind for env_name, kind, _, _ in env_refs(container)}
    for field in secret_fields:
        env_name = f"{prefix}{field.upper()}"
        if env_name in by_name:
            assert refs.get(env_name) == "secret", f"{env_name}: not from {SECRET}"
    for env_name, entry in by_name.items():
        assert "valueFrom" in entry, f"{env_name}: a literal value; use {CONFIG_MAP}"


def resolved_env(container: dict, config: dict[str, str], secret: dict[str, str],
                 drop_optional: bool = False) -> dict[str, str]:
    env = {}
    for env_name, kind, key, optional in env_refs(container):
        if optional and drop_optional:
            continue
        env[env_name] = (config if kind == "configmap" else secret)[key]
    return env


@pytest.mark.parametrize("drop_optional", [False, True], ids=["all-keys", "required-keys-only"])
@pytest.mark.parametrize("name", APP_SERVICES)
def test_settings_load_from_the_example_config(deployments: dict[str, dict], config_data: dict[str, str],
                                               secret_example: dict, monkeypatch: pytest.MonkeyPatch,
                                               name: str, drop_optional: bool) -> None:
    """The service starts with these values: its settings class accepts them, types and all."""
    for key in [k for k in os.environ if k.startswith("HANDOFF_")]:
        monkeypatch.delenv(key)
    env = resolved_env(main_container(deployments[name], name), config_data, secret_example["stringData"],
                       drop_optional)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_class(name)()
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka_bootstrap_servers == config_data["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.config_dir == Path("/app/config")
    for field, value in settings:
        if isinstance(value, SecretStr) and f"{settings.model_config['env_prefix']}{field.upper()}" in env:
            assert value.get_secret_value() == "change-me"


def test_documented_secret_commands_name_every_required_key(applied: list[dict]) -> None:
    required = {key for workload in applied if workload["kind"] in ("Deployment", "Job")
                for container in containers(workload)
                for _, kind, key, optional in env_refs(container) if kind == "secret" and not optional}
    section = deployment_section()
    for where, text in ((SECRET_EXAMPLE.name, SECRET_EXAMPLE.read_text()), ("docs/architecture.md", section)):
        assert set(re.findall(r"--from-literal=(\w+)=", text)) == required, where


def test_database_url_points_at_postgres_with_asyncpg(secret_example: dict) -> None:
    url = secret_example["stringData"]["DATABASE_URL"]
    assert re.fullmatch(r"postgresql\+asyncpg://[^:/@]+:[^@]+@[^/:]+(:\d+)?/\w+", url), url


# ---- Kubernetes: the one-shot jobs ---------------------------------------------------------

def test_migrate_job(jobs: dict[str, dict]) -> None:
    job = jobs["migrate"]
    (container,) = containers(job)
    assert container["image"] == "handoff-intake"  # every image carries all four services' migrations
    assert container["command"] == ["python", "-m", "shared.db.migrations"]
    assert list(env_refs(container)) == [("DATABASE_URL", "secret", "DATABASE_URL", False)]
    assert 'os.environ.get("DATABASE_URL")' in (ROOT / "shared" / "db" / "migrations.py").read_text()
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


def test_topics_job(jobs: dict[str, dict], config_data: dict[str, str], compose: dict) -> None:
    job = jobs["topics"]
    (container,) = containers(job)
    script = " ".join(container["command"] + container.get("args", []))
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    for variable in ("$TOPICS", '"$KAFKA_BOOTSTRAP_SERVERS"', '"$TOPIC_REPLICATION_FACTOR"'):
        assert variable in script, variable
    assert {n for n, _, _, _ in env_refs(container)} == {"TOPICS", "KAFKA_BOOTSTRAP_SERVERS",
                                                        "TOPIC_REPLICATION_FACTOR"}
    declared = dict(item.split(":") for item in config_data["TOPICS"].split())
    assert {topic: int(n) for topic, n in declared.items()} == {t.name: t.partitions for t in ALL_TOPICS}
    assert int(config_data["TOPIC_REPLICATION_FACTOR"]) >= 1
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


# ---- PromQL ------------------------------------------------------------------------------

def known_series(name: str) -> tuple[str, str, frozenset[str]] | None:
    """(metric, type, labels) for a series name, or None if it is not in the contract."""
    if name in PROMETHEUS_SERIES:
        return (name, *PROMETHEUS_SERIES[name])
    if name in METRICS:
        return (name, *METRICS[name])
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base, ("",))[0] == "histogram":
            return (base, *METRICS[base])
    return None


class Query:
    """A parsed PromQL expression: the series it reads, how, and the labels it names."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.ast = promql_parser.parse(expr)  # raises on a syntax error
        self.selectors: list[tuple[Any, str | None]] = []  # (VectorSelector, function of its range)
        self.label_names: set[str] = set()
        self._visit(self.ast, None)

    def _visit(self, node: Any, range_function: str | None) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            self.selectors.append((node, range_function))
            self.label_names.update(m.name for m in node.matchers.matchers)
        elif isinstance(node, promql_parser.MatrixSelector):
            self._visit(node.vector_selector, range_function)
        elif isinstance(node, promql_parser.Call):
            for arg in node.args:
                self._visit(arg, node.func.name if isinstance(arg, promql_parser.MatrixSelector) else None)
        elif isinstance(node, promql_parser.AggregateExpr):
            if node.modifier is not None:
                self.label_names.update(node.modifier.labels)
            self._visit(node.expr, None)
            if node.param is not None:
                self._visit(node.param, None)
        elif isinstance(node, promql_parser.BinaryExpr):
            if node.modifier is not None:
                if node.modifier.matching is not None:
                    self.label_names.update(node.modifier.matching.labels)
                self.label_names.update(node.modifier.group_labels or [])
            self._visit(node.lhs, None)
            self._visit(node.rhs, None)
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            self._visit(node.expr, None)

    def metrics(self) -> set[str]:
        return {known[0] for s, _ in self.selectors if (known := known_series(s.name or ""))}

    def problems(self) -> list[str]:
        found = []
        labels = set(TARGET_LABELS)
        for selector, range_function in self.selectors:
            known = known_series(selector.name or "")
            if known is None:
                found.append(f"unknown metric {selector.name!r}")
                continue
            metric, kind, metric_labels = known
            labels |= metric_labels
            if kind == "histogram":
                if selector.name == metric:
                    found.append(f"{metric} is a histogram: query {metric}_bucket, _sum or _count")
                labels.add("le")
            if kind in ("counter", "histogram") and range_function not in RATE_FUNCTIONS:
                found.append(f"{selector.name}: a counter read without rate() or increase()")
            if kind == "gauge" and range_function in RATE_FUNCTIONS:
                found.append(f"{selector.name}: {range_function}() of a gauge")
        unknown_labels = self.label_names - labels - {"__name__"}
        if unknown_labels:
            found.append(f"labels no queried metric has: {sorted(unknown_labels)}")
        return found

    def output_labels(self, node: Any = None) -> frozenset[str] | None:
        """The labels every result series is sure to carry, where that can be told (else None)."""
        node = self.ast if node is None else node
        if isinstance(node, promql_parser.AggregateExpr):
            modifier = node.modifier
            if modifier is not None and modifier.type == promql_parser.AggModifierType.By:
                return frozenset(modifier.labels)
            return None if modifier is not None else frozenset()
        if isinstance(node, promql_parser.Call):
            name = node.func.name
            if name == "absent":
                (arg,) = node.args
                return frozenset(m.name for m in arg.matchers.matchers if m.op == promql_parser.MatchOp.Equal)
            vectors = [a for a in node.args if not isinstance(a, (promql_parser.NumberLiteral,
                                                                 promql_parser.StringLiteral))]
            inner = self.output_labels(vectors[0]) if vectors else frozenset()
            return inner - {"le"} if inner is not None and name == "histogram_quantile" else inner
        if isinstance(node, promql_parser.BinaryExpr):
            lhs, rhs = self.output_labels(node.lhs), self.output_labels(node.rhs)
            if isinstance(node.lhs, promql_parser.NumberLiteral):
                return rhs
            if str(node.op) == "or":
                return None if lhs is None or rhs is None else lhs & rhs
            return lhs
        if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr)):
            return self.output_labels(node.expr)
        return None  # a bare selector: all its labels, which the checks above already know


def grafana_expr(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def test_query_checks_can_fail() -> None:
    assert Query("sum(rate(handoff_events_consumed_total[5m]))").problems() == []
    assert Query("sum(rate(handoff_events_consumd_total[5m]))").problems()           # typo in a name
    assert Query("sum by (topik) (rate(handoff_events_consumed_total[5m]))").problems()  # typo in a label
    assert Query("handoff_events_consumed_total").problems()                          # raw counter
    assert Query("rate(handoff_consumer_lag[5m])").problems()                         # rate of a gauge
    assert Query("histogram_quantile(0.9, rate(handoff_stage_latency_seconds[5m]))").problems()
    with pytest.raises(ValueError, match="parenthesis"):
        Query("sum(rate(handoff_events_consumed_total[5m])")
    assert Query("sum by (a) (x) or sum by (a, b) (y)").output_labels() == {"a"}
    assert Query("histogram_quantile(0.5, sum by (le, stage) (rate(x_bucket[5m])))").output_labels() == {"stage"}


# ---- Prometheus --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prometheus() -> dict:
    return yaml.safe_load(PROMETHEUS_CONFIG.read_text())


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    assert groups and all(g.get("name") and g.get("rules") for g in groups)
    return [rule for group in groups for rule in group["rules"]]


def relabel(labels: dict[str, str], configs: list[dict]) -> dict[str, str] | None:
    """Prometheus relabelling (keep, drop, replace), enough for prometheus.yml; None if dropped."""
    labels = dict(labels)
    for config in configs:
        action = config.get("action", "replace")
        value = config.get("separator", ";").join(labels.get(s, "") for s in config.get("source_labels", []))
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\\1", config.get("replacement", "$1"))
            labels[config["target_label"]] = match.expand(replacement)
        assert action in ("keep", "drop", "replace"), f"the test does not simulate {action}"
    return labels


def test_prometheus_config(prometheus: dict) -> None:
    assert prometheus["global"]["scrape_interval"]
    for rule_file in prometheus["rule_files"]:
        assert (PROMETHEUS_CONFIG.parent / rule_file).is_file(), rule_file
    assert ALERT_RULES.name in prometheus["rule_files"]
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert {"handoff-pods", "handoff-local"} <= set(jobs)
    assert all(name.startswith("handoff-") for name in jobs), "the alert rules select job=~handoff-.*"


def test_pod_discovery_follows_the_deployments(prometheus: dict, deployments: dict[str, dict]) -> None:
    """A pod as kubernetes_sd_configs reports it becomes the target its annotations ask for."""
    job = {j["job_name"]: j for j in prometheus["scrape_configs"]}["handoff-pods"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        (port,) = main_container(deployment, name)["ports"]
        meta = {
            "__address__": f"10.1.2.3:{port['containerPort']}",
            "__metrics_path__": "/metrics",
            "__meta_kubernetes_namespace": NAMESPACE,
            "__meta_kubernetes_pod_name": f"{name}-abc",
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_container_port_name": port["name"],
        }
        for key, value in template["metadata"]["annotations"].items():
            meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
        for key, value in template["metadata"]["labels"].items():
            meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
        target = relabel(meta, job["relabel_configs"])
        assert target is not None, f"{name}: not scraped"
        assert target["__address__"] == f"10.1.2.3:{PORT}"
        assert target["__metrics_path__"] == "/metrics"
        assert (target["service"], target["namespace"], target["pod"]) == (name, NAMESPACE, f"{name}-abc")
        unannotated = {k: v for k, v in meta.items() if "annotation" not in k}
        assert relabel(unannotated, job["relabel_configs"]) is None, "pods that do not ask are scraped"
        elsewhere = {**meta, "__meta_kubernetes_pod_annotation_prometheus_io_port": "9102",
                     "__meta_kubernetes_pod_annotation_prometheus_io_path": "/other"}
        moved = relabel(elsewhere, job["relabel_configs"])
        assert (moved["__address__"], moved["__metrics_path__"]) == ("10.1.2.3:9102", "/other"), (
            "the port and path annotations are not honoured")


def test_local_targets_are_the_compose_ports(prometheus: dict, compose: dict) -> None:
    job = {j["job_name"]: j for j in prometheus["scrape_configs"]}["handoff-local"]
    targets = {group["labels"]["service"]: group["targets"] for group in job["static_configs"]}
    assert set(targets) == set(APP_SERVICES)
    for name, (target,) in targets.items():
        published = [p.rsplit(":", 2)[-2] for p in compose["services"][name]["ports"] if p.endswith(f":{PORT}")]
        assert target.rsplit(":", 1)[1] in published, f"{name}: {target} is not a port compose publishes"


def test_alert_rules_are_complete(rules: list[dict]) -> None:
    names = [rule.get("alert") for rule in rules]
    assert all(names) and len(names) == len(set(names)), names
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        promql_parser.parse_duration(rule["for"])  # raises on a bad duration
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]


def test_alert_expressions_use_known_metrics(rules: list[dict]) -> None:
    problems = []
    for rule in rules:
        query = Query(rule["expr"])
        problems += [f"{rule['alert']}: {p}" for p in query.problems()]
        outputs = query.output_labels()
        used = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        if outputs is not None and not used <= outputs:
            problems.append(f"{rule['alert']}: annotations use {sorted(used - outputs)}, not in the result")
    assert not problems, "\n".join(problems)


def test_every_alert_has_a_rule_unit_test(rules: list[dict]) -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    assert tests["rule_files"] == [ALERT_RULES.name]
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    fired = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
             if case.get("exp_alerts")}
    names = {rule["alert"] for rule in rules}
    assert tested <= names, f"tests of alerts that do not exist: {sorted(tested - names)}"
    assert names <= fired, f"never shown to fire: {sorted(names - fired)}"


def _promtool(promtool: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *argv], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules_and_the_rule_tests_pass() -> None:
    """promtool is Prometheus's own checker (Debian: package prometheus; ./handoff test installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (./handoff test installs it when run as root)")
    for argv in (["check", "rules", ALERT_RULES.name], ["test", "rules", ALERT_TESTS.name]):
        result = _promtool(promtool, *argv, cwd=ALERT_RULES.parent)
        assert result.returncode == 0, f"promtool {' '.join(argv)}:\n{result.stdout}\n{result.stderr}"


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    """Debian builds promtool without Kubernetes service discovery; there the pod job is
    checked by the structural tests above and promtool checks everything else."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: apt-get install prometheus (./handoff test installs it when run as root)")
    result = _promtool(promtool, "check", "config", PROMETHEUS_CONFIG.name, cwd=PROMETHEUS_CONFIG.parent)
    if result.returncode != 0 and "kubernetes_sd_configs not found" in result.stdout + result.stderr:
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        config["scrape_configs"] = [job for job in config["scrape_configs"] if "kubernetes_sd_configs" not in job]
        assert config["scrape_configs"], "nothing left to check"
        shutil.copy(ALERT_RULES, tmp_path / ALERT_RULES.name)
        (tmp_path / PROMETHEUS_CONFIG.name).write_text(yaml.safe_dump(config))
        result = _promtool(promtool, "check", "config", PROMETHEUS_CONFIG.name, cwd=tmp_path)
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}\n{result.stderr}"


def test_the_alerts_asked_for_exist(rules: list[dict]) -> None:
    def rules_on(metric: str) -> list[dict]:
        return [r for r in rules if metric in Query(r["expr"]).metrics()]

    lag = rules_on("handoff_consumer_lag")
    assert lag and any(promql_parser.parse_duration(r["for"]).total_seconds() >= 300 for r in lag)
    assert rules_on("handoff_dead_letters_total")
    assert [r for r in rules_on("handoff_outbox_backlog") if "deriv(" in r["expr"] or "delta(" in r["expr"]]
    assert rules_on("handoff_sla_breaches_total")
    down = rules_on("up")
    assert down and any(r["labels"]["severity"] == "critical" for r in down)


# ---- Grafana -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panel_queries(panel: dict) -> list[tuple[str, Query]]:
    return [(t.get("legendFormat", ""), Query(grafana_expr(t["expr"]))) for t in panel["targets"]]


def test_dashboard_shape(dashboard: dict) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard["panels"]:
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["title"].strip()
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy") and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]


def test_dashboard_expressions_use_known_metrics(dashboard: dict) -> None:
    problems = []
    for panel in dashboard["panels"]:
        for legend, query in panel_queries(panel):
            problems += [f"{panel['title']}: {p}" for p in query.problems()]
            outputs = query.output_labels()
            used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
            if outputs is not None and not used <= outputs:
                problems.append(f"{panel['title']}: legend {legend!r} uses labels the query drops")
    assert not problems, "\n".join(problems)


def test_every_metric_is_on_the_dashboard(dashboard: dict) -> None:
    shown = {m for panel in dashboard["panels"] for _, q in panel_queries(panel) for m in q.metrics()}
    assert set(METRICS) <= shown, f"not on any panel: {sorted(set(METRICS) - shown)}"


def test_the_panels_asked_for_exist(dashboard: dict) -> None:
    def panels_on(metric: str) -> list[dict]:
        return [p for p in dashboard["panels"] if any(metric in q.metrics() for _, q in panel_queries(p))]

    def grouped_by(metric: str, *labels: str) -> bool:
        return any(p["type"] == "timeseries" and any(
            metric in q.metrics() and set(labels) <= (q.output_labels() or set()) for _, q in panel_queries(p))
            for p in panels_on(metric))

    assert grouped_by("handoff_events_consumed_total", "topic")
    assert grouped_by("handoff_events_produced_total", "topic")
    assert grouped_by("handoff_consumer_lag", "consumer_group", "topic")
    assert grouped_by("handoff_dead_letters_total", "topic")
    assert grouped_by("handoff_outbox_backlog")
    assert grouped_by("handoff_stage_latency_seconds", "stage")
    assert grouped_by("handoff_batch_processing_seconds", "consumer_group")
    assert grouped_by("handoff_http_requests_total", "route")
    assert grouped_by("handoff_http_request_duration_seconds", "route")
    assert grouped_by("handoff_sla_breaches_total", "action")
    assert grouped_by("handoff_leads_captured_total", "source")
    stage = " ".join(t["expr"] for p in panels_on("handoff_stage_latency_seconds") for t in p["targets"])
    assert "histogram_quantile(0.5," in stage and "histogram_quantile(0.95," in stage
    http = [t["expr"] for p in panels_on("handoff_http_requests_total") for t in p["targets"]]
    assert any('status=~"5' in e and "/" in e for e in http), "no HTTP error ratio"


# ---- the contract, documented and implemented ---------------------------------------------

def test_metric_list_is_documented() -> None:
    section = deployment_section()
    documented = set(re.findall(r"`(handoff_[a-z_]+)`", section))
    assert documented == set(METRICS), (
        f"only in the docs: {sorted(documented - set(METRICS))}, only here: {sorted(set(METRICS) - documented)}")


def test_metric_list_matches_the_implementation() -> None:
    """If the metrics module exists, its metrics are exactly the contract, labels included."""
    try:
        module = importlib.import_module("shared.observability.metrics")
    except ModuleNotFoundError:
        pytest.skip("shared/observability/metrics.py does not exist yet")
    from prometheus_client.metrics import MetricWrapperBase
    implemented = {}
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            implemented[name] = (value._type, frozenset(value._labelnames))
    assert implemented == METRICS
