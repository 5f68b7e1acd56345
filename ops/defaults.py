"""Where the tool looks when it is not told: option, then environment, then the local stack
(``./handoff up``), whose well-known loopback addresses live in ``shared.settings``."""

from __future__ import annotations

import os

from shared.settings import LOCAL_KAFKA_PORT, LOCAL_SERVICE_PORTS

BOOTSTRAP_ENV = "HANDOFF_KAFKA_BOOTSTRAP_SERVERS"
FEEDBACK_URL_ENV = "HANDOFF_FEEDBACK_URL"

LOCAL_KAFKA_BOOTSTRAP = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
LOCAL_FEEDBACK_URL = f"http://127.0.0.1:{LOCAL_SERVICE_PORTS['feedback']}"


def kafka_bootstrap(option: str | None) -> str:
    return option or os.environ.get(BOOTSTRAP_ENV) or LOCAL_KAFKA_BOOTSTRAP


def feedback_url(option: str | None) -> str:
    return (option or os.environ.get(FEEDBACK_URL_ENV) or LOCAL_FEEDBACK_URL).rstrip("/")
