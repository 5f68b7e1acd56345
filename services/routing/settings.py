from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_ROUTING_", extra="ignore")

    policy_file: str = "routing_policy.yaml"
