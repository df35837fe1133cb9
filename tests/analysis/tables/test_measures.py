"""Measured λ, μ, c, own response times and violation shares of one window.

Aspects: on the recorded smoke run, λ, μ and c agree with the raw Prometheus dumps computed by
hand; c counts only ready replicas' servers; a service that calls nobody gets its own response
time from its histogram, one that calls others Wq + S; per-service violation shares come from the
own-latency histogram with a Wilson interval (and say so when that histogram is missing); the
client's end-to-end violation share counts failures; the mirrored queue-limit defaults match the
services' own; scale-ups are timed from the load step to the first new replica ready; a caller's
attempts are counted by number, failed ones by code, with what its retry policy withheld.
"""
import math

import pytest

from analysis.tables import extract, measures


def test_lambda_mu_and_c_match_the_raw_dumps_of_the_recorded_run(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    s = measures.service_stats(run, "inference", start, end)
    (count,) = extract.select(run.series["work_count"], service="inference")
    (total,) = extract.select(run.series["work_sum"], service="inference")
    by_hand = extract.counter_increase(total, start, end) / extract.counter_increase(count, start, end)
    assert s["mean_service_seconds"] == pytest.approx(by_hand)
    assert s["service_rate_per_second"] == pytest.approx(1 / by_hand)
    assert s["servers"] == 4  # inference's default servers, one ready replica
    assert 8 < s["arrival_rate_per_second"] < 16
    assert s["own_response_seconds"] == pytest.approx(s["mean_service_seconds"], rel=0.05)  # no queue at ρ ≈ 0.03
    assert "Little" in s["own_response_source"]


def test_a_service_that_calls_nobody_takes_its_own_time_from_its_histogram(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    s = measures.service_stats(run, "formatter", start, end)
    assert s["own_response_seconds"] == s["mean_ok_response_seconds"]
    low, high = s["own_response_interval_seconds"]
    assert low < s["own_response_seconds"] < high
    assert "histogram" in s["own_response_source"]


def series(labels: dict, values: list[float], start: float = 0.0) -> extract.Series:
    return extract.Series(labels, tuple(start + i for i in range(len(values))), tuple(values))


def test_servers_count_only_ready_replicas():
    run = extract.Run(dir=None, scenario={"services": {"inference": {}}}, events=[], phases=[], requests=[],
                      series={"servers": [series({"service": "inference", "replica": "a"}, [4] * 10),
                                          series({"service": "inference", "replica": "b"}, [4] * 10)],
                              "ready": [series({"service": "inference", "replica": "a"}, [1] * 10),
                                        series({"service": "inference", "replica": "b"}, [0] * 5 + [1] * 5)]},
                      environment={})
    assert measures.capacity_samples(run, "inference", 0, 4) == [4.0] * 5
    assert measures.capacity_samples(run, "inference", 5, 9) == [8.0] * 5


def test_violation_shares_come_from_the_own_latency_histogram_with_an_interval(smoke_run):
    run = extract.load_run(smoke_run)
    run.scenario["slo"] = {"objective": 0.99, "end_to_end": {"latency_seconds": 0.05},
                           "services": {"formatter": {"latency_seconds": 0.004}, "auth": {"latency_seconds": 0.004}}}
    start, end = run.window(run.phases[0])
    formatter = measures.service_stats(run, "formatter", start, end)["slo"]
    assert 0 < formatter["violations"] < formatter["requests"]
    assert formatter["interval"][0] < formatter["violation_rate"] < formatter["interval"][1]
    auth = measures.service_stats(run, "auth", start, end)["slo"]  # auth calls featurestore
    assert math.isnan(auth["violation_rate"]) and auth["source"].startswith("unavailable")
    client = measures.client_stats(run, start, end)["slo"]
    slow = sum(1 for r in extract.within_window(run.requests, start, end) if r.latency_seconds > 0.05)
    assert client["violations"] == slow and client["interval"][0] <= client["violation_rate"]


@pytest.mark.parametrize("spec, scv", [
    pytest.param({"service_time": {"distribution": "exponential", "mean_seconds": 0.1}}, 1.0, id="exponential"),
    pytest.param({"service_time": {"distribution": "deterministic", "mean_seconds": 0.1}}, 0.0, id="deterministic"),
    pytest.param({"service_time": {"distribution": "lognormal", "mean_seconds": 0.1, "sigma": 1.0}}, math.e - 1,
                 id="lognormal"),
    pytest.param({"shards": 2, "service_time": {"distribution": "exponential", "mean_seconds": 0.1}},
                 (1 + 1 / 4) / 1.5**2, id="max-of-two-exponential-shards"),
])
def test_the_service_time_scv_follows_the_distribution_and_shards(spec, scv):
    assert measures.service_scv({"effective_services": {"inference": spec}}, "inference") == pytest.approx(scv, rel=0.03)


def test_a_run_without_the_effective_work_models_is_one_sentence():
    with pytest.raises(extract.RunDataError, match="scenario.json has no effective_services.inference"):
        measures.queue_limit_of({"services": {"inference": {}}}, "inference")


def phase_event(at: float, index: int, rate: float) -> dict:
    return {"time": at, "type": "phase", "index": index, "phase": f"p{index}", "arrival_rate_per_second": rate}


def test_the_slowest_replicas_share_of_the_window_is_measured(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    slow = extract.Series({"service": "inference", "replica": "inference-9", "code": "200"}, (start, end), (0.0, 10.0))
    slow_sum = extract.Series({"service": "inference", "replica": "inference-9", "code": "200"}, (start, end), (0.0, 5.0))
    run.series["request_count"] = run.series["request_count"] + [slow]
    run.series["request_sum"] = run.series["request_sum"] + [slow_sum]
    stats = measures.service_stats(run, "inference", start, end)
    fast = stats["completed"] - 10
    assert stats["slowest_replica_share"] == pytest.approx(10 / (fast + 10))
    assert stats["slowest_replica_mean_seconds"] == pytest.approx(0.5)
    assert stats["other_replicas_mean_seconds"] < 0.5
    single = measures.service_stats(extract.load_run(smoke_run), "inference", start, end)
    assert math.isnan(single["slowest_replica_share"])  # one replica: nothing to balance


def test_a_callers_attempts_are_counted_by_number_with_what_its_policy_withheld():
    labels = {"service": "gateway", "target": "auth", "replica": "r0"}
    run = extract.Run(dir=None, scenario={"services": {"gateway": {}, "auth": {}}}, events=[], phases=[], requests=[],
                      series={"downstream_attempts": [
                          series({**labels, "attempt": "0", "code": "200"}, [0, 70, 140]),
                          series({**labels, "attempt": "0", "code": "503"}, [0, 30, 60]),
                          series({**labels, "attempt": "1", "code": "timeout"}, [0, 10, 20]),
                          series({**labels, "attempt": "1", "code": "200"}, [0, 20, 40]),
                          series({**labels, "target": "formatter", "attempt": "0", "code": "200"}, [0, 5, 9])],
                          "downstream_withheld": [series({**labels, "reason": "retry_budget"}, [0, 0, 0]),
                                                  series({**labels, "reason": "throttled"}, [0, 4, 8])]},
                      environment={})
    calls = measures.call_stats(run, "gateway", "auth", 0, 2)
    assert calls["attempts_by_number"] == {"0": 200.0, "1": 60.0}
    assert (calls["attempts"], calls["first_attempts"], calls["failed_attempts"]) == (260.0, 200.0, 80.0)
    assert calls["first_attempts_per_second"] == pytest.approx(100.0)
    assert calls["withheld"] == {"throttled": 8.0}
