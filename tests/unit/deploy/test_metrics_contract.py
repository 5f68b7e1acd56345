"""The metrics contract (METRICS in promql.py), documented and implemented: the table in
docs/architecture.md ("Deployment on Kubernetes") and shared/observability/metrics.py list
exactly the metrics the alert rules and the dashboard may use."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.unit.deploy.manifests import deployment_section
from tests.unit.deploy.promql import METRICS


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
