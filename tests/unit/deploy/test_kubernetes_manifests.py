"""deploy/k8s as a whole: every document against the official Kubernetes JSON schemas, the
kustomization, the namespace, secrets kept out of git and where the images come from.

No cluster here, so nothing is applied for real: every Kubernetes document is validated
against the official Kubernetes JSON schemas, strict (unknown fields are errors), as bundled
offline by ``kubernetes-validate``, for the oldest and the newest Kubernetes version named
in K8S_VERSIONS (``kubectl kustomize`` is not run: kubectl is not on every machine, and a
skipped test proves nothing). That covers the autoscaling components' documents too, but for
KEDA's ScaledObjects, which are not Kubernetes' own kinds: test_kubernetes_autoscaling.py
checks those.
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from tests.unit.deploy.manifests import (
    APP_SERVICES,
    COMPONENTS,
    K8S,
    K8S_VERSIONS,
    MIGRATE_TARGET,
    NAMESPACE,
    POD_KINDS,
    PORT,
    SECRET,
    SECRET_EXAMPLE,
    component_files,
    containers,
    main_container,
    manifest_files,
    of_kind,
    yaml_docs,
)

KEDA_GROUP = "keda.sh/"  # apiVersion prefix of KEDA's custom resources


def kubernetes_files() -> list[tuple[str, dict]]:
    """(file, document) of every document that is one of Kubernetes' own kinds: the
    manifests of deploy/k8s and of its components, KEDA's custom resources left out."""
    return [(str(path.relative_to(K8S)), doc) for path in manifest_files() + component_files()
            for doc in yaml_docs(path) if not doc["apiVersion"].startswith(KEDA_GROUP)]


def test_every_manifest_parses_into_named_objects() -> None:
    files = manifest_files() + component_files()
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
    documents = kubernetes_files()
    assert {doc["kind"] for _, doc in documents} >= {"Deployment", "StatefulSet", "HorizontalPodAutoscaler"}
    for name, doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            problems.append(f"{name} {doc['kind']}/{doc['metadata']['name']} at {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{name}: {e.message}")
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
    # at most one of the autoscaling components: two autoscalers would fight over the same pods
    turned_on = kustomization.get("components") or []
    assert set(turned_on) <= {str(p.relative_to(K8S)) for p in COMPONENTS.values()}, turned_on
    assert len(turned_on) <= 1, f"KEDA's and the plain HPAs scale the same StatefulSets: {turned_on}"


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
    # one image per service (deploy/Dockerfile, --build-arg SERVICE) and the migrate target's
    assert ours == {f"handoff-{s}" for s in APP_SERVICES} | {f"handoff-{MIGRATE_TARGET}"}
    for image in kustomization["images"]:
        assert image.get("newTag") and image["newTag"] != "latest", image
    for workload in [d for d in applied if d["kind"] in POD_KINDS]:
        for container in containers(workload):
            image = container["image"]
            if image in ours:
                continue
            assert re.fullmatch(r"[^:]+:[\w.-]+", image) and not image.endswith(":latest"), image
            assert image == compose["services"]["kafka"]["image"], f"{image}: not the Kafka of docker-compose.yml"
