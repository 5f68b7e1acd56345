"""What feedback holds while it runs: the runtime, the HubSpot mapping with the agreed
vocabulary, and the operator page's sampler."""

from __future__ import annotations

from dataclasses import dataclass

from services.feedback.settings import FeedbackSettings
from services.feedback.use_cases.apply_outcome import Vocabulary
from services.feedback.use_cases.hubspot_events import HubSpot
from services.feedback.use_cases.operations_overview import OperationsView
from shared.service.dependencies import ServiceResources


@dataclass
class FeedbackResources(ServiceResources):
    settings: FeedbackSettings
    vocabulary: Vocabulary
    hubspot: HubSpot
    operations: OperationsView
