"""Retry policies as pure decisions (services/common/retrying.py), on a clock the test sets.

We test these aspects:
- back-off: retry N's bound is min(cap, (2^N − 1)·base) (Envoy's schedule), zero without back-off,
  and the draws are uniform on [0, bound) (Kolmogorov–Smirnov against the uniform distribution);
- the retry budget: retries ≤ ratio × requests over the sliding window, plus the floor; counts leave
  the window; over a long run with every attempt failing, attempts per request meet the SRE formula
  1 + min(a(p, r) − 1, β) of analysis/formulas/retries.py;
- adaptive throttling: the rejection probability is max(0, (requests − K·accepts)/(requests + 1)) on
  the counts recorded over the window, and a client of a backend accepting a share a rejects
  max(0, 1 − K·a) of its requests in steady state (retries.adaptive_throttle_steady_state);
- one request's attempts: at most r + 1, none once the deadline leaves no time (nor a back-off past
  it), the budget withholds retries but never a first try, throttling can withhold a first try;
- the schema's defaults are the policy's.
"""
import math
import random

import pytest

from analysis.formulas import retries as retry_formulas
from services.common import retrying
from services.common import settings


def policy(**fields) -> retrying.Policy:
    return retrying.Policy(**{"retries": 3, **fields})


# -- back-off ------------------------------------------------------------------------------------

@pytest.mark.parametrize("retry_number, bound", [
    pytest.param(1, 0.025, id="first-retry-one-base"),
    pytest.param(2, 0.075, id="second-three-bases"),
    pytest.param(3, 0.175, id="third-seven-bases"),
    pytest.param(4, 0.25, id="fourth-capped"),
    pytest.param(200, 0.25, id="far-past-the-cap-no-overflow"),
])
def test_the_backoff_bound_is_envoys_capped_exponential(retry_number, bound):
    assert retrying.backoff_bound_seconds(policy(), retry_number) == pytest.approx(bound)


def test_immediate_retries_never_wait():
    immediate = policy(backoff="none")
    rng = random.Random(1)
    assert {retrying.backoff_seconds(immediate, n, rng) for n in range(1, 6)} == {0.0}


def test_the_first_try_has_no_backoff_to_ask_for():
    with pytest.raises(ValueError, match="attempt 0 is the first try"):
        retrying.backoff_bound_seconds(policy(), 0)


def test_full_jitter_draws_are_uniform_below_the_bound():
    rng, bound, n = random.Random(7), 0.175, 20_000
    draws = sorted(retrying.backoff_seconds(policy(), 3, rng) for _ in range(n))
    assert 0 <= draws[0] and draws[-1] < bound
    ks = max(max((i + 1) / n - x / bound, x / bound - i / n) for i, x in enumerate(draws))
    assert ks < 1.36 / math.sqrt(n)  # the 5 % critical value of the one-sample KS test
    assert sum(draws) / n == pytest.approx(bound / 2, rel=0.02)


def test_the_longest_request_adds_every_timeout_and_every_longest_backoff():
    assert retrying.longest_request_seconds(policy(), timeout_seconds=1.0, deadline_seconds=None) == pytest.approx(
        4 * 1.0 + 0.025 + 0.075 + 0.175)
    assert retrying.longest_request_seconds(policy(), timeout_seconds=1.0, deadline_seconds=2.0) == 3.0


# -- the retry budget ----------------------------------------------------------------------------

def test_the_budget_allows_ratio_times_the_requests_in_its_window():
    budget = retrying.RetryBudget(ratio=0.1, min_retries_per_second=0.0, window_seconds=10.0)
    for i in range(100):
        budget.record(i * 0.1, attempt=0)  # 10 requests/s for 10 s
    allowed = 0
    while budget.allows_retry(9.95):
        budget.record(9.95, attempt=1)
        allowed += 1
    assert allowed == 10
    # at t = 15 the requests before t = 5 have left the window: 49 remain, allowing 4.9 retries,
    # and the 10 retries made at 9.95 are still inside it
    assert not budget.allows_retry(15.0)
    assert budget.requests.count(15.0) == 49 and budget.retries.count(15.0) == 10


