"""Paired bootstrap intervals on known predictions: a clearly better predictor's difference lies
above 0, identical or equally good ones' does not, and seeds pool as examples x seeds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from training.analysis.bootstrap import bootstrap_cells, bootstrap_mean, paired_difference


def test_a_clearly_better_predictor_has_its_difference_above_zero():
    rng = np.random.default_rng(1)
    control = rng.integers(0, 2, size=200).astype(float)  # right on about half the examples
    better = np.maximum(control, rng.random(200) < 0.5)  # right wherever the control is, and on half the rest
    difference = paired_difference([better], [control])
    assert difference.above_zero and difference.mean == pytest.approx((better - control).mean())
    assert not paired_difference([control], [better]).above_zero


def test_identical_predictions_give_an_interval_that_contains_zero():
    values = [0.0, 1.0, 1.0, 0.0, 0.5] * 20
    difference = paired_difference([values], [values])
    assert difference.low <= 0.0 <= difference.high and not difference.above_zero


def test_two_equally_good_predictors_that_disagree_are_not_told_apart():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 2, size=300), rng.integers(0, 2, size=300)
    difference = paired_difference([a], [b])
    assert difference.low < 0 < difference.high


def test_pairing_removes_what_the_examples_have_in_common():
    # Hard and easy examples alike for both; the first is always 0.05 better.
    rng = np.random.default_rng(3)
    difficulty = rng.random(60)
    control, better = difficulty, difficulty + 0.05
    separate = bootstrap_mean(better), bootstrap_mean(control)
    assert separate[0].low < separate[1].high  # the two intervals overlap ...
    difference = paired_difference([better], [control])
    assert difference.above_zero and difference.low == pytest.approx(0.05)  # ... the paired one does not


def test_seeds_pool_as_examples_x_seeds():
    seeds = [[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]]
    pooled = bootstrap_cells(seeds)
    assert pooled.mean == pytest.approx(9 / 12) and pooled.n == 12 and pooled.seeds == 3
    # A model better than its control on every seed shows it pooled; better on one seed and worse
    # on another by as much does not.
    zeros = [[0.0] * 4] * 3
    assert paired_difference(seeds, zeros).above_zero
    mixed = paired_difference([[1.0] * 4, [-1.0] * 4, [0.0] * 4], zeros)
    assert mixed.mean == 0.0 and not mixed.above_zero


def test_examples_are_resampled_jointly_across_seeds():
    # Seed 2 is seed 1 mirrored: any resample that draws example i for one seed draws it for the
    # other, so every resample's pooled mean is exactly 0.5 and the interval has no width.
    first = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    second = [1.0 - v for v in first]
    pooled = bootstrap_cells([first, second])
    assert (pooled.low, pooled.mean, pooled.high) == (0.5, 0.5, 0.5)


def test_absent_values_are_left_out_pairwise():
    nan = math.nan
    difference = paired_difference([[1.0, nan, 1.0, 1.0]], [[0.0, 0.0, nan, 0.0]])
    assert difference.n == 2 and difference.mean == 1.0
    assert bootstrap_cells([[nan, nan]]).n == 0


def test_seeds_measured_on_different_examples_are_refused():
    with pytest.raises(ValueError, match="same examples"):
        bootstrap_cells([[1.0, 0.0], [1.0]])
    with pytest.raises(ValueError, match="same seeds x examples"):
        paired_difference([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])


def test_one_seed_interval_contains_the_mean_and_shrinks_with_n():
    small, large = bootstrap_mean([0, 1] * 10), bootstrap_mean([0, 1] * 500)
    assert small.low <= 0.5 <= small.high and large.low <= 0.5 <= large.high
    assert (large.high - large.low) < (small.high - small.low)
    assert bootstrap_mean([1.0] * 5).as_dict() == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": 5, "seeds": 1}
