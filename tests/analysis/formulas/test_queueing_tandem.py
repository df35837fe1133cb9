"""Response time across M/M/c stations in tandem: exact for M/M/1 stations, an approximation beyond.

We test these aspects:
- one station reproduces ``mmc_response_time_survival`` and its quantiles;
- M/M/1 stations: the survival is the hypoexponential closed form (distinct rates, equal rates,
  three stations), so the uniformization sum is exact to 1e-12;
- the mean is the sum of the stations' M/M/c means;
- the quantile inverts the survival, and the sum of per-station p99s overstates the p99 of the sum;
- a seeded tandem simulation (its own FCFS multi-server code, departures re-sorted so faster
  servers may overtake) agrees: closely for M/M/1 stations, within the approximation's margin
  for multi-server stations;
- without traffic the tandem is the sum of the service times; four M/M/1 stations are still the
  hypoexponential sum; the quantile of slow stations far above their mean inverts the survival;
- inputs outside the domain raise ValueError with a sentence, word for word.
"""

import heapq
import math
import random
import statistics

import pytest

from analysis.formulas import queueing


def _survival(rates: list[float], servers: list[int], lam: float, t: float) -> float:
    return queueing.tandem_response_time_survival(
        arrival_rate_per_second=lam, service_rates_per_second=rates, servers=servers, time_seconds=t
    )


def _quantile(rates: list[float], servers: list[int], lam: float, p: float) -> float:
    return queueing.tandem_response_time_quantile_seconds(
        arrival_rate_per_second=lam, service_rates_per_second=rates, servers=servers, quantile=p
    )


@pytest.mark.parametrize("servers", [1, 3, 8])
@pytest.mark.parametrize("time_seconds", [0.0, 0.01, 0.05, 0.2])
def test_one_station_is_the_exact_mmc_sojourn(servers: int, time_seconds: float) -> None:
    lam, mu = 0.7 * servers * 50.0, 50.0
    expected = queueing.mmc_response_time_survival(
        arrival_rate_per_second=lam, service_rate_per_second=mu, servers=servers, time_seconds=time_seconds
    )
    assert _survival([mu], [servers], lam, time_seconds) == pytest.approx(expected, rel=1e-11, abs=1e-14)


@pytest.mark.parametrize("p", [0.5, 0.95, 0.999])
def test_one_station_quantile_is_the_mmc_quantile(p: float) -> None:
    expected = queueing.mmc_response_time_quantile_seconds(
        arrival_rate_per_second=150.0, service_rate_per_second=50.0, servers=4, quantile=p
    )
    assert _quantile([50.0], [4], 150.0, p) == pytest.approx(expected, rel=1e-10)


def _hypoexponential_survival(rates: list[float], t: float) -> float:
    """P(Σ Exp(r_i) > t) for distinct rates: Σ_i e^{−r_i t} ∏_{j≠i} r_j/(r_j − r_i)."""
    return math.fsum(
        math.exp(-r * t) * math.prod(s / (s - r) for s in rates if s != r) for r in rates
    )


@pytest.mark.parametrize("t", [0.001, 0.02, 0.1, 0.5])
def test_mm1_stations_give_the_hypoexponential_sum(t: float) -> None:
    # M/M/1 sojourns are Exp(μ_i − λ) and independent (Reich), so T is hypoexponential.
    lam, rates = 80.0, [100.0, 200.0, 120.0]
    expected = _hypoexponential_survival([mu - lam for mu in rates], t)
    assert _survival(rates, [1, 1, 1], lam, t) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("t", [1e-6, 0.01, 0.3])
def test_a_fast_hop_beside_a_slow_station_stays_exact(t: float) -> None:
    # Rates 1e6/s and 30/s: uniformization needs Λt = 3e5 jumps at t = 0.3 s; scaling and
    # squaring needs 19 squarings. The closed form has no cancellation at so different rates.
    lam, rates = 10.0, [1e6, 40.0]
    expected = _hypoexponential_survival([mu - lam for mu in rates], t)
    assert _survival(rates, [1, 1], lam, t) == pytest.approx(expected, rel=1e-9)


