import math

import pytest

from loadtests.results import percentile, summarize


def test_percentile_interpolates_like_numpy_linear():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0.0) == 10.0
    assert percentile(values, 1.0) == 40.0
    assert percentile(values, 0.5) == pytest.approx(25.0)
    assert percentile(values, 0.99) == pytest.approx(39.7)


def test_percentile_ignores_input_order_and_handles_one_value():
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([7.0], 0.95) == 7.0


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused():
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError, match="q must lie in"):
        percentile([1.0], 1.5)


def test_summarize_counts_successes_over_wall_time():
    s = summarize([100.0] * 9 + [1000.0], seconds=2.0, failures=3)
    assert s.requests == 10 and s.failures == 3
    assert s.throughput == pytest.approx(5.0)
    assert s.p50_ms == 100.0
    assert s.p99_ms == pytest.approx(919.0)
    assert s.mean_ms == pytest.approx(190.0)


def test_summarize_refuses_zero_time():
    with pytest.raises(ValueError, match="seconds must be positive"):
        summarize([1.0], seconds=0)


def test_the_fault_runs_report_percentiles_by_the_same_definition_as_the_benchmark():
    from loadtests.results import percentile, percentiles

    seconds = [0.010, 0.020, 0.030, 0.040, 1.0]
    figures = percentiles(seconds)
    ms = [s * 1000 for s in seconds]
    assert (figures.p50_ms, figures.p99_ms, figures.max_ms) == (round(percentile(ms, 0.5), 1), round(percentile(ms, 0.99), 1), 1000.0)
    assert figures.p99_ms == 961.6  # interpolated between 40 and 1000 ms, not the nearest rank
