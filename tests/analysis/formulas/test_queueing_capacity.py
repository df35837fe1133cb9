"""Service level (Erlang C), look-aside caches and thread pools, against independent computations.

We test these aspects:
- the M/M/c service level P(Wq <= t) against a brute-force sum over the birth-death chain's
  states (an arrival that finds n >= c waits for n − c + 1 departures at rate cμ), against the
  M/M/1 closed form, against ``mmc_wait_time_quantile_seconds`` (its inverse) and against the
  seeded simulator;
- the look-aside cache's backend load and its amplification when the cache is lost or degrades,
  against counts over a simulated LRU cache and the round numbers (90% → 10×, 99% → 100×);
- the thread pool by Little's law: busy threads λW against the simulator's time-average number
  in service, the wait probability against the simulated share that queued, and starvation at
  λW >= N (waits keep growing) against a stable pool just below it;
- every new function refuses inputs outside its domain with a sentence, word for word for the
  cache and the thread pool; no traffic reaches a backend when nothing arrives; a pool of one
  thread is an M/M/1 queue.

Simulation method as in ``test_simulation_crosscheck.py``: seeded replications, warm-up
discarded, tolerance about four standard errors.
"""

import collections
import math
import random
import re
from collections.abc import Callable

import pytest

from analysis.formulas import queueing, simulation


def _brute_force_wait_survival(lam: float, mu: float, c: int, t: float, states: int = 4000) -> float:
    """P(Wq > t) from the M/M/c state probabilities and Erlang-distributed waits, no Erlang C."""
    weights = [1.0]
    for n in range(1, states):
        weights.append(weights[-1] * lam / (min(n, c) * mu))
    total = math.fsum(weights)
    rate_t = c * mu * t
    survival = 0.0
    erlang_tail = 0.0  # P(Erlang(k, cμ) > t) = Σ_{j<k} e^{−cμt}(cμt)^j/j!, built up one k at a time
    for n in range(c, states):
        j = n - c  # an arrival that finds n waits for k = j + 1 departures
        erlang_tail += math.exp(-rate_t + j * math.log(rate_t) - math.lgamma(j + 1)) if rate_t > 0 else float(j == 0)
        survival += weights[n] / total * erlang_tail
    return survival


@pytest.mark.parametrize(
    ("lam", "mu", "c", "t"),
    [
        pytest.param(150.0, 50.0, 4, 0.02, id="mmc-0.75"),
        pytest.param(48.0 / 240.0, 1.0 / 240.0, 55, 20.0, id="call-centre-48-erlangs-55-agents-20s"),
        pytest.param(8.0, 1.0, 10, 0.5, id="mmc-0.8"),
        pytest.param(80.0, 100.0, 1, 0.01, id="mm1"),
        pytest.param(150.0, 50.0, 4, 0.0, id="at-zero-it-is-1-minus-erlang-c"),
    ],
)
def test_service_level_matches_a_brute_force_sum_over_the_states(lam: float, mu: float, c: int, t: float) -> None:
    level = queueing.mmc_service_level(
        arrival_rate_per_second=lam, service_rate_per_second=mu, servers=c, wait_threshold_seconds=t
    )
    assert level == pytest.approx(1.0 - _brute_force_wait_survival(lam, mu, c, t), abs=1e-9)


def test_service_level_of_mm1_is_one_minus_rho_times_the_exponential_tail() -> None:
    # M/M/1: P(Wq > t) = ρ e^{−(μ−λ)t}.
    level = queueing.mmc_service_level(
        arrival_rate_per_second=80.0, service_rate_per_second=100.0, servers=1, wait_threshold_seconds=0.05
    )
    assert level == pytest.approx(1.0 - 0.8 * math.exp(-20.0 * 0.05), rel=1e-12)


