"""Queueing formulas against published values and against each other.

We test these aspects:
- Erlang B and Erlang C against published table values and exact textbook cases;
- Erlang B/C and M/M/c/K stay finite and accurate for thousands of servers (no factorial overflow);
- M/M/1 means and response-time quantiles, p99 = ln(100)/(mu - lambda);
- M/M/c reduces to M/M/1 at c = 1, and its exact sojourn distribution matches an independent
  numerical convolution, also where cμ − λ is close to μ;
- M/M/c/K special cases: K = c is Erlang B, a large K is M/M/c, any load is allowed;
- Pollaczek–Khinchine (M/D/1, M/G/1), Kingman and Allen–Cunneen agree where they must;
- Little's law in each direction and the utilisation knee;
- every function rejects inputs outside its domain with a sentence.
The seeded simulation cross-checks are in ``test_simulation_crosscheck.py``.
"""

import math

import pytest

from analysis.formulas import queueing


@pytest.mark.parametrize(
    ("load", "servers", "expected", "tolerance"),
    [
        # Exact: B(1, A=1) = A/(1 + A); B(2, A=2) = (2)/(1 + 2 + 2) = 0.4.
        pytest.param(1.0, 1, 0.5, 1e-15, id="one-erlang-one-line"),
        pytest.param(2.0, 2, 0.4, 1e-15, id="two-erlangs-two-lines"),
        # Standard Erlang B tables: the load a trunk group carries at 1% blocking (loads rounded
        # to the table's last digit, hence the tolerance).
        pytest.param(4.46, 10, 0.01, 1e-4, id="table-10-lines-1pct"),
        pytest.param(8.108, 15, 0.01, 1e-5, id="table-15-lines-1pct"),
        pytest.param(84.06, 100, 0.01, 1e-4, id="table-100-lines-1pct"),
        # Erlang B tables by load: 5 E on 10 lines 1.84%, 2 E on 5 lines 3.67%, 10 E on 10 lines 21.46%.
        pytest.param(5.0, 10, 0.0184, 5e-5, id="table-5E-10-lines"),
        pytest.param(2.0, 5, 0.0367, 5e-5, id="table-2E-5-lines"),
        pytest.param(10.0, 10, 0.2146, 5e-5, id="table-10E-10-lines"),
    ],
)
def test_erlang_b_matches_published_values(
    load: float, servers: int, expected: float, tolerance: float
) -> None:
    assert queueing.erlang_b(offered_load_erlangs=load, servers=servers) == pytest.approx(
        expected, abs=tolerance
    )


@pytest.mark.parametrize(
    ("load", "servers", "expected", "tolerance"),
    [
        # ErlangC[3, 2] = 4/9, the worked example in the Wolfram Language documentation.
        pytest.param(2.0, 3, 4.0 / 9.0, 1e-15, id="wolfram-3-servers-2-erlangs"),
        # Call-centre sizing example: 360 calls per half hour, 4 min each (A = 48 E), 55 agents:
        # probability of waiting 23.87%.
        pytest.param(48.0, 55, 0.2387, 5e-5, id="call-centre-48E-55-agents"),
        # Single server: C = rho.
        pytest.param(0.8, 1, 0.8, 1e-15, id="single-server-is-rho"),
    ],
)
def test_erlang_c_matches_published_values(
    load: float, servers: int, expected: float, tolerance: float
) -> None:
    assert queueing.erlang_c(offered_load_erlangs=load, servers=servers) == pytest.approx(
        expected, abs=tolerance
    )


def _erlang_b_by_log_sum(load: float, servers: int) -> float:
    # Independent check: log of A^k/k! summed with the log-sum-exp shift.
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(servers + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top) / math.fsum(math.exp(value - top) for value in logs)


