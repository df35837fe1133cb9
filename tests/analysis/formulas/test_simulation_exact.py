"""The queue simulator on runs small enough to follow by hand.

``test_simulation_crosscheck.py`` compares long runs with the formulas, which only sees large
errors; this module replays the simulator's own random arrivals through an independent
recurrence and checks every measured number exactly. We test these aspects:

- a single deterministic server: each wait, sojourn, the window and the time-average number in
  system against Lindley's recurrence; a one-place system's blocking;
- the defaults (50 000 customers, 5 000 warm-up, seed 0), replications' seeds, service sampling;
- nearest-rank quantiles, and every refused input with its exact sentence.
"""
from __future__ import annotations

import math
import random

import pytest

from analysis.formulas import simulation


def arrival_times(rate: float, count: int, seed: int) -> list[float]:
    rng, now, times = random.Random(seed), 0.0, []
    for _ in range(count):
        now += rng.expovariate(rate)
        times.append(now)
    return times


def test_a_deterministic_single_server_matches_lindleys_recurrence() -> None:
    rate, service, count, warmup, seed = 1.5, 0.5, 40, 10, 4
    times = arrival_times(rate, count, seed)
    waits, departures, previous_departure = [], [], 0.0
    for arrival in times:
        start = max(arrival, previous_departure)
        waits.append(start - arrival)
        previous_departure = start + service
        departures.append(previous_departure)
    window_start, window_end = times[warmup], times[-1]
    area = math.fsum(max(0.0, min(leave, window_end) - max(come, window_start)) for come, leave in zip(times, departures))

    result = simulation.simulate_queue(arrival_rate_per_second=rate, service=simulation.ServiceTime("deterministic", service),
                                       customers=count, warmup_customers=warmup, seed=seed)
    assert result.waits_seconds == pytest.approx(waits[warmup:], abs=1e-12)
    assert result.sojourns_seconds == pytest.approx([w + service for w in waits[warmup:]], abs=1e-12)
    assert (result.arrivals, result.blocked) == (count - warmup, 0)
    assert result.window_seconds == pytest.approx(window_end - window_start, rel=1e-15)
    assert result.mean_number_in_system == pytest.approx(area / (window_end - window_start), rel=1e-12)
    assert any(w > 0 for w in result.waits_seconds)


def test_a_one_place_system_blocks_every_arrival_that_finds_the_server_busy() -> None:
    rate, service, count, seed = 2.0, 0.5, 60, 9
    times = arrival_times(rate, count, seed)
    busy_until, blocked_flags = 0.0, []
    for arrival in times:
        blocked = arrival < busy_until
        blocked_flags.append(blocked)
        if not blocked:
            busy_until = arrival + service
    result = simulation.simulate_queue(arrival_rate_per_second=rate, service=simulation.ServiceTime("deterministic", service),
                                       capacity=1, customers=count, warmup_customers=0, seed=seed)
    assert result.blocked == sum(blocked_flags) > 0
    assert result.arrivals == count
    assert set(result.waits_seconds) == {0.0}
    assert result.blocking_fraction == sum(blocked_flags) / count


def test_two_deterministic_servers_serve_each_arrival_on_the_first_free_one() -> None:
    rate, count, seed = 2.5, 40, 5
    times = arrival_times(rate, count, seed)
    free, waits = [0.0, 0.0], []
    for arrival in times:
        first = min(range(2), key=lambda i: free[i])
        start = max(arrival, free[first])
        waits.append(start - arrival)
        free[first] = start + 1.0
    result = simulation.simulate_queue(arrival_rate_per_second=rate, service=simulation.ServiceTime("deterministic", 1.0),
                                       servers=2, customers=count, warmup_customers=0, seed=seed)
    assert result.waits_seconds == pytest.approx(waits, abs=1e-12)
    assert any(w > 0 for w in waits)
    assert result.wait_probability == sum(1 for w in waits if w > 0) / count


def test_the_defaults_are_50000_customers_5000_warmup_seed_0_one_server_no_capacity() -> None:
    service = simulation.ServiceTime("exponential", 0.01)
    default = simulation.simulate_queue(arrival_rate_per_second=50, service=service)
    assert default.arrivals == 45_000
    assert default == simulation.simulate_queue(arrival_rate_per_second=50, service=service, servers=1, capacity=None,
                                                customers=50_000, warmup_customers=5_000, seed=0)
    assert default != simulation.simulate_queue(arrival_rate_per_second=50, service=service, seed=1)


