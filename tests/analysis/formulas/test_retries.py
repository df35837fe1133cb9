"""Retry amplification, retry budgets, adaptive throttling and the metastability check.

We test these aspects:
- offered load λ(1 − p^(r+1))/(1 − p) at textbook points, at p = 1 (the 0/0 case) and near it;
- multi-layer amplification: the worst case (r + 1)^depth with the SRE book's example, and the
  expected layered amplification against its end points and a seeded Monte Carlo of the model;
- Envoy's retry budget cap with its defaults, including the integer truncation Envoy applies;
- the fluid budget-capped offered load never exceeds the unbudgeted one;
- the SRE book's client-side throttling formula;
- the metastability predicate on either side of its boundary;
- inputs outside the domain raise ValueError with a sentence.
"""

import random

import pytest

from analysis.formulas import retries


@pytest.mark.parametrize(
    ("p", "r", "expected_attempts"),
    [
        pytest.param(0.0, 3, 1.0, id="never-fails"),
        pytest.param(0.5, 3, 1.875, id="half-fail-three-retries"),
        pytest.param(0.1, 2, 1.11, id="ten-percent-two-retries"),
        pytest.param(1.0, 3, 4.0, id="always-fails-uses-every-retry"),
        pytest.param(0.7, 0, 1.0, id="no-retries"),
    ],
)
def test_attempts_per_request_is_the_geometric_sum(p: float, r: int, expected_attempts: float) -> None:
    assert retries.retry_attempts_per_request(failure_probability=p, retries=r) == pytest.approx(
        expected_attempts
    )
    assert retries.retry_offered_load_per_second(
        arrival_rate_per_second=100.0, failure_probability=p, retries=r
    ) == pytest.approx(100.0 * expected_attempts)


def test_offered_load_is_continuous_as_failure_probability_reaches_one() -> None:
    near = retries.retry_offered_load_per_second(
        arrival_rate_per_second=10, failure_probability=1 - 1e-12, retries=4
    )
    at = retries.retry_offered_load_per_second(arrival_rate_per_second=10, failure_probability=1.0, retries=4)
    assert near == pytest.approx(at, rel=1e-9)


def test_success_probability_with_retries_against_random_failures() -> None:
    assert retries.retry_success_probability(failure_probability=0.1, retries=2) == pytest.approx(0.999)


@pytest.mark.parametrize(
    ("r", "depth", "expected"),
    [
        # SRE book, "Addressing Cascading Failures": three layers each making 4 attempts (3 retries)
        # can put 64 attempts on the database for one user action.
        pytest.param(3, 3, 64, id="sre-book-three-layers-four-attempts"),
        pytest.param(3, 5, 1024, id="five-hop-chain-three-retries"),
        pytest.param(2, 5, 243, id="five-hop-chain-two-retries"),
        pytest.param(0, 5, 1, id="no-retries"),
    ],
)
def test_worst_case_amplification_is_attempts_to_the_power_of_depth(
    r: int, depth: int, expected: int
) -> None:
    assert retries.retry_worst_case_amplification(retries=r, depth=depth) == expected


def test_layered_amplification_reaches_the_worst_case_when_everything_fails() -> None:
    assert retries.retry_layered_amplification(failure_probability=1.0, retries=3, depth=5) == 1024
    assert retries.retry_layered_amplification(failure_probability=0.0, retries=3, depth=5) == 1
    assert retries.retry_layered_amplification(failure_probability=0.3, retries=2, depth=1) == pytest.approx(
        retries.retry_attempts_per_request(failure_probability=0.3, retries=2)
    )


def _bottom_attempts(rng: random.Random, p: float, r: int, depth: int) -> tuple[int, bool]:
    """One request into a layer `depth` hops above the failing bottom: (bottom attempts, failed)."""
    attempts = 0
    for _ in range(r + 1):
        if depth == 1:
            attempts += 1
            failed = rng.random() < p
        else:
            below, failed = _bottom_attempts(rng, p, r, depth - 1)
            attempts += below
        if not failed:
            return attempts, False
    return attempts, True


