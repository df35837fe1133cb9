"""Reading a recorded run into tidy records (tests/analysis/data/smoke-run).

Aspects: a run loads with its phase, requests and every dumped series; the measurement window
trims warm-up and cool-down; per-scrape counter increments add up to the counter's increase over
the window, resets included; the share of a histogram above a threshold is exact on a bucket bound
and interpolated inside a bucket; tidy tables (requests, per-service series, events) respect the
window; a directory that is not a run is one sentence naming the missing file; attempts the client's
retry policy withheld are folded into their request as its reason, never as attempts.
"""
import math

import pytest

from analysis.tables import extract
from services.common import retrying


def test_a_recorded_run_loads_with_its_phase_requests_and_series(smoke_run):
    run = extract.load_run(smoke_run)
    (phase,) = run.phases
    assert phase.name == "steady" and phase.end - phase.start == pytest.approx(8.0)
    assert len(run.requests) == 92 and all(r.ok for r in run.requests)
    assert run.services == ["gateway", "auth", "featurestore", "inference", "formatter"]
    assert {s.labels["service"] for s in run.series["work_count"]} == set(run.services)
    assert run.series["work_bucket"] == []  # not dumped by that run: reads as no series


def test_the_window_cuts_warmup_and_cooldown_from_the_phase(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    assert start == pytest.approx(run.phases[0].start + 1) and end == pytest.approx(run.phases[0].end - 1)
    inside = extract.within_window(run.requests, start, end)
    assert 45 < len(inside) < 75 and all(start <= r.intended_start < end for r in inside)


def test_scrape_increments_add_up_to_the_counter_increase(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    for name in ("request_count", "request_sum", "work_count", "work_sum"):
        for series in run.series[name]:
            steps = extract.increments([series], start, end)
            assert sum(d for _, d in steps) == pytest.approx(extract.counter_increase(series, start, end))
            assert all(d >= 0 for _, d in steps)


def test_increments_count_a_counter_reset_from_zero():
    series = extract.Series({"service": "x"}, (0.0, 1.0, 2.0, 3.0), (10.0, 14.0, 3.0, 5.0))
    assert extract.increments([series], 0.5, 3.0) == [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0)]


def test_paired_increments_align_sum_and_count_on_the_same_scrapes():
    total = extract.Series({}, (0.0, 1.0, 2.0), (0.0, 0.5, 0.9))
    count = extract.Series({}, (0.0, 1.0, 2.0), (0, 10, 18))
    sums, counts = extract.paired_increments([total], [count], 0.5, 2.0)
    assert sums == pytest.approx([0.5, 0.4]) and counts == [10, 8]


@pytest.mark.parametrize("threshold, above", [
    pytest.param(0.2, 10.0, id="on-a-bound"),
    pytest.param(0.15, 20.0, id="inside-a-bucket"),
    pytest.param(5.0, 4.0, id="in-the-inf-bucket"),
    pytest.param(0.01, 93.0, id="in-the-first-bucket-from-zero"),
])
def test_fraction_above_is_exact_on_bounds_and_interpolated_inside(threshold, above):
    buckets = {0.1: 70.0, 0.2: 90.0, 1.0: 96.0, math.inf: 100.0}
    assert extract.fraction_above(threshold, buckets) == pytest.approx((above, 100.0))


def test_service_points_are_tidy_rows_inside_the_window(smoke_run):
    run = extract.load_run(smoke_run)
    start, end = run.window(run.phases[0])
    rows = extract.service_points(run, start, end)
    assert {r.metric for r in rows} >= {"in_flight", "ready", "servers", "request_count_per_second"}
    assert all(start <= r.time <= end for r in rows)
    ready = [r.value for r in rows if r.metric == "ready" and r.service == "inference"]
    assert ready and set(ready) == {1.0}
    rates = [r.value for r in rows if r.metric == "work_count_per_second" and r.service == "gateway"]
    assert 5 < sum(rates) / len(rates) < 20  # the client sent 10 requests per second


def test_event_rows_lift_the_service_out_of_the_fields(smoke_run):
    run = extract.load_run(smoke_run)
    rows = extract.event_rows(run.events)
    ready = [r for r in rows if r.type == "pod_ready"]
    assert {r.service for r in ready} == set(run.services)
    assert all('"pod"' in r.detail for r in ready)


def test_a_directory_without_a_scenario_is_named_in_one_sentence(tmp_path):
    with pytest.raises(extract.RunDataError, match="scenario.json is missing; is this a tailstorm run directory"):
        extract.load_run(tmp_path)
    with pytest.raises(extract.RunDataError, match="is not a directory"):
        extract.load_run(tmp_path / "nope")


def test_visits_multiply_a_fan_out_and_add_calls_in_sequence():
    scenario = {"entry": "gateway", "services": {
        "gateway": {"calls": [{"service": "featurestore", "parallel": 10}, {"service": "formatter"}]},
        "featurestore": {"calls": [{"service": "formatter"}]}, "formatter": {}}}
    assert extract.visits(scenario) == {"gateway": 1, "featurestore": 10, "formatter": 11}


def write_requests(run_dir, rows: list[str]) -> list[extract.Request]:
    (run_dir / "locust").mkdir(parents=True, exist_ok=True)
    header = "intended_start,actual_start,latency_seconds,status,attempt,phase,outcome"
    (run_dir / "locust" / "requests.csv").write_text("\n".join([header, *rows]) + "\n")
    return extract.read_requests(run_dir)


def test_attempts_the_retry_policy_withheld_are_not_attempts(tmp_path):
    throttled, over_budget, cut, plain = write_requests(tmp_path, [
        "10.0,,,0,0,p,throttled",
        "11.0,11.001,0.01,503,0,p,http_503", "11.0,11.02,0.01,503,1,p,http_503", "11.0,,,0,2,p,retry_budget",
        "12.0,12.0,0.1,0,0,p,timeout", "12.0,,,0,1,p,no_time_left",
        "13.0,13.0,0.01,503,0,p,http_503", "13.0,13.02,0.02,200,1,p,ok",
    ])
    assert (throttled.attempts, throttled.outcome, throttled.withheld, throttled.ok) == (0, "throttled", "throttled", False)
    assert throttled.latency_seconds == 0.0
    assert (over_budget.attempts, over_budget.status, over_budget.outcome) == (2, 503, "http_503")
    assert over_budget.withheld == "retry_budget" and over_budget.latency_seconds == pytest.approx(0.03)
    assert (over_budget.answered_attempts, over_budget.accepted_attempts) == (2, 0)
    assert (cut.attempts, cut.outcome, cut.withheld, cut.answered_attempts) == (1, "timeout", "no_time_left", 0)
    assert (plain.attempts, plain.ok, plain.accepted_attempts, plain.withheld) == (2, True, 1, "")


def test_the_withheld_outcomes_are_the_reasons_the_callers_write():
    # the analysis reads them from the run's files as data; this keeps the two spellings in step
    assert extract.WITHHELD_OUTCOMES == retrying.WITHHELD_REASONS


def test_the_class_column_names_each_requests_class_and_an_older_log_reads_as_no_class(tmp_path):
    log = tmp_path / "new" / "locust"
    log.mkdir(parents=True)
    log.joinpath("requests.csv").write_text(
        "intended_start,actual_start,latency_seconds,status,attempt,phase,outcome,request,class\n"
        "10.0,10.0,0.1,200,0,p,ok,1,interactive\n"
        "10.5,10.5,0.01,503,0,p,http_503,2,batch\n10.5,10.6,0.3,200,1,p,ok,2,batch\n"
        "11.0,,,0,0,p,client_overflow,3,batch\n")
    interactive, batch, overflow = extract.read_requests(tmp_path / "new")
    assert (interactive.request_class, batch.request_class, overflow.request_class) == ("interactive", "batch", "batch")
    assert (batch.attempts, batch.ok) == (2, True)
    (old,) = write_requests(tmp_path / "old", ["10.0,10.0,0.1,200,0,p,ok"])
    assert old.request_class == ""