@pytest.mark.parametrize(
    ("load", "servers"),
    [
        pytest.param(950.0, 1000, id="1000-servers"),
        pytest.param(4900.0, 5000, id="5000-servers"),
        pytest.param(9000.0, 8000, id="overloaded-8000-servers"),
    ],
)
def test_erlang_b_stays_accurate_for_thousands_of_servers(load: float, servers: int) -> None:
    blocking = queueing.erlang_b(offered_load_erlangs=load, servers=servers)
    assert blocking == pytest.approx(_erlang_b_by_log_sum(load, servers), rel=1e-9)


def test_erlang_c_stays_finite_for_thousands_of_servers_near_saturation() -> None:
    waiting = queueing.erlang_c(offered_load_erlangs=4990.0, servers=5000)
    blocking = _erlang_b_by_log_sum(4990.0, 5000)
    assert 0.0 < waiting < 1.0
    assert waiting == pytest.approx(blocking / (1 - 0.998 * (1 - blocking)), rel=1e-9)


@pytest.mark.parametrize(
    ("quantile", "expected_seconds"),
    [
        # Sojourn ~ Exp(mu - lambda) = Exp(20/s): t_p = -ln(1 - p)/20.
        pytest.param(0.5, math.log(2) / 20, id="median"),
        pytest.param(0.95, math.log(20) / 20, id="p95"),
        pytest.param(0.99, math.log(100) / 20, id="p99-is-ln100-over-mu-minus-lambda"),
        pytest.param(0.999, math.log(1000) / 20, id="p999"),
    ],
)
def test_mm1_response_time_quantile_is_exponential_with_rate_mu_minus_lambda(
    quantile: float, expected_seconds: float
) -> None:
    value = queueing.mm1_response_time_quantile_seconds(
        arrival_rate_per_second=80, service_rate_per_second=100, quantile=quantile
    )
    assert value == pytest.approx(expected_seconds, rel=1e-12)


def test_mm1_means_match_the_textbook_at_eighty_percent_utilisation() -> None:
    rates = {"arrival_rate_per_second": 80.0, "service_rate_per_second": 100.0}
    assert queueing.mm1_mean_wait_seconds(**rates) == pytest.approx(0.04)
    assert queueing.mm1_mean_response_time_seconds(**rates) == pytest.approx(0.05)
    assert queueing.mm1_mean_number_in_system(**rates) == pytest.approx(4.0)


def test_mm1_wait_quantile_is_zero_for_the_share_that_never_waits() -> None:
    rates = {"arrival_rate_per_second": 50.0, "service_rate_per_second": 100.0}
    assert queueing.mm1_wait_time_quantile_seconds(quantile=0.4, **rates) == 0.0
    # P(Wq > t) = 0.5 e^{-50 t} = 0.01  =>  t = ln(50)/50.
    assert queueing.mm1_wait_time_quantile_seconds(quantile=0.99, **rates) == pytest.approx(math.log(50) / 50)


@pytest.mark.parametrize("quantile", [0.5, 0.9, 0.99, 0.9999])
def test_mmc_with_one_server_reduces_to_mm1(quantile: float) -> None:
    rates = {"arrival_rate_per_second": 70.0, "service_rate_per_second": 100.0}
    assert queueing.mmc_mean_response_time_seconds(servers=1, **rates) == pytest.approx(
        queueing.mm1_mean_response_time_seconds(**rates), rel=1e-12
    )
    assert queueing.mmc_response_time_quantile_seconds(
        servers=1, quantile=quantile, **rates
    ) == pytest.approx(queueing.mm1_response_time_quantile_seconds(quantile=quantile, **rates), rel=1e-9)


def _sojourn_survival_by_convolution(lam: float, mu: float, servers: int, t: float) -> float:
    # Independent check: P(T > t) = P(S > t) + ∫_0^t f_S(s) P(Wq > t - s) ds (Simpson's rule).
    waiting = queueing.erlang_c(offered_load_erlangs=lam / mu, servers=servers)
    theta = servers * mu - lam
    steps = 2000
    h = t / steps
    total = 0.0
    for i in range(steps + 1):
        s = i * h
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += weight * mu * math.exp(-mu * s) * waiting * math.exp(-theta * (t - s))
    return math.exp(-mu * t) + total * h / 3