@pytest.mark.parametrize("quantile", [0.6, 0.9, 0.99])
def test_service_level_inverts_the_wait_quantile(quantile: float) -> None:
    rates = {"arrival_rate_per_second": 150.0, "service_rate_per_second": 50.0, "servers": 4}
    wait = queueing.mmc_wait_time_quantile_seconds(quantile=quantile, **rates)
    assert queueing.mmc_service_level(wait_threshold_seconds=wait, **rates) == pytest.approx(quantile, rel=1e-12)


def test_service_level_matches_the_seeded_simulation() -> None:
    runs = simulation.simulate_replications(
        replications=4,
        seed=300,
        arrival_rate_per_second=150.0,
        service=simulation.ServiceTime("exponential", 1.0 / 50.0),
        servers=4,
        customers=40_000,
        warmup_customers=4_000,
    )
    for threshold in (0.005, 0.02):
        measured = sum(sum(w <= threshold for w in run.waits_seconds) / len(run.waits_seconds) for run in runs) / 4
        predicted = queueing.mmc_service_level(
            arrival_rate_per_second=150.0, service_rate_per_second=50.0, servers=4, wait_threshold_seconds=threshold
        )
        # The share is about 0.6 to 0.8; the replication spread gives a standard error of the
        # average near 0.01 (the waits are strongly correlated), so 0.04 is about four of them.
        assert measured == pytest.approx(predicted, abs=0.04), threshold


# --------------------------------------------------------------------------------------------
# Look-aside cache.
# --------------------------------------------------------------------------------------------


def _simulated_lru_backend_calls(*, requests: int, keys: int, slots: int, seed: int) -> tuple[int, int]:
    """(backend calls through a look-aside LRU cache, backend calls with no cache) for one trace."""
    rng = random.Random(seed)
    popularity = [1.0 / (rank + 1) for rank in range(keys)]  # Zipf(1)
    trace = rng.choices(range(keys), weights=popularity, k=requests)
    cache: collections.OrderedDict[int, None] = collections.OrderedDict()
    misses = 0
    for key in trace:
        if key in cache:
            cache.move_to_end(key)
            continue
        misses += 1  # the client reads the backend and fills the cache
        cache[key] = None
        if len(cache) > slots:
            cache.popitem(last=False)
    return misses, len(trace)


def test_cache_amplification_equals_the_backend_calls_a_lost_cache_adds() -> None:
    with_cache, without_cache = _simulated_lru_backend_calls(requests=50_000, keys=2_000, slots=200, seed=7)
    hit_ratio = 1.0 - with_cache / without_cache
    assert 0.3 < hit_ratio < 0.9  # a realistic, non-trivial hit ratio for the check
    assert queueing.cache_backend_arrival_rate_per_second(
        arrival_rate_per_second=without_cache, hit_ratio=hit_ratio
    ) == pytest.approx(with_cache, rel=1e-9)
    assert queueing.cache_miss_amplification(hit_ratio=hit_ratio) == pytest.approx(
        without_cache / with_cache, rel=1e-9
    )


@pytest.mark.parametrize(
    ("hit_ratio", "amplification"),
    [
        pytest.param(0.0, 1.0, id="no-hits-nothing-to-lose"),
        pytest.param(0.9, 10.0, id="ninety-percent-hides-10x"),
        pytest.param(0.99, 100.0, id="ninety-nine-percent-hides-100x"),
    ],
)
def test_cache_miss_amplification_at_round_hit_ratios(hit_ratio: float, amplification: float) -> None:
    assert queueing.cache_miss_amplification(hit_ratio=hit_ratio) == pytest.approx(amplification, rel=1e-12)


def test_a_hit_ratio_falling_from_99_to_95_percent_is_five_times_the_backend_load() -> None:
    assert queueing.cache_degradation_amplification(hit_ratio=0.99, degraded_hit_ratio=0.95) == pytest.approx(5.0)
    assert queueing.cache_degradation_amplification(hit_ratio=0.95, degraded_hit_ratio=0.99) == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------
