from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_SCORING_", extra="ignore")

    definition_file: str = "lead_definition.yaml"
