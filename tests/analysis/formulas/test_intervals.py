"""Confidence intervals of measured quantities.

Aspects: the Wilson interval matches published values, stays inside [0, 1] and is not empty at
0 or n successes; batch means give an interval that covers the mean and widens for correlated
data; the ratio-of-sums interval covers a known ratio; the composition interval contains its
point, is not zero-width with no violations seen, and covers the truth at about its nominal rate
(seeded replications).
"""
import math
import random

import pytest

from analysis.formulas import intervals


@pytest.mark.parametrize("successes, trials, low, high", [
    # Newcombe (1998), Statistics in Medicine 17:857, table I (Wilson score method, 95 %)
    pytest.param(81, 263, 0.2553, 0.3662, id="81-of-263"),
    pytest.param(15, 148, 0.0624, 0.1605, id="15-of-148"),
    pytest.param(0, 20, 0.0, 0.1611, id="none-of-20"),
    pytest.param(1, 29, 0.0061, 0.1718, id="1-of-29"),
])
def test_wilson_interval_matches_published_values(successes, trials, low, high):
    got = intervals.wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_not_empty_when_every_trial_succeeded():
    low, high = intervals.wilson_interval(50, 50)
    assert 0.9 < low < 1.0 and high == 1.0


def test_wilson_interval_is_nan_without_trials_and_refuses_impossible_counts():
    assert all(math.isnan(v) for v in intervals.wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes <= trials"):
        intervals.wilson_interval(5, 4)


def test_batch_means_interval_covers_the_mean_of_independent_draws():
    rng = random.Random(3)
    values = [rng.expovariate(1.0) for _ in range(5000)]
    mean, low, high = intervals.batch_means_interval(values)
    assert low < 1.0 < high
    assert high - low < 0.12


def test_batch_means_interval_widens_for_correlated_data():
    rng = random.Random(5)
    independent = [rng.gauss(0, 1) for _ in range(4000)]
    correlated, level = [], 0.0
    for shock in independent:
        level = 0.98 * level + shock * math.sqrt(1 - 0.98**2)  # same marginal variance, long memory
        correlated.append(level)
    width = lambda values: intervals.batch_means_interval(values)[2] - intervals.batch_means_interval(values)[1]
    assert width(correlated) > 3 * width(independent)


def test_ratio_batch_interval_covers_a_known_mean_duration():
    rng = random.Random(7)
    counts = [rng.randint(20, 40) for _ in range(60)]
    sums = [sum(rng.expovariate(1 / 0.05) for _ in range(n)) for n in counts]
    ratio, low, high = intervals.ratio_batch_interval(sums, counts)
    assert low < 0.05 < high
    assert ratio == pytest.approx(sum(sums) / sum(counts))


def test_composition_interval_contains_its_point_and_has_width_with_no_violations():
    point, low, high = intervals.composition_interval([(0, 1000), (0, 1000)])
    assert point == 0.0 and low == 0.0 and high > 0.001
    point, low, high = intervals.composition_interval([(10, 1000), (20, 1000)])
    assert point == pytest.approx(1 - 0.99 * 0.98)
    assert low < point < high


def test_composition_interval_covers_the_true_composition_at_about_its_nominal_rate():
    # 4 components with p = 0.5 % each, 5000 trials per replication: the Ciw recipe of seeded
    # replications with a stated tolerance (95 % nominal; accept 88–99 % over 200 replications).
    rng = random.Random(11)
    truth = 1 - (1 - 0.005) ** 4
    covered = 0
    for _ in range(200):
        counts = [(sum(rng.random() < 0.005 for _ in range(5000)), 5000) for _ in range(4)]
        _, low, high = intervals.composition_interval(counts)
        covered += low <= truth <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_a_component_passed_k_times_composes_as_its_kth_power():
    single = intervals.composition_interval([(5, 1000)])
    fanned = intervals.composition_interval([(5, 1000, 10)])
    assert fanned[0] == pytest.approx(1 - (1 - 0.005) ** 10)
    assert fanned[1] < fanned[0] < fanned[2]
    assert fanned[2] - fanned[1] > 5 * (single[2] - single[1])  # ten visits: ten times the log-spread
    assert intervals.composition_interval([(5, 1000, 1), (5, 1000, 1)])[0] == pytest.approx(
        intervals.composition_interval([(5, 1000, 2)])[0])
    with pytest.raises(ValueError, match="at least once per request, got k = 0"):
        intervals.composition_interval([(5, 1000, 0)])
