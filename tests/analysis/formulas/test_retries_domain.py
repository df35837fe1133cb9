"""Retry formulas at the edges of their domain.

``test_retries.py`` checks the models' values; this module checks what each formula accepts and
refuses. We test these aspects: every probability, rate, count and percentage argument is refused
with an exact sentence naming it and accepted at its boundary (no retries, 0 % and 100 % budgets,
no minimum concurrency); the retry-budget cap for slow attempts; the metastability interval's ends.
"""
from __future__ import annotations

import pytest

from analysis.formulas import retries


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: retries.retry_offered_load_per_second(arrival_rate_per_second=-1, failure_probability=0.1,
                                                               retries=1),
                 "arrival rate -1 must be a finite number >= 0", id="offered-load-rate"),
    pytest.param(lambda: retries.retry_offered_load_per_second(arrival_rate_per_second=float("inf"),
                                                               failure_probability=0.1, retries=1),
                 "arrival rate inf must be a finite number >= 0", id="offered-load-infinite-rate"),
    pytest.param(lambda: retries.retry_success_probability(failure_probability=1.5, retries=1),
                 "failure probability 1.5 must lie in [0, 1]", id="success-probability"),
    pytest.param(lambda: retries.retry_success_probability(failure_probability=0.5, retries=-1),
                 "retries -1 must be a whole number >= 0", id="success-retries"),
    pytest.param(lambda: retries.retry_success_probability(failure_probability=0.5, retries=True),
                 "retries True must be a whole number >= 0", id="success-boolean-retries"),
    pytest.param(lambda: retries.retry_worst_case_amplification(retries=1.5, depth=2),
                 "retries 1.5 must be a whole number >= 0", id="worst-case-retries"),
    pytest.param(lambda: retries.retry_layered_amplification(failure_probability=-0.1, retries=1, depth=2),
                 "failure probability -0.1 must lie in [0, 1]", id="layered-probability"),
    pytest.param(lambda: retries.retry_layered_amplification(failure_probability=0.1, retries=-2, depth=2),
                 "retries -2 must be a whole number >= 0", id="layered-retries"),
    pytest.param(lambda: retries.retry_layered_amplification(failure_probability=0.1, retries=1, depth=0),
                 "depth 0 must be a whole number >= 1", id="layered-depth"),
    pytest.param(lambda: retries.retry_layered_failure_probability(failure_probability=2, retries=1, depth=2),
                 "failure probability 2 must lie in [0, 1]", id="layered-failure-probability"),
    pytest.param(lambda: retries.retry_layered_failure_probability(failure_probability=0.1, retries=-1, depth=2),
                 "retries -1 must be a whole number >= 0", id="layered-failure-retries"),
    pytest.param(lambda: retries.retry_layered_failure_probability(failure_probability=0.1, retries=1, depth=0),
                 "depth 0 must be a whole number >= 1", id="layered-failure-depth"),
    pytest.param(lambda: retries.retry_budget_max_active_retries(active_requests=-3),
                 "active requests -3 must be a finite number >= 0", id="budget-active"),
    pytest.param(lambda: retries.retry_budget_max_active_retries(active_requests=3, budget_percent=-1),
                 "budget percent -1 must lie in [0, 100]", id="budget-negative-percent"),
    pytest.param(lambda: retries.retry_budget_max_active_retries(active_requests=3, budget_percent=100.5),
                 "budget percent 100.5 must lie in [0, 100]", id="budget-percent-over-100"),
    pytest.param(lambda: retries.retry_budget_max_active_retries(active_requests=3, min_retry_concurrency=-1),
                 "min retry concurrency -1 must be a whole number >= 0", id="budget-minimum"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=-1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=1),
                 "arrival rate -1 must be a finite number >= 0", id="budgeted-rate"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=-1),
                 "mean attempt time -1 must be a finite number >= 0", id="budgeted-attempt-negative"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=0),
                 "mean attempt time 0 s must be > 0: every attempt takes some time", id="budgeted-attempt-zero"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=1, budget_percent=100),
                 "budget percent 100 must lie in [0, 100)", id="budgeted-percent-100"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=1, budget_percent=-5),
                 "budget percent -5 must lie in [0, 100)", id="budgeted-percent-negative"),
    pytest.param(lambda: retries.retry_budget_offered_load_per_second(arrival_rate_per_second=1, failure_probability=0.1,
                                                                      retries=1, mean_attempt_seconds=1,
                                                                      min_retry_concurrency=-1),
                 "min retry concurrency -1 must be a whole number >= 0", id="budgeted-minimum"),
    pytest.param(lambda: retries.adaptive_throttle_rejection_probability(requests=-1, accepts=0),
                 "requests -1 must be a finite number >= 0", id="throttle-requests"),
    pytest.param(lambda: retries.adaptive_throttle_rejection_probability(requests=1, accepts=-1),
                 "accepts -1 must be a finite number >= 0", id="throttle-accepts"),
    pytest.param(lambda: retries.adaptive_throttle_rejection_probability(requests=10, accepts=5, multiplier=0),
                 "multiplier 0 must be a finite number > 0", id="throttle-zero-multiplier"),
    pytest.param(lambda: retries.adaptive_throttle_rejection_probability(requests=10, accepts=5, multiplier=float("inf")),
                 "multiplier inf must be a finite number > 0", id="throttle-infinite-multiplier"),
    pytest.param(lambda: retries.is_retry_storm_self_sustaining(arrival_rate_per_second=-1, capacity_per_second=1, retries=1),
                 "arrival rate -1 must be a finite number >= 0", id="storm-rate"),
    pytest.param(lambda: retries.is_retry_storm_self_sustaining(arrival_rate_per_second=1, capacity_per_second=-1, retries=1),
                 "capacity -1 must be a finite number >= 0", id="storm-capacity-negative"),
    pytest.param(lambda: retries.is_retry_storm_self_sustaining(arrival_rate_per_second=1, capacity_per_second=0, retries=1),
                 "capacity 0/s must be > 0", id="storm-capacity-zero"),
    pytest.param(lambda: retries.is_retry_storm_self_sustaining(arrival_rate_per_second=1, capacity_per_second=2, retries=-1),
                 "retries -1 must be a whole number >= 0", id="storm-retries"),
])
def test_each_argument_outside_its_domain_is_refused_with_a_sentence_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_zero_retries_and_zero_minimum_concurrency_are_valid() -> None:
    assert retries.retry_success_probability(failure_probability=0.3, retries=0) == pytest.approx(0.7, rel=1e-15)
    assert retries.retry_layered_amplification(failure_probability=0.3, retries=0, depth=3) == pytest.approx(1.0)
    assert retries.retry_layered_failure_probability(failure_probability=0.3, retries=0, depth=2) == pytest.approx(0.3)
    assert retries.retry_budget_max_active_retries(active_requests=10, budget_percent=20, min_retry_concurrency=0) == 2.0
    assert retries.retry_budget_offered_load_per_second(arrival_rate_per_second=100, failure_probability=1.0, retries=3,
                                                        mean_attempt_seconds=0.1, budget_percent=20,
                                                        min_retry_concurrency=0) == pytest.approx(125.0)


