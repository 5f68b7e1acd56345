"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.access.store import Caller

REPO_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

# The local stack (``./handoff up``) listens on these well-known loopback ports; the services'
# defaults, the stack itself and the operator tool all read them from here.
LOCAL_KAFKA_PORT = 9092
LOCAL_KAFKA_CONTROLLER_PORT = 9093
LOCAL_POSTGRES_PORT = 55432
LOCAL_SERVICE_PORTS: dict[str, int] = {"intake": 8001, "scoring": 8002, "routing": 8003, "feedback": 8004}


class ServiceSettings(BaseSettings):
    """Defaults match the local stack (``./handoff up``), so a service runs with no env."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:{LOCAL_POSTGRES_PORT}/handoff"
    kafka_bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    config_dir: Path = REPO_CONFIG_DIR
    log_level: str = "INFO"
    consumer_max_attempts: int = Field(3, ge=1, description="tries before a record is dead-lettered")
    instance_id: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="a stable name of this replica (a pod's name, a host's): set, its consumers are static "
                    "members of their groups, so a replica that restarts gets its partitions back at once, "
                    "without waiting for its old session to expire or moving anyone else's; unique per replica")
    consumer_retry_backoff_s: float = Field(0.2, ge=0)
    outbox_idle_interval_s: float = Field(0.5, gt=0)
    metrics_lag_interval_s: float = Field(
        5.0, gt=0, description="how often consumer lag and the outbox backlog are refreshed for /metrics")
    database_timeout_s: float = Field(10.0, gt=0, le=300, description=(
        "longest wait to connect, for a pooled connection, or for one statement; then the database "
        "counts as unavailable (503 with Retry-After)"))
    database_pool_size: int = Field(5, ge=1, le=200, description="connections each process keeps to PostgreSQL")
    database_max_overflow: int = Field(5, ge=0, le=200, description="connections it may open beyond the pool "
                                                                     "under load")
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576,
                                description="larger request bodies are refused with 413")
    metrics_need_operator: bool = Field(
        False, description="true: /metrics answers only a token with the operator role (Prometheus sends it "
                           "as a bearer token); false: open, like /healthz and /readyz")

    def static_callers(self) -> dict[str, Caller]:
        """Credentials the service's own settings configure (intake's per-source keys), by value."""
        return {}
