"""deploy/k8s/network-policies.yaml, without a cluster: a default deny for the namespace, port
8000 of the four services open to the ingress controller and Prometheus only, and egress for
every Handoff pod to DNS, PostgreSQL and Kafka alone (routing also to public HTTPS, its CRM
push). The selectors are evaluated here against the pods the manifests make, and the ports
against the containers' ports, the Secret's DATABASE_URL and the ConfigMap's brokers. That a
CNI enforces them is not checked (no cluster)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest

from tests.unit.deploy.manifests import (
    APP_SERVICES,
    ARCHITECTURE,
    K8S,
    NAMESPACE,
    POD_KINDS,
    PORT,
    containers,
    of_kind,
    yaml_docs,
)

POLICIES_FILE = K8S / "network-policies.yaml"
POSTGRES_CIDR_PLACEHOLDER = "REPLACE-WITH-POSTGRES-CIDR"
DEFAULT_DENY = "default-deny"
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")  # never the CRM push's
PEER_KEYS = {"podSelector", "namespaceSelector", "ipBlock"}


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) on a pod's labels; {} selects all."""
    if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@pytest.fixture(scope="module")
def policies(applied: list[dict]) -> dict[str, dict]:
    return of_kind(applied, "NetworkPolicy")


@pytest.fixture(scope="module")
def pods(applied: list[dict]) -> dict[str, dict]:
    """Every pod template of the manifests by its workload's name: the four services, the two Jobs."""
    return {doc["metadata"]["name"]: doc["spec"]["template"] for doc in applied if doc["kind"] in POD_KINDS}


def labels_of(pod: dict) -> dict[str, str]:
    return pod["metadata"]["labels"]


def container_ports(pod: dict) -> set[tuple[str, int | str]]:
    """(protocol, port) of every container port, by number and by name."""
    found: set[tuple[str, int | str]] = set()
    for container in containers({"spec": {"template": pod}}):
        for port in container.get("ports", []):
            found.add((port.get("protocol", "TCP"), port["containerPort"]))
            if "name" in port:
                found.add((port.get("protocol", "TCP"), port["name"]))
    return found


def rule_ports(rule: dict) -> set[tuple[str, int | str]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}


def selecting(policies: dict[str, dict], pod: dict, policy_type: str) -> list[dict]:
    """The policies of that type (Ingress, Egress) whose podSelector picks the pod."""
    return [p for p in policies.values()
            if policy_type in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels_of(pod))]


def egress_ports(policies: dict[str, dict], pod: dict) -> set[tuple[str, int | str]]:
    return {port for p in selecting(policies, pod, "Egress") for rule in p["spec"].get("egress", [])
            for port in rule_ports(rule)}


def test_selects_reads_label_selectors() -> None:
    pod = {"app.kubernetes.io/name": "intake", "app.kubernetes.io/part-of": "handoff"}
    assert selects({}, pod)
    assert selects({"matchLabels": {"app.kubernetes.io/part-of": "handoff"}}, pod)
    assert not selects({"matchLabels": {"app.kubernetes.io/name": "routing"}}, pod)
    names = {"key": "app.kubernetes.io/name", "values": ["intake", "scoring"]}
    assert selects({"matchExpressions": [{**names, "operator": "In"}]}, pod)
    assert not selects({"matchExpressions": [{**names, "operator": "NotIn"}]}, pod)
    assert selects({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "Exists"}]}, pod)
    assert not selects({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "DoesNotExist"}]}, pod)


def test_policies_are_applied(kustomization: dict, policies: dict[str, dict]) -> None:
    assert POLICIES_FILE.name in kustomization["resources"]
    assert {DEFAULT_DENY, "handoff-http", "handoff-egress", "routing-crm-push"} <= set(policies), sorted(policies)


