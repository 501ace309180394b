"""Medians and nearest-rank percentiles of one run's samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("no sample to take the median of")
    return float(statistics.median(samples))


def percentile(samples: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest sample with ``percent`` % at or
    below it."""
    if not samples:
        raise ValueError("no sample to take a percentile of")
    ordered = sorted(samples)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return float(ordered[rank - 1])
