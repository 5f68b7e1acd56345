"""deploy/k8s/autoscaling: the consumers scale on their consumer group's lag, with KEDA's
ScaledObjects or with plain HorizontalPodAutoscalers on prometheus-adapter's External metric.

What the two must get right is read from the code, not restated: the consumer group each
service's consumer joins (``EventConsumer.group_id`` from its ``ConsumerSpec``), the topics it
reads and their partitions (``shared/events/topics.py``), the lag metric's name and labels
(``shared/observability/metrics.py``). A replica beyond the smallest partition count of the
topics a group reads would sit idle, so that is the ceiling; the floor is the StatefulSet's
own count. KEDA's CRDs are not Kubernetes' kinds, so kubernetes-validate can't check the
ScaledObjects: their fields are checked here against KEDA 2.x's documented ones."""

from __future__ import annotations

import re

import pytest
import yaml

from services.feedback.handlers import TIMELINE
from services.routing.handlers import router_consumer
from services.scoring.handlers import scorer
from shared.events.topics import ALL_TOPICS
from shared.kafka.consumer import ConsumerSpec
from shared.observability import metrics
from tests.unit.deploy.manifests import (
    ADAPTER_VALUES,
    COMPONENTS,
    CONSUMER_SERVICES,
    K8S,
    REPLICAS,
    SCALING_DOC,
    component,
    component_docs,
    main_container,
    of_kind,
    with_component,
    workloads_of,
)

SPECS: dict[str, ConsumerSpec] = {
    "scoring": scorer(store=None),  # type: ignore[arg-type]  # only the spec's name and topics are read
    "routing": router_consumer(router=None),  # type: ignore[arg-type]
    "feedback": TIMELINE,
}
PARTITIONS = {topic.name: topic.partitions for topic in ALL_TOPICS}
LAG_METRIC = "handoff_consumer_lag"
# The ScaledObject fields and kafka trigger parameters KEDA 2.x documents (keda.sh/docs/2.x,
# "ScaledObject specification" and "Apache Kafka" scaler); anything else is a typo KEDA ignores.
SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
KAFKA_PARAMETERS = {"bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv",
                    "topic", "topicFromEnv", "lagThreshold", "activationLagThreshold", "offsetResetPolicy",
                    "allowIdleConsumers", "scaleToZeroOnInvalidOffset", "excludePersistentLag",
                    "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions", "version",
                    "partitionLimitation", "sasl", "tls", "unsafeSsl"}


def group_of(service: str) -> str:
    """The consumer group the service's consumer joins (shared/kafka/consumer.py)."""
    return f"handoff.{service}.{SPECS[service].name}"


def partition_ceiling(service: str) -> int:
    """The most members of the group that all get a partition of every topic it reads."""
    return min(PARTITIONS[topic] for topic in SPECS[service].topics)


@pytest.fixture(scope="module")
def base() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


@pytest.fixture(scope="module")
def scaled_objects() -> dict[str, dict]:
    docs = component_docs(COMPONENTS["keda"])
    assert {d["kind"] for d in docs} == {"ScaledObject"}, "the KEDA component adds ScaledObjects only"
    return of_kind(docs, "ScaledObject")


@pytest.fixture(scope="module")
def hpas() -> dict[str, dict]:
    docs = component_docs(COMPONENTS["hpa"])
    assert {d["kind"] for d in docs} == {"HorizontalPodAutoscaler"}
    return of_kind(docs, "HorizontalPodAutoscaler")


def test_the_handlers_know_each_consumer_service() -> None:
    assert set(SPECS) == set(CONSUMER_SERVICES)
    for service in CONSUMER_SERVICES:
        assert SPECS[service].topics, service
        assert set(SPECS[service].topics) <= set(PARTITIONS), f"{service} reads a topic topics.py does not define"


@pytest.mark.parametrize("kind", sorted(COMPONENTS))
def test_each_component_scales_each_consumer_statefulset_and_nothing_else(kind: str, base: list[dict]) -> None:
    statefulsets = of_kind(base, "StatefulSet")
    docs = component_docs(COMPONENTS[kind])
    targets = [d["spec"]["scaleTargetRef"] for d in docs]
    assert sorted(t["name"] for t in targets) == sorted(CONSUMER_SERVICES), targets
    for target in targets:
        assert target["kind"] == "StatefulSet" and target["apiVersion"] == "apps/v1", target
        assert target["name"] in statefulsets, target


@pytest.mark.parametrize("kind", sorted(COMPONENTS))
def test_with_a_component_on_the_autoscaler_owns_the_counts(kind: str, base: list[dict]) -> None:
    for name in CONSUMER_SERVICES:
        assert workloads_of(base)[name]["spec"]["replicas"] == REPLICAS[name], "without a component, a fixed count"
    applied = workloads_of(with_component(base, COMPONENTS[kind]))
    for name in CONSUMER_SERVICES:
        assert "replicas" not in applied[name]["spec"], f"{name}: a count in the manifest resets the autoscaler"
    assert applied["intake"]["spec"] == workloads_of(base)["intake"]["spec"], "intake keeps its CPU autoscaler"


