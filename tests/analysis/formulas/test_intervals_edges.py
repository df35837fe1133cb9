"""Confidence intervals at their edges, checked against hand-computed values.

``test_intervals.py`` checks coverage and published values; this module pins the small cases one
can compute by hand. We test these aspects: the t table's ends and the normal fallback; refusals
with exact sentences; Wilson at p = 1 stays inside [0, 1]; how ``batches`` splits and drops empty
batches; batch-means and ratio intervals for two and five batches, zero-count batches, a single
batch (infinite interval) and no data; the composition interval for a clean component, a fully
failed one and one without trials.
"""
from __future__ import annotations

import math
import statistics

import pytest

from analysis.formulas import intervals

Z95 = statistics.NormalDist().inv_cdf(0.975)
Z90 = statistics.NormalDist().inv_cdf(0.95)


@pytest.mark.parametrize("degrees, confidence, expected", [
    (1, 0.95, 12.706), (2, 0.95, 4.303), (30, 0.95, 2.042), (31, 0.95, Z95), (5, 0.9, Z90), (40, 0.9, Z90),
])
def test_t_value_reads_the_table_at_95_percent_and_falls_back_to_the_normal(degrees, confidence, expected) -> None:
    assert intervals.t_value(degrees, confidence) == expected


@pytest.mark.parametrize("call, message", [
    (lambda: intervals.t_value(0), "degrees of freedom 0 must be >= 1"),
    (lambda: intervals.z_value(0), "confidence 0 must lie strictly between 0 and 1"),
    (lambda: intervals.z_value(1), "confidence 1 must lie strictly between 0 and 1"),
    (lambda: intervals.z_value(1.5), "confidence 1.5 must lie strictly between 0 and 1"),
    (lambda: intervals.wilson_interval(-1, 5), "need 0 <= successes <= trials, got -1 of 5"),
    (lambda: intervals.wilson_interval(0, -1), "need 0 <= successes <= trials, got 0 of -1"),
    (lambda: intervals.ratio_batch_interval([1, 2], [1]), "numerators and denominators must pair up"),
    (lambda: intervals.composition_interval([]), "no components to compose"),
])
def test_inputs_outside_the_domain_are_refused_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_wilson_at_every_success_ends_exactly_at_one() -> None:
    assert intervals.wilson_interval(9, 9)[1] == 1.0
    # a count a hair above the trials (interpolated histogram) is read as p = 1
    assert intervals.wilson_interval(9 * (1 + 5e-10), 9) == intervals.wilson_interval(9, 9)


def test_batches_split_evenly_and_drop_empty_ones() -> None:
    assert intervals.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4, 5]]
    assert intervals.batches([1, 2], 4) == [[1], [2]]
    assert intervals.batches([1, 2, 3, 4, 5, 6], 3) == [[1, 2], [3, 4], [5, 6]]


def test_batch_means_of_two_batches_use_t_with_one_degree_of_freedom() -> None:
    # batch means 1.5 and 3.5: s = √2, half = 12.706 · √2/√2
    mean, low, high = intervals.batch_means_interval([1, 2, 3, 4], batch_count=2)
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - 12.706, 2.5 + 12.706), rel=1e-12)
    mean, low, high = intervals.batch_means_interval([1, 2, 3, 4], batch_count=2, confidence=0.9)
    assert (low, high) == pytest.approx((2.5 - Z90, 2.5 + Z90), rel=1e-12)


def test_batch_means_default_to_ten_batches() -> None:
    values = list(range(1, 21))
    means = [2 * i - 0.5 for i in range(1, 11)]  # pairs (1, 2), (3, 4), ...
    half = 2.262 * statistics.stdev(means) / math.sqrt(10)
    assert intervals.batch_means_interval(values) == pytest.approx((10.5, 10.5 - half, 10.5 + half), rel=1e-12)


def test_batch_means_of_one_value_are_unbounded_and_of_none_undefined() -> None:
    assert intervals.batch_means_interval([5.0]) == (5.0, -math.inf, math.inf)
    assert all(math.isnan(x) for x in intervals.batch_means_interval([]))


