"""Where the tool looks when it is not told: option, then environment, then the local stack
(``./handoff up``), whose well-known loopback addresses live in ``shared.settings``."""

from __future__ import annotations

import os

from shared.kafka.security import KafkaConnection, KafkaSecurity
from shared.settings import LOCAL_KAFKA_PORT, LOCAL_POSTGRES_PORT, LOCAL_SERVICE_PORTS

BOOTSTRAP_ENV = "HANDOFF_KAFKA_BOOTSTRAP_SERVERS"
# the broker's transport security, as the services take it without their service's name:
# HANDOFF_KAFKA_SECURITY_PROTOCOL, HANDOFF_KAFKA_SASL_MECHANISM, HANDOFF_KAFKA_SASL_USERNAME,
# HANDOFF_KAFKA_SASL_PASSWORD (or HANDOFF_KAFKA_SASL_PASSWORD_FILE), HANDOFF_KAFKA_SSL_CAFILE, ...
KAFKA_ENV_PREFIX = "HANDOFF_KAFKA_"
FEEDBACK_URL_ENV = "HANDOFF_FEEDBACK_URL"
DATABASE_URL_ENV = "HANDOFF_DATABASE_URL"
TOKEN_ENV = "HANDOFF_TOKEN"

LOCAL_KAFKA_BOOTSTRAP = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
LOCAL_FEEDBACK_URL = f"http://127.0.0.1:{LOCAL_SERVICE_PORTS['feedback']}"
LOCAL_DATABASE_URL = f"postgresql+asyncpg://postgres@127.0.0.1:{LOCAL_POSTGRES_PORT}/handoff"


def kafka_bootstrap(option: str | None) -> str:
    return option or os.environ.get(BOOTSTRAP_ENV) or LOCAL_KAFKA_BOOTSTRAP


def kafka_connection(option: str | None) -> KafkaConnection:
    """The bootstrap servers (option, environment, local stack) and the security the environment
    asks for (PLAINTEXT when it asks for none); ValueError naming the variable if it is inconsistent."""
    return KafkaConnection(bootstrap_servers=kafka_bootstrap(option), security=KafkaSecurity.from_env(KAFKA_ENV_PREFIX))


def feedback_url(option: str | None) -> str:
    return service_url("feedback", option)


def service_url(service: str, option: str | None = None) -> str:
    """A service's base URL: option, ``HANDOFF_<SERVICE>_URL``, else the local stack's."""
    local = f"http://127.0.0.1:{LOCAL_SERVICE_PORTS[service]}"
    return (option or os.environ.get(f"HANDOFF_{service.upper()}_URL") or local).rstrip("/")


def token(option: str | None) -> str | None:
    """A token for the services' APIs (a viewer's reads a timeline)."""
    return option or os.environ.get(TOKEN_ENV) or None


def database_url(option: str | None) -> str:
    """SQLAlchemy's asyncpg URL; a plain postgresql:// URL (as psql takes it) is accepted too."""
    url = option or os.environ.get(DATABASE_URL_ENV) or LOCAL_DATABASE_URL
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url
