"""The real stack for integration and end-to-end tests: Kafka and PostgreSQL started by
the project (``devstack``), on free loopback ports and a throw-away state directory.
Unit tests never touch it, so they run without Java or a database."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.credentials import INTAKE_SOURCES
from devstack.stack import Stack, StackConfig
from shared import identity
from tests.e2e.form_page import allow_form_page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fuzzing runs last: with valid credentials it changes what the shared stack holds."""
    items.sort(key=lambda item: item.get_closest_marker("fuzz") is not None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of the run: recovery after kill -9, and the contract fuzzing's operations,
    requests, server errors and schema violations."""
    recovery = sys.modules.get("tests.e2e.test_recovery")
    if recovery is not None and recovery.RECOVERY:
        terminalreporter.section("recovery after kill -9")
        for service, seconds in recovery.RECOVERY.items():
            terminalreporter.write_line(f"{service}: {seconds:.1f} s from ready again to the leads posted meanwhile routed")
    chaos = sys.modules.get("tests.e2e.test_chaos")
    if chaos is not None and chaos.CHAOS:
        terminalreporter.section("chaos: kills, broker and database faults under traffic")
        for line in chaos.CHAOS:
            terminalreporter.write_line(line)
    access = sys.modules.get("tests.e2e.test_access")
    if access is not None and access.MATRIX:
        terminalreporter.section("access matrix: every operation against every role")
        for line in access.MATRIX:
            terminalreporter.write_line(line)
    fuzzing = sys.modules.get("tests.e2e.openapi_fuzzing")  # only when the fuzzing ran
    if fuzzing is not None and fuzzing.REPORT:
        terminalreporter.section("contract fuzzing (Schemathesis)")
        for summary in fuzzing.REPORT:
            terminalreporter.write_line(summary)


TEST_LEAD_ID_KEY = b"lead ids of tests without a stack!"
"""The process's key (set as tests are collected: modules compute ids as they load) until a stack
is entered; within a stack, its installation's key (shared.identity, devstack.stack)."""
identity.configure_key(TEST_LEAD_ID_KEY)


RATE_LIMITED_SOURCE = "rate-limited-test"  # a source of the test stack with a limit small enough to pass
RATE_LIMITED_SOURCE_LIMIT = {"requests": 30, "per_seconds": 10}

FAST_RETRIES = {"CONSUMER_RETRY_BACKOFF_S": "0.05", "OUTBOX_IDLE_INTERVAL_S": "0.2",
                "METRICS_LAG_INTERVAL_S": "1"}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    service_env = {
        name: {f"HANDOFF_{name.upper()}_{k}": v for k, v in FAST_RETRIES.items()}
        for name in ("intake", "scoring", "routing", "feedback")
    }
    service_env["intake"]["HANDOFF_INTAKE_RATE_LIMITS"] = json.dumps({RATE_LIMITED_SOURCE: RATE_LIMITED_SOURCE_LIMIT})
    service_env["scoring"].update({"HANDOFF_SCORING_RESCORE_INTERVAL_S": "0.5",
                                   "HANDOFF_SCORING_DECAY_CHECK_INTERVAL_S": "1"})
    # not under pytest's basetemp: a second pytest session would lock that down to root
    # only, and the PostgreSQL user could no longer reach its data directory
    state_dir = Path(tempfile.mkdtemp(prefix="handoff-test-stack-"))
    config = StackConfig.ephemeral(state_dir, service_env=service_env, lead_id_key=TEST_LEAD_ID_KEY,
                                   intake_sources=(*INTAKE_SOURCES, RATE_LIMITED_SOURCE))
    allow_form_page(config)  # the example web form's page, on an origin of its own (tests/e2e/test_web_forms.py)
    try:
        with Stack(config) as running:
            yield running
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def staff(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.secrets.admin_token}"}


@pytest.fixture
def intake(stack: Stack) -> Iterator[httpx.Client]:
    key = stack.secrets.intake_api_keys["web-form"]
    with httpx.Client(base_url=stack.urls["intake"], timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


@pytest.fixture
def feedback(stack: Stack) -> Iterator[httpx.Client]:
    """As a person with every staff role (the stack's local-admin token)."""
    with httpx.Client(base_url=stack.urls["feedback"], timeout=10, headers=staff(stack)) as client:
        yield client


@pytest.fixture
def routing(stack: Stack) -> Iterator[httpx.Client]:
    """As a person with every staff role (the stack's local-admin token)."""
    with httpx.Client(base_url=stack.urls["routing"], timeout=10, headers=staff(stack)) as client:
        yield client


@pytest.fixture
def scoring(stack: Stack) -> Iterator[httpx.Client]:
    """As a person with every staff role (the stack's local-admin token)."""
    with httpx.Client(base_url=stack.urls["scoring"], timeout=10, headers=staff(stack)) as client:
        yield client


@pytest.fixture
def email() -> str:
    """A fresh person per test, so tests sharing the stack never see each other's leads."""
    return f"test.{uuid.uuid4().hex[:12]}@acme-{uuid.uuid4().hex[:6]}.com"