# Thread pools.
# --------------------------------------------------------------------------------------------


def test_busy_threads_are_lambda_w_as_the_simulator_measures_them() -> None:
    lam, hold, pool = 200.0, 0.05, 16
    runs = simulation.simulate_replications(
        replications=4,
        seed=400,
        arrival_rate_per_second=lam,
        service=simulation.ServiceTime("lognormal", hold, scv=3.0),  # Little's law needs no exponential
        servers=pool,
        customers=40_000,
        warmup_customers=4_000,
    )
    # Threads in use = number in system − number queued = L − λ_measured·Wq (Little on the queue).
    in_service = [run.mean_number_in_system - run.throughput_per_second * run.mean_wait_seconds for run in runs]
    predicted = queueing.thread_pool_busy_threads(arrival_rate_per_second=lam, thread_hold_seconds=hold)
    assert predicted == pytest.approx(10.0)
    # Standard error of the average about 0.04 threads (0.4%): 2% is about five of them.
    assert sum(in_service) / len(in_service) == pytest.approx(predicted, rel=0.02)


def test_thread_pool_wait_probability_matches_the_simulated_share_that_queued() -> None:
    lam, hold, pool = 200.0, 0.05, 12
    runs = simulation.simulate_replications(
        replications=4,
        seed=500,
        arrival_rate_per_second=lam,
        service=simulation.ServiceTime("exponential", hold),
        servers=pool,
        customers=40_000,
        warmup_customers=4_000,
    )
    measured = sum(run.wait_probability for run in runs) / len(runs)
    predicted = queueing.thread_pool_wait_probability(
        arrival_rate_per_second=lam, thread_hold_seconds=hold, pool_threads=pool
    )
    # Erlang C is 0.449 here; the standard error of the average is about 0.01.
    assert measured == pytest.approx(predicted, abs=0.04)


@pytest.mark.parametrize(
    ("pool", "starved"),
    [pytest.param(11, False, id="lambda-w-10-on-11-threads"), pytest.param(10, True, id="lambda-w-10-on-10-threads"),
     pytest.param(9, True, id="lambda-w-10-on-9-threads")],
)
def test_starvation_is_lambda_w_reaching_the_pool(pool: int, starved: bool) -> None:
    assert queueing.thread_pool_is_starved(
        arrival_rate_per_second=200.0, thread_hold_seconds=0.05, pool_threads=pool
    ) is starved


def _late_over_early_mean_wait(pool: int) -> float:
    run = simulation.simulate_queue(
        arrival_rate_per_second=200.0,
        service=simulation.ServiceTime("exponential", 0.05),
        servers=pool,
        customers=30_000,
        warmup_customers=1_000,
        seed=600,
    )
    tenth = len(run.waits_seconds) // 10
    early = sum(run.waits_seconds[:tenth]) / tenth
    late = sum(run.waits_seconds[-tenth:]) / tenth
    return late / max(early, 1e-9)


