from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.intake.domain.forms import check_origin
from services.intake.domain.rate_limits import RateLimit
from shared.access.roles import Role
from shared.access.store import Caller
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_INTAKE_", extra="ignore")

    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="source name -> API key, as JSON; a source posts with 'Authorization: Bearer <key>'",
    )
    rate_limit_per_source: RateLimit = Field(
        default=RateLimit(requests=3000, per_seconds=10),
        description="requests a source may make per window, as JSON {\"requests\": N, \"per_seconds\": S}; "
                    "a batch counts as one request",
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict, description="source name -> its own limit, as JSON; overrides rate_limit_per_source")
    rate_limit_per_address: RateLimit = Field(
        default=RateLimit(requests=3000, per_seconds=10),
        description="requests one client address may make per window, whatever key it presents",
    )
    max_batch_body_bytes: int = Field(
        16 * 1_048_576, ge=1024, le=256 * 1_048_576,
        description="the body limit of the batch endpoints (1,000 items); others keep max_body_bytes",
    )

    forms_file: Path | None = Field(None, description="the web forms; default: <config_dir>/forms.yaml")
    form_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="form id -> its publishable key (pk_...), as JSON; it sits in the form's page, so it only "
                    "posts through that form from its origins; a form without a key takes no posts",
    )
    form_origins: dict[str, list[str]] = Field(
        default_factory=dict,
        description="form id -> origins allowed besides forms.yaml's (a staging site, a local page), as JSON",
    )

    @field_validator("form_keys")
    @classmethod
    def _publishable(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for form, key in keys.items():
            value = key.get_secret_value()
            if not value.startswith("pk_") or len(value) < 19 or not value.isascii() or not value.isprintable():
                raise ValueError(f"{form}: a form key is pk_ and at least 16 printable ASCII characters, "
                                 "so it is never taken for a source API key")
        return keys

    @field_validator("form_origins")
    @classmethod
    def _origins(cls, origins: dict[str, list[str]]) -> dict[str, list[str]]:
        for form, listed in origins.items():
            for origin in listed:
                try:
                    check_origin(origin)
                except ValueError as exc:
                    raise ValueError(f"{form}: {origin!r}: {exc}") from None
        return origins

    def static_callers(self) -> dict[str, Caller]:
        """Each source's configured key posts for that source, as a token with the source role does."""
        return {key.get_secret_value(): Caller(f"source:{source}", frozenset({Role.source}), source)
                for source, key in self.api_keys.items()}

    def rate_limit_of(self, source: str) -> RateLimit:
        return self.rate_limits.get(source, self.rate_limit_per_source)

    def forms_path(self) -> Path:
        return self.forms_file or self.config_dir / "forms.yaml"
