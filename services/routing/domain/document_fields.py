"""The field types the routing policy document is written in: ids, grades, counts, and
the base model every section shares (frozen, no unknown keys)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from shared.events.payloads import Strategy

__all__ = ["FALLBACK_RULE", "MANUAL_RULE", "RESERVED_RULES", "GradePattern", "NonEmpty", "NonNegativeInt",
           "PolicyModel", "PositiveInt", "Slug", "Status", "Strategy"]

Status = Literal["active", "paused", "inactive"]

FALLBACK_RULE = "fallback"
"""The name a decision records when no rule matched; no rule may use it."""
MANUAL_RULE = "manual"
"""The name a decision records when a person assigned the lead by hand; no rule may use it."""
RESERVED_RULES = frozenset({FALLBACK_RULE, MANUAL_RULE})

_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_GRADE_PATTERN = r"^[A-Za-z0-9*]+$"

Slug = Annotated[str, StringConstraints(pattern=_SLUG, min_length=1, max_length=100)]


def _not_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    # an after-validator rather than min_length: it stays quiet when the items themselves failed
    if not value:
        raise ValueError("needs at least one entry")
    return value


NonEmpty = AfterValidator(_not_empty)
GradePattern = Annotated[str, StringConstraints(pattern=_GRADE_PATTERN, min_length=1, max_length=20)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


class PolicyModel(BaseModel):
    # validators raise ValueError even for a wrong type: pydantic reports only that as a field error
    model_config = ConfigDict(extra="forbid", frozen=True)