@pytest.mark.parametrize(
    ("lam", "mu", "servers"),
    [
        pytest.param(100.0, 50.0, 4, id="theta-above-mu"),
        pytest.param(190.0, 50.0, 4, id="theta-below-mu"),
        pytest.param(150.0, 50.0, 4, id="theta-equal-mu"),
        pytest.param(150.0000001, 50.0, 4, id="theta-within-1e-7-of-mu"),
    ],
)
def test_mmc_sojourn_survival_matches_numerical_convolution(lam: float, mu: float, servers: int) -> None:
    for t in (0.005, 0.02, 0.05, 0.1):
        exact = queueing.mmc_response_time_survival(
            arrival_rate_per_second=lam, service_rate_per_second=mu, servers=servers, time_seconds=t
        )
        assert exact == pytest.approx(_sojourn_survival_by_convolution(lam, mu, servers, t), rel=1e-8)


def test_mmc_response_time_quantile_inverts_the_survival_function() -> None:
    rates = {"arrival_rate_per_second": 150.0, "service_rate_per_second": 50.0, "servers": 4}
    p99 = queueing.mmc_response_time_quantile_seconds(quantile=0.99, **rates)
    assert queueing.mmc_response_time_survival(time_seconds=p99, **rates) == pytest.approx(0.01, rel=1e-9)


def test_mmc_wait_quantile_follows_the_erlang_c_service_level() -> None:
    # Call-centre example: A = 48 E, 55 agents, 240 s calls; service level at 20 s is
    # 1 - C e^{-(c - A) t / h} = 86.7%, so the 86.68% wait quantile is 20 s.
    rates = {"arrival_rate_per_second": 48.0 / 240.0, "service_rate_per_second": 1.0 / 240.0, "servers": 55}
    level = 1.0 - queueing.mmc_wait_probability(**rates) * math.exp(-(55 - 48) * 20.0 / 240.0)
    assert level == pytest.approx(0.8668, abs=5e-4)
    assert queueing.mmc_wait_time_quantile_seconds(quantile=level, **rates) == pytest.approx(20.0, rel=1e-9)


def test_mmc_quantiles_are_computed_for_thousands_of_servers() -> None:
    rates = {"arrival_rate_per_second": 4900.0, "service_rate_per_second": 1.0, "servers": 5000}
    p99 = queueing.mmc_response_time_quantile_seconds(quantile=0.99, **rates)
    # Few wait at all, so the p99 sits close to the service time's own ln(100)/mu.
    assert math.log(100) <= p99 < 1.01 * math.log(100)


def test_mmck_with_capacity_equal_to_servers_is_erlang_b() -> None:
    blocking = queueing.mmck_blocking_probability(
        arrival_rate_per_second=100.0, service_rate_per_second=10.0, servers=10, capacity=10
    )
    assert blocking == pytest.approx(queueing.erlang_b(offered_load_erlangs=10.0, servers=10), rel=1e-12)


def test_mmck_single_server_single_place_blocks_a_over_one_plus_a() -> None:
    blocking = queueing.mmck_blocking_probability(
        arrival_rate_per_second=3.0, service_rate_per_second=1.0, servers=1, capacity=1
    )
    assert blocking == pytest.approx(3.0 / 4.0)


def test_mmck_with_a_large_capacity_approaches_mmc() -> None:
    rates = {"arrival_rate_per_second": 150.0, "service_rate_per_second": 50.0, "servers": 4}
    assert queueing.mmck_mean_response_time_seconds(capacity=400, **rates) == pytest.approx(
        queueing.mmc_mean_response_time_seconds(**rates), rel=1e-9
    )
    assert queueing.mmck_blocking_probability(capacity=400, **rates) < 1e-40


