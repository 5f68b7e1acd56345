"""The real stack for integration and end-to-end tests: Kafka and PostgreSQL started by
the project (``devstack``), on free loopback ports and a throw-away state directory.
Unit tests never touch it, so they run without Java or a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import Stack, StackConfig

FAST_RETRIES = {"CONSUMER_RETRY_BACKOFF_S": "0.05", "OUTBOX_IDLE_INTERVAL_S": "0.2"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    service_env = {
        name: {f"HANDOFF_{name.upper()}_{k}": v for k, v in FAST_RETRIES.items()}
        for name in ("intake", "scoring", "routing", "feedback")
    }
    service_env["scoring"].update({"HANDOFF_SCORING_RESCORE_INTERVAL_S": "0.5",
                                   "HANDOFF_SCORING_DECAY_CHECK_INTERVAL_S": "1"})
    config = StackConfig.ephemeral(tmp_path_factory.mktemp("stack"), service_env=service_env)
    with Stack(config) as running:
        yield running


@pytest.fixture
def intake(stack: Stack) -> Iterator[httpx.Client]:
    key = stack.secrets.intake_api_keys["web-form"]
    with httpx.Client(base_url=stack.urls["intake"], timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


@pytest.fixture
def feedback(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls["feedback"], timeout=10) as client:
        yield client


@pytest.fixture
def routing(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls["routing"], timeout=10) as client:
        yield client


@pytest.fixture
def scoring(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls["scoring"], timeout=10) as client:
        yield client


@pytest.fixture
def email() -> str:
    """A fresh person per test, so tests sharing the stack never see each other's leads."""
    return f"test.{uuid.uuid4().hex[:12]}@acme-{uuid.uuid4().hex[:6]}.com"
