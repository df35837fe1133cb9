"""The HPA-lag timeline built from events, and its comparison with the lag model.

We test these aspects:

- a scale-up's stages are found from the events: the load step (a phase with a higher rate, or
  the latest jump up of the rate inside a phase, from the scenario's ``rate_steps``), the metric crossing, the decision, the first Ready new pod's phases and the p99 recovery;
- pods of a later decision and crossings before the step do not leak into a scale-up;
- a scale-down or a decision without new pods gives no (or partial) timeline, never an error;
- the sliding-window p99 series uses nearest rank over requests by completion time;
- the SLO is the scenario's end-to-end ``slo`` threshold when it has one, else the default;
- the comparison rows line measured terms up with both model budgets and the seed's 30 s;
- the waterfall PNG is written.
"""
from __future__ import annotations

import pytest

from analysis.formulas import lagmodel
from analysis.presentation import waterfall
from analysis.tables import lagtimeline

SCENARIO = {
    "services": {"inference": {"ready_after_seconds": 0.0}},
    "pods": {"scheduling_delay_seconds": 0.5, "container_start_seconds": 2.0, "readiness_period_seconds": 10.0},
    "autoscaling": {"inference": {"controller": {"sync_period_seconds": 15.0}}},
}


def event(time, type_, **fields):
    return {"time": time, "type": type_, **fields}


EVENTS = [
    event(100.0, "phase", phase="baseline", arrival_rate_per_second=20),
    event(120.0, "metric_crossed_target", service="inference", metric="m"),  # before the step: ignored
    event(140.0, "phase", phase="spike", arrival_rate_per_second=70),
    event(143.0, "metric_crossed_target", service="inference", metric="m"),
    event(150.0, "hpa_decision", service="inference", current_replicas=1, desired_replicas=3),
    event(150.1, "pod_created", service="inference", pod="inference-5"),
    event(150.1, "pod_created", service="inference", pod="inference-6"),
    event(150.6, "pod_scheduled", service="inference", pod="inference-5"),
    event(150.7, "pod_scheduled", service="inference", pod="inference-6"),
    event(152.6, "pod_started", service="inference", pod="inference-5"),
    event(152.7, "pod_started", service="inference", pod="inference-6"),
    event(162.7, "pod_ready", service="inference", pod="inference-6"),
    event(162.9, "pod_ready", service="inference", pod="inference-5"),
    event(163.5, "pod_first_request", service="inference", pod="inference-6"),
    event(165.0, "hpa_decision", service="inference", current_replicas=3, desired_replicas=4),
    event(165.1, "pod_created", service="inference", pod="inference-7"),
    event(200.0, "phase", phase="recovery", arrival_rate_per_second=20),
    event(500.0, "hpa_decision", service="inference", current_replicas=4, desired_replicas=1),
]


def test_a_scale_up_timeline_takes_each_stage_from_its_event():
    p99 = [(160.0, 3.0), (164.0, 1.5), (166.0, 0.8), (167.0, 0.5)]
    first, second = lagtimeline.scale_ups(EVENTS, p99=p99, slo_p99_seconds=1.0)
    assert first.times == {
        "load_step": 140.0, "metric_crossed": 143.0, "hpa_decision": 150.0, "pod_created": 150.1,
        "pod_scheduled": 150.7, "pod_started": 152.7, "pod_ready": 162.7, "pod_first_request": 163.5,
        "p99_recovered": 166.0}
    assert set(first.pods) == {"inference-5", "inference-6"}  # inference-7 belongs to the next decision
    assert (second.from_replicas, second.to_replicas, list(second.pods)) == (3, 4, ["inference-7"])
    assert second.times["pod_ready"] is None and second.times["p99_recovered"] is None


def test_a_scale_down_is_not_a_scale_up_and_missing_events_stay_none():
    ups = lagtimeline.scale_ups([event(5.0, "hpa_decision", service="x", current_replicas=1, desired_replicas=2)])
    assert ups[0].times["load_step"] is None and ups[0].intervals() == []
    assert lagtimeline.scale_ups([EVENTS[-1]]) == []


SQUARE_EVENTS = [  # a square wave (high the first 30 s of each 60 s) after a low baseline, two cycles
    event(100.0, "phase", index=0, phase="baseline", arrival_rate_per_second=15),
    event(130.0, "phase", index=1, phase="oscillating", arrival_rate_per_second=42.5),
    event(133.0, "metric_crossed_target", service="inference", metric="m"),
    event(135.0, "hpa_decision", service="inference", current_replicas=1, desired_replicas=2),
    event(165.0, "hpa_decision", service="inference", current_replicas=2, desired_replicas=1),
    event(192.0, "metric_crossed_target", service="inference", metric="m"),
    event(195.0, "hpa_decision", service="inference", current_replicas=1, desired_replicas=2),
]
SQUARE_STEPS = [[], [[0.0, 15, 70], [60.0, 15, 70]]]


