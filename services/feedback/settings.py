from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.feedback.domain.stages import (
    DEFAULT_LOSS_REASONS,
    DEFAULT_RECYCLE_REASONS,
    DEFAULT_REJECTION_REASONS,
)
from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_FEEDBACK_", extra="ignore")

    webhook_secret: SecretStr | None = Field(None, description="current CRM webhook signing secret")
    webhook_previous_secret: SecretStr | None = Field(None, description="accepted too, while rotating")
    webhook_tolerance_s: int = Field(300, gt=0)
    rejection_reasons: tuple[str, ...] = Field(DEFAULT_REJECTION_REASONS, description="the agreed vocabulary")
    loss_reasons: tuple[str, ...] = Field(DEFAULT_LOSS_REASONS)
    recycle_reasons: tuple[str, ...] = Field(DEFAULT_RECYCLE_REASONS, description="why sales says 'not now'")
    marketing_mql_promise_per_30_days: int | None = Field(
        None, ge=0, description="MQLs marketing promised per 30 days; reports scale it to their period")

    hubspot_client_secret: SecretStr | None = Field(None, description="the HubSpot app's client secret")
    hubspot_previous_client_secret: SecretStr | None = Field(None, description="accepted too, while rotating")
    hubspot_webhook_url: str | None = Field(
        None, description="the public URL HubSpot calls (it signs that URL); unset: the URL as this service sees it")
    hubspot_mapping_file: Path | None = Field(None, description="default: <config_dir>/hubspot_mapping.yaml")

    def hubspot_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.hubspot_client_secret, self.hubspot_previous_client_secret) if s]

    def hubspot_mapping_path(self) -> Path:
        return self.hubspot_mapping_file or self.config_dir / "hubspot_mapping.yaml"

    def webhook_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.webhook_secret, self.webhook_previous_secret) if s]
