"""Where the tool looks when it is not told: option, then environment, then the local stack.

The local stack (`./handoff up`) runs on fixed, well-known ports and does not write its
addresses anywhere, so the defaults are what devstack's own configuration says they are.
"""

from __future__ import annotations

import os

BOOTSTRAP_ENV = "HANDOFF_KAFKA_BOOTSTRAP_SERVERS"
FEEDBACK_URL_ENV = "HANDOFF_FEEDBACK_URL"


def _local_stack():
    from devstack.stack import Stack, StackConfig

    return Stack(StackConfig.default(), progress=None)  # nothing starts: we only read its addresses


def local_kafka_bootstrap() -> str:
    return _local_stack().kafka_bootstrap


def local_feedback_url() -> str:
    return _local_stack().urls["feedback"]


def kafka_bootstrap(option: str | None) -> str:
    return option or os.environ.get(BOOTSTRAP_ENV) or local_kafka_bootstrap()


def feedback_url(option: str | None) -> str:
    return (option or os.environ.get(FEEDBACK_URL_ENV) or local_feedback_url()).rstrip("/")
