"""Queueing formulas at the edges of their domain, and the ones the calculator uses directly.

``test_queueing.py`` checks published values and limits; this module checks what each formula
accepts and refuses, value by value. We test these aspects:

- every rate, time, load, SCV, quantile and capacity argument is refused with an exact sentence
  naming it when it is outside its domain (negative, zero where zero is meaningless, NaN, infinite,
  fractional servers, a boolean capacity), and accepted at zero where zero is meaningful;
- Little's law in each direction at L = 0, λ = 0 and W = 0;
- ``offered_load_erlangs`` and ``utilisation`` directly; M/M/c mean number in system, M/M/c/K mean
  wait and Kingman's response time against closed forms;
- the numerical M/M/c quantile keeps its stated 1e-12 relative precision.
"""
from __future__ import annotations

import math

import pytest

from analysis.formulas import queueing

NAN, INF = float("nan"), float("inf")


def test_offered_load_is_arrival_rate_over_service_rate() -> None:
    assert queueing.offered_load_erlangs(arrival_rate_per_second=30, service_rate_per_second=10) == 3.0
    assert queueing.offered_load_erlangs(arrival_rate_per_second=0, service_rate_per_second=10) == 0.0


def test_utilisation_divides_the_offered_load_by_the_servers_and_is_reported_above_one_too() -> None:
    assert queueing.utilisation(arrival_rate_per_second=30, service_rate_per_second=10, servers=4) == 0.75
    assert queueing.utilisation(arrival_rate_per_second=30, service_rate_per_second=10) == 3.0
    assert queueing.utilisation(arrival_rate_per_second=0, service_rate_per_second=10, servers=2) == 0.0


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: queueing.offered_load_erlangs(arrival_rate_per_second=-1, service_rate_per_second=1),
                 "arrival rate -1 must be >= 0", id="offered-load-negative-arrivals"),
    pytest.param(lambda: queueing.offered_load_erlangs(arrival_rate_per_second=1, service_rate_per_second=0),
                 "service rate 0 must be > 0", id="offered-load-zero-service"),
    pytest.param(lambda: queueing.utilisation(arrival_rate_per_second=1, service_rate_per_second=1, servers=0),
                 "servers 0 must be a whole number >= 1", id="utilisation-no-servers"),
    pytest.param(lambda: queueing.utilisation(arrival_rate_per_second=-2, service_rate_per_second=1, servers=2),
                 "arrival rate -2 must be >= 0", id="utilisation-negative-arrivals"),
    pytest.param(lambda: queueing.utilisation(arrival_rate_per_second=2, service_rate_per_second=-1, servers=2),
                 "service rate -1 must be > 0", id="utilisation-negative-service"),
    pytest.param(lambda: queueing.mm1_mean_wait_seconds(arrival_rate_per_second=NAN, service_rate_per_second=1),
                 "arrival rate nan is not a finite number", id="nan-rate"),
    pytest.param(lambda: queueing.mm1_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=INF),
                 "service rate inf is not a finite number", id="infinite-rate"),
    pytest.param(lambda: queueing.erlang_b(offered_load_erlangs=-1, servers=2), "offered load -1 must be >= 0",
                 id="erlang-b-negative-load"),
    pytest.param(lambda: queueing.erlang_c(offered_load_erlangs=-0.5, servers=2), "offered load -0.5 must be >= 0",
                 id="erlang-c-negative-load"),
    pytest.param(lambda: queueing.mm1_response_time_quantile_seconds(arrival_rate_per_second=1, service_rate_per_second=2,
                                                                     quantile=0.0),
                 "quantile 0 must lie strictly between 0 and 1", id="quantile-zero"),
    pytest.param(lambda: queueing.mmc_response_time_survival(arrival_rate_per_second=1, service_rate_per_second=2,
                                                             servers=1, time_seconds=-1),
                 "time -1 must be >= 0", id="negative-time"),
    pytest.param(lambda: queueing.mmck_blocking_probability(arrival_rate_per_second=0, service_rate_per_second=1,
                                                            servers=1, capacity=2),
                 "arrival rate 0 must be > 0", id="mmck-zero-arrivals"),
    pytest.param(lambda: queueing.mmck_blocking_probability(arrival_rate_per_second=1, service_rate_per_second=0,
                                                            servers=1, capacity=2),
                 "service rate 0 must be > 0", id="mmck-zero-service"),
    pytest.param(lambda: queueing.mmck_blocking_probability(arrival_rate_per_second=1, service_rate_per_second=1,
                                                            servers=1, capacity=True),
                 "capacity True must be a whole number >= servers 1", id="mmck-boolean-capacity"),
    pytest.param(lambda: queueing.mmck_blocking_probability(arrival_rate_per_second=1, service_rate_per_second=1,
                                                            servers=1, capacity=2.5),
                 "capacity 2.5 must be a whole number >= servers 1", id="mmck-fractional-capacity"),
    pytest.param(lambda: queueing.kingman_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=2,
                                                            arrival_scv=-1, service_scv=1),
                 "arrival SCV -1 must be >= 0", id="kingman-arrival-scv"),
    pytest.param(lambda: queueing.kingman_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=2,
                                                            arrival_scv=1, service_scv=-2),
                 "service SCV -2 must be >= 0", id="kingman-service-scv"),
    pytest.param(lambda: queueing.allen_cunneen_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=2,
                                                                  servers=2, arrival_scv=-1, service_scv=1),
                 "arrival SCV -1 must be >= 0", id="allen-cunneen-arrival-scv"),
    pytest.param(lambda: queueing.allen_cunneen_mean_wait_seconds(arrival_rate_per_second=1, service_rate_per_second=2,
                                                                  servers=2, arrival_scv=1, service_scv=-2),
                 "service SCV -2 must be >= 0", id="allen-cunneen-service-scv"),
    pytest.param(lambda: queueing.little_mean_number_in_system(arrival_rate_per_second=-1, mean_time_in_system_seconds=1),
                 "arrival rate -1 must be >= 0", id="little-l-negative-rate"),
    pytest.param(lambda: queueing.little_mean_number_in_system(arrival_rate_per_second=1, mean_time_in_system_seconds=-1),
                 "mean time in system -1 must be >= 0", id="little-l-negative-time"),
    pytest.param(lambda: queueing.little_mean_time_in_system_seconds(mean_number_in_system=-1, arrival_rate_per_second=1),
                 "mean number in system -1 must be >= 0", id="little-w-negative-number"),
    pytest.param(lambda: queueing.little_throughput_per_second(mean_number_in_system=-1, mean_time_in_system_seconds=1),
                 "mean number in system -1 must be >= 0", id="little-lambda-negative-number"),
    pytest.param(lambda: queueing.little_throughput_per_second(mean_number_in_system=1, mean_time_in_system_seconds=0),
                 "mean time in system 0 must be > 0", id="little-lambda-zero-time"),
    pytest.param(lambda: queueing.knee_mean_response_time_seconds(mean_service_time_seconds=0, utilisation=0.5),
                 "mean service time 0 must be > 0", id="knee-zero-service-time"),
    pytest.param(lambda: queueing.knee_mean_response_time_seconds(mean_service_time_seconds=1, utilisation=-0.1),
                 "utilisation -0.1 must be >= 0", id="knee-negative-utilisation"),
])
def test_each_argument_outside_its_domain_is_refused_with_a_sentence_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_littles_law_holds_at_zero_in_every_direction() -> None:
    assert queueing.little_mean_time_in_system_seconds(mean_number_in_system=0, arrival_rate_per_second=5) == 0.0
    assert queueing.little_throughput_per_second(mean_number_in_system=0, mean_time_in_system_seconds=2) == 0.0
    assert queueing.little_mean_number_in_system(arrival_rate_per_second=0, mean_time_in_system_seconds=2) == 0.0
    assert queueing.little_mean_number_in_system(arrival_rate_per_second=5, mean_time_in_system_seconds=0) == 0.0


