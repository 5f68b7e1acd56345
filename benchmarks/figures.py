"""Small helpers every benchmark prints with, so the figures of the raw relay and of the
pipeline are computed and shown the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0..1): no interpolation, so a
    p99 is a latency some record really had."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_line(ordered: Sequence[float], quantiles: Sequence[float] = (0.5, 0.95, 0.99)) -> str:
    """``p50   12 ms   p95   30 ms ...`` for sorted latencies in seconds, plus the maximum."""
    parts = [f"p{round(q * 100)} {percentile(ordered, q) * 1000:7.1f} ms" for q in quantiles]
    return "   ".join([*parts, f"max {(ordered[-1] if ordered else math.nan) * 1000:7.1f} ms"])


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when there is nothing to divide by (a phase skipped)."""
    return numerator / denominator if denominator else math.nan
