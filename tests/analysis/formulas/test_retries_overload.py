"""Overload formulas of ``retries``: the retry-storm threshold, the SRE retry ratio, throttling at rest.

We test these aspects:
- the metastability threshold λ* = capacity/(r + 1) (capacity/a(p, r) for p < 1), its regimes,
  and agreement with the older ``is_retry_storm_self_sustaining`` predicate;
- a seeded discrete-event simulation of a FIFO server whose clients time out and retry (timed-out
  attempts still use capacity): after a slowdown trigger, goodput comes back below λ* and stays
  at zero inside the band [λ*, capacity); without a trigger the same load is healthy;
- the SRE book's per-client retry ratio: 1.1× worst case, and a simulated client that retries
  only while retries/requests < 10% makes the attempts per request the formula predicts;
- adaptive throttling in steady state: a simulated client running the SRE book's rule over a
  trailing window settles at the predicted local rejection share and backend load;
- the regime uses the failure probability while overloaded; a zero retry ratio allows no retry;
  throttling's default multiplier is the book's 2, and at 1 the client sends what is accepted;
- inputs outside the domain raise ValueError with a sentence, word for word.
"""

import collections
import heapq
import itertools
import random
import re

import pytest

from analysis.formulas import retries


@pytest.mark.parametrize(
    ("retries_per_request", "failure_probability", "threshold"),
    [
        pytest.param(3, 1.0, 25.0, id="three-retries-quarter-of-capacity"),
        pytest.param(0, 1.0, 100.0, id="no-retries-no-band"),
        pytest.param(1, 1.0, 50.0, id="one-retry-half"),
        pytest.param(3, 0.5, 100.0 / 1.875, id="half-of-attempts-fail"),
    ],
)
def test_threshold_is_capacity_over_the_attempts_per_request(
    retries_per_request: int, failure_probability: float, threshold: float
) -> None:
    assert retries.retry_storm_metastability_threshold_per_second(
        capacity_per_second=100.0, retries=retries_per_request, failure_probability=failure_probability
    ) == pytest.approx(threshold)


@pytest.mark.parametrize("arrival_rate", [0.0, 10.0, 24.9, 25.0, 60.0, 99.9, 100.0, 150.0])
def test_metastable_regime_is_the_self_sustaining_storm_of_the_older_check(arrival_rate: float) -> None:
    regime = retries.retry_storm_regime(arrival_rate_per_second=arrival_rate, capacity_per_second=100.0, retries=3)
    expected = {True: "metastable"}.get(
        retries.is_retry_storm_self_sustaining(
            arrival_rate_per_second=arrival_rate, capacity_per_second=100.0, retries=3
        ),
        "overloaded" if arrival_rate >= 100.0 else "recovers",
    )
    assert regime == expected


def _goodput_after_trigger(
    *, arrival_rate: float, trigger: bool, seed: int, capacity: float = 100.0, retries_per_request: int = 3
) -> float:
    """Successful requests per second over the last 20 s of a 110 s run.

    One FIFO server, constant service 1/capacity (five times slower from 20 s to 30 s when
    ``trigger``). Clients give up on an attempt after 1 s and retry at once, up to r times; the
    server does not know and still serves the abandoned attempt.
    """
    rng = random.Random(seed)
    timeout, duration, window_start = 1.0, 110.0, 90.0
    order = itertools.count()
    events = [(rng.expovariate(arrival_rate), next(order), retries_per_request, True)]
    server_free = 0.0
    successes = 0
    while events:
        now, _, retries_left, is_new = heapq.heappop(events)
        if now > duration:
            break
        if is_new:
            heapq.heappush(events, (now + rng.expovariate(arrival_rate), next(order), retries_per_request, True))
        start = max(now, server_free)
        slow = trigger and 20.0 <= start < 30.0
        server_free = start + (5.0 if slow else 1.0) / capacity
        if server_free - now <= timeout:
            successes += window_start <= server_free < duration
        elif retries_left > 0:
            heapq.heappush(events, (now + timeout, next(order), retries_left - 1, False))
    return successes / (duration - window_start)


def test_simulated_storm_recovers_below_the_threshold_and_sticks_inside_the_band() -> None:
    threshold = retries.retry_storm_metastability_threshold_per_second(capacity_per_second=100.0, retries=3)
    below, inside = 0.8 * threshold, 1.2 * threshold  # 20/s and 30/s, both far under the capacity
    assert retries.retry_storm_regime(arrival_rate_per_second=below, capacity_per_second=100.0, retries=3) == (
        "recovers"
    )
    assert retries.retry_storm_regime(arrival_rate_per_second=inside, capacity_per_second=100.0, retries=3) == (
        "metastable"
    )
    # Healthy without a trigger, inside the band: nearly every request succeeds.
    assert _goodput_after_trigger(arrival_rate=inside, trigger=False, seed=1) == pytest.approx(inside, rel=0.15)
    # The same load after a 10 s slowdown: every attempt times out long after the trigger ended.
    assert _goodput_after_trigger(arrival_rate=inside, trigger=True, seed=2) < 0.05 * inside
    # Below λ* the storm cannot feed itself (4 × 20/s < 100/s) and goodput comes back.
    assert _goodput_after_trigger(arrival_rate=below, trigger=True, seed=3) == pytest.approx(below, rel=0.15)


