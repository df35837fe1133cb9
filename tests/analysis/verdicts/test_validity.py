"""The run validity verdict, on runs built with one defect each.

Aspects: a clean run is valid; flow conservation names the hop where requests appeared or vanished
(a bypassed hop: the proxy forwarded, the replicas never counted; a shared listener: the caller sent
more than the proxy received; a caller's timed-out attempts may not have reached it) and is invalid unless a recorded death explains it (then degraded);
a run without proxy counters is degraded, one without any server-side series invalid; a window with
no scrape at all is a Prometheus gap, one target unscraped is a target gap, a target that simply
ended is neither; a generator that dropped or sent late is degraded for that phase, and a phase whose
arrival count cannot come from the scenario's rate is invalid; an Envoy outage that ended is
degraded, one that never ended invalid; a replica death is degraded unless a fault explains it; a
run whose runner never finished is truncated; the report withholds every verdict of an invalid run
and the client-side ones of a phase whose generator fell behind.
"""
import dataclasses
import math

import pytest

from analysis.presentation import report
from analysis.tables import extract
from analysis.verdicts import compare, validity

T0 = 1_000.0
SCENARIO = {
    "name": "v", "entry": "gateway", "window": {"warmup_seconds": 0, "cooldown_seconds": 0},
    "stages": [{"name": "steady", "duration_seconds": 20, "arrival_rate_per_second": 10}],
    "services": {"gateway": {"calls": [{"service": "inference"}]}, "inference": {}},
}
REQUESTS = 200


def counter(total: float, labels: dict, *, start: float = T0, end: float = T0 + 21, born: bool = False) -> extract.Series:
    """A counter scraped each second from ``start`` to ``end`` rising evenly to ``total``."""
    times = [start + i for i in range(int(end - start) + 1)]
    values = [total * i / (len(times) - 1) for i in range(len(times))]
    return extract.Series(labels, tuple(times), tuple(values))


def up(instance: str, *, start: float = T0, end: float = T0 + 21, gaps: tuple = ()) -> extract.Series:
    times = [t for t in (start + i for i in range(int(end - start) + 1)) if not any(a < t < b for a, b in gaps)]
    return extract.Series({"instance": instance}, tuple(times), tuple(1.0 for _ in times))


def flows(*, gateway_proxy=REQUESTS, gateway_fwd=REQUESTS, gateway_counted=REQUESTS, calls=REQUESTS,
          inference_proxy=REQUESTS, inference_fwd=REQUESTS, inference_counted=REQUESTS) -> dict:
    return {
        "envoy_downstream_rq": [counter(gateway_proxy, {"envoy_http_conn_manager_prefix": "gateway"}),
                                counter(inference_proxy, {"envoy_http_conn_manager_prefix": "inference"})],
        "envoy_upstream_rq": [counter(gateway_fwd, {"envoy_cluster_name": "gateway"}),
                              counter(inference_fwd, {"envoy_cluster_name": "inference"})],
        "request_count": [counter(gateway_counted, {"service": "gateway", "replica": "g0", "code": "200"}),
                          counter(inference_counted, {"service": "inference", "replica": "i0", "code": "200"})],
        "downstream_count": [counter(calls, {"service": "gateway", "replica": "g0", "target": "inference",
                                             "code": "200"})],
        "up": [up("127.0.0.1:1"), up("127.0.0.1:2"), up("127.0.0.1:3")],
    }


def requests(count: int = REQUESTS, *, lag: float = 0.001, overflow: int = 0) -> list[extract.Request]:
    rows = []
    for i in range(count):
        t = T0 + 0.5 + 19 * i / count
        if i < overflow:
            rows.append(extract.Request(t, t, 0.0, 0, 0, "steady", "client_overflow"))
        else:
            rows.append(extract.Request(t, t + 0.05, 0.05, 200, 1, "steady", "ok", lag, 1))
    return rows