def test_layered_amplification_matches_a_seeded_simulation_of_its_model() -> None:
    rng = random.Random(3)
    p, r, depth, requests = 0.6, 2, 3, 40_000
    outcomes = [_bottom_attempts(rng, p, r, depth) for _ in range(requests)]
    mean_attempts = sum(attempts for attempts, _ in outcomes) / requests
    failure_share = sum(failed for _, failed in outcomes) / requests
    # Mean of 40k draws with a standard deviation near 1.5: standard error ~0.008; 2% is generous.
    assert mean_attempts == pytest.approx(
        retries.retry_layered_amplification(failure_probability=p, retries=r, depth=depth), rel=0.02
    )
    assert failure_share == pytest.approx(
        retries.retry_layered_failure_probability(failure_probability=p, retries=r, depth=depth), abs=0.005
    )


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        pytest.param(0, 3, id="idle-gets-the-minimum"),
        pytest.param(10, 3, id="twenty-percent-of-10-is-below-the-minimum"),
        pytest.param(19, 3, id="three-point-eight-truncates-to-three"),
        pytest.param(24, 4, id="four-point-eight-truncates-to-four"),
        pytest.param(100, 20, id="twenty-percent-of-100"),
    ],
)
def test_retry_budget_cap_follows_envoy_with_default_settings(active: int, expected: int) -> None:
    assert retries.retry_budget_max_active_retries(active_requests=active) == expected


def test_retry_budget_caps_retries_at_a_quarter_of_requests_with_twenty_percent() -> None:
    budgeted = retries.retry_budget_offered_load_per_second(
        arrival_rate_per_second=1000.0, failure_probability=1.0, retries=3, mean_attempt_seconds=0.1
    )
    # Retries R with R·T <= 0.2 (λ + R) T  =>  R <= 0.25 λ; the minimum 3/0.1 s = 30/s is smaller.
    assert budgeted == pytest.approx(1250.0)


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.9, 1.0])
def test_budgeted_offered_load_never_exceeds_the_unbudgeted_one(p: float) -> None:
    plain = retries.retry_offered_load_per_second(
        arrival_rate_per_second=50, failure_probability=p, retries=3
    )
    budgeted = retries.retry_budget_offered_load_per_second(
        arrival_rate_per_second=50, failure_probability=p, retries=3, mean_attempt_seconds=0.02
    )
    assert 50 <= budgeted <= plain


@pytest.mark.parametrize(
    ("requests", "accepts", "expected"),
    [
        pytest.param(1000, 1000, 0.0, id="healthy-backend-no-throttling"),
        pytest.param(1000, 500, 0.0, id="half-accepted-still-within-k-2"),
        pytest.param(1000, 300, 400 / 1001, id="thirty-percent-accepted"),
        pytest.param(1000, 0, 1000 / 1001, id="nothing-accepted"),
    ],
)
def test_adaptive_throttling_follows_the_sre_book_formula(
    requests: int, accepts: int, expected: float
) -> None:
    assert retries.adaptive_throttle_rejection_probability(
        requests=requests, accepts=accepts
    ) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("arrival", "capacity", "r", "expected"),
    [
        pytest.param(100, 150, 3, True, id="fits-alone-but-not-with-retries"),
        pytest.param(100, 500, 3, False, id="enough-headroom-for-every-retry"),
        pytest.param(100, 90, 3, False, id="plain-overload-is-not-metastable"),
        pytest.param(100, 150, 0, False, id="no-retries-no-storm"),
    ],
)
def test_retry_storm_is_self_sustaining_between_load_and_load_times_attempts(
    arrival: float, capacity: float, r: int, expected: bool
) -> None:
    assert (
        retries.is_retry_storm_self_sustaining(
            arrival_rate_per_second=arrival, capacity_per_second=capacity, retries=r
        )
        is expected
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: retries.retry_attempts_per_request(failure_probability=-0.1, retries=1),
            "failure probability -0.1 must lie in",
            id="negative-probability",
        ),
        pytest.param(
            lambda: retries.retry_attempts_per_request(failure_probability=0.1, retries=-1),
            "retries -1 must be a whole number >= 0",
            id="negative-retries",
        ),
        pytest.param(
            lambda: retries.retry_worst_case_amplification(retries=1, depth=0),
            "depth 0 must be a whole number >= 1",
            id="no-depth",
        ),
        pytest.param(
            lambda: retries.retry_budget_max_active_retries(active_requests=10, budget_percent=150),
            "budget percent 150 must lie in",
            id="budget-over-100",
        ),
        pytest.param(
            lambda: retries.retry_budget_offered_load_per_second(
                arrival_rate_per_second=1, failure_probability=0.1, retries=1, mean_attempt_seconds=0
            ),
            "mean attempt time 0 s must be > 0",
            id="zero-attempt-time",
        ),
        pytest.param(
            lambda: retries.adaptive_throttle_rejection_probability(requests=10, accepts=20),
            "accepts 20 exceed requests 10",
            id="more-accepts-than-requests",
        ),
        pytest.param(
            lambda: retries.is_retry_storm_self_sustaining(
                arrival_rate_per_second=1, capacity_per_second=0, retries=1
            ),
            "capacity 0/s must be > 0",
            id="no-capacity",
        ),
    ],
)
def test_retry_formulas_reject_inputs_outside_their_domain_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