def test_layered_failure_probability_raises_p_to_the_attempts_per_layer_to_the_depth() -> None:
    # one retry per hop, two hops: the bottom's p is retried twice per layer: p^(2^2)
    assert retries.retry_layered_failure_probability(failure_probability=0.5, retries=1, depth=2) == 0.5 ** 4
    assert retries.retry_layered_failure_probability(failure_probability=0.5, retries=1, depth=1) == 0.25


@pytest.mark.parametrize("percent, expected", [(0, 3.0), (100, 50.0), (20, 10.0)])
def test_budget_percent_is_valid_from_0_to_100(percent: float, expected: float) -> None:
    assert retries.retry_budget_max_active_retries(active_requests=50, budget_percent=percent) == expected


def test_budgeted_load_with_a_zero_budget_keeps_only_the_minimum_concurrency() -> None:
    # slow attempts (2 s): the minimum of 3 concurrent retries caps the retry rate at 1.5/s
    assert retries.retry_budget_offered_load_per_second(arrival_rate_per_second=10, failure_probability=1.0, retries=3,
                                                        mean_attempt_seconds=2.0, budget_percent=0) == pytest.approx(11.5)
    # the default minimum is 3
    assert retries.retry_budget_offered_load_per_second(arrival_rate_per_second=10, failure_probability=1.0, retries=3,
                                                        mean_attempt_seconds=2.0, budget_percent=0,
                                                        min_retry_concurrency=3) == pytest.approx(
        retries.retry_budget_offered_load_per_second(arrival_rate_per_second=10, failure_probability=1.0, retries=3,
                                                     mean_attempt_seconds=2.0, budget_percent=0))


def test_a_throttle_multiplier_just_above_zero_is_accepted() -> None:
    assert retries.adaptive_throttle_rejection_probability(requests=9, accepts=0, multiplier=0.5) == pytest.approx(0.9)
    assert retries.adaptive_throttle_rejection_probability(requests=9, accepts=9, multiplier=1.0) == 0.0


@pytest.mark.parametrize("rate, capacity, retry_count, expected", [
    (10, 10, 1, False),   # λ = μ: plain overload, not metastable
    (10, 20, 1, True),    # μ = λ(r + 1): the retried load just reaches capacity
    (10, 21, 1, False),
    (10, 30, 2, True),
    (10, 31, 2, False),
    (10, 11, 0, False),   # without retries nothing amplifies
])
def test_a_retry_storm_sustains_itself_exactly_when_lambda_lt_mu_le_lambda_r_plus_1(rate, capacity, retry_count,
                                                                                     expected) -> None:
    assert retries.is_retry_storm_self_sustaining(arrival_rate_per_second=rate, capacity_per_second=capacity,
                                                  retries=retry_count) is expected
