"""The routing policy file and the pure choice of an owner."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class PolicyError(ValueError):
    """The policy file is not valid; the message lists field paths and reasons."""


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    email: str = Field(min_length=3)


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    strategy: Literal["round_robin"] = "round_robin"
    owners: tuple[Owner, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RoutingPolicy:
        ids = [o.id for o in self.owners]
        if len(set(ids)) != len(ids):
            raise ValueError(f"owner ids must be unique: {ids}")
        return self


def load_policy(path: Path) -> RoutingPolicy:
    try:
        return RoutingPolicy.model_validate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise PolicyError(f"{path} is invalid: {problems}") from None


def round_robin(owners: tuple[Owner, ...], position: int) -> tuple[Owner, int]:
    """The owner at ``position`` and the position after them; positions only grow."""
    return owners[position % len(owners)], position + 1
