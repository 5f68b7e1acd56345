"""Rate limits as fixed windows (pure): a limit is N requests per window of S seconds,
windows aligned to the Unix epoch, so every replica counting in the same store agrees on
which window a request falls in. A burst of up to 2N across a window boundary is the known
price of fixed windows; it keeps the count to one row per subject and window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """At most ``requests`` requests in each window of ``per_seconds`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(ge=1, le=1_000_000)
    per_seconds: int = Field(ge=1, le=3600)

    def window(self, now: datetime) -> datetime:
        """The start of the window ``now`` falls in."""
        epoch_s = math.floor(now.timestamp())
        return datetime.fromtimestamp(epoch_s - epoch_s % self.per_seconds, UTC)

    def retry_after_s(self, now: datetime) -> int:
        """Whole seconds until the window ``now`` falls in ends (at least 1)."""
        ends = self.window(now) + timedelta(seconds=self.per_seconds)
        return max(1, math.ceil((ends - now).total_seconds()))


@dataclass(frozen=True)
class Counted:
    """One subject (a source, a client address) with its limit, in the window of a request."""

    subject: str  # e.g. "source:web-form", "address:203.0.113.9"
    what: str  # how the refusal names it: "source web-form", "address 203.0.113.9"
    limit: RateLimit
    window: datetime


def counted(subject: str, what: str, limit: RateLimit, now: datetime) -> Counted:
    return Counted(subject, what, limit, limit.window(now))


def first_exceeded(subjects: list[Counted], counts: dict[tuple[str, datetime], int]) -> Counted | None:
    """The first subject whose count in its window is over its limit, or None."""
    for subject in subjects:
        if counts.get((subject.subject, subject.window), 0) > subject.limit.requests:
            return subject
    return None
