"""deploy/prometheus: the scrape configuration and the alert rules, with no Prometheus.

- PromQL in the rules is parsed with ``promql-parser`` and may only use the metrics in
  METRICS (the contract with shared/observability/metrics.py), with their labels;
- the pod discovery job is simulated against the Deployments of deploy/k8s, the static job
  against the ports docker-compose.yml publishes;
- promtool (Debian's package prometheus, installed by ./handoff test) checks the rules, runs
  the alert unit tests (deploy/prometheus/alerts_test.yml) and checks the scrape config.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

from tests.unit.deploy.manifests import (
    ALERT_RULES,
    ALERT_TESTS,
    APP_SERVICES,
    NAMESPACE,
    PORT,
    PROMETHEUS_CONFIG,
    main_container,
)
from tests.unit.deploy.promql import Query


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


def test_pod_discovery_follows_the_workloads(prometheus: dict, workloads: dict[str, dict]) -> None:
    """A pod as kubernetes_sd_configs reports it becomes the target its annotations ask for."""
    job = {j["job_name"]: j for j in prometheus["scrape_configs"]}["handoff-pods"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]
    for name, workload in workloads.items():
        template = workload["spec"]["template"]
        (port,) = main_container(workload, name)["ports"]
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
