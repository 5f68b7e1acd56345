"""What scoring holds while it runs: the runtime, the definition in force, the sweep."""

from __future__ import annotations

from dataclasses import dataclass

from services.scoring.repository import DefinitionStore
from services.scoring.use_cases.rescore_sweep import Rescorer
from shared.service.dependencies import ServiceResources


@dataclass
class ScoringResources(ServiceResources):
    definitions: DefinitionStore
    rescorer: Rescorer
