"""Which source and campaign a lead is credited to: one model for the funnel (feedback),
the simulation and the calibration (scoring), so both teams read the same answer about the
same lead (pure).

A touch is one capture of the lead (a form post, an import): its **channel** is the
``utm_source`` it came with, or else the intake source that posted it (the integration's
name, kept apart as ``intake_source``), and its campaign the ``utm_campaign``. Every capture
of the lead counts, in time order.

- ``first_touch``: all the credit to the first capture (where the lead came from);
- ``last_touch``: all of it to the latest capture;
- ``linear``: each capture an equal share, shares of the same key added up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Literal, get_args

Model = Literal["first_touch", "last_touch", "linear"]
MODELS: tuple[str, ...] = get_args(Model)
Dimension = Literal["source", "campaign"]
DEFAULT_MODEL: Model = "first_touch"


@dataclass(frozen=True)
class Touch:
    at: datetime
    channel: str | None
    campaign: str | None
    intake_source: str | None = None

    @classmethod
    def of_capture(cls, at: datetime, intake_source: str | None, utm: Mapping[str, Any] | None) -> Touch:
        utm = utm or {}
        return cls(at, _text(utm.get("utm_source")) or intake_source, _text(utm.get("utm_campaign")), intake_source)

    def key(self, by: Dimension) -> str | None:
        return self.channel if by == "source" else self.campaign


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def credit(touches: Sequence[Touch], model: Model, by: Dimension) -> dict[str | None, Fraction]:
    """Each key's share of one lead (the shares add up to 1); no touch: all to None."""
    ordered = sorted(touches, key=lambda t: t.at)
    if not ordered:
        return {None: Fraction(1)}
    if model == "first_touch":
        return {ordered[0].key(by): Fraction(1)}
    if model == "last_touch":
        return {ordered[-1].key(by): Fraction(1)}
    shares: dict[str | None, Fraction] = {}
    for touch in ordered:
        shares[touch.key(by)] = shares.get(touch.key(by), Fraction(0)) + Fraction(1, len(ordered))
    return shares
