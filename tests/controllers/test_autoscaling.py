"""The local autoscaler on the real stack, and replaying what it recorded through the pure algorithm.

We test these aspects:

- a load step raises the in-flight-per-pod metric above its target, the loop rescales, and the new
  pods go through their phases (``metric_crossed_target``, ``hpa_decision``, pod events);
- every sync's full input and decision is in ``autoscaler/syncs.jsonl``, with each pod's phase,
  readiness and start time as the HPA sees them;
- replaying the recorded metric series through ``replaying.replay`` gives the same decisions,
  sync by sync, as the loop made (so the loop adds nothing to the algorithm);
- the decision input builders (pods, cpu samples, missing pods) without a stack.

The stack test is bounded: every wait has a deadline and the whole test takes well under 60 s.
"""
from __future__ import annotations

import json
import pathlib
import threading
import time

import httpx
import pytest

from controllers import autoscaling
from controllers.hpa import codec, horizontal, replaying
from schema import events as events_module
from deploy.local import backend as local_backend
from deploy.local import processes
from schema import scenario as scenario_module

SCENARIO = pathlib.Path(__file__).parent / "data" / "autoscaling-step.yaml"


class ClosedLoopLoad:
    """``workers`` threads each sending one request after another to ``url`` until stopped."""

    def __init__(self, url: str) -> None:
        self.url, self.stopping, self.threads = url, threading.Event(), []

    def add_workers(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=self._work, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _work(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                try:
                    client.post(f"{self.url}/v1/work", json={})
                except httpx.HTTPError:
                    pass  # a refused or timed-out request is still load; keep sending

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


def read_syncs(run_dir: pathlib.Path) -> list[dict]:
    path = run_dir / autoscaling.SYNCS_PATH
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(predicate, *, timeout_seconds: float, what: str) -> None:
    processes.wait_until(predicate, timeout_seconds=timeout_seconds, what=what, interval_seconds=0.1)


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    """A real run: baseline of 1 closed-loop client, then a step to 8; stops once a new pod serves."""
    run_dir = tmp_path_factory.mktemp("autoscaling-run")
    scenario = scenario_module.load_scenario(SCENARIO)
    events = events_module.EventLog(run_dir / "events.jsonl")
    backend = local_backend.LocalBackend(scenario, run_dir, events=events)
    backend.up()
    autoscaler = autoscaling.Autoscaler(scenario=scenario, backend=backend, events=events, run_dir=run_dir)
    load = ClosedLoopLoad(backend.endpoints()["entry_url"])
    try:
        autoscaler.start()
        load.add_workers(1)
        wait_for(lambda: len(read_syncs(run_dir)) >= 2, timeout_seconds=15, what="two baseline syncs")
        step_time = time.time()
        events.emit(events_module.PHASE, phase="step", index=1, arrival_rate_per_second=0)
        load.add_workers(7)
        wait_for(lambda: any(e["type"] == "pod_first_request" for e in events_module.read_events(events.path)),
                 timeout_seconds=35, what="a pod added by the autoscaler serving its first request")
        done = len(read_syncs(run_dir))
        wait_for(lambda: len(read_syncs(run_dir)) >= done + 1, timeout_seconds=10, what="one more sync")
    finally:
        load.stop()
        autoscaler.stop()
        backend.down()
        events.close()
    return {"run_dir": run_dir, "step_time": step_time, "syncs": read_syncs(run_dir),
            "events": events_module.read_events(run_dir / "events.jsonl")}


def test_a_load_step_makes_the_loop_scale_up_and_new_pods_go_through_their_phases(recorded_run):
    events, step = recorded_run["events"], recorded_run["step_time"]
    kinds = [e["type"] for e in events if e["time"] >= step]
    for kind in ("metric_crossed_target", "hpa_decision", "scale", "pod_created", "pod_scheduled", "pod_started",
                 "pod_ready", "pod_first_request"):
        assert kind in kinds, f"no {kind} after the load step; got {sorted(set(kinds))}"
    decision = next(e for e in events if e["type"] == "hpa_decision" and e["time"] >= step)
    assert decision["desired_replicas"] > decision["current_replicas"] == 1
    crossed = next(e for e in events if e["type"] == "metric_crossed_target" and e["time"] >= step)
    assert crossed["metric"] == "tailstorm_requests_in_flight" and crossed["time"] <= decision["time"]


def test_every_sync_records_its_full_input_with_pod_phases_as_the_hpa_sees_them(recorded_run):
    syncs = recorded_run["syncs"]
    assert all(set(s) >= {"input", "decision", "time"} for s in syncs)
    pods = [pod for s in syncs for pod in s["input"]["pods"]]
    assert {pod["phase"] for pod in pods} >= {"Running"}
    assert any(pod.get("ready", {}).get("status") == "True" and "startTime" in pod for pod in pods)
    after_scale = [s for s in syncs if s["input"]["currentReplicas"] > 1]
    assert after_scale, "no sync after the scale-up"
    # the scale's new pods appear in the next input, and at first as not Ready or without a sample
    first = after_scale[0]["input"]["pods"]
    assert len(first) == after_scale[0]["input"]["currentReplicas"]
    assert any(pod.get("ready", {}).get("status") != "True" or "metrics" not in pod for pod in first)


def test_replaying_the_recorded_metric_series_gives_the_decisions_the_loop_made(recorded_run):
    syncs = recorded_run["syncs"]
    per_sync = ("now", "currentReplicas", "pods", "podsMetrics")
    document = {"start": syncs[0]["input"],
                "syncs": [{key: s["input"][key] for key in per_sync if key in s["input"]} for s in syncs[1:]]}
    start, observations = codec.decode_replay(document)
    # replay() applies its first observation to the start state; an empty one replays sync 1 as recorded
    replayed = replaying.replay(start=start, observations=[replaying.SyncObservation()] + observations)
    assert [codec.encode_decision(d) for d in replayed] == [s["decision"] for s in syncs]
    assert any(d.rescale and d.desired_replicas > d.current_replicas for d in replayed)
    assert replayed[0] == horizontal.reconcile(start)


def test_pod_documents_show_pending_unready_and_missing_pods_as_the_api_would():
    pending = {"name": "p", "phase": "Pending", "ready": False, "created_at": 1.0, "start_time": None,
               "ready_since": None, "unready_since": None}
    assert autoscaling.pod_document(pending, cpu_request="200m", cpu=None, window=15) == {
        "name": "p", "phase": "Pending", "containers": [{"name": "app", "requests": {"cpu": "200m"}}]}
    booting = {**pending, "phase": "Running", "start_time": 2.0, "unready_since": 2.0}
    document = autoscaling.pod_document(booting, cpu_request="200m", cpu=(0.05, 9.0), window=15)
    assert document["ready"] == {"status": "False", "lastTransitionTime": 2.0}
    assert document["startTime"] == 2.0
    assert document["metrics"] == {"timestamp": 9.0, "window": 15,
                                   "containers": [{"name": "app", "usage": {"cpu": "50000000n"}}]}


def test_an_autoscaling_block_with_an_unknown_key_or_an_invalid_hpa_spec_is_rejected_naming_the_field(tmp_path):
    text = SCENARIO.read_text()
    unknown = tmp_path / "autoscaling-step.yaml"
    unknown.write_text(text.replace("maxReplicas: 3", "maxReplicas: 3\n    maxReplica: 4"))
    with pytest.raises(scenario_module.ScenarioError, match=r"autoscaling\.inference\.maxReplica: unknown key"):
        scenario_module.load_scenario(unknown)
    invalid = tmp_path / "sub" / "autoscaling-step.yaml"
    invalid.parent.mkdir()
    invalid.write_text(text.replace('averageValue: "2"', 'averageValue: "0"'))
    with pytest.raises(scenario_module.ScenarioError, match=r"spec\.metrics\[0\]\.pods\.target\.averageValue"):
        scenario_module.load_scenario(invalid)


def test_metric_levels_are_the_averages_the_decision_computed():
    spec = scenario_module.Autoscaling(
        maxReplicas=4, cpu_request="500m",
        metrics=({"type": "Pods", "pods": {"metric": {"name": "tailstorm_requests_in_flight"},
                                           "target": {"type": "AverageValue", "averageValue": "4"}}},
                 {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                             "averageUtilization": 60}}}))
    document = {"now": 100.0, "spec": spec.hpa_spec(), "currentReplicas": 2,
                "pods": [{"name": f"p{i}", "phase": "Running", "startTime": 0.0,
                          "ready": {"status": "True", "lastTransitionTime": 0.0},
                          "containers": [{"name": "app", "requests": {"cpu": "500m"}}],
                          "metrics": {"timestamp": 99.0, "window": 15,
                                      "containers": [{"name": "app", "usage": {"cpu": f"{cores}m"}}]}}
                         for i, cores in enumerate((400, 500))],
                "podsMetrics": {"tailstorm_requests_in_flight": {"timestamp": 100.0, "windowSeconds": 15,
                                                                 "values": {"p0": "2", "p1": "7"}}}}
    decision = horizontal.reconcile(codec.decode_state(document))
    pods_level, cpu_level = autoscaling.metric_levels(spec, "inference", decision)
    assert (pods_level["metric"], pods_level["target"], pods_level["value"]) == ("tailstorm_requests_in_flight", 4.0, 4.5)
    assert (cpu_level["metric"], cpu_level["target"], cpu_level["value"]) == ("cpu", 60.0, 90.0)  # 450m of 500m
    assert pods_level["aggregate"].startswith("avg(avg_over_time(tailstorm_requests_in_flight{")
