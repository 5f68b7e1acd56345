from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_INTAKE_", extra="ignore")

    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="source name -> API key, as JSON; a source posts with 'Authorization: Bearer <key>'",
    )