@pytest.mark.parametrize("formula", [queueing.erlang_b, queueing.erlang_c])
def test_erlang_formulas_are_zero_without_load(formula) -> None:
    assert formula(offered_load_erlangs=0, servers=3) == 0.0


def test_erlang_b_for_one_server_is_a_over_one_plus_a() -> None:
    assert queueing.erlang_b(offered_load_erlangs=1.0, servers=1) == pytest.approx(0.5, rel=1e-15)
    assert queueing.erlang_b(offered_load_erlangs=3.0, servers=1) == pytest.approx(0.75, rel=1e-15)


def test_mmc_mean_number_in_system_matches_the_closed_forms() -> None:
    # M/M/1: ρ/(1 − ρ); M/M/2: 2ρ/(1 − ρ²)
    assert queueing.mmc_mean_number_in_system(arrival_rate_per_second=80, service_rate_per_second=100,
                                              servers=1) == pytest.approx(4.0, rel=1e-12)
    assert queueing.mmc_mean_number_in_system(arrival_rate_per_second=150, service_rate_per_second=100,
                                              servers=2) == pytest.approx(1.5 / (1 - 0.5625), rel=1e-12)


def test_mmck_mean_wait_is_the_admitted_response_time_less_one_service() -> None:
    # M/M/1/2 at λ = μ = 1: P(0) = P(1) = P(2) = 1/3, L = 1, admitted rate 2/3 -> W = 1.5, Wq = 0.5
    kwargs = dict(arrival_rate_per_second=1.0, service_rate_per_second=1.0, servers=1, capacity=2)
    assert queueing.mmck_mean_response_time_seconds(**kwargs) == pytest.approx(1.5, rel=1e-12)
    assert queueing.mmck_mean_wait_seconds(**kwargs) == pytest.approx(0.5, rel=1e-12)
    # with service twice as fast: ρ = 1/2, weights 1, 1/2, 1/4 -> L = 4/7, admitted 6/7 -> W = 2/3, Wq = 1/6
    kwargs.update(service_rate_per_second=2.0)
    assert queueing.mmck_mean_wait_seconds(**kwargs) == pytest.approx(1 / 6, rel=1e-12)


