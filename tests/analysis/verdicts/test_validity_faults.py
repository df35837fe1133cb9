"""Validity and the plots when the scenario's fault schedule did the damage (analysis of events only).

Aspects: a replica the scenario's kill hit, and the requests lost with it, leave the run valid with
the loss noted; a death the kill did not name, or one before it, still degrades it; a fault that
could not start or could not be cleared degrades the run, naming the fault and why; each fault's
window runs from its start to its end event (to the run's last event, marked, if it never ended;
an older run's fault without phase is an instant); a proxy's fault-filter answers count among the
proxy's own answers; the plots' fault windows carry the labels, and every time plot of a recorded
run shows each label.
"""
import json
import pathlib
import shutil

import pytest

from analysis.presentation import plotting, report
from analysis.tables import extract
from analysis.verdicts import validity
from tests.analysis.verdicts import test_validity as base

T0 = base.T0


def kill(time: float, pods: list[str], *, phase: str = "start", fault: int = 0) -> dict:
    return {"time": time, "type": "fault", "phase": phase, "fault": fault, "kind": "kill", "service": "inference",
            "label": "kill 1 inference replica", "pods": pods}


def died(time: float, pod: str = "i0") -> dict:
    return {"time": time, "type": "pod_died", "service": "inference", "pod": pod, "returncode": -9}


def test_a_replica_the_scenarios_kill_hit_and_the_requests_lost_with_it_leave_the_run_valid():
    run = base.make_run(series=base.flows(inference_counted=190), events=[kill(T0 + 9, ["i0"]), died(T0 + 9.2),
                                                                          kill(T0 + 12, ["i0"], phase="end")])
    verdict = validity.assess(run)
    assert verdict["status"] == validity.VALID
    (note,) = verdict["reasons"]
    assert note["severity"] == validity.VALID
    assert note["message"] == ("flow not conserved at inference: its proxy forwarded 200 requests to its replicas, "
                               "which counted 190 (accounted for by the scenario's kill of i0 dying mid-run)")


def test_a_death_the_kill_did_not_name_or_that_came_before_it_still_degrades():
    for events in ([kill(T0 + 9, ["i1"]), died(T0 + 10)], [died(T0 + 8), kill(T0 + 9, ["i0"])]):
        verdict = validity.assess(base.make_run(events=events))
        assert verdict["status"] == validity.DEGRADED
        assert any("replica i0 died" in m and "without a fault" in m for m in base.messages(verdict))


def test_a_fault_that_could_not_start_or_be_cleared_degrades_the_run_naming_it():
    failed = [{"time": T0 + 3, "type": "fault", "phase": "failed", "fault": 0, "kind": "partition",
               "service": "inference", "label": "partition 1 inference replica from its proxy", "step": "start",
               "reason": "partitioning a pod from its Envoy is not supported on a cluster yet"},
              {"time": T0 + 9, "type": "fault", "phase": "failed", "fault": 1, "kind": "latency",
               "service": "inference", "label": "+0.2 s latency on inference", "step": "end",
               "reason": "inference-1: its admin API did not answer"}]
    verdict = validity.assess(base.make_run(events=failed))
    assert verdict["status"] == validity.DEGRADED
    assert base.messages(verdict) == [
        "the scheduled fault 'partition 1 inference replica from its proxy' could not start at t = 4.0 s: "
        "partitioning a pod from its Envoy is not supported on a cluster yet; the run did not get the damage its "
        "scenario describes",
        "the scheduled fault '+0.2 s latency on inference' could not be cleared at t = 10.0 s: inference-1: its admin "
        "API did not answer; it held on past its window"]


def test_each_faults_window_runs_from_its_start_to_its_end_or_to_the_runs_last_event():
    latency = {"type": "fault", "fault": 1, "kind": "latency", "service": "inference",
               "label": "+0.2 s latency on inference", "pods": ["i0", "i1"]}
    events = [kill(T0 + 2, ["i0"]), kill(T0 + 2, ["i0"], phase="end"), {**latency, "time": T0 + 5, "phase": "start"},
              {"time": T0 + 1, "type": "fault", "service": "auth", "kind": "kill"}]  # an older run's fault
    run = base.make_run(events=events)
    assert [(w["label"], w["start"], w["end"], w["ended"]) for w in validity.fault_windows(run)] == [
        ("kill auth", T0 + 1, T0 + 1, True), ("kill 1 inference replica", T0 + 2, T0 + 2, True),
        ("+0.2 s latency on inference", T0 + 5, T0 + 21, False)]
    assert plotting.fault_windows(run) == [(T0 + 1, T0 + 1, "kill auth"), (T0 + 2, T0 + 2, "kill 1 inference replica"),
                                           (T0 + 5, T0 + 21, "+0.2 s latency on inference (not cleared)")]
    assert validity.assess(run)["faults"] == validity.fault_windows(run)


def test_a_proxys_fault_filter_answers_count_among_its_own_answers():
    series = base.flows(inference_proxy=200, inference_fwd=150, inference_counted=150, calls=200)
    series["envoy_fault_aborts"] = [base.counter(50, {"envoy_http_conn_manager_prefix": "inference"})]
    verdict = validity.assess(base.make_run(series=series))
    assert verdict["status"] == validity.VALID
    (row,) = [r for r in verdict["flow"] if r["service"] == "inference"]
    assert row["proxy_answered_itself"] == 50


def test_every_time_plot_of_a_recorded_run_shows_each_faults_label(tmp_path, monkeypatch):
    run_dir = tmp_path / "smoke-run"
    shutil.copytree(pathlib.Path(__file__).parents[1] / "data" / "smoke-run", run_dir)
    phase = next(e for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines()) if e["type"] == "phase")
    faults = [{**kill(phase["time"] + 4, ["inference-4"]), "service": "inference"},
              {**kill(phase["time"] + 7, ["inference-4"], phase="end"), "service": "inference"}]
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as log:
        log.writelines(json.dumps(e) + "\n" for e in faults)
    texts: dict[str, list[str]] = {}
    save = plotting.save

    def keep_texts(fig, path):
        texts[path.stem] = [t.get_text() for ax in fig.axes for t in ax.texts]
        save(fig, path)
    monkeypatch.setattr(plotting, "save", keep_texts)
    report.build(run_dir)
    time_plots = ("latency", "throughput", "in_flight", "replicas", "overflow")
    assert {name: "kill 1 inference replica" in texts[name] for name in time_plots} == dict.fromkeys(time_plots, True)
    assert "## Scheduled faults" in (run_dir / "report.md").read_text()
    (window,) = validity.fault_windows(extract.load_run(run_dir))
    assert window["end"] - window["start"] == pytest.approx(3)
