"""What a candidate definition would change, before anyone publishes it (pure).

Both definitions score the same stored leads with the same function and the same
``now``, and qualify them as re-scoring would (``qualification.qualify``: a recycled
lead without new interest stays below under any definition, so it is counted apart);
the report counts stage changes and qualified leads by source and campaign, leads and
qualified leads in each grade cell (fit letter x engagement digit) and those at the MQL
line held back on an axis, and shows a few flips with the rules they gained and lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.qualification import Judgement, Qualification, qualify
from services.scoring.domain.scoring import Activity

NONE_KEY = "(none)"


@dataclass(frozen=True)
class StoredLead:
    lead_id: str
    email: str
    source: str | None
    campaign: str | None
    profile: Mapping[str, Any]
    activities: tuple[Activity, ...] = ()  # those of the current cycle
    cycle: int = 1
    judgement: Judgement | None = None  # a person's call stands under any definition
    nurture_until: date | None = None  # recycled with a retry_after: held in nurture until then


@dataclass(frozen=True)
class SimulationReport:
    current_version: str
    candidate_version: str
    leads_scored: int
    changed_stage: int
    transitions: dict[str, int]  # "below->mql": n, only stage changes, keys sorted
    mql_before: int  # qualified (stage != below) under the current definition
    mql_after: int
    by_source: dict[str, dict[str, int]]  # source -> {"before": qualified, "after": qualified}
    by_campaign: dict[str, dict[str, int]]
    samples: list[dict[str, Any]] = field(default_factory=list)
    flipped_lead_ids: list[str] = field(default_factory=list)  # leads whose stage changes, sorted; the first 1000
    recycled_without_new_interest: int = 0  # below under any definition; not in leads_scored
    by_grade: dict[str, dict[str, int]] = field(default_factory=dict)  # cell -> leads/qualified before/after
    held_on_an_axis: dict[str, int] = field(default_factory=lambda: {"before": 0, "after": 0})

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_version": self.current_version,
            "candidate_version": self.candidate_version,
            "leads_scored": self.leads_scored,
            "changed_stage": self.changed_stage,
            "transitions": dict(self.transitions),
            "mql_before": self.mql_before,
            "mql_after": self.mql_after,
            "by_source": {k: dict(v) for k, v in self.by_source.items()},
            "by_campaign": {k: dict(v) for k, v in self.by_campaign.items()},
            "samples": [dict(s) for s in self.samples],
            "flipped_lead_ids": list(self.flipped_lead_ids),
            "recycled_without_new_interest": self.recycled_without_new_interest,
            "by_grade": {k: dict(v) for k, v in self.by_grade.items()},
            "held_on_an_axis": dict(self.held_on_an_axis),
        }


FLIPPED_IDS_MAX = 1000
"""At most this many lead ids in ``flipped_lead_ids`` (the first by id): the report's size and the
simulation's memory stay bounded whatever the history; ``changed_stage`` counts them all."""


class SimulationRun:
    """One simulation, lead by lead: ``add`` each stored lead, then ``report``. Keeps counts and
    the first flips by lead id only, so any number of leads can stream through it."""

    def __init__(self, current: LeadDefinition, candidate: LeadDefinition, now: datetime, sample_size: int = 10
                 ) -> None:
        if sample_size < 0:
            raise ValueError(f"sample_size must be >= 0, got {sample_size}")
        self._current, self._candidate, self._now, self._sample_size = current, candidate, now, sample_size
        self._keep = max(sample_size, FLIPPED_IDS_MAX)
        self._scored = self._held_back = self._changed = 0
        self._transitions: Counter[str] = Counter()
        self._mql_before = self._mql_after = 0
        self._by_source: dict[str, Counter[str]] = {}
        self._by_campaign: dict[str, Counter[str]] = {}
        self._flips: list[tuple[StoredLead, Qualification, Qualification]] = []
        self._by_grade: dict[str, Counter[str]] = {}
        self._held_on_an_axis: Counter[str] = Counter(before=0, after=0)

    def add(self, lead: StoredLead) -> None:
        before = qualify(self._current, lead.profile, lead.activities, self._now, cycle=lead.cycle,
                         judgement=lead.judgement, nurture_until=lead.nurture_until)
        if before.held_back:
            self._held_back += 1
            return
        after = qualify(self._candidate, lead.profile, lead.activities, self._now, cycle=lead.cycle,
                        judgement=lead.judgement, nurture_until=lead.nurture_until)
        self._scored += 1
        self._mql_before += before.qualified
        self._mql_after += after.qualified
        for when, q in (("before", before), ("after", after)):
            cell = self._by_grade.setdefault(q.score.grade, Counter(dict.fromkeys(CELL_COUNTS, 0)))
            cell[f"leads_{when}"] += 1
            cell[f"qualified_{when}"] += q.qualified
            self._held_on_an_axis[when] += q.score.held_because is not None
        for table, key in ((self._by_source, lead.source), (self._by_campaign, lead.campaign)):
            counts = table.setdefault(NONE_KEY if key is None else key, Counter(before=0, after=0))
            counts["before"] += before.qualified
            counts["after"] += after.qualified
        if before.stage != after.stage:
            self._changed += 1
            self._transitions[f"{before.stage}->{after.stage}"] += 1
            self._flips.append((lead, before, after))
            if len(self._flips) >= 2 * self._keep:
                self._trim()

    def report(self) -> SimulationReport:
        self._trim()
        flips = self._flips
        return SimulationReport(
            current_version=self._current.version,
            candidate_version=self._candidate.version,
            leads_scored=self._scored,
            changed_stage=self._changed,
            transitions=dict(sorted(self._transitions.items())),
            mql_before=self._mql_before,
            mql_after=self._mql_after,
            by_source=_plain(self._by_source),
            by_campaign=_plain(self._by_campaign),
            samples=[_sample(lead, before, after) for lead, before, after in flips[:self._sample_size]],
            flipped_lead_ids=[lead.lead_id for lead, _, _ in flips[:FLIPPED_IDS_MAX]],
            recycled_without_new_interest=self._held_back,
            by_grade={cell: {name: counts[name] for name in CELL_COUNTS}
                      for cell, counts in sorted(self._by_grade.items())},
            held_on_an_axis={"before": self._held_on_an_axis["before"], "after": self._held_on_an_axis["after"]},
        )

    def _trim(self) -> None:
        self._flips.sort(key=lambda f: f[0].lead_id)
        del self._flips[self._keep:]


def simulate(current: LeadDefinition, candidate: LeadDefinition, leads: Iterable[StoredLead], now: datetime,
             sample_size: int = 10) -> SimulationReport:
    run = SimulationRun(current, candidate, now, sample_size)
    for lead in leads:
        run.add(lead)
    return run.report()


CELL_COUNTS = ("leads_before", "leads_after", "qualified_before", "qualified_after")


def _plain(table: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {key: {"before": counts["before"], "after": counts["after"]} for key, counts in sorted(table.items())}


def _sample(lead: StoredLead, before: Qualification, after: Qualification) -> dict[str, Any]:
    rules_before = [h.rule for h in before.score.rules_fired]
    rules_after = [h.rule for h in after.score.rules_fired]
    return {
        "lead_id": lead.lead_id,
        "email": lead.email,
        "before": _summary(before),
        "after": _summary(after),
        "rules_gained": [r for r in rules_after if r not in rules_before],
        "rules_lost": [r for r in rules_before if r not in rules_after],
    }


def _summary(q: Qualification) -> dict[str, Any]:
    return {"score": q.score.total, "stage": q.stage, "grade": q.score.grade}
