"""Constants and loaders shared by the tests of deploy/k8s (and by those of deploy/prometheus
that follow the Deployments): where the files are, what the manifests must agree on, and
small readers of Kubernetes objects. The fixtures built on them are in conftest.py."""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from shared.settings import ServiceSettings
from tests.unit.deploy.dockerfile import DOCKERFILE, Dockerfile, Image

ROOT = Path(__file__).resolve().parents[3]
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
# The services that consume Kafka (services/<name>/handlers.py): StatefulSets, so that each
# replica has a stable name for its static group membership (docs/scaling.md); intake, which
# consumes nothing, is a Deployment.
CONSUMER_SERVICES = ("scoring", "routing", "feedback")
WORKLOAD_KINDS = {name: "StatefulSet" if name in CONSUMER_SERVICES else "Deployment" for name in APP_SERVICES}
POD_KINDS = ("Deployment", "StatefulSet", "Job")  # the kinds whose pods run our containers
# The floor of each service's replicas: spec.replicas of the consumers' StatefulSets (and the
# minimum of their autoscalers), the minimum of intake's HorizontalPodAutoscaler. feedback:
# one is enough at rest (docs/scaling.md).
REPLICAS = {"intake": 2, "scoring": 2, "routing": 2, "feedback": 1}
# The kustomize components of deploy/k8s/autoscaling: lag-based autoscaling of the consumers,
# with KEDA or with plain HorizontalPodAutoscalers on prometheus-adapter's External metric.
AUTOSCALING = K8S / "autoscaling"
COMPONENTS = {"keda": AUTOSCALING / "keda", "hpa": AUTOSCALING / "hpa"}
ADAPTER_VALUES = COMPONENTS["hpa"] / "prometheus-adapter-values.yaml"
SCALING_DOC = ROOT / "docs" / "scaling.md"
PORT = 8000
MIGRATE_TARGET = "migrate"  # deploy/Dockerfile's stage for the migrate Job
SERVICE_TARGET = "service"  # deploy/Dockerfile's stage for a service, with --build-arg SERVICE


# ---- loading -------------------------------------------------------------------------

def yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p != KUSTOMIZATION)


def component(path: Path) -> dict:
    """The kustomization.yaml of a kustomize component."""
    return yaml.safe_load((path / "kustomization.yaml").read_text())


def component_docs(path: Path) -> list[dict]:
    """The documents a component adds (its resources)."""
    return [doc for name in component(path).get("resources", []) for doc in yaml_docs(path / name)]


def component_files() -> list[Path]:
    """Every manifest the components of deploy/k8s/autoscaling add, Kubernetes' kinds and KEDA's."""
    return sorted(path / name for path in COMPONENTS.values() for name in component(path).get("resources", []))


def with_component(docs: list[dict], path: Path) -> list[dict]:
    """docs as `kustomize build` makes them with the component: its resources added, then
    its patches applied. Only the JSON 6902 `remove` operation is supported, on targets
    selected by group, version, kind and name; anything else fails loudly."""
    spec = component(path)
    assert spec["kind"] == "Component" and spec["apiVersion"].startswith("kustomize.config.k8s.io/"), spec
    assert set(spec) <= {"apiVersion", "kind", "resources", "patches"}, f"{path.name}: {sorted(spec)}"
    result = copy.deepcopy(docs) + component_docs(path)
    for patch in spec.get("patches", []):
        target = patch["target"]
        if set(target) - {"group", "version", "kind", "name"}:
            raise ValueError(f"{path.name}: target selector {target} is not simulated")
        chosen = [doc for doc in result if _targets(target, doc)]
        assert chosen, f"{path.name}: the patch on {target} matches nothing"
        for op in yaml.safe_load(patch["patch"]):
            if op["op"] != "remove":
                raise ValueError(f"{path.name}: JSON patch op {op['op']} is not simulated")
            *parents, last = op["path"].strip("/").split("/")
            for doc in chosen:
                node = doc
                for key in parents:
                    node = node[key]
                del node[last]  # a missing path fails, as in kustomize
    return result


def _targets(target: dict, doc: dict) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    return (target.get("group", group) == group and target.get("version", version) == version
            and target.get("kind", doc["kind"]) == doc["kind"]
            and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"])


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads_of(docs: list[dict]) -> dict[str, dict]:
    """The services' workloads by name: intake's Deployment, the consumers' StatefulSets."""
    return {**of_kind(docs, "Deployment"), **of_kind(docs, "StatefulSet")}


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


def deployment_section() -> str:
    """The section "Deployment on Kubernetes" of docs/architecture.md, up to the next one."""
    text = ARCHITECTURE.read_text()
    assert "\n## Deployment on Kubernetes\n" in text
    return text.split("\n## Deployment on Kubernetes\n", 1)[1].split("\n## ", 1)[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def dockerfile() -> str:
    """deploy/Dockerfile's text, continuation lines joined."""
    return re.sub(r"\\\n", " ", DOCKERFILE.read_text())


def service_image(service: str) -> Image:
    """The image `docker build -f deploy/Dockerfile --build-arg SERVICE=<service> .` makes."""
    return Dockerfile().image(SERVICE_TARGET, SERVICE=service)


def migrate_image() -> Image:
    return Dockerfile().image(MIGRATE_TARGET)


def image_uid(image: Image) -> int | None:
    """The fixed uid the image's useradd gives its USER, if it does."""
    for run in image.runs:
        for command in re.split(r"&&|;", run):
            words = command.split()
            if words[:1] == ["useradd"] and words[-1] == image.user and "--uid" in words:
                return int(words[words.index("--uid") + 1])
    return None
