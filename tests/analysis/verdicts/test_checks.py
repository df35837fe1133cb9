"""Prediction rows built from measurements.

Aspects: the M/M/c mean response passes when the measurement equals the formula's value at the
measured λ, μ, c and fails when it is far off; a wide measurement is inconclusive, not failed;
too few requests or changing servers are inconclusive with the reason; near saturation the bounded
queue switches the model to M/M/c/K; Envoy's breaker overflow is predicted as M/M/c/K blocking with
K = active + pending limits and only where the breaker binds; SLO composition passes inside the
prediction's interval and fails outside; retry amplification uses the measured failure share;
seed rows are marked ``seed`` and sit next to their textbook counterparts.
"""
import math

import pytest

from tests.analysis import builders

from analysis.formulas import queueing
from analysis.verdicts import checks, compare

SCENARIO = builders.resolved_scenario(entry="inference", services={"inference": {}})


def stats(**overrides) -> dict:
    s = {"arrival_rate_per_second": 128.0, "service_rate_per_second": 40.0, "servers": 4.0, "servers_range": [4, 4],
         "ready_replicas": 1.0, "queue_limit": 512, "completed": 6000.0, "work_completed": 6000.0,
         "own_response_seconds": math.nan, "own_response_interval_seconds": None, "own_response_source": "test",
         "shed_queue_full": 0.0, "shed": 0.0, "throughput_per_second": 128.0, "mean_response_seconds": 0.05,
         "mean_in_flight": 6.4, "in_flight_variance": 4.0, "in_flight_samples": 60, "p99_ms": 180.0,
         "offered_utilisation": 0.8, "mean_service_seconds": 0.025, "served_rate_per_second": 128.0,
         "server_errors": 0.0}
    s.update(overrides)
    return s


def envoy(**overrides) -> dict:
    e = {"pending_overflow": 0.0, "active_overflow": 0.0, "ejections": 0.0, "retries": 0.0, "timeouts": 0.0}
    e.update(overrides)
    return e


MMC_AT_08 = queueing.mmc_mean_response_time_seconds(arrival_rate_per_second=128, service_rate_per_second=40, servers=4)


@pytest.mark.parametrize("measured, spread, verdict", [
    pytest.param(MMC_AT_08 * 1.05, 0.002, compare.PASS, id="within-tolerance"),
    pytest.param(MMC_AT_08 * 1.4, 0.002, compare.FAIL, id="far-off"),
    pytest.param(MMC_AT_08 * 1.4, 0.03, compare.INCONCLUSIVE, id="too-noisy-to-tell"),
])
def test_mmc_mean_response_judges_the_measurement_against_erlang_c(measured, spread, verdict):
    s = stats(own_response_seconds=measured, own_response_interval_seconds=[measured - spread, measured + spread])
    (row,) = checks.mmc_mean_response(SCENARIO, "rho80", "inference", s)
    assert row.predicted == pytest.approx(MMC_AT_08) and row.verdict == verdict
    assert "ρ = 0.80" in row.note and row.formula.startswith("W = C(c")


@pytest.mark.parametrize("overrides, reason", [
    pytest.param({"completed": 12}, "too few", id="few-requests"),
    pytest.param({"servers_range": [4, 8], "servers": 6.0}, "changed inside the window", id="scaling"),
])
def test_mmc_mean_response_is_inconclusive_with_the_reason(overrides, reason):
    (row,) = checks.mmc_mean_response(SCENARIO, "p", "inference", stats(own_response_seconds=0.05, **overrides))
    assert row.verdict == compare.INCONCLUSIVE and reason in row.note


def test_a_bounded_queue_near_saturation_is_predicted_as_mmck():
    s = stats(arrival_rate_per_second=170.0, queue_limit=8, own_response_seconds=0.1)
    (row,) = checks.mmc_mean_response(SCENARIO, "spike", "inference", s)
    assert "M/M/c/K with K = 12" in row.formula
    assert row.predicted == pytest.approx(queueing.mmck_mean_response_time_seconds(
        arrival_rate_per_second=170, service_rate_per_second=40, servers=4, capacity=12))


def breaker_scenario() -> dict:
    return builders.resolved_scenario(entry="inference", services={"inference": {"envoy": {"circuit_breaker": {
        "max_connections": 16, "max_requests": 16, "max_pending_requests": 8}}}})