def test_replications_run_consecutive_seeds_from_the_given_one() -> None:
    queue = dict(arrival_rate_per_second=5.0, service=simulation.ServiceTime("exponential", 0.1), customers=50,
                 warmup_customers=5)
    runs = simulation.simulate_replications(replications=3, seed=7, **queue)
    assert runs == [simulation.simulate_queue(seed=7 + i, **queue) for i in range(3)]
    assert simulation.simulate_replications(replications=1, **queue) == [simulation.simulate_queue(seed=0, **queue)]


def test_service_times_are_drawn_with_the_stated_parameters() -> None:
    assert simulation.ServiceTime("exponential", 0.5).sample(random.Random(3)) == random.Random(3).expovariate(2.0)
    assert simulation.ServiceTime("deterministic", 0.5).sample(random.Random(3)) == 0.5
    sigma_squared = math.log1p(4.0)
    expected = random.Random(3).lognormvariate(math.log(0.5) - sigma_squared / 2, math.sqrt(sigma_squared))
    assert simulation.ServiceTime("lognormal", 0.5, scv=4.0).sample(random.Random(3)) == expected
    # the SCV is only read for lognormal service: any value is accepted for the others
    assert simulation.ServiceTime("exponential", 0.5, scv=0.0).squared_coefficient_of_variation == 1.0


@pytest.mark.parametrize("quantile, expected", [(0.05, 1), (0.1, 1), (0.11, 2), (0.5, 5), (0.99, 10)])
def test_quantiles_are_nearest_rank(quantile: float, expected: int) -> None:
    assert simulation._nearest_rank(list(range(10, 0, -1)), quantile) == expected


@pytest.mark.parametrize("call, message", [
    (lambda: simulation.ServiceTime("gamma", 1.0), "service kind 'gamma' is not one of exponential, deterministic, lognormal"),
    (lambda: simulation.ServiceTime("exponential", 0.0), "mean service time 0 s must be a finite number > 0"),
    (lambda: simulation.ServiceTime("exponential", math.inf), "mean service time inf s must be a finite number > 0"),
    (lambda: simulation.ServiceTime("lognormal", 1.0, scv=0.0), "lognormal SCV 0 must be a finite number > 0"),
    (lambda: simulation.ServiceTime("lognormal", 1.0, scv=math.inf), "lognormal SCV inf must be a finite number > 0"),
    (lambda: simulation._nearest_rank([1.0], 0.0), "quantile 0 must lie strictly between 0 and 1"),
    (lambda: simulation._nearest_rank([1.0], 1.0), "quantile 1 must lie strictly between 0 and 1"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=0, service=simulation.ServiceTime("exponential", 1)),
     "arrival rate 0/s must be a finite number > 0"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=math.inf, service=simulation.ServiceTime("exponential", 1)),
     "arrival rate inf/s must be a finite number > 0"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=1, service=simulation.ServiceTime("exponential", 1),
                                       servers=True), "servers True must be a whole number >= 1"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=1, service=simulation.ServiceTime("exponential", 1),
                                       servers=1.5), "servers 1.5 must be a whole number >= 1"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=1, service=simulation.ServiceTime("exponential", 1),
                                       servers=2, capacity=1), "capacity 1 must be a whole number >= servers 2"),
    (lambda: simulation.simulate_queue(arrival_rate_per_second=1, service=simulation.ServiceTime("exponential", 1),
                                       customers=10, warmup_customers=10),
     "warm-up 10 must be >= 0 and below customers 10"),
])
def test_refused_inputs_name_the_value_and_the_rule(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_capacity_equal_to_the_servers_is_a_loss_system_not_an_error() -> None:
    result = simulation.simulate_queue(arrival_rate_per_second=4, service=simulation.ServiceTime("exponential", 1),
                                       servers=2, capacity=2, customers=200, warmup_customers=0, seed=2)
    assert result.blocked > 0
    assert set(result.waits_seconds) == {0.0}


def test_lognormal_service_accepts_any_positive_scv_below_one_too() -> None:
    assert simulation.ServiceTime("lognormal", 1.0, scv=0.5).squared_coefficient_of_variation == 0.5
