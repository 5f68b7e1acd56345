from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_SCORING_", extra="ignore")

    definition_file: str = "lead_definition.yaml"
    rescore_interval_s: float = Field(30.0, gt=0, description="how often the re-scoring sweep looks for work")
    decay_check_interval_s: float = Field(3600.0, gt=0,
                                          description="re-score engaged leads this often as interest decays")