def make_run(*, series: dict | None = None, reqs: list | None = None, events: list | None = None,
             finished: bool = True) -> extract.Run:
    events = [{"time": T0 - 1, "type": "run_started"}, {"time": T0, "type": "phase", "index": 0},
              *(events or [])] + ([{"time": T0 + 21, "type": "run_finished", "interrupted": False}] if finished else [])
    reqs = requests() if reqs is None else reqs
    events = sorted(events, key=lambda e: e["time"])
    return extract.Run(dir=None, scenario=SCENARIO, events=events,
                       phases=extract.read_phases(None, SCENARIO, events, reqs), requests=reqs,
                       series=flows() if series is None else series, environment={})


def messages(verdict: dict) -> list[str]:
    return [r["message"] for r in verdict["reasons"]]


def test_a_clean_run_is_valid_with_no_reason():
    verdict = validity.assess(make_run())
    assert verdict["status"] == validity.VALID and verdict["reasons"] == []
    assert [row["replicas_counted"] for row in verdict["flow"]] == [REQUESTS, REQUESTS]


def test_a_bypassed_hop_is_invalid_and_named():
    # the inference proxy forwarded everything, but its replicas never saw a request
    verdict = validity.assess(make_run(series=flows(inference_counted=0)))
    assert verdict["status"] == validity.INVALID
    (message,) = messages(verdict)
    assert message == ("flow not conserved at inference: its proxy forwarded 200 requests to its replicas, "
                       "which counted 0")


def test_a_shared_listener_port_is_invalid_at_the_callee():
    # half of gateway's calls to "inference" landed on another proxy listening on the same port
    verdict = validity.assess(make_run(series=flows(inference_proxy=100, inference_fwd=100, inference_counted=100)))
    assert verdict["status"] == validity.INVALID
    assert messages(verdict) == ["flow not conserved at inference: gateway sent 200 requests to its proxy, which "
                                 "counted 100"]


def test_the_client_side_bound_allows_attempts_that_never_got_an_answer():
    reqs = requests()
    reqs[:5] = [extract.Request(r.intended_start, r.finished, 5.0, 0, 1, "steady", "timeout", 0.001, 0) for r in reqs[:5]]
    assert validity.assess(make_run(reqs=reqs, series=flows(gateway_proxy=REQUESTS)))["status"] == validity.VALID
    assert validity.assess(make_run(reqs=reqs, series=flows(gateway_proxy=REQUESTS - 5)))["status"] == validity.VALID
    assert validity.assess(make_run(reqs=reqs, series=flows(gateway_proxy=REQUESTS - 12)))["status"] == validity.INVALID


def test_a_callers_timeouts_may_not_have_reached_the_proxy_at_an_inner_hop_either():
    """A propagated deadline can expire before an attempt is written: the caller counts a timeout
    the callee's proxy never saw, as the client's own unanswered attempts at the entry."""
    series = flows(calls=REQUESTS - 8, inference_proxy=REQUESTS - 5, inference_fwd=REQUESTS - 5,
                   inference_counted=REQUESTS - 5)
    series["downstream_count"].append(counter(8, {"service": "gateway", "replica": "g0", "target": "inference",
                                                  "code": "timeout"}))
    assert validity.assess(make_run(series=series))["status"] == validity.VALID
    series["envoy_downstream_rq"][1] = counter(REQUESTS - 20, {"envoy_http_conn_manager_prefix": "inference"})
    assert validity.assess(make_run(series=series))["status"] == validity.INVALID


def gauge(value_at_end: float, labels: dict, *, start: float = T0, end: float = T0 + 21) -> extract.Series:
    """A gauge scraped each second, 0 until its last sample, which is ``value_at_end``."""
    times = [start + i for i in range(int(end - start) + 1)]
    return extract.Series(labels, tuple(times), tuple([0.0] * (len(times) - 1) + [value_at_end]))


