"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from shared.access.store import Caller
from shared.db.engine import database_tls
from shared.kafka.security import (
    ENV_NAMES,
    KafkaConnection,
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
    problems_of,
)
from shared.secrets import variables_from_files, weakness

REPO_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

# The local stack (``./handoff up``) listens on these well-known loopback ports; the services'
# defaults, the stack itself and the operator tool all read them from here.
LOCAL_KAFKA_PORT = 9092
LOCAL_KAFKA_CONTROLLER_PORT = 9093
LOCAL_POSTGRES_PORT = 55432
LOCAL_SERVICE_PORTS: dict[str, int] = {"intake": 8001, "scoring": 8002, "routing": 8003, "feedback": 8004}


class ServiceSettings(BaseSettings):
    """Defaults match the local stack (``./handoff up``), so a service runs with no env."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:{LOCAL_POSTGRES_PORT}/handoff"

    @field_validator("database_url")
    @classmethod
    def _database_tls_usable(cls, value: str) -> str:
        """TLS comes from the URL's query (?ssl=verify-full&sslrootcert=/path/ca.pem; shared.db.engine.
        database_tls): a bad mode or a missing CA file stops the start, not the first connection."""
        if "ssl" in urlsplit(value).query:
            database_tls(value)
        return value

    kafka_bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    # Kafka transport security (shared.kafka.security; docs/architecture.md, "Kafka transport security"):
    # HANDOFF_<SVC>_KAFKA_SECURITY_PROTOCOL, _KAFKA_SASL_MECHANISM, _KAFKA_SASL_USERNAME, _KAFKA_SASL_PASSWORD,
    # _KAFKA_SSL_CAFILE, _KAFKA_SSL_CERTFILE, _KAFKA_SSL_KEYFILE, _KAFKA_SSL_CHECK_HOSTNAME; PLAINTEXT by default
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True

    def kafka_connection(self) -> KafkaConnection:
        """The bootstrap servers and the security every Kafka client of the service is built from."""
        prefix = str(self.model_config.get("env_prefix", "")).upper() + "KAFKA_"
        security = KafkaSecurity.model_validate({f: getattr(self, f"kafka_{f}") for f in ENV_NAMES},
                                                context={"prefix": prefix})
        return KafkaConnection(bootstrap_servers=self.kafka_bootstrap_servers, security=security)

    @model_validator(mode="after")
    def _kafka_security_consistent(self) -> ServiceSettings:
        try:
            self.kafka_connection()
        except ValidationError as exc:  # its messages name the variables
            raise ValueError(problems_of(exc)) from None
        return self

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

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """A variable wins over its ``_FILE`` twin; both over the defaults."""
        return init_settings, env_settings, _VariablesFromFiles(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _no_weak_secrets(self) -> ServiceSettings:
        problems = [f"{variable}: {reason}" for variable, reason in self.weak_secrets()]
        if problems:
            raise ValueError("refusing to start with a weak secret: " + "; ".join(problems))
        return self

    def weak_secrets(self) -> list[tuple[str, str]]:
        """Each configured secret that is a placeholder, empty or short, by its variable's name."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        found: list[tuple[str, str]] = []
        for field in type(self).model_fields:
            value: Any = getattr(self, field)
            variable = prefix + field.upper()
            if isinstance(value, SecretStr):
                candidates = [(variable, value)]
            elif isinstance(value, dict):
                candidates = [(f"{variable}[{key}]", item) for key, item in value.items()
                              if isinstance(item, SecretStr)]
            else:
                continue
            found += [(name, reason) for name, secret in candidates
                      if (reason := weakness(secret.get_secret_value())) is not None]
        password = urlsplit(self.database_url).password
        if password is not None and (reason := weakness(password)) is not None:
            found.append((f"{prefix}DATABASE_URL (its password)", reason))
        return found

    def static_callers(self) -> dict[str, Caller]:
        """Credentials the service's own settings configure (intake's per-source keys), by value."""
        return {}


class _VariablesFromFiles(EnvSettingsSource):
    """``HANDOFF_<SVC>_<NAME>_FILE=/path``: the value of ``HANDOFF_<SVC>_<NAME>`` read from that file."""

    def _load_env_vars(self) -> dict[str, str | None]:
        names = [self.env_prefix + field for field in self.settings_cls.model_fields]
        return dict(parse_env_vars(variables_from_files(os.environ, names), self.case_sensitive,
                                   self.env_ignore_empty, self.env_parse_none_str))