def test_the_budget_floor_lets_a_quiet_client_retry():
    quiet = retrying.RetryBudget(ratio=0.1, min_retries_per_second=0.2, window_seconds=10.0)
    strict = retrying.RetryBudget(ratio=0.1, min_retries_per_second=0.0, window_seconds=10.0)
    for budget in (quiet, strict):
        budget.record(0.0, attempt=0)
    assert not strict.allows_retry(1.0)
    made = 0
    while quiet.allows_retry(1.0):
        quiet.record(1.0, attempt=1)
        made += 1
    assert made == 2  # 0.1 × 1 request + 0.2/s × 10 s = 2.1


def simulate_budgeted_client(*, p: float, r: int, ratio: float, seconds: float, rate: float, seed: int) -> float:
    """Attempts per request of a client whose attempts fail with p, retrying under a ratio budget."""
    rng = random.Random(seed)
    state = retrying.ClientState(policy(retries=r, backoff="none", budget_ratio=ratio, budget_window_seconds=10.0))
    now, requests, attempts = 0.0, 0, 0
    while now < seconds:
        now += rng.expovariate(rate)
        request = retrying.Attempts(state, deadline_at=None, rng=rng)
        requests += 1
        while (step := request.next(now)) is not None and step.withheld is None:
            attempts += 1
            if rng.random() >= p:
                break
    return attempts / requests


@pytest.mark.parametrize("p, r", [
    pytest.param(1.0, 3, id="every-attempt-fails"),
    pytest.param(0.5, 3, id="half-fail-budget-binds"),
    pytest.param(0.05, 2, id="few-fail-budget-idle"),
])
def test_a_budgeted_client_makes_the_attempts_the_sre_formula_predicts(p, r):
    measured = simulate_budgeted_client(p=p, r=r, ratio=0.1, seconds=600, rate=50, seed=3)
    predicted = retry_formulas.retry_ratio_budget_attempts_per_request(failure_probability=p, retries=r,
                                                                        budget_ratio=0.1)
    assert measured == pytest.approx(predicted, rel=0.01)


# -- adaptive throttling -------------------------------------------------------------------------

def test_the_rejection_probability_is_the_sre_formula_on_the_recorded_counts():
    throttle = retrying.AdaptiveThrottle(multiplier=2.0, window_seconds=60.0)
    rng = random.Random(5)
    requests = accepts = 0
    for i in range(400):
        now = i * 0.1
        expected = max(0.0, (requests - 2.0 * accepts) / (requests + 1))
        assert throttle.rejection_probability(now) == pytest.approx(expected)
        admitted = throttle.admit(now, rng)
        requests += 1
        if admitted and i % 3 == 0:  # the backend accepts a third of what it gets
            throttle.record_accept(now)
            accepts += 1


def test_throttling_forgets_what_left_its_window():
    throttle = retrying.AdaptiveThrottle(multiplier=2.0, window_seconds=10.0)
    rng = random.Random(1)
    for i in range(100):
        throttle.admit(i * 0.05, rng)  # 100 rejected-by-the-backend requests in 5 s
    assert throttle.rejection_probability(5.0) == pytest.approx(100 / 101)
    assert throttle.rejection_probability(15.0) == 0.0


@pytest.mark.parametrize("accept_share", [
    pytest.param(0.2, id="backend-takes-a-fifth"),
    pytest.param(0.4, id="backend-takes-two-fifths"),
    pytest.param(0.6, id="nothing-to-throttle"),
])
def test_a_throttled_client_settles_where_the_steady_state_formula_says(accept_share):
    """The backend accepts up to accept_share × the demand (a token bucket refilled at that rate)."""
    rng = random.Random(11)
    state = retrying.ClientState(policy(retries=0, throttle_multiplier=2.0, throttle_window_seconds=30.0))
    demand_per_second, now, tokens, rejected, asked = 100.0, 0.0, 0.0, 0, 0
    while now < 600:
        gap = rng.expovariate(demand_per_second)
        now += gap
        tokens = min(5.0, tokens + gap * demand_per_second * accept_share)
        step = retrying.Attempts(state, deadline_at=None, rng=rng).next(now)
        asked += now > 60  # the first minute settles
        if step.withheld:
            rejected += now > 60
            continue
        if tokens >= 1:
            tokens -= 1
            state.throttle.record_accept(now)
    expected = retry_formulas.adaptive_throttle_steady_state(accept_share=accept_share).local_rejection_share
    assert rejected / asked == pytest.approx(expected, abs=0.02)


