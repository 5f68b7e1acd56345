"""How a Kafka client reaches its broker: the bootstrap servers and the transport security.

``KafkaSecurity`` is the settings (PLAINTEXT by default, so the local stack needs none):
TLS (``SSL``), SASL (``SASL_PLAINTEXT``) or both (``SASL_SSL``), with SCRAM-SHA-512,
SCRAM-SHA-256 or PLAIN. It is checked when made: a SASL protocol needs a mechanism, a
user name and a password; settings that only mean something with TLS or SASL are refused
with a protocol that has neither (a password set beside PLAINTEXT is a mistake, not a
wish); the TLS files must exist. Errors name the setting, with the variable's prefix when
validated with ``context={"prefix": "HANDOFF_INTAKE_KAFKA_"}``.

``KafkaConnection`` pairs it with the bootstrap servers: the one value every client of
``shared.kafka`` is built from, and ``client_kwargs()`` is what aiokafka's producer,
consumer and admin client take. A bare ``"host:port"`` string still works wherever a
connection is taken: it means PLAINTEXT.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, ValidationInfo, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")
_SSL_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
# the variables' names without their prefix: HANDOFF_<SVC>_KAFKA_<NAME> for a service,
# HANDOFF_KAFKA_<NAME> for the operator tool
ENV_NAMES: dict[str, str] = {
    "security_protocol": "SECURITY_PROTOCOL",
    "sasl_mechanism": "SASL_MECHANISM",
    "sasl_username": "SASL_USERNAME",
    "sasl_password": "SASL_PASSWORD",
    "ssl_cafile": "SSL_CAFILE",
    "ssl_certfile": "SSL_CERTFILE",
    "ssl_keyfile": "SSL_KEYFILE",
    "ssl_check_hostname": "SSL_CHECK_HOSTNAME",
}


class KafkaSecurity(BaseModel):
    """Transport security of a Kafka client; the default is PLAINTEXT, nothing else set."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None  # None: the system's certificate authorities
    ssl_certfile: Path | None = None  # a client certificate (mutual TLS), PEM, with the key unless ssl_keyfile
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True  # False: the chain is still verified, the broker's name is not

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> KafkaSecurity:
        prefix = str((info.context or {}).get("prefix", ""))

        def name(field: str) -> str:
            return prefix + ENV_NAMES[field] if prefix else field

        protocol = f"{name('security_protocol')}={self.security_protocol}"
        problems = []
        if self.uses_sasl:
            missing = [name(f) for f in _SASL_FIELDS if not _given(getattr(self, f))]
            if missing:
                problems.append(f"{protocol} needs {', '.join(missing)}")
        else:
            stray = [name(f) for f in _SASL_FIELDS if getattr(self, f) is not None]
            if stray:
                problems.append(f"{', '.join(stray)} set, but {protocol} uses no SASL "
                                "(SASL_SSL or SASL_PLAINTEXT does)")
        if self.uses_tls:
            for field in _SSL_FIELDS:
                path = getattr(self, field)
                if path is not None and not path.is_file():
                    problems.append(f"{name(field)}: no file {path}")
            if self.ssl_keyfile is not None and self.ssl_certfile is None:
                problems.append(f"{name('ssl_keyfile')} set without {name('ssl_certfile')}")
        else:
            stray = [name(f) for f in _SSL_FIELDS if getattr(self, f) is not None]
            if not self.ssl_check_hostname:
                stray.append(name("ssl_check_hostname"))
            if stray:
                problems.append(f"{', '.join(stray)} set, but {protocol} uses no TLS (SSL or SASL_SSL does)")
        if problems:
            raise ValueError("Kafka client settings: " + "; ".join(problems))
        return self

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments aiokafka's AIOKafkaProducer, AIOKafkaConsumer and
        AIOKafkaAdminClient take for this security (a fresh SSL context each call)."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_tls:
            context = create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                         keyfile=self.ssl_keyfile)
            context.check_hostname = self.ssl_check_hostname
            kwargs["ssl_context"] = context
        if self.uses_sasl:
            assert self.sasl_password is not None  # checked when made
            kwargs.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password.get_secret_value())
        return kwargs

    def describe(self) -> str:
        """For logs and the operator: no password, ever."""
        parts: list[str] = [self.security_protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism} as {self.sasl_username}")
        if self.uses_tls and self.ssl_cafile is not None:
            parts.append(f"CA {self.ssl_cafile}")
        return ", ".join(parts)

    @classmethod
    def from_env(cls, prefix: str, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """From ``<prefix>SECURITY_PROTOCOL``, ``<prefix>SASL_MECHANISM``, ... (unset or empty: the
        default); the password may come from the file ``<prefix>SASL_PASSWORD_FILE`` names instead."""
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for field, suffix in ENV_NAMES.items():
            value = environ.get(prefix + suffix, "").strip()
            if value:
                values[field] = value
        password_file = environ.get(prefix + "SASL_PASSWORD_FILE", "").strip()
        if password_file and "sasl_password" not in values:
            try:
                values["sasl_password"] = Path(password_file).read_text().removesuffix("\n")
            except OSError as exc:
                raise ValueError(f"{prefix}SASL_PASSWORD_FILE: cannot read {password_file} ({exc.strerror})") from None
        return cls.model_validate(values, context={"prefix": prefix})


def problems_of(error: ValidationError, prefix: str = "") -> str:
    """A ValidationError of these settings as one line, each problem naming its setting (as the
    variable ``<prefix><NAME>`` when a prefix is given)."""
    def where(loc: tuple[int | str, ...]) -> str:
        if not loc:
            return ""
        field = str(loc[0])
        return f"{prefix + ENV_NAMES[field] if prefix and field in ENV_NAMES else field}: "

    return "; ".join(f"{where(e['loc'])}{str(e['msg']).removeprefix('Value error, ')}" for e in error.errors())


def _given(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)


PLAINTEXT = KafkaSecurity()


class KafkaConnection(BaseModel):
    """Where a client connects and how: what every client in ``shared.kafka`` is built from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str
    security: KafkaSecurity = PLAINTEXT

    def client_kwargs(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers, **self.security.client_kwargs()}

    def __str__(self) -> str:
        """The address, as errors and the operator page show it."""
        return self.bootstrap_servers


def kafka_connection(kafka: KafkaConnection | str) -> KafkaConnection:
    """A connection as it is, a bare bootstrap string as a PLAINTEXT connection to it."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(bootstrap_servers=kafka)
