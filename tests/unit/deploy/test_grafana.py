"""deploy/grafana/handoff-dashboard.json, with no Grafana: its structure, and its PromQL
(parsed with ``promql-parser``: only the metrics of the contract, with their labels)."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.deploy.manifests import DASHBOARD
from tests.unit.deploy.promql import METRICS, Query, grafana_expr


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