def test_ratio_of_two_batches_weights_the_residuals_by_the_mean_count() -> None:
    # groups (3, 2) and (7, 2): ratio 2.5, residuals ±2 over mean weight 2 -> spread 2, half = 12.706 · √(2/2)
    ratio, low, high = intervals.ratio_batch_interval([1, 2, 3, 4], [1, 1, 1, 1], batch_count=2)
    assert (ratio, low, high) == pytest.approx((2.5, 2.5 - 12.706, 2.5 + 12.706), rel=1e-12)


def test_ratio_batches_without_counts_are_left_out() -> None:
    with_gap = intervals.ratio_batch_interval([1, 2, 0, 0, 3, 4], [1, 1, 0, 0, 1, 1], batch_count=3)
    assert with_gap == pytest.approx((2.5, 2.5 - 12.706, 2.5 + 12.706), rel=1e-12)


def test_ratio_of_five_single_count_batches() -> None:
    # groups (i, 1), i = 1..5: ratio 3, spread Σ(i − 3)²/4 = 2.5, half = 2.776 · √(2.5/5)
    half = 2.776 * math.sqrt(0.5)
    assert intervals.ratio_batch_interval([1, 2, 3, 4, 5], [1] * 5, batch_count=5) == pytest.approx(
        (3.0, 3.0 - half, 3.0 + half), rel=1e-12)


def test_ratio_of_one_batch_is_unbounded_and_of_no_counts_undefined() -> None:
    assert intervals.ratio_batch_interval([0.5], [1]) == (0.5, -math.inf, math.inf)
    assert all(math.isnan(x) for x in intervals.ratio_batch_interval([1.0], [0.0]))


def test_composition_of_a_clean_component_has_an_agresti_coull_upper_bound() -> None:
    z2 = Z95 * Z95
    adjusted = (z2 / 2) / (100 + z2)
    half = Z95 * math.sqrt(adjusted / ((1 - adjusted) * 100))
    assert intervals.composition_interval([(0, 100)]) == pytest.approx((0.0, 0.0, -math.expm1(-half)), rel=1e-12)


def test_composition_of_two_components_adds_their_log_variances() -> None:
    z2 = Z95 * Z95
    variance = 0.0
    for violations, trials in ((2, 50), (1, 2)):
        adjusted = (violations + z2 / 2) / (trials + z2)
        variance += adjusted / ((1 - adjusted) * trials)
    log_survival = math.log1p(-2 / 50) + math.log1p(-1 / 2)
    half = Z95 * math.sqrt(variance)
    point, low, high = intervals.composition_interval([(2, 50), (1, 2)])
    assert (point, high) == pytest.approx((-math.expm1(log_survival), -math.expm1(log_survival - half)), rel=1e-12)
    # the lower end would fall below 0: it is capped there
    assert -math.expm1(log_survival + half) < 0.0
    assert low == 0.0


def test_composition_with_a_fully_failed_component_is_certain_failure() -> None:
    assert intervals.composition_interval([(3, 10), (4, 4)]) == (1.0, 1.0, 1.0)


def test_composition_with_a_component_without_trials_is_undefined() -> None:
    assert all(math.isnan(x) for x in intervals.composition_interval([(0, 10), (0, 0)]))
    assert intervals.composition_interval([(0, 1)])[0] == 0.0


def test_ratio_interval_defaults_to_ten_batches_and_takes_the_confidence() -> None:
    numerators = [float(i % 7) for i in range(20)]
    denominators = [1.0] * 20
    assert intervals.ratio_batch_interval(numerators, denominators) == intervals.ratio_batch_interval(
        numerators, denominators, batch_count=10)
    assert intervals.ratio_batch_interval(numerators, denominators) != intervals.ratio_batch_interval(
        numerators, denominators, batch_count=11)
    ratio, low, high = intervals.ratio_batch_interval([1, 2, 3, 4], [1, 1, 1, 1], batch_count=2, confidence=0.9)
    assert (low, high) == pytest.approx((2.5 - Z90, 2.5 + Z90), rel=1e-12)
