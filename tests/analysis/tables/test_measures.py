"""Measured λ, μ, c, own response times and violation shares of one window.

Aspects: on the recorded smoke run, λ, μ and c agree with the raw Prometheus dumps computed by
hand; c counts only ready replicas' servers; a service that calls nobody gets its own response
time from its histogram, one that calls others Wq + S; per-service violation shares come from the
own-latency histogram with a Wilson interval (and say so when that histogram is missing); the
client's end-to-end violation share counts failures; the mirrored queue-limit defaults match the
services' own; scale-ups are timed from the load step to the first new replica ready; a caller's
attempts are counted by number, failed ones by code, with what its retry policy withheld; per
request class, the client's measures come from that class's requests alone (worked by hand on a
small log), and a service's bulkhead refusals are counted per tenant and left out of what its
station admitted.
"""
import math

import pytest

from analysis.tables import extract, measures
from tests.analysis import builders


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


def test_each_class_is_measured_on_its_own_requests(tmp_path):
    log = tmp_path / "locust"
    log.mkdir()
    log.joinpath("requests.csv").write_text("\n".join([
        "intended_start,actual_start,latency_seconds,status,attempt,phase,outcome,request,class",
        "10.0,10.0,0.1,200,0,p,ok,1,a", "11.0,11.0,0.2,200,0,p,ok,2,a", "12.0,12.0,0.3,200,0,p,ok,3,a",
        "13.0,13.0,0.005,429,0,p,http_429,4,a",
        "14.0,14.0,1.0,200,0,p,ok,5,b", "15.0,15.0,2.0,200,0,p,ok,6,b", "16.0,16.0,0.5,503,0,p,http_503,7,b",
        "25.0,25.0,9.0,200,0,p,ok,8,b"]) + "\n")  # outside the window
    scenario = builders.resolved_scenario(services={"formatter": {}}, entry="formatter", client={"classes": [{"name": "a", "share": 0.5, "tenant": "a"},
                                                              {"name": "b", "share": 0.5, "tenant": "b"}]})
    run = extract.Run(dir=tmp_path, scenario=scenario, events=[], phases=[], requests=extract.read_requests(tmp_path),
                      series={}, environment={})
    client = measures.client_stats(run, 10.0, 20.0)
    a, b = client["classes"]["a"], client["classes"]["b"]
    assert (client["requests"], client["rejected"]) == (7, 1)
    assert (a["requests"], a["offered_rate_per_second"], a["throughput_per_second"]) == (4, 0.4, pytest.approx(0.3))
    assert (a["error_rate"], a["rejected"], a["arrival_share"]) == (0.25, 1, pytest.approx(4 / 7))
    assert (a["p50_ms"], a["p99_ms"]) == (pytest.approx(100.0), pytest.approx(300.0))  # nearest rank of 0.005…0.3 s
    assert (b["requests"], b["error_rate"], b["rejected"]) == (3, pytest.approx(1 / 3), 0)
    assert (b["p50_ms"], b["p99_ms"]) == (pytest.approx(1000.0), pytest.approx(2000.0))
    assert b["status_counts"] == {"ok": 2, "http_503": 1}
    assert "classes" not in measures.client_stats(
        extract.Run(dir=tmp_path, scenario=builders.resolved_scenario(services={"formatter": {}}, entry="formatter"), events=[], phases=[], requests=run.requests,
                    series={}, environment={}), 10.0, 20.0)


def test_a_services_bulkhead_refusals_are_counted_per_tenant(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    first = run.series["servers"][0].times[0]
    run.series["tenant_rejected"] = [
        series({"service": "inference", "replica": "r0", "tenant": "b"}, [0, 0, 3, 7, 7] + [7] * 200, first),
        series({"service": "inference", "replica": "r0", "tenant": "a"}, [0] * 205, first),
        series({"service": "auth", "replica": "r0", "tenant": "b"}, [0, 5, 5] + [5] * 202, first)]
    stats = measures.service_stats(run, "inference", first - 1, first + 300)
    assert stats["tenant_rejected"] == {"a": 0.0, "b": 7.0}
    assert stats["admitted"] == stats["completed"] - 7  # the station's arrivals: the refused never queued
    assert measures.service_stats(run, "formatter", start, end)["tenant_rejected"] == {}