def test_a_starved_pool_queues_without_bound_and_a_pool_with_headroom_does_not() -> None:
    # λW = 10 threads. On 9 threads the backlog grows by 20 tasks/s, so late tasks wait far longer
    # than early ones; on 12 threads waits are stationary.
    assert _late_over_early_mean_wait(9) > 5.0
    assert _late_over_early_mean_wait(12) < 2.0
    assert queueing.thread_pool_max_throughput_per_second(thread_hold_seconds=0.05, pool_threads=9) == 180.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: queueing.mmc_service_level(
                arrival_rate_per_second=300, service_rate_per_second=50, servers=4, wait_threshold_seconds=1
            ),
            "utilisation 1.5 >= 1: no steady state",
            id="service-level-overloaded",
        ),
        pytest.param(
            lambda: queueing.mmc_service_level(
                arrival_rate_per_second=1, service_rate_per_second=50, servers=4, wait_threshold_seconds=-1
            ),
            "wait threshold -1 must be >= 0",
            id="service-level-negative-threshold",
        ),
        pytest.param(
            lambda: queueing.cache_miss_amplification(hit_ratio=1.0), "hit ratio 1 must lie in [0, 1)", id="cache-all-hits"
        ),
        pytest.param(
            lambda: queueing.cache_degradation_amplification(hit_ratio=0.9, degraded_hit_ratio=-0.1),
            "degraded hit ratio -0.1 must lie in [0, 1)",
            id="cache-negative-degraded",
        ),
        pytest.param(
            lambda: queueing.thread_pool_is_starved(arrival_rate_per_second=1, thread_hold_seconds=1, pool_threads=0),
            "pool threads 0 must be a whole number >= 1",
            id="empty-pool",
        ),
        pytest.param(
            lambda: queueing.thread_pool_max_throughput_per_second(thread_hold_seconds=0, pool_threads=4),
            "thread hold time 0 must be > 0",
            id="zero-hold-time",
        ),
        pytest.param(
            lambda: queueing.thread_pool_wait_probability(
                arrival_rate_per_second=200, thread_hold_seconds=0.05, pool_threads=8
            ),
            "utilisation 1.25 >= 1: no steady state",
            id="starved-pool-has-no-wait-probability",
        ),
    ],
)
def test_new_queueing_functions_refuse_inputs_outside_their_domain(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call()


def test_no_traffic_reaches_the_backend_when_nothing_arrives() -> None:
    assert queueing.cache_backend_arrival_rate_per_second(arrival_rate_per_second=0, hit_ratio=0.9) == 0.0
    assert queueing.cache_backend_arrival_rate_per_second(arrival_rate_per_second=200, hit_ratio=0.9) == (
        pytest.approx(20.0))


def test_a_pool_of_one_thread_is_an_mm1_queue() -> None:
    assert queueing.thread_pool_max_throughput_per_second(thread_hold_seconds=0.5, pool_threads=1) == 2.0
    # Erlang C with one server is the utilisation: λW = 1 × 0.5
    assert queueing.thread_pool_wait_probability(
        arrival_rate_per_second=1, thread_hold_seconds=0.5, pool_threads=1) == pytest.approx(0.5)
    assert not queueing.thread_pool_is_starved(arrival_rate_per_second=1, thread_hold_seconds=0.5, pool_threads=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: queueing.cache_backend_arrival_rate_per_second(arrival_rate_per_second=-1, hit_ratio=0.5),
                     "arrival rate -1 must be >= 0", id="cache-negative-arrivals"),
        pytest.param(lambda: queueing.cache_backend_arrival_rate_per_second(arrival_rate_per_second=10, hit_ratio=1),
                     "hit ratio 1 must lie in [0, 1): at 1 the backend sees no traffic to multiply",
                     id="cache-backend-all-hits"),
        pytest.param(lambda: queueing.cache_degradation_amplification(hit_ratio=1.2, degraded_hit_ratio=0.5),
                     "hit ratio 1.2 must lie in [0, 1): at 1 the backend sees no traffic to multiply",
                     id="degradation-from-above-one"),
        pytest.param(lambda: queueing.thread_pool_wait_probability(
            arrival_rate_per_second=1, thread_hold_seconds=0, pool_threads=4),
                     "thread hold time 0 must be > 0", id="wait-probability-zero-hold"),
        pytest.param(lambda: queueing.thread_pool_is_starved(
            arrival_rate_per_second=1, thread_hold_seconds=1, pool_threads=True),  # type: ignore[arg-type]
                     "pool threads True must be a whole number >= 1", id="boolean-pool"),
        pytest.param(lambda: queueing.thread_pool_max_throughput_per_second(thread_hold_seconds=1, pool_threads=2.5),
                     "pool threads 2.5 must be a whole number >= 1", id="fractional-pool"),
    ],
)
def test_cache_and_thread_pool_refusals_are_exact_sentences(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message