def test_two_equal_mm1_stations_give_an_erlang_two_sum() -> None:
    # Equal rates: Erlang(2, μ − λ), P(T > t) = (1 + (μ − λ)t)·e^{−(μ−λ)t} (the distinct-rate form is 0/0).
    lam, mu, t = 60.0, 100.0, 0.05
    assert _survival([mu, mu], [1, 1], lam, t) == pytest.approx((1 + 40.0 * t) * math.exp(-40.0 * t), rel=1e-11)


def test_mean_is_the_sum_of_the_station_means() -> None:
    rates, servers, lam = [50.0, 100.0, 400.0], [4, 2, 1], 150.0
    expected = sum(
        queueing.mmc_mean_response_time_seconds(arrival_rate_per_second=lam, service_rate_per_second=mu, servers=c)
        for mu, c in zip(rates, servers, strict=True)
    )
    assert queueing.tandem_mean_response_time_seconds(
        arrival_rate_per_second=lam, service_rates_per_second=rates, servers=servers
    ) == pytest.approx(expected, rel=1e-12)


def test_quantile_inverts_the_survival() -> None:
    rates, servers, lam = [50.0, 100.0], [4, 2], 150.0
    for p in (0.5, 0.9, 0.99, 0.9999):
        assert _survival(rates, servers, lam, _quantile(rates, servers, lam, p)) == pytest.approx(1 - p, rel=1e-9)


def test_sum_of_station_p99s_overstates_the_p99_of_the_sum() -> None:
    rates, lam = [100.0, 200.0, 120.0], 80.0
    per_station = sum(-math.log(0.01) / (mu - lam) for mu in rates)  # M/M/1 p99 = ln(100)/(μ − λ)
    end_to_end = _quantile(rates, [1, 1, 1], lam, 0.99)
    assert end_to_end < 0.75 * per_station  # the stations are rarely slow at once


# --------------------------------------------------------------------------------------------
# Simulation.
# --------------------------------------------------------------------------------------------


def _simulate_tandem(lam: float, rates: list[float], servers: list[int], *, customers: int, seed: int) -> list[float]:
    """End-to-end sojourns (after a 10% warm-up) of Poisson arrivals through FCFS M/M/c stations."""
    rng = random.Random(seed)
    arrivals, now = [], 0.0
    for _ in range(customers):
        now += rng.expovariate(lam)
        arrivals.append(now)
    at_station = list(arrivals)
    for mu, c in zip(rates, servers, strict=True):
        free_at = [0.0] * c
        leaves = [0.0] * customers
        for index in sorted(range(customers), key=at_station.__getitem__):  # FCFS at this station
            start = max(at_station[index], heapq.heappop(free_at))
            leaves[index] = start + rng.expovariate(mu)
            heapq.heappush(free_at, leaves[index])
        at_station = leaves
    warmup = customers // 10
    return sorted(at_station[i] - arrivals[i] for i in range(warmup, customers))


def _nearest_rank(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)]


@pytest.mark.parametrize(
    ("rates", "servers", "lam", "seed", "tolerances"),
    [
        # Exact model: the tolerance is sampling error only, about four standard errors of the
        # average of 4 replications (0.8% at p50 and p90, 2.2% at p99).
        pytest.param([100.0, 200.0, 120.0], [1, 1, 1], 80.0, 700, {0.5: 0.035, 0.9: 0.035, 0.99: 0.09},
                     id="three-mm1-stations-exact"),
        # Approximation (overtaking at multi-server stations makes sojourns dependent): measured
        # within about 1.5% here; the tolerance adds that to the sampling error.
        pytest.param([50.0, 100.0], [4, 2], 150.0, 800, {0.5: 0.05, 0.9: 0.06, 0.99: 0.09},
                     id="mm4-then-mm2-approximation"),
    ],
)
def test_simulated_tandem_percentiles_match_the_convolution(
    rates: list[float], servers: list[int], lam: float, seed: int, tolerances: dict[float, float]
) -> None:
    runs = [_simulate_tandem(lam, rates, servers, customers=40_000, seed=seed + k) for k in range(4)]
    for p, tolerance in tolerances.items():
        measured = statistics.mean(_nearest_rank(run, p) for run in runs)
        assert measured == pytest.approx(_quantile(rates, servers, lam, p), rel=tolerance), p
    mean = statistics.mean(statistics.mean(run) for run in runs)
    assert mean == pytest.approx(
        queueing.tandem_mean_response_time_seconds(
            arrival_rate_per_second=lam, service_rates_per_second=rates, servers=servers
        ),
        rel=0.03,
    )