def test_each_jump_of_the_rate_inside_a_phase_is_the_load_step_of_the_scale_up_after_it():
    first, second = lagtimeline.scale_ups(SQUARE_EVENTS, rate_steps=SQUARE_STEPS)
    assert (first.times["load_step"], first.load_step_phase) == (130.0, "oscillating")
    assert (second.times["load_step"], second.load_step_phase) == (190.0, "oscillating")
    assert second.measured("load_step", "metric_crossed") == pytest.approx(2.0)
    # without the steps (a run from before they were recorded) only the phase's start counts
    assert lagtimeline.scale_ups(SQUARE_EVENTS)[1].times["load_step"] == 130.0
    from_scenario = lagtimeline.timeline(SQUARE_EVENTS, [], {**SCENARIO, "rate_steps": SQUARE_STEPS})
    assert from_scenario["scale_ups"][1]["times"]["load_step"] == 190.0


def test_intervals_run_between_consecutive_measured_stages_in_seconds_since_the_step():
    first = lagtimeline.scale_ups(EVENTS)[0]
    labels = [label for label, _, _ in first.intervals()]
    assert labels[0] == "load_step → metric_crossed" and labels[-1] == "pod_ready → pod_first_request"
    assert first.intervals()[0][1:] == (0.0, 3.0)


def test_the_p99_series_is_nearest_rank_over_a_sliding_window_by_completion_time():
    requests = [(t / 10, 0.1) for t in range(100)] + [(9.95, 5.0)]
    series = dict(lagtimeline.p99_series(requests, window_seconds=5.0, step_seconds=1.0))
    assert series[5.0] == pytest.approx(0.1)
    assert series[10.0] == pytest.approx(5.0)  # 51 requests in (5, 10]: rank ceil(0.99·51) = 51


def test_the_slo_is_the_scenarios_end_to_end_threshold_when_it_declares_one():
    requests = [(float(t), 0.5) for t in range(100, 200)]
    declared = lagtimeline.timeline(EVENTS, requests, {**SCENARIO, "slo": {
        "objective": 0.95, "end_to_end": {"latency_seconds": 0.4}}})
    default = lagtimeline.timeline(EVENTS, requests, SCENARIO)
    assert (declared["slo_p99_seconds"], declared["slo_quantile"]) == (0.4, 0.95)
    assert declared["scale_ups"][0]["times"]["p99_recovered"] is None  # 0.5 s never meets 0.4 s
    assert default["slo_p99_seconds"] == lagtimeline.DEFAULT_SLO_P99_SECONDS
    assert default["scale_ups"][0]["times"]["p99_recovered"] == pytest.approx(163.0)


def test_the_lag_runs_from_the_load_step_to_the_first_new_replica_ready():
    first, second = lagtimeline.scale_ups(EVENTS)
    assert first.load_step_phase == "spike" and first.lag_seconds == pytest.approx(162.7 - 140.0)
    assert second.lag_seconds is None  # its pod never became ready
    entry = lagtimeline.timeline(EVENTS, [], SCENARIO)["scale_ups"][0]
    assert (entry["load_step_phase"], entry["lag_seconds"]) == ("spike", pytest.approx(22.7))


def test_comparison_rows_put_measured_terms_next_to_both_budgets():
    first = lagtimeline.scale_ups(EVENTS)[0]
    rows = {row["term"]: row for row in lagtimeline.comparison_rows(first, SCENARIO)}
    assert rows["metric_pipeline_seconds"]["measured_seconds"] == pytest.approx(3.0)
    assert rows["sync_pickup_seconds"]["measured_seconds"] == pytest.approx(7.0)
    assert rows["readiness_seconds"]["measured_seconds"] == pytest.approx(10.0)
    total = rows["total (step → ready)"]
    assert total["measured_seconds"] == pytest.approx(22.7)
    assert set(total) == {"term", "measured_seconds", "model (this run's settings)", "model (cluster defaults)"}
    assert total["model (cluster defaults)"] == pytest.approx(lagmodel.hpa_lag_budget().total_seconds)
    assert rows["sync_pickup_seconds"]["model (this run's settings)"] == pytest.approx(7.5)


def test_the_waterfall_png_is_written(tmp_path):
    entry = lagtimeline.timeline(EVENTS, [(t, 0.2) for t in range(100, 200)], SCENARIO)["scale_ups"][0]
    path = waterfall.waterfall_plot(entry, tmp_path / "lag.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