def test_envoy_overflow_is_mmck_blocking_with_the_breaker_limits():
    s = stats(arrival_rate_per_second=50.0, service_rate_per_second=25.0, servers=2.0, queue_limit=32,
              completed=3500.0)
    predicted = queueing.mmck_blocking_probability(arrival_rate_per_second=70, service_rate_per_second=25,
                                                   servers=2, capacity=24)
    overflow = round(5000 * predicted)
    (row,) = checks.envoy_overflow(breaker_scenario(), "spike", "inference",
                                   stats(**{**s, "completed": 5000.0 - overflow}), envoy(pending_overflow=overflow))
    assert "K = max_requests + max_pending = 24" in row.formula
    assert row.predicted == pytest.approx(predicted, rel=0.02) and row.verdict == compare.PASS
    assert row.measured_interval[0] < row.measured < row.measured_interval[1]


def test_no_envoy_overflow_row_where_the_service_queue_binds_first():
    assert checks.envoy_overflow(SCENARIO, "p", "inference", stats(), envoy(pending_overflow=50)) == []


def test_service_sheds_are_compared_with_mmck_blocking_where_no_breaker_binds():
    predicted = queueing.mmck_blocking_probability(arrival_rate_per_second=170, service_rate_per_second=40,
                                                   servers=4, capacity=12)
    s = stats(arrival_rate_per_second=170.0, queue_limit=8, shed_queue_full=round(6000 * predicted))
    (row,) = checks.service_blocking(SCENARIO, "spike", "inference", s, envoy())
    assert row.check == "mmck_blocking" and row.verdict == compare.PASS


def slo_client(violations: int, requests: int) -> dict:
    return {"slo": {"latency_seconds": 0.23, "violations": violations, "requests": requests,
                    "violation_rate": violations / requests, "interval": [0.0, 1.0]}}


def slo_servers(counts: list[tuple[int, int]]) -> dict:
    return {f"s{i}": {"slo": {"violations": v, "requests": n, "violation_rate": v / n}} for i, (v, n) in enumerate(counts)}


@pytest.mark.parametrize("measured_violations, verdict", [
    pytest.param(195, compare.PASS, id="inside-the-interval"),
    pytest.param(320, compare.FAIL, id="shared-cause-far-above"),
])
def test_slo_composition_passes_inside_the_predicted_interval(measured_violations, verdict):
    servers = slo_servers([(50, 10000)] * 4)
    (row,) = checks.slo_composition(SCENARIO, "steady", slo_client(measured_violations, 10000), servers)
    assert row.predicted == pytest.approx(1 - 0.995**4)
    assert row.predicted_interval[0] < row.predicted < row.predicted_interval[1]
    assert row.verdict == verdict


def test_slo_composition_is_inconclusive_when_a_share_is_unknown():
    servers = slo_servers([(50, 10000)])
    servers["s0"]["slo"]["violation_rate"] = math.nan
    (row,) = checks.slo_composition(SCENARIO, "steady", slo_client(10, 1000), servers)
    assert row.verdict == compare.INCONCLUSIVE and "unknown for s0" in row.note


def test_client_retry_amplification_uses_the_measured_failure_share():
    scenario = {**SCENARIO, "client": {"retries": 2}}
    client = {"attempts": 1300, "failed_attempts": 390, "attempts_per_request": 1.3, "requests": 1000,
              "client_overflow": 0}
    (row,) = checks.retry_layers(scenario, "p", client, {}, {})
    assert row.predicted == pytest.approx(1 + 0.3 + 0.09) and row.subject == "client → inference"
    assert row.verdict == compare.PASS


def test_seed_rows_are_marked_and_stand_next_to_the_serial_model():
    scenario = builders.resolved_scenario(entry="gateway", services={"gateway": {"calls": [{"service": "inference"}]},
                                                                      "inference": {}})
    servers = {"gateway": stats(shed=0.0, completed=1000.0), "inference": stats(shed=200.0, completed=1000.0)}
    client = {"requests": 1000, "client_overflow": 0, "error_rate": 0.2}
    serial, seed = checks.cascade(scenario, "p", client, servers, {"gateway": envoy(), "inference": envoy()})
    assert (serial.check, serial.model, serial.verdict) == ("serial_goodput", compare.TEXTBOOK, compare.PASS)
    assert (seed.check, seed.model) == ("seed_cascade", compare.SEED)
    assert seed.predicted == pytest.approx(1 - 0.3 * 0.2)


def test_the_seed_hpa_lag_row_compares_each_scale_up_with_30_seconds():
    timeline = {"scale_ups": [{"service": "inference", "lag_seconds": 41.0, "load_step_phase": "spike"},
                              {"service": "inference", "lag_seconds": None, "load_step_phase": None}]}
    measured, unknown = checks.seed_hpa_lag(SCENARIO, timeline)
    assert measured.model == compare.SEED and measured.predicted == 30.0 and measured.verdict == compare.FAIL
    assert (measured.phase, measured.measured) == ("spike", 41.0)
    assert unknown.verdict == compare.INCONCLUSIVE and "no replica became ready" in unknown.note
