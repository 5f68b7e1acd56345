"""What routing holds while it runs: the runtime and the router (the policy in force)."""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.use_cases.assignment import Router
from shared.service.dependencies import ServiceResources


@dataclass
class RoutingResources(ServiceResources):
    router: Router
