"""SLO composition, tail at scale and hedging formulas.

We test these aspects:
- fan-out against the published numbers of "The Tail at Scale" (Dean & Barroso, CACM 2013) and
  of Barroso's talk that preceded it;
- the per-leaf quantile q^(1/K) and its round trip with the fan-out formula;
- serial SLO composition and the error-budget split, including tiny probabilities;
- the correlated-failure model: its end points, its marginals, and recovering r from a measurement;
- the shared-cause model as a special case of full correlation;
- hedged requests: the closed-form exponential quantile against a seeded Monte Carlo, and p²;
- inputs outside the domain raise ValueError with a sentence.
"""

import math
import random

import pytest

from analysis.formulas import tails


@pytest.mark.parametrize(
    ("leaf_slow", "fanout", "expected", "tolerance"),
    [
        # The Tail at Scale: a leaf slow 1 time in 100, 100 leaves: "63% of user requests" are slow.
        pytest.param(0.01, 100, 0.63, 0.005, id="tail-at-scale-63-percent"),
        # The Tail at Scale: 1 in 10,000 slow and 2,000 leaves: "almost one in five" (18.1%).
        pytest.param(1e-4, 2000, 0.181, 0.001, id="tail-at-scale-almost-one-in-five"),
        # Barroso's talk: 1% slow servers; 10 servers give 10%, 50 give 40%.
        pytest.param(0.01, 10, 0.10, 0.005, id="talk-10-servers-10-percent"),
        pytest.param(0.01, 50, 0.40, 0.006, id="talk-50-servers-40-percent"),
        pytest.param(0.01, 1, 0.01, 1e-15, id="no-fan-out"),
    ],
)
def test_fanout_slow_share_matches_published_values(
    leaf_slow: float, fanout: int, expected: float, tolerance: float
) -> None:
    assert tails.fanout_slow_probability(leaf_slow_probability=leaf_slow, fanout=fanout) == pytest.approx(
        expected, abs=tolerance
    )


def test_fanout_keeps_precision_for_tiny_leaf_probabilities() -> None:
    # 1 - (1 - 1e-12)^10 loses all digits when formed naively; the answer is 1e-11 to 1e-11 accuracy.
    assert tails.fanout_slow_probability(leaf_slow_probability=1e-12, fanout=10) == pytest.approx(
        1e-11, rel=1e-9
    )


def test_fanout_leaf_quantile_for_a_p99_request_over_100_leaves_is_p99_99() -> None:
    leaf = tails.fanout_leaf_quantile(request_quantile=0.99, fanout=100)
    assert leaf == pytest.approx(0.9998995, abs=1e-7)
    # Round trip: leaves slow with 1 - leaf make exactly 1% of requests slow.
    assert tails.fanout_slow_probability(leaf_slow_probability=1 - leaf, fanout=100) == pytest.approx(
        0.01, rel=1e-9
    )


def test_slo_serial_composition_of_three_nines_over_three_hops() -> None:
    failure = tails.slo_serial_failure_probability(failure_probabilities=[0.001, 0.001, 0.001])
    assert 1 - failure == pytest.approx(0.999**3)
    assert failure == pytest.approx(0.002997001)


def test_slo_serial_composition_is_certain_failure_when_one_hop_always_fails() -> None:
    assert tails.slo_serial_failure_probability(failure_probabilities=[0.01, 1.0]) == 1.0


@pytest.mark.parametrize(
    ("slo", "services", "expected_budget"),
    [
        # 99.9% over 5 services: each gets 1 - 0.999^(1/5) = 2.0008e-4 (a little over 0.1%/5).
        pytest.param(0.999, 5, 2.0008e-4, id="three-nines-five-services"),
        pytest.param(0.99, 1, 0.01, id="one-service-keeps-the-budget"),
        pytest.param(0.9999, 10, 1.000045e-5, id="four-nines-ten-services"),
    ],
)
def test_error_budget_split_composes_back_to_the_end_to_end_slo(
    slo: float, services: int, expected_budget: float
) -> None:
    budget = tails.slo_budget_per_service_failure_probability(
        end_to_end_failure_probability=1 - slo, services=services
    )
    assert budget == pytest.approx(expected_budget, rel=1e-5)
    composed = tails.slo_serial_failure_probability(failure_probabilities=[budget] * services)
    assert composed == pytest.approx(1 - slo, rel=1e-9)


def test_correlated_model_spans_independent_to_fully_correlated() -> None:
    probabilities = [0.001, 0.002, 0.01]
    independent = tails.slo_serial_failure_probability(failure_probabilities=probabilities)
    at = [
        tails.slo_correlated_failure_probability(failure_probabilities=probabilities, correlation=r)
        for r in (0.0, 0.25, 0.5, 1.0)
    ]
    assert at[0] == pytest.approx(independent)
    assert at[-1] == pytest.approx(0.01)
    assert at == sorted(at, reverse=True)


def test_correlated_model_keeps_each_hops_own_failure_rate() -> None:
    # Simulate the stated mixture and check marginals and the end-to-end rate (seeded).
    rng = random.Random(7)
    probabilities, r, trials = [0.05, 0.1, 0.2], 0.4, 200_000
    hop_failures = [0, 0, 0]
    chain_failures = 0
    for _ in range(trials):
        if rng.random() < r:
            shared = rng.random()
            failed = [shared < p for p in probabilities]
        else:
            failed = [rng.random() < p for p in probabilities]
        hop_failures = [count + f for count, f in zip(hop_failures, failed, strict=True)]
        chain_failures += any(failed)
    # Binomial standard errors are below 0.001 here; 0.004 is four of them.
    for count, p in zip(hop_failures, probabilities, strict=True):
        assert count / trials == pytest.approx(p, abs=0.004)
    predicted = tails.slo_correlated_failure_probability(failure_probabilities=probabilities, correlation=r)
    assert chain_failures / trials == pytest.approx(predicted, abs=0.004)


