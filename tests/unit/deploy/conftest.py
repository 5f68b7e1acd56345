"""Fixtures of the tests of deploy/: the Kubernetes objects as `kubectl apply -k deploy/k8s`
creates them, the example Secret and docker-compose.yml."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.deploy.manifests import (
    COMPOSE_FILE,
    CONFIG_MAP,
    K8S,
    KUSTOMIZATION,
    SECRET_EXAMPLE,
    of_kind,
    with_component,
    workloads_of,
    yaml_docs,
)


@pytest.fixture(scope="module")
def kustomization() -> dict:
    return yaml.safe_load(KUSTOMIZATION.read_text())


@pytest.fixture(scope="module")
def applied(kustomization: dict) -> list[dict]:
    """The documents kubectl apply -k creates: those of the kustomization's resources, with
    the components it turns on (none by default: deploy/k8s/autoscaling)."""
    docs = [doc for name in kustomization["resources"] for doc in yaml_docs(K8S / name)]
    for name in kustomization.get("components", []):
        docs = with_component(docs, K8S / name)
    return docs


@pytest.fixture(scope="module")
def base(kustomization: dict) -> list[dict]:
    """The documents of the kustomization's resources alone, without any component."""
    return [doc for name in kustomization["resources"] for doc in yaml_docs(K8S / name)]


@pytest.fixture(scope="module")
def workloads(applied: list[dict]) -> dict[str, dict]:
    """Each service's workload by name: intake's Deployment, the consumers' StatefulSets."""
    return workloads_of(applied)


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
