"""Bootstrap intervals: of a mean over examples, and of the paired difference between two
predictors measured on the same examples, pooled over the seeds of one variant.

Pooling. A variant trained with several seeds gives one value per (seed, example): a matrix of
seeds x examples, every seed measured on the same examples (the test split depends on the data
config, which seeds share). A resample draws example indices with replacement, once, and applies
them to every seed, so an example and its seeds stay together; the statistic is the mean over
the cells drawn. Absent values (a head that gave nothing to measure there) are NaN and left out
of the mean.

Pairing. The difference multi-task minus a control is taken per cell first (same seed, same
example), then resampled as above: both predictors see the same resampled examples, so what the
examples have in common (an easy question, an easy passage) cancels, and the interval is narrower
than one read off two separate intervals. A cell counts only where both have a value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES, LEVEL = 2000, 0.95


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int  # cells (examples x seeds) with a value
    seeds: int = 1

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "seeds": self.seeds}

    @property
    def above_zero(self) -> bool:
        """The whole interval lies above 0 (a paired difference: the first predictor is better)."""
        return self.n > 0 and self.low > 0

    def __str__(self) -> str:
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"

    def signed(self) -> str:
        return f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


NO_DATA = Estimate(float("nan"), float("nan"), float("nan"), 0, 0)


def _matrix(cells: Sequence[Sequence[float]]) -> np.ndarray:
    rows = [np.asarray(r, dtype=float) for r in cells]
    if not rows:
        return np.empty((0, 0))
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"every seed must be measured on the same examples; got {sorted(lengths)} examples per seed")
    return np.vstack(rows)


def bootstrap_cells(cells: Sequence[Sequence[float]], resamples: int = RESAMPLES, level: float = LEVEL,
                    seed: int = 0) -> Estimate:
    """Mean over seeds x examples (`cells[s][i]`, NaN = absent) with a percentile interval from
    resampling example indices jointly across seeds; seeded, so a report is reproducible."""
    data = _matrix(cells)
    present = ~np.isnan(data)
    if not present.any():
        return Estimate(NO_DATA.mean, NO_DATA.low, NO_DATA.high, 0, len(data))
    # Only examples with a value somewhere are drawn, so an absent column cannot empty a resample.
    data, present = data[:, present.any(axis=0)], present[:, present.any(axis=0)]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.shape[1], size=(resamples, data.shape[1]))
    values = np.where(present, data, 0.0)
    # In blocks of resamples: seeds x resamples x examples at once would hold gigabytes for a
    # real dev set of thousands of questions.
    block = max(1, 4_000_000 // max(1, data.size))
    sums = np.concatenate([values[:, idx[i : i + block]].sum(axis=(0, 2)) for i in range(0, resamples, block)])
    counts = np.concatenate([present[:, idx[i : i + block]].sum(axis=(0, 2)) for i in range(0, resamples, block)])
    means = sums / np.maximum(counts, 1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(values.sum() / present.sum()), float(low), float(high), int(present.sum()), len(data))


def paired_difference(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]],
                      resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Estimate:
    """`first - second` per (seed, example) cell, pooled and resampled as bootstrap_cells does.
    Both are seeds x examples of the same examples, seed by seed."""
    a, b = _matrix(first), _matrix(second)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same seeds x examples; got {a.shape} and {b.shape}")
    return bootstrap_cells(a - b, resamples, level, seed)


def bootstrap_mean(values: Sequence[float], resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Estimate:
    """The mean of one seed's `values` with a percentile bootstrap interval."""
    if len(values) == 0:
        return NO_DATA
    return bootstrap_cells([values], resamples, level, seed)