@pytest.mark.parametrize(
    ("rates", "servers", "lam", "message"),
    [
        pytest.param([], [], 1.0, "service rates are empty", id="no-station"),
        pytest.param([10.0, 20.0], [1], 1.0, "servers has 1 values for 2 stations", id="servers-per-station"),
        pytest.param([100.0, 50.0], [1, 1], 60.0, "utilisation 1.2 >= 1: no steady state", id="unstable-station"),
        pytest.param([100.0], [0], 1.0, "servers 0 must be a whole number >= 1", id="no-servers"),
    ],
)
def test_tandem_refuses_inputs_outside_its_domain(
    rates: list[float], servers: list[int], lam: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _quantile(rates, servers, lam, 0.99)
    with pytest.raises(ValueError, match="quantile 1 must lie strictly between 0 and 1"):
        _quantile([100.0], [1], 1.0, 1.0)


def test_without_traffic_the_tandem_is_the_sum_of_the_service_times() -> None:
    rates = [100.0, 200.0, 120.0]
    assert queueing.tandem_mean_response_time_seconds(
        arrival_rate_per_second=0, service_rates_per_second=rates, servers=[1, 1, 1]
    ) == pytest.approx(1 / 100 + 1 / 200 + 1 / 120)
    assert _survival(rates, [1, 1, 1], 0.0, 0.02) == pytest.approx(_hypoexponential_survival(rates, 0.02), rel=1e-10)
    q = _quantile(rates, [2, 1, 3], 0.0, 0.9)
    assert _survival(rates, [1, 1, 1], 0.0, q) == pytest.approx(0.1, rel=1e-9)


def test_four_mm1_stations_give_the_hypoexponential_sum() -> None:
    lam, rates = 50.0, [100.0, 300.0, 150.0, 90.0]
    for t in (0.005, 0.03, 0.1):
        expected = _hypoexponential_survival([mu - lam for mu in rates], t)
        assert _survival(rates, [1, 1, 1, 1], lam, t) == pytest.approx(expected, rel=1e-10)


def test_the_quantile_of_slow_stations_far_above_their_mean_inverts_the_survival() -> None:
    # Means of tens of seconds and p = 0.9999: the bracket has to grow well past the mean.
    rates, lam = [0.1, 0.2], 0.05
    q = _quantile(rates, [1, 1], lam, 0.9999)
    mean = queueing.tandem_mean_response_time_seconds(arrival_rate_per_second=lam, service_rates_per_second=rates,
                                                      servers=[1, 1])
    assert q > 5 * mean > 100
    assert _survival(rates, [1, 1], lam, q) == pytest.approx(1e-4, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: _survival([], [], 1.0, 0.1), "service rates are empty: a tandem needs at least one station",
                     id="no-station"),
        pytest.param(lambda: _survival([10.0], [1], 1.0, -1), "time -1 must be >= 0", id="negative-time"),
        pytest.param(lambda: _survival([10.0], [1], -1.0, 0.1), "arrival rate -1 must be >= 0",
                     id="survival-negative-arrivals"),
        pytest.param(lambda: _quantile([10.0], [1], -1.0, 0.5), "arrival rate -1 must be >= 0",
                     id="quantile-negative-arrivals"),
        pytest.param(lambda: queueing.tandem_mean_response_time_seconds(
            arrival_rate_per_second=-1, service_rates_per_second=[10.0], servers=[1]),
                     "arrival rate -1 must be >= 0", id="mean-negative-arrivals"),
    ],
)
def test_tandem_refusals_are_exact_sentences(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message
