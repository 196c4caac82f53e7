"""Bootstrap confidence intervals of a mean over examples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def excludes(self, other: "Estimate") -> bool:
        """The two 95% intervals do not overlap."""
        return self.low > other.high or self.high < other.low

    def __str__(self) -> str:
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


def bootstrap_mean(values: Sequence[float], resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """The mean of `values` with a percentile bootstrap interval (examples resampled with
    replacement); seeded, so a report is reproducible."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(data.mean()), float(low), float(high), int(data.size))
