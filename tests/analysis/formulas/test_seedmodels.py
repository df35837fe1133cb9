"""The seed lab's toy models, and where they part from the textbook.

We test these aspects:
- 4.6 is ln(100) rounded: the seed's p99 agrees with M/M/1 and disagrees with M/M/c and with
  constant service;
- the fixed shed factor serves 80% whatever the overload, and agrees with the fluid limit
  min(1, 1/ρ) only at ρ = 1.25;
- the toy cascade: its written-down recursion, one service, and cascade factor 1 = serial chain;
- the 30 s HPA lag constant;
- inputs outside the domain raise ValueError with a sentence.
"""

import math

import pytest

from analysis.formulas import queueing, seedmodels, tails


def test_p99_factor_is_ln_100_rounded() -> None:
    assert seedmodels.SEED_P99_FACTOR == pytest.approx(math.log(100), abs=0.01)


def test_seed_p99_agrees_with_mm1_within_a_fifth_of_a_percent() -> None:
    rates = {"arrival_rate_per_second": 80.0, "service_rate_per_second": 100.0}
    mean = queueing.mm1_mean_response_time_seconds(**rates)
    exact = queueing.mm1_response_time_quantile_seconds(quantile=0.99, **rates)
    assert seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=mean) == pytest.approx(
        exact, rel=0.002
    )


def test_seed_p99_overestimates_a_four_server_queue_by_more_than_ten_percent() -> None:
    rates = {"arrival_rate_per_second": 150.0, "service_rate_per_second": 50.0, "servers": 4}
    mean = queueing.mmc_mean_response_time_seconds(**rates)
    exact = queueing.mmc_response_time_quantile_seconds(quantile=0.99, **rates)
    seed = seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=mean)
    assert seed / exact > 1.10


def test_seed_p99_is_wrong_for_constant_service_at_light_load() -> None:
    # Almost no queueing and a constant 10 ms service: p99 ≈ mean ≈ 10 ms, not 46 ms.
    mean = queueing.md1_mean_response_time_seconds(arrival_rate_per_second=1.0, service_rate_per_second=100.0)
    assert seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=mean) > 4.5 * 0.0101


@pytest.mark.parametrize(
    ("rho", "expected"),
    [
        pytest.param(0.5, 1.0, id="below-capacity-serves-everything"),
        pytest.param(1.0, 0.8, id="at-capacity-sheds-a-fifth"),
        pytest.param(3.0, 0.8, id="three-times-overloaded-still-eighty-percent"),
    ],
)
def test_shed_factor_is_fixed_once_overloaded(rho: float, expected: float) -> None:
    assert seedmodels.seed_shed_success_fraction(utilisation=rho) == expected


def test_shed_factor_matches_the_fluid_limit_only_at_one_and_a_quarter() -> None:
    assert seedmodels.seed_shed_success_fraction(utilisation=1.25) == pytest.approx(min(1.0, 1 / 1.25))
    assert seedmodels.seed_shed_success_fraction(utilisation=3.0) != pytest.approx(min(1.0, 1 / 3.0))


def test_toy_cascade_follows_its_written_recursion() -> None:
    # Chain top -> bottom; the middle service fails 20%: g3 = 0.8, g2 = 1 - 0.3·0.2 = 0.94,
    # g1 = 1 - 0.3·0.06 = 0.982.
    assert seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[0, 0, 0.2, 0, 0]) == pytest.approx(
        0.982
    )


def test_toy_cascade_of_one_service_is_its_own_goodput() -> None:
    assert seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[0.3]) == pytest.approx(0.7)


def test_toy_cascade_with_factor_one_is_the_serial_chain() -> None:
    shares = [0.01, 0.05, 0.2, 0.02]
    assert seedmodels.seed_cascade_goodput_fraction(
        failure_probabilities=shares, cascade_factor=1.0
    ) == pytest.approx(1 - tails.slo_serial_failure_probability(failure_probabilities=shares))


def test_hpa_lag_constant_is_thirty_seconds() -> None:
    assert seedmodels.seed_hpa_lag_seconds() == 30.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=-1),
            "mean response time -1 s must be",
            id="negative-mean",
        ),
        pytest.param(
            lambda: seedmodels.seed_shed_success_fraction(utilisation=-0.1),
            "utilisation -0.1 must be",
            id="negative-utilisation",
        ),
        pytest.param(
            lambda: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[]),
            "at least one service",
            id="empty-chain",
        ),
        pytest.param(
            lambda: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[0.1], cascade_factor=2),
            "cascade factor 2 must lie in",
            id="cascade-factor-above-one",
        ),
    ],
)
def test_seed_models_reject_inputs_outside_their_domain_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