def test_mmck_without_a_queue_never_waits() -> None:
    assert queueing.mmck_mean_wait_seconds(arrival_rate_per_second=3.0, service_rate_per_second=1.0, servers=2,
                                           capacity=2) == 0.0


def test_kingman_response_time_adds_one_mean_service_time_to_the_wait() -> None:
    # ρ = 0.8, ca² = 1, cs² = 0: Wq = 0.8/0.2 · 1/2 · 1 s = 2 s; T = 3 s
    kwargs = dict(arrival_rate_per_second=0.8, service_rate_per_second=1.0, arrival_scv=1.0, service_scv=0.0)
    assert queueing.kingman_mean_wait_seconds(**kwargs) == pytest.approx(2.0, rel=1e-12)
    assert queueing.kingman_mean_response_time_seconds(**kwargs) == pytest.approx(3.0, rel=1e-12)
    kwargs.update(service_rate_per_second=2.0, arrival_rate_per_second=1.6)
    assert queueing.kingman_mean_response_time_seconds(**kwargs) == pytest.approx(1.5, rel=1e-12)


def test_response_time_survival_starts_at_one() -> None:
    assert queueing.mmc_response_time_survival(arrival_rate_per_second=3, service_rate_per_second=2, servers=2,
                                               time_seconds=0) == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("quantile", [0.5, 0.9, 0.99, 0.999])
def test_numerical_quantile_keeps_its_relative_precision_of_1e_12(quantile: float) -> None:
    lam, mu = 80.0, 100.0
    exact = -math.log(1 - quantile) / (mu - lam)
    computed = queueing.mmc_response_time_quantile_seconds(arrival_rate_per_second=lam, service_rate_per_second=mu,
                                                           servers=1, quantile=quantile)
    assert computed == pytest.approx(exact, rel=2e-12)


@pytest.mark.parametrize("slowdown, utilisation", [(1.0, 0.0), (1.5, 1 / 3), (5.0, 0.8)])
def test_knee_utilisation_for_a_slowdown_from_one_up(slowdown: float, utilisation: float) -> None:
    assert queueing.knee_utilisation_for_slowdown(slowdown=slowdown) == pytest.approx(utilisation, rel=1e-15)


def test_knee_at_zero_utilisation_is_the_service_time() -> None:
    assert queueing.knee_mean_response_time_seconds(mean_service_time_seconds=0.02, utilisation=0.0) == 0.02