@pytest.mark.parametrize("service", CONSUMER_SERVICES)
def test_scaled_object_reads_the_lag_of_the_group_the_service_joins(service: str, scaled_objects: dict[str, dict],
                                                                    base: list[dict]) -> None:
    spec = scaled_objects[service]["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC, sorted(set(spec) - SCALED_OBJECT_SPEC)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    params = trigger["metadata"]
    assert set(params) <= KAFKA_PARAMETERS, sorted(set(params) - KAFKA_PARAMETERS)
    assert params["consumerGroup"] == group_of(service)
    assert "topic" not in params, "the group reads several topics: its lag is summed over all of them"
    assert all(isinstance(v, str) for v in params.values()), "trigger metadata values are strings"
    assert int(params["lagThreshold"]) > 0
    assert params["offsetResetPolicy"] == "earliest", "a new group starts at the beginning (consumer.py)"
    # the broker address: the container's own variable, from the ConfigMap the service reads it from
    container = main_container(of_kind(base, "StatefulSet")[service], service)
    assert spec["scaleTargetRef"]["envSourceContainerName"] == container["name"]
    env = {e["name"]: e for e in container["env"]}
    source = env[params["bootstrapServersFromEnv"]]
    assert source["valueFrom"]["configMapKeyRef"]["key"] == "KAFKA_BOOTSTRAP_SERVERS", source


@pytest.mark.parametrize("service", CONSUMER_SERVICES)
def test_scaled_object_bounds_floor_of_the_statefulset_ceiling_of_the_partitions(
        service: str, scaled_objects: dict[str, dict]) -> None:
    spec = scaled_objects[service]["spec"]
    assert spec["minReplicaCount"] == REPLICAS[service] >= 1, "never 0: each replica also runs the outbox relay"
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partition_ceiling(service), (
        f"{service}: more members than partitions of {SPECS[service].topics} would sit idle")
    assert spec["triggers"][0]["metadata"]["allowIdleConsumers"] == "false"


@pytest.mark.parametrize("service", CONSUMER_SERVICES)
def test_hpa_scales_as_keda_does_on_the_services_lag_metric(service: str, hpas: dict[str, dict],
                                                            scaled_objects: dict[str, dict]) -> None:
    hpa, keda = hpas[service], scaled_objects[service]["spec"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (keda["minReplicaCount"], keda["maxReplicaCount"])
    assert spec["behavior"] == keda["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    (metric,) = spec["metrics"]
    assert metric["type"] == "External"
    external = metric["external"]
    assert external["metric"] == {"name": LAG_METRIC, "selector": {"matchLabels": {"consumer_group": group_of(service)}}}
    assert external["target"] == {"type": "AverageValue",
                                  "averageValue": keda["triggers"][0]["metadata"]["lagThreshold"]}


def test_scale_down_is_slower_than_scale_up() -> None:
    """Every member leaving makes the group rebalance: down one pod at a time after quiet minutes."""
    for hpa in of_kind(component_docs(COMPONENTS["hpa"]), "HorizontalPodAutoscaler").values():
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60
        assert all(p["value"] == 1 for p in behavior["scaleDown"]["policies"] if p["type"] == "Pods")


def test_adapter_serves_the_lag_metric_the_hpas_ask_for() -> None:
    values = yaml.safe_load(ADAPTER_VALUES.read_text())
    (rule,) = values["rules"]["external"]
    assert rule["name"]["as"] == LAG_METRIC
    assert re.match(rule["name"]["matches"], LAG_METRIC)
    assert LAG_METRIC in rule["seriesQuery"]
    assert metrics.CONSUMER_LAG.describe()[0].name == LAG_METRIC, "the services export the metric under this name"
    labels = set(metrics.CONSUMER_LAG._labelnames)
    # each partition once (two replicas may report one during a rebalance), summed per group
    query = rule["metricsQuery"]
    assert "<<.Series>>{<<.LabelMatchers>>}" in query
    grouped = re.findall(r"by \(([^)]*)\)", query)
    assert [set(g.replace(" ", "").split(",")) for g in grouped] == [{"consumer_group"}, labels], query
    assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}


def test_components_are_kustomize_components_and_documented() -> None:
    doc = SCALING_DOC.read_text()
    for name, path in COMPONENTS.items():
        assert component(path)["kind"] == "Component"
        assert f"autoscaling/{name}" in doc, f"docs/scaling.md says nothing of autoscaling/{name}"
    assert "lagThreshold" in doc