def test_requests_still_in_flight_at_the_end_are_allowed_for_and_no_more():
    """A queue that outlives the load: the proxies forwarded what the replicas have not counted yet.
    The last in-flight samples bound that on the upper side, at the callee and its caller alike."""
    series = flows(gateway_counted=REQUESTS - 30, calls=REQUESTS - 30, inference_counted=REQUESTS - 30)
    assert validity.assess(make_run(series=series))["status"] == validity.INVALID
    series["in_flight"] = [gauge(30, {"service": "gateway", "replica": "g0"}),
                           gauge(30, {"service": "inference", "replica": "i0"}),
                           gauge(99, {"service": "inference", "replica": "gone"}, end=T0 + 10)]  # left earlier
    verdict = validity.assess(make_run(series=series))
    assert verdict["status"] == validity.VALID, messages(verdict)
    assert [row["in_flight_at_end"] for row in verdict["flow"]] == [30, 30]
    series["in_flight"][1] = gauge(10, {"service": "inference", "replica": "i0"})
    assert messages(validity.assess(make_run(series=series))) == [
        "flow not conserved at inference: its proxy forwarded 200 requests to its replicas, which counted 170 "
        "and 10 still in flight at the end"]


def test_a_mismatch_explained_by_a_replica_death_only_degrades():
    died = {"time": T0 + 10, "type": "pod_died", "service": "inference", "pod": "i0", "returncode": -9}
    verdict = validity.assess(make_run(series=flows(inference_counted=190), events=[died]))
    assert verdict["status"] == validity.DEGRADED
    assert any("flow not conserved at inference" in m and "replica i0 dying mid-run" in m for m in messages(verdict))
    assert any("replica i0 died" in m and "without a fault" in m for m in messages(verdict))


def test_a_replica_killed_by_the_scenario_is_no_defect():
    fault = {"time": T0 + 9, "type": "fault", "service": "inference", "kind": "kill"}
    died = {"time": T0 + 10, "type": "pod_died", "service": "inference", "pod": "i0", "returncode": -9}
    verdict = validity.assess(make_run(events=[fault, died]))
    assert verdict["status"] == validity.VALID


def test_missing_series_are_degraded_or_invalid_by_what_is_missing():
    no_proxy = {k: v for k, v in flows().items() if k != "envoy_downstream_rq"}
    assert validity.assess(make_run(series=no_proxy))["status"] == validity.DEGRADED
    verdict = validity.assess(make_run(series={}))
    assert verdict["status"] == validity.INVALID
    assert "no server-side series were dumped" in messages(verdict)[0]


def test_a_window_without_any_scrape_is_a_prometheus_gap():
    series = flows()
    series["up"] = [up(name, gaps=((T0 + 5, T0 + 13),)) for name in ("a:1", "b:2", "c:3")]
    verdict = validity.assess(make_run(series=series))
    assert verdict["status"] == validity.DEGRADED
    (gap,) = verdict["gaps"]
    assert gap["target"] == "prometheus" and gap["end"] - gap["start"] == pytest.approx(8)
    assert messages(verdict) == ["Prometheus scraped nothing for 8 s (t = 6–14 s): no server-side sample exists "
                                 "there; rates span the gap and the plots break at it"]


def test_one_unscraped_target_is_a_target_gap_and_an_ended_target_is_none():
    series = flows()
    series["up"] = [up("a:1", gaps=((T0 + 5, T0 + 10),)), up("b:2"), up("c:3", end=T0 + 8)]
    verdict = validity.assess(make_run(series=series))
    assert [(g["target"], g["end"] - g["start"]) for g in verdict["gaps"]] == [("a:1", 5.0)]


def test_a_generator_that_dropped_arrivals_degrades_its_phase_and_withholds_client_verdicts():
    verdict = validity.assess(make_run(reqs=requests(overflow=12), series=flows(gateway_proxy=188, gateway_fwd=188,
                                                                                gateway_counted=188, calls=188,
                                                                                inference_proxy=188, inference_fwd=188,
                                                                                inference_counted=188)))
    assert verdict["status"] == validity.DEGRADED and verdict["generator_behind_phases"] == ["steady"]
    assert "fell behind in steady: dropped 12 of 200 arrivals" in messages(verdict)[0]
    client_row = compare.compare(check="seed_p99", subject="end-to-end", phase="steady", formula="f", measured=1,
                                 predicted=1, tolerance=0.1)
    server_row = dataclasses.replace(client_row, subject="inference")
    assert report.withhold(client_row, verdict).verdict == compare.WITHHELD
    assert report.withhold(server_row, verdict).verdict == compare.PASS


