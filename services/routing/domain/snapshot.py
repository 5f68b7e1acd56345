"""What routing knows of the world when it decides: each owner's load, each team's strategy
state and who owns which account. Read once per batch, then kept current as decisions
are applied, so a batch (or a preview over many leads) costs one read (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.routing.domain.availability import OwnerLoad
from services.routing.domain.decision import RoutingDecision


@dataclass
class RoutingSnapshot:
    loads: dict[str, OwnerLoad]
    states: dict[str, Mapping[str, Any] | None]
    accounts: dict[str, str]

    def assigned(self, decision: RoutingDecision) -> None:
        """The world after ``decision``: its owner has one more lead, its team a new state."""
        if decision.owner_id is not None:
            self.loads[decision.owner_id] = self.loads.get(decision.owner_id, OwnerLoad()).plus_one()
        if decision.team_id and decision.state_after is not None:
            self.states[decision.team_id] = decision.state_after
