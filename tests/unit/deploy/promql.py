"""PromQL, as the alert rules (deploy/prometheus) and the dashboard (deploy/grafana) use it:
the metrics contract, and ``Query``, which parses an expression with ``promql-parser`` and
tells the series it reads, how (counters only through rate/increase), and its labels."""

from __future__ import annotations

from typing import Any

import promql_parser

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
    "handoff_loop_restarts_total": ("counter", frozenset({"loop"})),
    "handoff_rescore_sweep_remaining": ("gauge", frozenset()),
    "handoff_outbox_backlog": ("gauge", frozenset()),
    "handoff_outbox_refused_total": ("counter", frozenset({"topic"})),
    "handoff_outbox_refused_rows": ("gauge", frozenset()),
    "handoff_sql_statements_total": ("counter", frozenset({"consumer_group"})),
    "handoff_http_requests_total": ("counter", frozenset({"method", "route", "status"})),
    "handoff_http_request_duration_seconds": ("histogram", frozenset({"method", "route"})),
    "handoff_sla_breaches_total": ("counter", frozenset({"action"})),
    "handoff_leads_captured_total": ("counter", frozenset({"source"})),
    "handoff_rate_limited_total": ("counter", frozenset({"source", "limit"})),
    "handoff_form_spam_total": ("counter", frozenset({"form", "reason"})),
    "handoff_form_ignored_fields_total": ("counter", frozenset({"form"})),
}
# Series Prometheus makes itself, allowed in expressions besides METRICS.
PROMETHEUS_SERIES = {"up": ("gauge", frozenset())}
# Labels every scraped series carries: Prometheus's job/instance and prometheus.yml's relabelling.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
RATE_FUNCTIONS = {"rate", "irate", "increase"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


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