def test_worst_case_amplification_beyond_a_float_is_infinite_not_a_crash() -> None:
    # 1001^1000 attempts has 3,000 digits: the float answer is inf, not an OverflowError.
    assert retries.retry_worst_case_amplification(retries=1000, depth=1000) == float("inf")
    assert retries.retry_worst_case_amplification(retries=3, depth=5) == 1024.0


def test_a_retry_ratio_moves_the_threshold_up_to_capacity_over_one_point_one() -> None:
    budgeted = retries.retry_ratio_budget_attempts_per_request(failure_probability=1.0, retries=3)
    assert 100.0 / budgeted == pytest.approx(100.0 / 1.1)


# --------------------------------------------------------------------------------------------
# The SRE book's per-client retry ratio.
# --------------------------------------------------------------------------------------------


def _simulated_attempts_per_request(
    *, failure_probability: float, retries_per_request: int, ratio: float, requests: int, seed: int
) -> float:
    rng = random.Random(seed)
    sent_requests = sent_retries = attempts = 0
    for _ in range(requests):
        sent_requests += 1
        for attempt in range(retries_per_request + 1):
            if attempt > 0:
                if sent_retries >= ratio * sent_requests:  # the client-wide budget is spent
                    break
                sent_retries += 1
            attempts += 1
            if rng.random() >= failure_probability:
                break
    return attempts / requests


@pytest.mark.parametrize(
    ("failure_probability", "retries_per_request"),
    [
        pytest.param(1.0, 2, id="every-attempt-rejected-1.1x"),
        pytest.param(0.5, 2, id="half-rejected-budget-binds"),
        pytest.param(0.05, 2, id="few-rejected-budget-idle"),
        pytest.param(0.2, 0, id="no-retries-allowed"),
    ],
)
def test_simulated_client_with_a_retry_ratio_makes_the_predicted_attempts(
    failure_probability: float, retries_per_request: int
) -> None:
    predicted = retries.retry_ratio_budget_attempts_per_request(
        failure_probability=failure_probability, retries=retries_per_request, budget_ratio=0.1
    )
    measured = _simulated_attempts_per_request(
        failure_probability=failure_probability,
        retries_per_request=retries_per_request,
        ratio=0.1,
        requests=100_000,
        seed=11,
    )
    # Binomial noise of 100,000 requests: a standard error under 0.001 attempts per request.
    assert measured == pytest.approx(predicted, abs=0.004)


def test_sre_book_retry_ratio_caps_growth_at_one_point_one_against_three_for_three_attempts() -> None:
    assert retries.retry_ratio_budget_max_amplification() == pytest.approx(1.1)
    assert retries.retry_attempts_per_request(failure_probability=1.0, retries=2) == 3.0
    assert retries.retry_ratio_budget_attempts_per_request(failure_probability=1.0, retries=2) == pytest.approx(1.1)


# --------------------------------------------------------------------------------------------
# Adaptive throttling in steady state.
# --------------------------------------------------------------------------------------------


def _simulated_throttle(*, accept_share: float, multiplier: float, seed: int) -> dict[str, float]:
    """Run the SRE book's client (trailing window of 120 one-second steps) against a capped backend."""
    rng = random.Random(seed)
    demand_per_step, window_steps, steps = 200, 120, 1_500
    capacity_per_step = accept_share * demand_per_step
    window: collections.deque[tuple[int, int]] = collections.deque(maxlen=window_steps)
    totals = collections.Counter()
    for step in range(steps):
        requests = sum(r for r, _ in window)
        accepts = sum(a for _, a in window)
        reject = max(0.0, (requests - multiplier * accepts) / (requests + 1.0))
        sent = sum(rng.random() >= reject for _ in range(demand_per_step))
        accepted = min(sent, int(capacity_per_step))
        window.append((demand_per_step, accepted))
        if step >= steps - 500:  # measure after the window has settled
            totals.update(demand=demand_per_step, sent=sent, accepted=accepted)
    return {
        "local_rejection_share": 1.0 - totals["sent"] / totals["demand"],
        "sent_share": totals["sent"] / totals["demand"],
        "accepted_share": totals["accepted"] / totals["demand"],
    }


@pytest.mark.parametrize(
    ("accept_share", "multiplier"),
    [
        pytest.param(0.25, 2.0, id="backend-takes-a-quarter-k2"),
        pytest.param(0.1, 2.0, id="backend-takes-a-tenth-k2"),
        pytest.param(0.25, 1.5, id="backend-takes-a-quarter-k1.5"),
        pytest.param(0.6, 2.0, id="k-times-a-above-one-no-local-rejection"),
    ],
)
def test_simulated_throttling_client_settles_where_the_formula_says(accept_share: float, multiplier: float) -> None:
    predicted = retries.adaptive_throttle_steady_state(accept_share=accept_share, multiplier=multiplier)
    measured = _simulated_throttle(accept_share=accept_share, multiplier=multiplier, seed=5)
    # The +1 in the denominator and binomial noise over 100,000 requests: well under 0.01.
    assert measured["local_rejection_share"] == pytest.approx(predicted.local_rejection_share, abs=0.01)
    assert measured["sent_share"] == pytest.approx(predicted.sent_share, abs=0.01)
    assert measured["accepted_share"] == pytest.approx(predicted.accepted_share, abs=0.01)


