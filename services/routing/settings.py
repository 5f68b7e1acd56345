from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_ROUTING_", extra="ignore")

    policy_file: str = "routing_policy.yaml"
    clock_interval_s: float = Field(15.0, gt=0, description="how often queues and SLA deadlines are checked")
    sla_time_scale: float = Field(1.0, gt=0, le=1, description=(
        "shrinks SLA clocks for tests and demos: 0.01 makes a 15-minute SLA last 9 seconds; 1 in production"))
