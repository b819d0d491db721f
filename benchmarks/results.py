"""What a measurement produces, in one shape for every suite, so the table and the JSON report
need not know which suite made a row."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One number with its unit, e.g. ``Figure("p99", 0.84, "ms")``."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class Result:
    """One row of the report: what was measured, against what, the figures and the settings.

    A latency row also passes its raw samples, in seconds, as ``samples`` (the same sequence it
    gave ``latency_figures``): the plot (``plot.py``) draws their distribution, one row each.
    They stay out of the JSON, which keeps the figures only.
    """

    suite: str
    name: str
    target: str
    figures: tuple[Figure, ...]
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    samples: Sequence[float] = field(default=(), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(replace(self, samples=()))  # not a deep copy of 100,000 samples
        del row["samples"]
        return row


def rate(count: int, seconds: float) -> Figure:
    """Throughput as a figure; a zero duration (clock too coarse) reports infinity honestly."""
    return Figure("rate", count / seconds if seconds > 0 else math.inf, "msg/s")


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, no interpolation."""
    if not sorted_samples:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[rank - 1]


def latency_figures(seconds: Sequence[float]) -> tuple[Figure, ...]:
    """p50/p95/p99/max of latencies given in seconds, reported in milliseconds."""
    ordered = sorted(seconds)
    points = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    return tuple(Figure(name, percentile(ordered, q) * 1000, "ms") for name, q in points)