@pytest.mark.parametrize("lag_seconds, latency_seconds, behind", [
    pytest.param(0.155, 1.6, True, id="lag-a-tenth-of-the-tail"),
    pytest.param(0.012, 0.330, False, id="lag-under-5-percent-of-the-tail"),
    pytest.param(0.004, 0.050, False, id="lag-under-the-10-ms-floor"),
])
def test_late_sends_degrade_a_phase_when_the_lag_would_show_in_its_tail(lag_seconds, latency_seconds, behind):
    reqs = [extract.Request(r.intended_start, r.finished, latency_seconds, 200, 1, "steady", "ok",
                            lag_seconds if i % 20 == 0 else 0.001, 1) for i, r in enumerate(requests())]
    verdict = validity.assess(make_run(reqs=reqs))
    (row,) = verdict["generator"]
    assert row["late"] == (10 if lag_seconds > validity.LATE_SEND_SECONDS else 0)
    assert row["send_lag_p99_ms"] == pytest.approx(lag_seconds * 1000)
    assert row["behind"] is behind
    assert verdict["status"] == (validity.DEGRADED if behind else validity.VALID)
    if behind:
        assert "sent late: send lag p99 155 ms against a p99 latency of 1600 ms" in messages(verdict)[0]


def test_arrivals_far_from_the_scenarios_rate_are_invalid():
    verdict = validity.assess(make_run(reqs=requests(80), series=flows(gateway_proxy=80, gateway_fwd=80,
                                                                        gateway_counted=80, calls=80,
                                                                        inference_proxy=80, inference_fwd=80,
                                                                        inference_counted=80)))
    assert verdict["status"] == validity.INVALID
    assert "steady had 80 arrivals where the scenario's rate gives 200 ± 14" in messages(verdict)[0]


def test_an_envoy_outage_that_ended_degrades_and_one_that_never_did_invalidates():
    died = {"time": T0 + 5, "type": "process_died", "process": "envoy-inference", "role": "envoy",
            "service": "inference", "returncode": -9}
    back = {"time": T0 + 5.8, "type": "process_recovered", "process": "envoy-inference", "role": "envoy",
            "service": "inference", "down_since": T0 + 5, "restarts": 1}
    recovered = validity.assess(make_run(events=[died, back]))
    assert recovered["status"] == validity.DEGRADED
    assert recovered["outages"] == [{"process": "envoy-inference", "role": "envoy", "service": "inference",
                                     "start": T0 + 5, "end": T0 + 5.8, "recovered": True}]
    assert "served again 0.8 s later" in messages(recovered)[0]
    never = validity.assess(make_run(events=[died]))
    assert never["status"] == validity.INVALID and "never served again" in messages(never)[0]


def test_a_run_whose_runner_never_finished_is_cut_at_its_last_measurement():
    reqs = requests()[:100]  # the log stops half-way: the runner was killed at t ≈ 10 s
    run = make_run(reqs=reqs, finished=False, series=flows(gateway_proxy=100, gateway_fwd=100,
                                                           gateway_counted=100, calls=100, inference_proxy=100,
                                                           inference_fwd=100, inference_counted=100))
    (phase,) = run.phases
    assert phase.end == pytest.approx(reqs[-1].finished)
    verdict = validity.assess(run)
    assert verdict["status"] == validity.DEGRADED
    assert any(m.startswith("the runner never finished") for m in messages(verdict))
    (row,) = verdict["generator"]
    assert row["arrivals_off"] is False  # the arrivals are judged over the time that was measured


def test_an_invalid_run_has_every_verdict_withheld():
    verdict = validity.assess(make_run(series=flows(inference_counted=0)))
    row = compare.compare(check="littles_law", subject="inference", phase="steady", formula="L = λW", measured=1,
                          predicted=1, tolerance=0.1)
    withheld = report.withhold(row, verdict)
    assert withheld.verdict == compare.WITHHELD and withheld.note.startswith("withheld: run invalid")
    assert math.isclose(withheld.measured, 1)
