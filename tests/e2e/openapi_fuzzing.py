"""Property-based fuzzing of a running service from its own ``/openapi.json`` with
Schemathesis, and the figures of a run: operations, requests, check runs and every failure.

``fuzz`` drives Schemathesis's own engine (what ``st run`` uses; the version is pinned in
pyproject.toml because ``schemathesis.engine`` is not its documented API): one call covers
every operation of a service and reports exact figures. Bounded by ``max_examples`` per
operation and a wall-clock cap (Schemathesis's ``max-time`` is a budget the fuzzing phase
fills, not a cap, so a timer stops the stream instead).

``fuzz_signed`` is for the webhooks, whose signature covers the exact body bytes: it draws
cases from the operation's strategies, serialises and signs each body itself, sends it, and
validates the answer with the same checks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.engine import Status, events, from_schema
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

REPORT: list[str] = []
"""The summaries of this session's runs, printed at the end of the test output (tests/conftest.py)."""

CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance")
CHECK_FUNCTIONS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MESSAGE_CHARS = 200


@dataclass
class Figures:
    """What one fuzzing run did and found."""

    label: str
    operations: set[str] = field(default_factory=set)
    requests: int = 0
    check_runs: Counter[str] = field(default_factory=Counter)
    failures_per_check: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (operation, check, what)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    stop_reason: str = ""
    seconds: float = 0.0

    def record_failure(self, operation: str, check: str, title: str, message: str) -> None:
        self.failures_per_check[check] += 1
        entry = (operation, check, f"{title}: {' '.join(message.split())[:MESSAGE_CHARS]}")
        if entry not in self.failures:
            self.failures.append(entry)

    def summary(self) -> str:
        lines = [f"{self.label}: {len(self.operations)} operations, {self.requests} requests, "
                 f"{sum(self.failures_per_check.values())} failures "
                 f"({self.failures_per_check.get('not_a_server_error', 0)} server errors, "
                 f"{self.failures_per_check.get('response_schema_conformance', 0)} schema violations, "
                 f"{self.failures_per_check.get('status_code_conformance', 0)} undocumented statuses), "
                 f"{len(self.errors)} errors, {self.seconds:.1f} s ({self.stop_reason})",
                 f"  statuses: {dict(sorted(self.statuses.items()))}"]
        lines += [f"  FAIL {op} [{check}] {what}" for op, check, what in self.failures]
        lines += [f"  ERROR {error}" for error in self.errors]
        return "\n".join(lines)


def fuzz(label: str, schema_url: str, *, headers: dict[str, str] | None = None, max_examples: int = 25,
         max_seconds: float = 120, mode: str = "all", seed: int = 1) -> Figures:
    """Every operation of the schema at ``schema_url``: examples, coverage and fuzzing phases
    (no stateful phase), positive and negative data (``mode="all"``), the three checks."""
    config = schemathesis.Config.from_dict({
        "workers": 1, "request-timeout": 15, "seed": seed,
        "generation": {"max-examples": max_examples, "mode": mode},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        **({"headers": headers} if headers else {}),
    })
    schema = schemathesis.openapi.from_url(schema_url, config=config)
    figures = Figures(label)
    started = time.monotonic()
    stream = from_schema(schema).execute()

    def cap() -> None:
        figures.stop_reason = f"stopped at the {max_seconds:g} s cap"
        stream.stop()

    timer = threading.Timer(max_seconds, cap)
    timer.daemon = True
    timer.start()
    try:
        for event in stream:
            if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
                _count(figures, event.recorder)
            elif isinstance(event, events.NonFatalError):
                figures.errors.append(f"{event.label}: {event.info.title}: {event.value!r}"[:MESSAGE_CHARS])
            elif isinstance(event, events.FatalError):
                raise event.exception
            elif isinstance(event, events.EngineFinished):
                figures.stop_reason = figures.stop_reason or "completed"
    finally:
        timer.cancel()
    figures.seconds = time.monotonic() - started
    return figures


def _count(figures: Figures, recorder) -> None:
    figures.requests += len(recorder.interactions)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            figures.statuses[interaction.response.status_code] += 1
    for node in recorder.cases.values():
        figures.operations.add(node.value.operation.label)
    for case_id, checks in recorder.checks.items():
        operation = recorder.cases[case_id].value.operation.label
        for check in checks:
            figures.check_runs[check.name] += 1
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                figures.record_failure(operation, check.name, failure.title, failure.message or "")


Signer = Callable[[str, str, bytes], dict[str, str]]
"""(method, url, body) -> the headers that sign the request."""


def fuzz_signed(label: str, schema_url: str, base_url: str, method: str, path: str, sign: Signer, *,
                max_examples: int = 25) -> Figures:
    """One operation whose body is signed: positive and negative bodies, each serialised and
    signed here, sent, and checked like ``fuzz`` checks."""
    schema = schemathesis.openapi.from_url(schema_url)
    operation = schema[path][method.upper()]
    figures = Figures(label)
    figures.operations.add(f"{method.upper()} {path}")
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=15) as http:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def one(case) -> None:
                # the standard library's encoder: negative cases hold integers past 64 bits
                body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
                url = f"{base_url}{case.formatted_path}"
                response = http.request(method, url, content=body, params=case.query,
                                        headers={"Content-Type": "application/json", **sign(method, url, body)})
                figures.requests += 1
                figures.statuses[response.status_code] += 1
                for check in CHECKS:
                    figures.check_runs[check] += 1
                try:
                    case.validate_response(response, checks=CHECK_FUNCTIONS)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        figures.record_failure(f"{method.upper()} {path}", _check_of(failure.title),
                                               failure.title, failure.message or "")

            one()
    figures.seconds = time.monotonic() - started
    figures.stop_reason = "completed"
    return figures


def _check_of(title: str) -> str:
    lowered = title.lower()
    if "server error" in lowered:
        return "not_a_server_error"
    if "status code" in lowered:
        return "status_code_conformance"
    return "response_schema_conformance"
