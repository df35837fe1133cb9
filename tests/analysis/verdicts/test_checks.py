"""Prediction rows built from measurements.

Aspects: the M/M/c mean response passes when the measurement equals the formula's value at the
measured λ, μ, c and fails when it is far off; a wide measurement is inconclusive, not failed;
too few requests or changing servers are inconclusive with the reason; near saturation the bounded
queue switches the model to M/M/c/K; Envoy's breaker overflow is predicted as M/M/c/K blocking with
K = active + pending limits and only where the breaker binds; SLO composition passes inside the
prediction's interval and fails outside; retry amplification uses the measured failure share and
each layer's policy (a ratio budget and its floor, adaptive throttling, Envoy's retry limit or budget;
a deadline that cut retries makes the row inconclusive); the throttle's rejections meet the SRE
formula on the recorded counts; arrivals per request stay below the worst case ∏(r_k + 1);
a queue whose requests renege (a deadline expired in it) is no M/M/c/K, and goodput the client's own
timeouts took is no service's failure share: those rows are inconclusive with the reason;
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


def client(**overrides) -> dict:
    c = {"attempts": 1300, "failed_attempts": 390, "attempts_per_request": 1.3, "requests": 1000,
         "client_overflow": 0, "requests_tried": 1000, "first_attempts_per_second": 50.0, "accepted_attempts": 910,
         "withheld": {}, "span_seconds": 20.0}
    c.update(overrides)
    return c


@pytest.mark.parametrize("measured, verdict", [
    pytest.param(1.1, compare.PASS, id="budget-holds"),
    pytest.param(3.9, compare.FAIL, id="budget-ignored"),
])
def test_a_retry_budget_caps_the_predicted_attempts_at_one_plus_its_ratio(measured, verdict):
    scenario = builders.resolved_scenario(entry="inference", services={"inference": {}},
                                          client={"retries": 3, "retry": {"budget": {"ratio": 0.1}}})
    c = client(attempts=1000 * measured, failed_attempts=1000 * measured, attempts_per_request=measured)
    (row,) = checks.retry_layers(scenario, "p", c, {}, {})
    assert row.predicted == pytest.approx(1.1) and "β = 0.1" in row.formula and row.verdict == verdict


def test_a_budget_floor_adds_its_rate_over_the_request_rate_to_the_ratio():
    scenario = builders.resolved_scenario(entry="inference", services={"inference": {}}, client={
        "retries": 3, "retry": {"budget": {"ratio": 0.1, "min_retries_per_second": 5}}})
    c = client(attempts=1300, failed_attempts=1300, attempts_per_request=1.3, first_attempts_per_second=25.0)
    (row,) = checks.retry_layers(scenario, "p", c, {}, {})
    assert row.predicted == pytest.approx(1 + 0.1 + 5 / 25)


def test_throttling_shortens_the_retry_series_and_has_its_own_row():
    scenario = builders.resolved_scenario(entry="inference", services={"inference": {}},
                                          client={"retries": 2, "retry": {"throttle": {"window_seconds": 10}}})
    # 1000 attempts sent, 500 failed (p = 0.5); 250 more attempts were throttled (P = 0.2)
    c = client(attempts=1000, failed_attempts=500, accepted_attempts=500, attempts_per_request=1.44,
               withheld={"throttled": 250})
    amplification, throttling = checks.retry_layers(scenario, "p", c, {}, {})
    q = 0.5 * (1 - 0.2)
    assert amplification.predicted == pytest.approx(1 + q + q * q) and "q = p(1 − P)" in amplification.formula
    assert throttling.check == "adaptive_throttling" and throttling.measured == pytest.approx(0.2)
    assert throttling.predicted == pytest.approx((1250 - 2 * 500) / 1251)
    assert throttling.verdict == compare.PASS


def test_a_throttle_window_longer_than_the_phase_decides_nothing():
    scenario = builders.resolved_scenario(entry="inference", services={"inference": {}},
                                          client={"retries": 0, "retry": {"throttle": {"window_seconds": 120}}})
    (row,) = checks.retry_layers(scenario, "p", client(withheld={"throttled": 250}, accepted_attempts=500), {}, {})
    assert row.verdict == compare.INCONCLUSIVE and "earlier phases" in row.note


@pytest.mark.parametrize("cut, verdict, says", [
    pytest.param(200, compare.INCONCLUSIVE, "enough to move the measurement", id="many-cut"),
    pytest.param(4, compare.PASS, "too few to matter", id="a-few-cut"),
])
def test_retries_the_deadline_cut_make_the_layer_inconclusive_when_they_matter(cut, verdict, says):
    scenario = builders.resolved_scenario(entry="inference", services={"inference": {}}, client={"retries": 2})
    (row,) = checks.retry_layers(scenario, "p", client(withheld={"no_time_left": cut}), {}, {})
    assert row.verdict == verdict and f"deadline cut {cut}" in row.note and says in row.note


CHAIN = {"gateway": {"calls": [{"service": "auth", "retries": 1}]},
         "auth": {"calls": [{"service": "inference"}], "envoy": {"retry": {"retry_on": "5xx", "num_retries": 1}}},
         "inference": {}}


def chain_servers(**rates) -> dict:
    calls = {"gateway": {"auth": {"attempts": 1300.0, "first_attempts": 1000.0, "failed_attempts": 390.0,
                                  "first_attempts_per_second": 50.0, "withheld": {},
                                  "attempts_by_number": {"0": 1000.0, "1": 300.0}}},
             "auth": {"inference": {"attempts": 0.0, "first_attempts": 0.0, "failed_attempts": 0.0,
                                    "first_attempts_per_second": 0.0, "withheld": {}, "attempts_by_number": {}}}}
    return {name: stats(arrival_rate_per_second=rate, completed=rate * 20, calls=calls.get(name, {}))
            for name, rate in rates.items()}


def test_an_application_retry_is_judged_on_the_callers_own_attempt_counts():
    scenario = builders.resolved_scenario(entry="gateway", services=CHAIN)
    servers = chain_servers(gateway=50.0, auth=65.0, inference=70.0)
    rows = [r for r in checks.retry_layers(scenario, "p", client(first_attempts_per_second=50.0), servers,
                                           {n: envoy() for n in servers}) if r.check == "retry_amplification"]
    (row,) = rows
    assert row.subject == "gateway → auth" and row.measured == pytest.approx(1.3)
    assert row.predicted == pytest.approx(1.3) and "p = 0.300" in row.note and row.verdict == compare.PASS


@pytest.mark.parametrize("inference_rate, verdict", [
    pytest.param(150.0, compare.PASS, id="below-the-worst-case"),
    pytest.param(700.0, compare.FAIL, id="above-it"),
])
def test_arrivals_per_request_are_held_against_the_worst_case_of_every_layer_above(inference_rate, verdict):
    scenario = builders.resolved_scenario(entry="gateway", services=CHAIN, client={"retries": 2})
    servers = chain_servers(gateway=60.0, auth=70.0, inference=inference_rate)
    rows = {r.subject: r for r in checks.worst_case_rows(scenario, "p", client(first_attempts_per_second=50.0),
                                                         servers)}
    # client r = 2 → 3 at gateway; gateway → auth r = 1 → 6 at auth (its Envoy adds ×2 → 12); inference: 12
    assert {name: row.predicted for name, row in rows.items()} == {"gateway": 3.0, "auth": 12.0, "inference": 12.0}
    assert rows["inference"].measured == pytest.approx(inference_rate / 50) and rows["inference"].verdict == verdict
    assert "Envoy → auth r = 1" in rows["inference"].note and rows["gateway"].verdict == compare.PASS


def test_a_budget_tightens_the_worst_case_of_its_layer():
    scenario = builders.resolved_scenario(entry="gateway", services={"gateway": {}},
                                          client={"retries": 3, "retry": {"budget": {"ratio": 0.1}}})
    (row,) = checks.worst_case_rows(scenario, "p", client(), {"gateway": stats(arrival_rate_per_second=52.0)})
    assert row.predicted == pytest.approx(1.1) and row.verdict == compare.PASS


def test_envoys_retry_limit_caps_the_predicted_retries_when_it_binds():
    services = {"inference": {"envoy": {"retry": {"retry_on": "5xx", "num_retries": 3},
                                        "circuit_breaker": {"max_retries": 1}}}}
    scenario = builders.resolved_scenario(entry="inference", services=services)
    # 100 originals/s, every attempt fails, each takes 0.1 s: one retry at a time allows 10 retries/s
    s = stats(arrival_rate_per_second=110.0, completed=1100.0, server_errors=1100.0, mean_response_seconds=0.1)
    (row,) = checks.envoy_retry_rows(scenario, "p", {"inference": s},
                                 {"inference": envoy(retries=100.0, retry_overflow=2900.0)})
    assert row.subject == "Envoy → inference" and row.measured == pytest.approx(1.1)
    assert row.predicted == pytest.approx(1.1) and "max_retries 1 binds" in row.note and row.verdict == compare.PASS


def test_an_envoy_retry_budget_caps_retries_at_its_share_of_the_active_requests():
    services = {"inference": {"envoy": {"retry": {"retry_on": "5xx", "num_retries": 3}, "circuit_breaker": {
        "retry_budget": {"budget_percent": 20, "min_retry_concurrency": 0}}}}}
    scenario = builders.resolved_scenario(entry="inference", services=services)
    s = stats(arrival_rate_per_second=125.0, completed=2500.0, server_errors=2500.0, mean_response_seconds=0.1)
    (row,) = checks.envoy_retry_rows(scenario, "p", {"inference": s},
                                 {"inference": envoy(retries=500.0)})
    assert row.predicted == pytest.approx(1.25) and "retry budget 20 %" in row.note  # f/(1 − f) = 0.25


def test_seed_rows_are_marked_and_stand_next_to_the_serial_model():
    scenario = builders.resolved_scenario(entry="gateway", services={"gateway": {"calls": [{"service": "inference"}]},
                                                                      "inference": {}})
    servers = {"gateway": stats(shed=0.0, completed=1000.0), "inference": stats(shed=200.0, completed=1000.0)}
    client = {"requests": 1000, "client_overflow": 0, "error_rate": 0.2}
    serial, seed = checks.cascade(scenario, "p", client, servers, {"gateway": envoy(), "inference": envoy()})
    assert (serial.check, serial.model, serial.verdict) == ("serial_goodput", compare.TEXTBOOK, compare.PASS)
    assert (seed.check, seed.model) == ("seed_cascade", compare.SEED)
    assert seed.predicted == pytest.approx(1 - 0.3 * 0.2)


def test_requests_that_reneged_make_the_queue_models_inconclusive_with_the_reason():
    """A propagated deadline that expires in the queue bounds the wait as no queue limit does:
    M/M/c/K would predict a queue of hundreds of seconds where abandonment keeps it at the deadline."""
    s = stats(arrival_rate_per_second=120.0, service_rate_per_second=25.0, servers=2.0, queue_limit=1024,
              own_response_seconds=5.0, completed=6000.0, shed=1600.0, shed_queue_full=0.0)
    (mean,) = checks.mmc_mean_response(SCENARIO, "storm", "inference", s)
    assert mean.verdict == compare.INCONCLUSIVE and "1600 of 6000 requests reneged" in mean.note
    (overflow,) = checks.envoy_overflow(breaker_scenario(), "storm", "inference", s, envoy(pending_overflow=100))
    assert overflow.verdict == compare.INCONCLUSIVE and "M/M/c+M" in overflow.note
    (mean,) = checks.mmc_mean_response(SCENARIO, "storm", "inference", stats(own_response_seconds=MMC_AT_08,
                                                                             shed=3.0, shed_queue_full=0.0))
    assert mean.verdict != compare.INCONCLUSIVE  # a handful (under 0.1 %) is no abandoning queue


def test_the_serial_model_does_not_judge_goodput_the_clients_own_timeouts_took():
    scenario = builders.resolved_scenario(entry="gateway", services={"gateway": {"calls": [{"service": "inference"}]},
                                                                      "inference": {}})
    servers = {"gateway": stats(shed=0.0, completed=1000.0), "inference": stats(shed=200.0, completed=1000.0)}
    client = {"requests": 1000, "client_overflow": 0, "error_rate": 1.0, "status_counts": {"timeout": 1000}}
    serial, seed = checks.cascade(scenario, "p", client, servers, {"gateway": envoy(), "inference": envoy()})
    assert serial.verdict == compare.INCONCLUSIVE and "1000 requests failed by the client's own timeout" in serial.note
    assert seed.model == compare.SEED


def test_the_seed_hpa_lag_row_compares_each_scale_up_with_30_seconds():
    timeline = {"scale_ups": [{"service": "inference", "lag_seconds": 41.0, "load_step_phase": "spike"},
                              {"service": "inference", "lag_seconds": None, "load_step_phase": None}]}
    measured, unknown = checks.seed_hpa_lag(SCENARIO, timeline)
    assert measured.model == compare.SEED and measured.predicted == 30.0 and measured.verdict == compare.FAIL
    assert (measured.phase, measured.measured) == ("spike", 41.0)
    assert unknown.verdict == compare.INCONCLUSIVE and "no replica became ready" in unknown.note


def test_an_envoy_row_says_when_the_callers_give_up_before_its_retries_end():
    services = {"gateway": {"calls": [{"service": "inference", "timeout_seconds": 0.04}]},
                "inference": {"envoy": {"retry": {"retry_on": "5xx", "num_retries": 1,
                                                  "per_try_timeout_seconds": 0.025}}}}
    scenario = builders.resolved_scenario(entry="gateway", services=services)
    s = stats(arrival_rate_per_second=110.0, completed=1100.0, server_errors=300.0, mean_response_seconds=0.02)
    (row,) = checks.envoy_retry_rows(scenario, "p", {"inference": s}, {"inference": envoy(retries=100.0)})
    assert "give up after 40 ms, before Envoy's tries may end (75 ms)" in row.note
