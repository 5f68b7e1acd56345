from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_ROUTING_", extra="ignore")

    policy_file: str = "routing_policy.yaml"
    clock_interval_s: float = Field(15.0, gt=0, description="how often queues and SLA deadlines are checked")
    sla_time_scale: float = Field(1.0, gt=0, le=1, description=(
        "shrinks SLA clocks for tests and demos: 0.01 makes a 15-minute SLA last 9 seconds; 1 in production"))
    crm_webhook_url: str | None = Field(None, description="POST every assignment here (signed); unset: no push")
    crm_webhook_secret: SecretStr | None = Field(None, description="signs the CRM pushes (Handoff-Signature)")

    @model_validator(mode="after")
    def _push_needs_a_secret(self) -> RoutingSettings:
        if self.crm_webhook_url and not self.crm_webhook_secret:
            raise ValueError("HANDOFF_ROUTING_CRM_WEBHOOK_URL is set but HANDOFF_ROUTING_CRM_WEBHOOK_SECRET is not: "
                             "the CRM could not tell our pushes from anyone else's")
        return self