def test_mmck_textbook_single_server_values() -> None:
    # M/M/1/K with rho = 0.5, K = 3: p_n = rho^n (1 - rho)/(1 - rho^{K+1}) => p_3 = 1/15, L = 11/15.
    rates = {"arrival_rate_per_second": 1.0, "service_rate_per_second": 2.0, "servers": 1, "capacity": 3}
    assert queueing.mmck_blocking_probability(**rates) == pytest.approx(1 / 15)
    assert queueing.mmck_mean_number_in_system(**rates) == pytest.approx(11 / 15)
    assert queueing.mmck_throughput_per_second(**rates) == pytest.approx(14 / 15)
    assert queueing.mmck_mean_response_time_seconds(**rates) == pytest.approx((11 / 15) / (14 / 15))


def test_mmck_is_defined_when_overloaded_and_for_thousands_of_servers() -> None:
    rates = {
        "arrival_rate_per_second": 6000.0,
        "service_rate_per_second": 1.0,
        "servers": 5000,
        "capacity": 6000,
    }
    # Fluid limit: 5000 of 6000 per second get through, so about 1/6 is blocked.
    assert queueing.mmck_blocking_probability(**rates) == pytest.approx(1 / 6, rel=0.01)
    assert queueing.mmck_mean_wait_seconds(**rates) > 0.0


def test_md1_waits_half_as_long_as_mm1() -> None:
    rates = {"arrival_rate_per_second": 80.0, "service_rate_per_second": 100.0}
    assert queueing.md1_mean_wait_seconds(**rates) == pytest.approx(
        queueing.mm1_mean_wait_seconds(**rates) / 2
    )
    assert queueing.md1_mean_response_time_seconds(**rates) == pytest.approx(0.03)
    assert queueing.md1_mean_number_in_system(**rates) == pytest.approx(2.4)


def test_mg1_with_exponential_service_is_mm1() -> None:
    rates = {"arrival_rate_per_second": 80.0, "service_rate_per_second": 100.0}
    assert queueing.mg1_mean_response_time_seconds(service_scv=1.0, **rates) == pytest.approx(
        queueing.mm1_mean_response_time_seconds(**rates)
    )


@pytest.mark.parametrize("service_scv", [0.0, 0.5, 1.0, 4.0])
def test_kingman_is_exact_for_poisson_arrivals(service_scv: float) -> None:
    rates = {"arrival_rate_per_second": 70.0, "service_rate_per_second": 100.0}
    assert queueing.kingman_mean_wait_seconds(
        arrival_scv=1.0, service_scv=service_scv, **rates
    ) == pytest.approx(queueing.mg1_mean_wait_seconds(service_scv=service_scv, **rates))


def test_allen_cunneen_is_exact_for_mmc_and_halves_for_deterministic_service() -> None:
    rates = {"arrival_rate_per_second": 150.0, "service_rate_per_second": 50.0, "servers": 4}
    exact = queueing.mmc_mean_wait_seconds(**rates)
    assert queueing.allen_cunneen_mean_wait_seconds(arrival_scv=1, service_scv=1, **rates) == pytest.approx(
        exact
    )
    assert queueing.allen_cunneen_mean_wait_seconds(arrival_scv=1, service_scv=0, **rates) == pytest.approx(
        exact / 2
    )
    assert queueing.allen_cunneen_mean_response_time_seconds(
        arrival_scv=1, service_scv=1, **rates
    ) == pytest.approx(queueing.mmc_mean_response_time_seconds(**rates))