def test_implied_correlation_recovers_the_mixing_weight() -> None:
    probabilities = [0.01, 0.02, 0.03]
    measured = tails.slo_correlated_failure_probability(failure_probabilities=probabilities, correlation=0.3)
    assert tails.slo_implied_correlation(
        failure_probabilities=probabilities, end_to_end_failure_probability=measured
    ) == pytest.approx(0.3)


def test_shared_cause_alone_is_the_fully_correlated_case() -> None:
    end_to_end = tails.slo_shared_cause_failure_probability(
        shared_failure_probability=0.02, failure_probabilities=[0.0, 0.0, 0.0]
    )
    per_hop = [0.02, 0.02, 0.02]
    assert end_to_end == pytest.approx(0.02)
    assert tails.slo_implied_correlation(
        failure_probabilities=per_hop, end_to_end_failure_probability=end_to_end
    ) == pytest.approx(1.0)


def test_shared_cause_on_top_of_independent_failures_lies_between_the_end_points() -> None:
    own, shared = [0.01, 0.01, 0.01], 0.01
    per_hop = [1 - (1 - shared) * (1 - q) for q in own]
    end_to_end = tails.slo_shared_cause_failure_probability(
        shared_failure_probability=shared, failure_probabilities=own
    )
    r = tails.slo_implied_correlation(
        failure_probabilities=per_hop, end_to_end_failure_probability=end_to_end
    )
    assert 0.0 < r < 1.0


@pytest.mark.parametrize(
    ("hedge_quantile", "quantile"),
    [
        pytest.param(0.95, 0.99, id="hedge-p95-report-p99"),
        pytest.param(0.9, 0.999, id="hedge-p90-report-p999"),
        pytest.param(0.99, 0.95, id="report-below-hedge-point-is-unchanged"),
    ],
)
def test_hedged_exponential_quantile_matches_a_seeded_monte_carlo(
    hedge_quantile: float, quantile: float
) -> None:
    mean = 0.01
    delay = -mean * math.log1p(-hedge_quantile)
    rng = random.Random(11)

    def hedged_latency() -> float:
        first = rng.expovariate(1 / mean)
        if first <= delay:
            return first  # answered before the hedge would go out
        return min(first, delay + rng.expovariate(1 / mean))

    samples = sorted(hedged_latency() for _ in range(200_000))
    measured = samples[math.ceil(quantile * len(samples)) - 1]
    predicted = tails.hedged_exponential_latency_quantile_seconds(
        mean_latency_seconds=mean, hedge_quantile=hedge_quantile, quantile=quantile
    )
    # 200k samples put the empirical p99.9 within about 3% of the truth; 5% is the tolerance.
    assert measured == pytest.approx(predicted, rel=0.05)


def test_hedging_at_p95_cuts_p99_of_a_10ms_exponential_from_46_to_38_ms() -> None:
    hedged = tails.hedged_exponential_latency_quantile_seconds(
        mean_latency_seconds=0.01, hedge_quantile=0.95, quantile=0.99
    )
    assert hedged == pytest.approx((math.log(20) + math.log(100)) / 2 * 0.01)
    assert hedged == pytest.approx(0.0380, abs=1e-4)


def test_hedging_in_the_bimodal_model_squares_the_slow_probability() -> None:
    assert tails.hedged_exceedance_probability(
        first_exceedance_probability=0.01, hedge_exceedance_probability=0.01
    ) == pytest.approx(1e-4)
    # Hedging at p95 sends 5% more requests (The Tail at Scale's suggestion).
    assert tails.hedged_extra_request_fraction(hedge_quantile=0.95) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: tails.fanout_slow_probability(leaf_slow_probability=1.5, fanout=3),
            "leaf slow probability 1.5 must lie in",
            id="probability-above-one",
        ),
        pytest.param(
            lambda: tails.fanout_slow_probability(leaf_slow_probability=0.1, fanout=0),
            "fanout 0 must be a whole number >= 1",
            id="no-leaves",
        ),
        pytest.param(
            lambda: tails.fanout_leaf_quantile(request_quantile=1.0, fanout=3),
            "strictly between",
            id="quantile-one",
        ),
        pytest.param(
            lambda: tails.slo_serial_failure_probability(failure_probabilities=[]),
            "at least one service",
            id="empty-chain",
        ),
        pytest.param(
            lambda: tails.slo_correlated_failure_probability(failure_probabilities=[0.1], correlation=2),
            "correlation 2 must lie in",
            id="correlation-above-one",
        ),
        pytest.param(
            lambda: tails.slo_implied_correlation(
                failure_probabilities=[0.1, 0.0], end_to_end_failure_probability=0.1
            ),
            "not identifiable",
            id="correlation-not-identifiable",
        ),
        pytest.param(
            lambda: tails.slo_budget_per_service_failure_probability(
                end_to_end_failure_probability=0.001, services=0
            ),
            "services 0 must be",
            id="no-services",
        ),
        pytest.param(
            lambda: tails.hedged_exponential_latency_quantile_seconds(
                mean_latency_seconds=0, hedge_quantile=0.9, quantile=0.99
            ),
            "mean latency 0 s must be",
            id="zero-latency",
        ),
        pytest.param(
            lambda: tails.hedged_exponential_latency_quantile_seconds(
                mean_latency_seconds=1, hedge_quantile=1.0, quantile=0.99
            ),
            "never hedging",
            id="hedge-never",
        ),
    ],
)
def test_tail_formulas_reject_inputs_outside_their_domain_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
