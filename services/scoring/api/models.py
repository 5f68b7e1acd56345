"""What scoring's API answers, field by field."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from shared.events.payloads import RuleHit, Stage
from shared.validation import CleanInput


class StageAndScore(BaseModel):
    score: int
    stage: Stage
    grade: str


class Flip(BaseModel):
    lead_id: str
    email: str
    before: StageAndScore
    after: StageAndScore
    rules_gained: list[str]
    rules_lost: list[str]


class BeforeAfter(BaseModel):
    before: int
    after: int


class GradeCell(BaseModel):
    leads_before: int = Field(description="leads in this cell under the current definition")
    leads_after: int = Field(description="leads in this cell under the candidate")
    qualified_before: int
    qualified_after: int


class Sweep(BaseModel):
    """How far re-scoring under the definition in force has come (after a publication or a rollback)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "2026-12-09.1", "leads": 12000, "rescored": 4200, "remaining": 7800, "finished": False}]})

    version: str = Field(description="the definition in force")
    leads: int = Field(ge=0, description="stored leads")
    rescored: int = Field(ge=0, description="leads whose score was made under this version")
    remaining: int = Field(ge=0)
    finished: bool


class Simulation(BaseModel):
    """What a candidate definition would change over the stored leads."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "current_version": "2026-12-02.1", "candidate_version": "2026-12-09.1", "leads_scored": 120,
        "changed_stage": 2, "transitions": {"below->mql": 2}, "mql_before": 40, "mql_after": 42,
        "by_source": {"web-form": {"before": 30, "after": 32}}, "by_campaign": {"(none)": {"before": 40, "after": 42}},
        "samples": [], "flipped_lead_ids": [], "recycled_without_new_interest": 0,
        "by_grade": {"A4": {"leads_before": 40, "leads_after": 40, "qualified_before": 40, "qualified_after": 40},
                     "D1": {"leads_before": 3, "leads_after": 3, "qualified_before": 3, "qualified_after": 0}},
        "held_on_an_axis": {"before": 0, "after": 3}}]})

    current_version: str
    candidate_version: str
    leads_scored: int
    changed_stage: int
    transitions: dict[str, int] = Field(description="'below->mql': leads, only stage changes")
    mql_before: int
    mql_after: int
    by_source: dict[str, BeforeAfter]
    by_campaign: dict[str, BeforeAfter]
    samples: list[Flip]
    flipped_lead_ids: list[str] = Field(description="the leads whose stage would change, by id: the first 1,000 "
                                                    "(changed_stage counts them all)")
    recycled_without_new_interest: int = Field(description="recycled leads without new interest: below under "
                                                           "any definition, not in leads_scored")
    by_grade: dict[str, GradeCell] = Field(description="per grade cell (fit letter x engagement digit, 'A1'..'D4'): "
                                                       "leads and qualified leads under each definition")
    held_on_an_axis: BeforeAfter = Field(description="leads at or above the MQL line that the definition's "
                                                     "qualification (a minimum fit or engagement, or the grade "
                                                     "cells) holds back")


class LeadScore(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "email": "ada@acme.com", "cycle": 1, "fit_score": 65,
        "engagement_score": 0, "score": 65, "qualified": True, "stage": "mql", "grade": "A4",
        "rules_fired": [{"rule": "decision_maker", "points": 20, "detail": "job_title 'VP Sales' contains ['vp']"}],
        "definition_version": "2026-12-02.1", "rescored_at": "2026-12-02T09:00:01Z"}]})

    lead_id: uuid.UUID
    email: str
    cycle: int
    fit_score: int
    engagement_score: int
    score: int
    qualified: bool
    stage: Stage
    grade: str | None
    rules_fired: list[RuleHit]
    definition_version: str | None
    rescored_at: datetime | None
    held_because: str | None = Field(None, description="at or above the MQL line yet not qualified because of "
                                                       "the definition's qualification (a minimum fit or "
                                                       "engagement, or the grade cells): why")
    judgement: JudgementView | None = Field(None, description=(
        "a person's judgement call (POST /leads/{id}/qualification); it decides `qualified` in its cycle"))
    nurture_until: date | None = Field(None, description=(
        "recycled with a retry_after still ahead: the lead stays in nurture until this day (its activity "
        "counts meanwhile; it qualifies no earlier)"))
    rules_not_fired: list[RuleMissView] | None = Field(None, description=(
        "with ?not_fired=true: every rule of the definition version that scored the lead which did not fire, "
        "in file order, with why (\"company_size 20000 not in [50, 4999]\", \"no demo_request activity counts "
        "in this cycle\"); null otherwise"))


class JudgementView(BaseModel):
    cycle: int
    qualified: bool
    by: str = Field(description="who made the call (their token's name)")
    reason: str
    at: datetime


class JudgementIn(CleanInput):
    """Qualify or disqualify the lead by hand, and say why: it holds for the rest of its cycle."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"qualified": True, "reason": "their CFO called us: budget approved for Q1"}]})

    qualified: StrictBool
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="why, in a person's words: kept with the score and in the timeline")


class RuleMissView(BaseModel):
    rule: str
    kind: Literal["fit", "engagement"]
    points: int = Field(description="what the rule would have added (negative: taken away)")
    why: str


class Submission(BaseModel):
    source: str
    submitted_at: datetime
    fields: dict[str, Any]


class LeadProfileView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "email": "ada@acme.com",
        "profile": {"job_title": "VP Sales", "company_size": 300},
        "submissions": [{"source": "web-form", "submitted_at": "2026-12-02T09:00:00Z",
                         "fields": {"job_title": "VP Sales", "company_size": 300}}]}]})

    lead_id: uuid.UUID
    email: str
    profile: dict[str, Any] = Field(description="the merged profile: newer non-empty values win")
    submissions: list[Submission] = Field(description="every submission it was merged from, oldest first")


class Tally(BaseModel):
    leads: int
    accepted: int
    won: int
    accept_rate: float | None
    win_rate: float | None


class RuleCalibration(BaseModel):
    rule: str
    in_definition: bool
    matched: Tally
    not_matched: Tally
    lift_accept: float | None
    verdict: str


class CellCalibration(Tally):
    cell: str = Field(description="a grade cell, fit letter x engagement digit: 'A1'..'D4'")


class Calibration(BaseModel):
    """Per rule: how leads that matched it were accepted and won, against those that did not;
    per grade cell: how its leads were accepted and won."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "definition_version": "2026-12-02.1", "leads_with_outcomes": 0, "rules": [], "cells": []}]})

    definition_version: str
    leads_with_outcomes: int
    rules: list[RuleCalibration]
    cells: list[CellCalibration] = Field(description="grade cells with leads that have an outcome, by cell; "
                                                     "a lead counts in the cell of its grade now")