def test_each_policy_has_the_network_policy_shape() -> None:
    docs = yaml_docs(POLICIES_FILE)
    assert docs
    for doc in docs:
        name = doc["metadata"]["name"]
        assert (doc["apiVersion"], doc["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy"), name
        assert doc["metadata"].get("namespace", NAMESPACE) == NAMESPACE, name
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "handoff", name
        spec = doc["spec"]
        assert set(spec) <= {"podSelector", "policyTypes", "ingress", "egress"}, f"{name}: {sorted(spec)}"
        assert isinstance(spec["podSelector"], dict), name
        types = spec["policyTypes"]
        assert types and set(types) <= {"Ingress", "Egress"} and len(types) == len(set(types)), f"{name}: {types}"
        # explicit policyTypes: rules of a type the policy does not declare would be ignored
        assert "Ingress" in types or "ingress" not in spec, name
        assert "Egress" in types or "egress" not in spec, name
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                assert set(rule) <= {peers_key, "ports"}, f"{name}: {sorted(rule)}"
                assert rule.get(peers_key), f"{name}: a {direction} rule without {peers_key} allows every peer"
                assert rule.get("ports"), f"{name}: a {direction} rule without ports allows every port"
                for peer in rule[peers_key]:
                    assert peer and set(peer) <= PEER_KEYS, f"{name}: {peer}"
                    assert "ipBlock" not in peer or len(peer) == 1, f"{name}: ipBlock stands alone: {peer}"
                    for key in ("namespaceSelector", "podSelector"):
                        assert peer.get(key, {"set": 1}) != {}, f"{name}: an empty {key} matches every one"
                for port in rule["ports"]:
                    assert set(port) <= {"protocol", "port"} and port.get("protocol") in ("TCP", "UDP"), name
                    assert isinstance(port["port"], int), f"{name}: ports by number, as the comments say"


def test_default_deny_covers_the_namespace_both_ways(policies: dict[str, dict]) -> None:
    spec = policies[DEFAULT_DENY]["spec"]
    assert spec["podSelector"] == {}, "the default deny selects every pod of the namespace"
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress") and not spec.get("egress"), "a default deny allows nothing"


def test_every_pod_is_selected_by_a_policy_that_allows_it_something(pods: dict[str, dict],
                                                                    policies: dict[str, dict]) -> None:
    assert set(APP_SERVICES) | {"migrate", "topics"} <= set(pods), sorted(pods)
    for name, pod in pods.items():
        assert labels_of(pod).get("app.kubernetes.io/part-of") == "handoff", name
        allowing = [p["metadata"]["name"] for p in selecting(policies, pod, "Egress") if p["spec"].get("egress")]
        assert allowing, f"{name}: no policy lets its pods reach anything (DNS, PostgreSQL, Kafka)"
        assert [p for p in selecting(policies, pod, "Ingress") if p["metadata"]["name"] == DEFAULT_DENY], name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_takes_http_on_its_container_port_only(pods: dict[str, dict], policies: dict[str, dict],
                                                             name: str) -> None:
    pod = pods[name]
    rules = [rule for p in selecting(policies, pod, "Ingress") for rule in p["spec"].get("ingress", [])]
    assert rules, f"{name}: no policy admits any traffic to it"
    allowed = {port for rule in rules for port in rule_ports(rule)}
    assert allowed == {("TCP", PORT)}, f"{name}: ingress to {sorted(allowed, key=str)}"
    assert allowed <= container_ports(pod), f"{name}: a port its containers do not listen on"
    sources = [peer for rule in rules for peer in rule["from"]]
    assert all("ipBlock" not in peer for peer in sources), f"{name}: ingress by address, not by namespace"
    namespaces = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in sources}
    assert namespaces == {"ingress-nginx", "monitoring"}, namespaces


@pytest.mark.parametrize("job", ["migrate", "topics"])
def test_the_jobs_take_nothing_in(pods: dict[str, dict], policies: dict[str, dict], job: str) -> None:
    rules = [rule for p in selecting(policies, pods[job], "Ingress") for rule in p["spec"].get("ingress", [])]
    assert not rules, f"{job} serves nothing, yet a policy admits {rules}"
    assert not container_ports(pods[job])


def test_egress_reaches_dns_the_database_and_the_broker(pods: dict[str, dict], policies: dict[str, dict],
                                                        secret_example: dict, config_data: dict[str, str]) -> None:
    database_port = urlsplit(secret_example["stringData"]["DATABASE_URL"]).port or 5432
    broker_ports = {int(server.rsplit(":", 1)[1]) for server in config_data["KAFKA_BOOTSTRAP_SERVERS"].split(",")}
    needed = {("UDP", 53), ("TCP", 53), ("TCP", database_port), *(("TCP", p) for p in broker_ports)}
    for name, pod in pods.items():
        ports = egress_ports(policies, pod)
        assert needed <= ports, f"{name}: no egress to {sorted(needed - ports, key=str)}"
        extra = ports - needed - ({("TCP", 443)} if name == "routing" else set())
        assert not extra, f"{name}: egress to {sorted(extra, key=str)} too"


def test_the_postgres_cidr_is_a_placeholder_to_fill_in(policies: dict[str, dict]) -> None:
    blocks = [peer["ipBlock"]["cidr"] for rule in policies["handoff-egress"]["spec"]["egress"]
              for peer in rule["to"] if "ipBlock" in peer
              if ("TCP", 5432) in rule_ports(rule)]
    assert blocks == [POSTGRES_CIDR_PLACEHOLDER], blocks
    with pytest.raises(ValueError):  # so the API server refuses it: the apply fails until it is filled in
        ipaddress.ip_network(POSTGRES_CIDR_PLACEHOLDER)
    text = POLICIES_FILE.read_text()
    assert text.count(POSTGRES_CIDR_PLACEHOLDER) == 2, "the placeholder, and the comment saying what to put there"
    assert POSTGRES_CIDR_PLACEHOLDER in ARCHITECTURE.read_text()


def test_dns_is_the_cluster_resolver_only(policies: dict[str, dict]) -> None:
    (dns,) = [rule for rule in policies["handoff-egress"]["spec"]["egress"] if ("UDP", 53) in rule_ports(rule)]
    assert rule_ports(dns) == {("UDP", 53), ("TCP", 53)}
    (peer,) = dns["to"]
    assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, peer


def test_the_crm_push_reaches_public_https_only(pods: dict[str, dict], policies: dict[str, dict]) -> None:
    spec = policies["routing-crm-push"]["spec"]
    chosen = {name for name, pod in pods.items() if selects(spec["podSelector"], labels_of(pod))}
    assert chosen == {"routing"}, chosen
    (rule,) = spec["egress"]
    assert rule_ports(rule) == {("TCP", 443)}
    (peer,) = rule["to"]
    block = peer["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    excepted = [ipaddress.ip_network(cidr) for cidr in block["except"]]
    for private in map(ipaddress.ip_network, PRIVATE):
        assert any(private.subnet_of(net) for net in excepted), f"the CRM push may reach {private}"
