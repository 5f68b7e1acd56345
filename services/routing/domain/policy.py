"""The routing policy as a validated model; errors name the field path and the problem.

A policy is a reviewed, versioned file (``config/routing_policy.yaml``) that says
who can take leads (owners, ``owners.py``), how they are pooled (teams, each with a
distribution strategy and a queue for when nobody in it is available), which lead goes
where (ordered rules on territory, segment, source, score and grade; the first that
matches wins; ``rules.py``), where a lead goes when no rule matches (the fallback) and
how long an owner has to accept a lead (the SLA).

Every check that spans sections (ids unique, team members and targets that exist, a
queue fallback that does not loop) reports the exact path of the offending value,
e.g. ``teams.1.members.2: unknown owner 'zoe'``.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails

from services.routing.domain.document_fields import NonEmpty
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.owners import Owner, WorkingHours
from services.routing.domain.rules import (
    Fallback,
    QueueSettings,
    QueueSpec,
    Rule,
    RuleCheck,
    SlaSpec,
    Target,
    Team,
    target,
)
from shared.identity import FREE_MAIL_DOMAINS
from shared.reviewed_documents import DocumentError, DocumentVersion, fail, load_yaml_document, parse_document, problem
from shared.validation import CleanInput

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class PolicyError(DocumentError):
    """The policy is not valid; the message lists field paths and reasons."""


class RoutingPolicy(CleanInput):
    """The whole policy. Free mail is the shared list (``shared.identity``) plus ``free_mail_domains``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "version": "2026-11-30.1",
        "owners": [{"id": "ana.silva", "name": "Ana Silva", "email": "ana@acme.com", "timezone": "Europe/Lisbon",
                    "working_hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]}},
                   {"id": "ben.okafor", "name": "Ben Okafor", "email": "ben@acme.com", "weight": 2}],
        "teams": [{"id": "inbound", "name": "Inbound", "members": ["ana.silva", "ben.okafor"],
                   "strategy": "weighted_round_robin"}],
        "rules": [{"name": "emea", "when": {"region": ["EMEA"]}, "assign_to": {"team": "inbound"},
                   "sla_minutes": 15}],
        "fallback": {"team": "inbound"}}]})

    version: DocumentVersion
    description: str | None = None
    free_mail_domains: tuple[str, ...] = Field((), description="free-mail domains on top of the built-in list")
    default_working_hours: WorkingHours | None = None
    owners: Annotated[tuple[Owner, ...], NonEmpty]
    teams: tuple[Team, ...] = ()
    rules: tuple[Rule, ...] = ()
    fallback: Fallback
    owner_queue: QueueSpec = QueueSpec()
    sla: SlaSpec = SlaSpec()

    @field_validator("free_mail_domains", mode="before")
    @classmethod
    def _lower_case_domains(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [d.strip().lower() if isinstance(d, str) else d for d in value]
        return value

    @field_validator("free_mail_domains")
    @classmethod
    def _domains_are_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        fail("free_mail_domains", [problem((i, ), f"{d!r} is not a domain name (like example.com)", d)
                                    for i, d in enumerate(value) if not _DOMAIN.match(d)])
        return value

    # Cross-references are field validators (not one model validator) so that they run, and
    # report, even when another section has errors of its own.
    @field_validator("owners")
    @classmethod
    def _unique_owner_ids(cls, owners: tuple[Owner, ...]) -> tuple[Owner, ...]:
        fail("owners", _repeated(owners, "owners", "id"))
        return owners

    @field_validator("teams")
    @classmethod
    def _teams_refer_to_owners(cls, teams: tuple[Team, ...], info: ValidationInfo) -> tuple[Team, ...]:
        problems = _repeated(teams, "teams", "id")
        owner_ids = _ids(info.data.get("owners"))
        team_ids = {t.id for t in teams}
        for i, team in enumerate(teams):
            seen: set[str] = set()
            for j, member in enumerate(team.members):
                if member in seen:
                    problems.append(problem((i, "members", j), f"{member!r} is listed twice", member))
                seen.add(member)
                if owner_ids is not None and member not in owner_ids:
                    problems.append(problem((i, "members", j), f"unknown owner {member!r}", member))
            queue_fallback = team.queue.fallback
            if queue_fallback is not None:
                if queue_fallback.key == ("team", team.id):
                    problems.append(problem((i, "queue", "fallback"), "must not be the team itself",
                                             queue_fallback.to_dict()))
                else:
                    unknown = _unknown_target(queue_fallback, owner_ids, team_ids)
                    if unknown:
                        problems.append(problem((i, "queue", "fallback", queue_fallback.kind), unknown,
                                                 queue_fallback.id))
        fail("teams", problems)
        return teams

    @field_validator("rules")
    @classmethod
    def _rules_refer_to_targets(cls, rules: tuple[Rule, ...], info: ValidationInfo) -> tuple[Rule, ...]:
        problems = _repeated(rules, "rules", "name")
        owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
        for i, rule in enumerate(rules):
            unknown = _unknown_target(rule.assign_to, owner_ids, team_ids)
            if unknown:
                problems.append(problem((i, "assign_to", rule.assign_to.kind), unknown, rule.assign_to.id))
        fail("rules", problems)
        return rules

    @field_validator("fallback")
    @classmethod
    def _fallback_exists(cls, fallback: Fallback, info: ValidationInfo) -> Fallback:
        owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
        unknown = _unknown_target(fallback, owner_ids, team_ids)
        fail("fallback", [problem((fallback.kind,), unknown, fallback.id)] if unknown else [])
        return fallback

    @field_validator("owner_queue")
    @classmethod
    def _owner_queue_fallback_exists(cls, queue: QueueSpec, info: ValidationInfo) -> QueueSpec:
        if queue.fallback is not None:
            owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
            unknown = _unknown_target(queue.fallback, owner_ids, team_ids)
            fail("owner_queue", [problem(("fallback", queue.fallback.kind), unknown, queue.fallback.id)]
                  if unknown else [])
        return queue

    @model_validator(mode="after")
    def _queues_do_not_loop(self) -> RoutingPolicy:
        fail("RoutingPolicy", _queue_loops(self.teams, self.fallback.target))
        return self

    @model_validator(mode="after")
    def _default_hours(self) -> RoutingPolicy:
        # owners without hours of their own work the default hours; the model is frozen, and
        # this is still part of its construction
        if self.default_working_hours is not None:
            owners = tuple(o.model_copy(update={"working_hours": self.default_working_hours})
                           if o.working_hours is None else o for o in self.owners)
            object.__setattr__(self, "owners", owners)
        return self

    @cached_property
    def free_mail(self) -> frozenset[str]:
        """Every free-mail domain: the built-in list and the policy's own additions."""
        return FREE_MAIL_DOMAINS | frozenset(self.free_mail_domains)

    # -- lookups ---------------------------------------------------------------------------------

    @cached_property
    def _owners(self) -> dict[str, Owner]:
        return {o.id: o for o in self.owners}

    @cached_property
    def _teams(self) -> dict[str, Team]:
        return {t.id: t for t in self.teams}

    def owner(self, owner_id: str) -> Owner:
        return self._owners[owner_id]

    def has_owner(self, owner_id: str) -> bool:
        return owner_id in self._owners

    def team(self, team_id: str) -> Team:
        return self._teams[team_id]

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def match_rule(self, facts: LeadFacts) -> Rule | None:
        """The first rule, in file order, whose conditions the lead meets."""
        return next((r for r in self.rules if r.when.matches(facts)), None)

    def check_rules(self, facts: LeadFacts) -> tuple[RuleCheck, ...]:
        """Every rule, in file order, tried on the lead: the explanation of ``match_rule``."""
        return tuple(r.check(facts) for r in self.rules)

    def queue_for(self, where: Target | dict[str, str]) -> QueueSettings:
        """The queue of a team (its ``queue``) or of a named owner (``owner_queue``)."""
        where = target(where)
        spec = self._teams[where.id].queue if where.kind == "team" else self.owner_queue
        fallback = spec.fallback if spec.fallback is not None else self.fallback.target
        if fallback.key == where.key:
            return QueueSettings(where, None, None)
        return QueueSettings(where, spec.max_wait_minutes, fallback)


def _ids(items: Any) -> set[str] | None:
    """The ids of a section that validated, or None when it did not (its references are not checked)."""
    return None if items is None else {item.id for item in items}


def _repeated(items: tuple[Any, ...], section: str, key: str) -> list[InitErrorDetails]:
    seen: dict[str, int] = {}
    problems = []
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in seen:
            problems.append(problem((i, key), f"{key}s must be unique: {value!r} is already "
                                               f"{section}.{seen[value]}", value))
        else:
            seen[value] = i
    return problems


def _unknown_target(where: Target, owner_ids: set[str] | None, team_ids: set[str] | None) -> str | None:
    known = owner_ids if where.kind == "owner" else team_ids
    if known is not None and where.id not in known:
        return f"unknown {where.kind} {where.id!r}"
    return None


def _queue_loops(teams: tuple[Team, ...], policy_fallback: Target) -> list[InitErrorDetails]:
    """A problem for each team whose queue fallbacks lead back to itself (the lead would circle)."""
    by_id = {t.id: (i, t) for i, t in enumerate(teams)}

    def next_of(team: Team) -> Target | None:
        nxt = team.queue.fallback if team.queue.fallback is not None else policy_fallback
        return None if nxt.key == ("team", team.id) else nxt

    problems = []
    for i, team in enumerate(teams):
        path, current = [team.id], next_of(team)
        while current is not None and current.kind == "team" and current.id in by_id:
            if current.id == team.id:
                problems.append(problem(("teams", i, "queue", "fallback"),
                                         f"queue fallbacks go round in a loop: {' -> '.join(path + [team.id])}",
                                         team.queue.fallback.to_dict() if team.queue.fallback else None))
                break
            if current.id in path:
                break  # a loop that does not pass through this team; reported at its own teams
            path.append(current.id)
            current = next_of(by_id[current.id][1])
    return problems


def parse_policy(data: Any, origin: str = "routing policy") -> RoutingPolicy:
    """Validate plain data (a parsed YAML or JSON document); PolicyError names every problem."""
    return parse_document(RoutingPolicy, data, origin, PolicyError)


def load_policy(path: Path | str) -> RoutingPolicy:
    return load_yaml_document(RoutingPolicy, path, PolicyError)