def test_throttled_backend_still_receives_k_times_what_it_accepts() -> None:
    shares = retries.adaptive_throttle_steady_state(accept_share=0.25, multiplier=2.0)
    assert shares.local_rejection_share == pytest.approx(0.5)
    assert shares.backend_rejection_share == pytest.approx(0.25)
    assert shares.backend_load_over_capacity == pytest.approx(2.0)
    assert retries.adaptive_throttle_steady_state(accept_share=0.6).backend_load_over_capacity == pytest.approx(1 / 0.6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: retries.retry_storm_metastability_threshold_per_second(capacity_per_second=0, retries=3),
            "capacity 0/s must be > 0",
            id="no-capacity",
        ),
        pytest.param(
            lambda: retries.retry_storm_metastability_threshold_per_second(
                capacity_per_second=10, retries=3, failure_probability=0
            ),
            "failure probability 0 while overloaded means no attempt fails",
            id="nothing-fails",
        ),
        pytest.param(
            lambda: retries.retry_storm_regime(arrival_rate_per_second=-1, capacity_per_second=10, retries=1),
            "arrival rate -1 must be a finite number >= 0",
            id="negative-load",
        ),
        pytest.param(
            lambda: retries.retry_ratio_budget_attempts_per_request(
                failure_probability=0.5, retries=2, budget_ratio=-0.1
            ),
            "retry budget ratio -0.1 must be a finite number >= 0",
            id="negative-ratio",
        ),
        pytest.param(
            lambda: retries.adaptive_throttle_steady_state(accept_share=1.5),
            "accept share 1.5 must lie in [0, 1]",
            id="accept-share-above-one",
        ),
        pytest.param(
            lambda: retries.adaptive_throttle_steady_state(accept_share=0.5, multiplier=0.5),
            "multiplier 0.5 must be a finite number >= 1",
            id="k-below-one",
        ),
    ],
)
def test_overload_formulas_refuse_inputs_outside_their_domain(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call()


def test_the_regime_uses_the_failure_probability_while_overloaded() -> None:
    # p = 0.5, r = 3: a = 1 + 0.5 + 0.25 + 0.125 = 1.875 attempts, λ* = 100/1.875 = 53.3/s;
    # at p = 1 λ* would be 25/s, so 40/s recovers at p = 0.5 and is metastable at p = 1.
    assert retries.retry_storm_regime(arrival_rate_per_second=40, capacity_per_second=100, retries=3,
                                      failure_probability=0.5) == "recovers"
    assert retries.retry_storm_regime(arrival_rate_per_second=40, capacity_per_second=100, retries=3) == "metastable"


def test_a_zero_retry_ratio_allows_no_retry_and_an_infinite_one_is_refused() -> None:
    assert retries.retry_ratio_budget_max_amplification(budget_ratio=0.0) == 1.0
    assert retries.retry_ratio_budget_attempts_per_request(failure_probability=0.5, retries=3,
                                                           budget_ratio=0.0) == 1.0
    with pytest.raises(ValueError) as raised:
        retries.retry_ratio_budget_max_amplification(budget_ratio=float("inf"))
    assert str(raised.value) == "retry budget ratio inf must be a finite number >= 0 (the SRE book uses 0.1)"


def test_throttling_at_rest_uses_the_sre_book_s_multiplier_of_two_by_default() -> None:
    assert retries.adaptive_throttle_steady_state(accept_share=0.25) == retries.ThrottleShares(
        local_rejection_share=0.5, sent_share=0.5, accepted_share=0.25, backend_rejection_share=0.25)


def test_a_multiplier_of_one_sends_only_what_the_backend_accepts_and_an_infinite_one_is_refused() -> None:
    assert retries.adaptive_throttle_steady_state(accept_share=0.25, multiplier=1.0) == retries.ThrottleShares(
        local_rejection_share=0.75, sent_share=0.25, accepted_share=0.25, backend_rejection_share=0.0)
    with pytest.raises(ValueError) as raised:
        retries.adaptive_throttle_steady_state(accept_share=0.25, multiplier=float("inf"))
    assert str(raised.value) == "multiplier inf must be a finite number >= 1 for a steady state"


@pytest.mark.parametrize(("inputs", "message"), [
    pytest.param({"capacity_per_second": -1, "retries": 3}, "capacity -1 must be a finite number >= 0",
                 id="negative-capacity"),
    pytest.param({"capacity_per_second": 100, "retries": 3, "failure_probability": 1.5},
                 "failure probability 1.5 must lie in [0, 1]", id="probability-above-one"),
])
def test_the_threshold_s_refusals_are_exact_sentences(inputs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        retries.retry_storm_metastability_threshold_per_second(**inputs)  # type: ignore[arg-type]
    assert str(raised.value) == message