# -- one request's attempts ----------------------------------------------------------------------

def test_a_request_makes_at_most_retries_plus_one_attempts():
    request = retrying.Attempts(retrying.ClientState(policy(retries=2)), deadline_at=None, rng=random.Random(1))
    steps = []
    while (step := request.next(0.0)) is not None:
        steps.append(step)
        request.report(0.0, accepted=False)
    assert [s.attempt for s in steps] == [0, 1, 2] and all(s.withheld is None for s in steps)
    assert steps[0].wait_seconds == 0 and 0 <= steps[2].wait_seconds < 0.075


def test_no_attempt_is_made_once_the_deadline_has_passed():
    request = retrying.Attempts(retrying.ClientState(policy()), deadline_at=10.0, rng=random.Random(1))
    assert request.next(10.0) == retrying.Step(0, withheld=retrying.NO_TIME_LEFT)


def test_no_backoff_runs_past_the_deadline():
    slow = policy(backoff="full_jitter", base_seconds=5.0, cap_seconds=5.0)
    state, rng = retrying.ClientState(slow), random.Random(3)
    retries = []
    for _ in range(200):
        request = retrying.Attempts(state, deadline_at=1.0, rng=rng)
        assert request.next(0.0).withheld is None
        retries.append(request.next(0.0))  # waits U[0, 5 s): mostly past the 1 s deadline
    made = [s for s in retries if s.withheld is None]
    assert made and all(s.wait_seconds < 1.0 for s in made)
    assert {s.withheld for s in retries if s not in made} == {retrying.NO_TIME_LEFT}
    assert 0.7 < 1 - len(made) / len(retries) < 0.9  # P(wait >= 1 s) = 0.8


def test_each_attempt_gets_the_smaller_of_its_timeout_and_the_time_left():
    request = retrying.Attempts(retrying.ClientState(policy()), deadline_at=10.0, rng=random.Random(1))
    assert request.time_left_seconds(9.5, 2.0) == pytest.approx(0.5)
    assert request.time_left_seconds(5.0, 2.0) == 2.0
    unbounded = retrying.Attempts(retrying.ClientState(policy()), deadline_at=None, rng=random.Random(1))
    assert unbounded.time_left_seconds(1e9, 2.0) == 2.0


def test_the_budget_withholds_retries_but_never_a_first_try():
    state = retrying.ClientState(policy(budget_ratio=0.0))
    request = retrying.Attempts(state, deadline_at=None, rng=random.Random(1))
    assert request.next(0.0).withheld is None
    assert request.next(0.0) == retrying.Step(1, withheld=retrying.RETRY_BUDGET)


def test_throttling_can_withhold_a_first_try():
    state = retrying.ClientState(policy(throttle_multiplier=2.0, throttle_window_seconds=600.0))
    rng = random.Random(2)
    outcomes = [retrying.Attempts(state, deadline_at=None, rng=rng).next(float(i)) for i in range(200)]
    throttled = [s for s in outcomes if s.withheld == retrying.THROTTLED]
    assert throttled and all(s.attempt == 0 for s in throttled)
    assert state.throttle.requests.count(200.0) == 200  # rejected ones count as requests too


# -- one vocabulary ------------------------------------------------------------------------------

def test_the_schema_defaults_are_the_policys_defaults():
    from_schema = retrying.Policy.from_settings(retries=2, retry=settings.Retry().model_dump())
    assert from_schema == retrying.Policy(retries=2)
    full = settings.Retry(budget={}, throttle={}).model_dump()
    assert retrying.Policy.from_settings(retries=1, retry=full) == retrying.Policy(
        retries=1, budget_ratio=0.1, throttle_multiplier=2.0)