def test_little_law_round_trips_in_each_direction() -> None:
    number = queueing.little_mean_number_in_system(
        arrival_rate_per_second=80.0, mean_time_in_system_seconds=0.05
    )
    assert number == pytest.approx(4.0)
    assert queueing.little_mean_time_in_system_seconds(
        mean_number_in_system=number, arrival_rate_per_second=80.0
    ) == pytest.approx(0.05)
    assert queueing.little_throughput_per_second(
        mean_number_in_system=number, mean_time_in_system_seconds=0.05
    ) == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("rho", "slowdown"),
    [
        pytest.param(0.5, 2.0, id="half"),
        pytest.param(0.8, 5.0, id="eighty"),
        pytest.param(0.95, 20.0, id="ninety-five"),
    ],
)
def test_knee_response_time_is_service_time_over_one_minus_rho(rho: float, slowdown: float) -> None:
    assert queueing.knee_mean_response_time_seconds(
        mean_service_time_seconds=0.01, utilisation=rho
    ) == pytest.approx(0.01 * slowdown)
    assert queueing.knee_utilisation_for_slowdown(slowdown=slowdown) == pytest.approx(rho)


def test_knee_is_the_mm1_mean_response_time() -> None:
    assert queueing.knee_mean_response_time_seconds(
        mean_service_time_seconds=0.01, utilisation=0.8
    ) == pytest.approx(
        queueing.mm1_mean_response_time_seconds(arrival_rate_per_second=80.0, service_rate_per_second=100.0)
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: queueing.mm1_mean_wait_seconds(arrival_rate_per_second=120, service_rate_per_second=100),
            "utilisation 1.2 >= 1: no steady state",
            id="mm1-overloaded",
        ),
        pytest.param(
            lambda: queueing.mmc_mean_wait_seconds(
                arrival_rate_per_second=200, service_rate_per_second=50, servers=4
            ),
            "utilisation 1 >= 1: no steady state",
            id="mmc-saturated",
        ),
        pytest.param(
            lambda: queueing.erlang_c(offered_load_erlangs=5, servers=4),
            "no steady state",
            id="erlang-c-a-over-c",
        ),
        pytest.param(
            lambda: queueing.mmc_wait_probability(
                arrival_rate_per_second=1, service_rate_per_second=1, servers=0
            ),
            "servers 0 must be a whole number >= 1",
            id="no-servers",
        ),
        pytest.param(
            lambda: queueing.erlang_b(offered_load_erlangs=1, servers=2.5), "whole number", id="half-server"
        ),
        pytest.param(
            lambda: queueing.mm1_mean_wait_seconds(arrival_rate_per_second=-1, service_rate_per_second=1),
            "arrival rate -1 must be >= 0",
            id="negative-arrivals",
        ),
        pytest.param(
            lambda: queueing.mm1_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=0),
            "service rate 0 must be > 0",
            id="zero-service-rate",
        ),
        pytest.param(
            lambda: queueing.mm1_response_time_quantile_seconds(
                arrival_rate_per_second=1, service_rate_per_second=2, quantile=1.0
            ),
            "strictly between 0 and 1",
            id="quantile-one",
        ),
        pytest.param(
            lambda: queueing.mmck_blocking_probability(
                arrival_rate_per_second=1, service_rate_per_second=1, servers=4, capacity=3
            ),
            "capacity 3 must be a whole number >= servers 4",
            id="capacity-below-servers",
        ),
        pytest.param(
            lambda: queueing.mg1_mean_wait_seconds(
                arrival_rate_per_second=1, service_rate_per_second=2, service_scv=-1
            ),
            "service SCV -1 must be >= 0",
            id="negative-scv",
        ),
        pytest.param(
            lambda: queueing.knee_mean_response_time_seconds(mean_service_time_seconds=0.01, utilisation=1.0),
            "no steady state",
            id="knee-at-one",
        ),
        pytest.param(
            lambda: queueing.knee_utilisation_for_slowdown(slowdown=0.5),
            "never makes requests faster",
            id="slowdown-below-one",
        ),
        pytest.param(
            lambda: queueing.little_mean_time_in_system_seconds(
                mean_number_in_system=1, arrival_rate_per_second=0
            ),
            "arrival rate 0 must be > 0",
            id="little-zero-rate",
        ),
    ],
)
def test_formulas_reject_inputs_outside_their_domain_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()
