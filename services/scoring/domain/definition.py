"""The lead definition as a validated model; errors name the field and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Op = Literal["equals", "one_of", "between", "contains_any", "present", "missing"]


class DefinitionError(ValueError):
    """The definition file is not valid; the message lists field paths and reasons."""


class FitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    field: str = Field(min_length=1)
    op: Op
    value: Any = None
    points: int

    @model_validator(mode="after")
    def _value_fits_op(self) -> FitRule:
        v = self.value
        if self.op == "between":
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v)
                    and v[0] <= v[1]):
                raise ValueError("'between' needs value: [min, max] with min <= max")
        elif self.op in ("one_of", "contains_any"):
            if not (isinstance(v, list) and v):
                raise ValueError(f"'{self.op}' needs value: a non-empty list")
        elif self.op == "equals":
            if v is None:
                raise ValueError("'equals' needs a value")
        elif v is not None:
            raise ValueError(f"'{self.op}' takes no value")
        return self


class LeadDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    qualification_threshold: int
    fit_rules: tuple[FitRule, ...] = ()
    engagement_points: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> LeadDefinition:
        names = [r.name for r in self.fit_rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        return self


def parse_definition(data: Any, origin: str = "lead definition") -> LeadDefinition:
    try:
        return LeadDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise DefinitionError(f"{origin} is invalid: {problems}") from None


def load_definition(path: Path) -> LeadDefinition:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path} is not valid YAML: {exc}") from None
    return parse_definition(data, origin=str(path))
