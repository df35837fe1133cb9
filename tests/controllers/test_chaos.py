"""The fault executor's pure part and its loop against a recording fake backend (no processes).

Aspects: the plan orders starts and ends by time, ends before starts at one moment, and a 0 s kill
ends right after it starts; the pods a fault hits (all, a count, a share rounded up, never more than
run, the same for a seed and index); the fault state a replica holds while faults overlap and what a
proxy's fault filter holds; the loop applies nothing before the first stage begins, then each step
when due, in order, as an expected list of backend actions (a kill is replaced by as many pods as
died, overlapping faults on one replica compose and ending one keeps the other); every start and
end is a ``fault`` event with the pods it hit; a fault the backend refuses is a ``failed`` event and
one warning while later faults still run; ``stop`` cuts active faults short, clearing them without
replacing killed pods; every replica-state parameter is a field of the replica's ``FaultState``.
"""
from __future__ import annotations

import types

import pytest

from controllers import chaos
from schema import events as events_module
from schema import scenario as scenario_module
from services.common import faults as faults_module

ORIGIN = 1_000.0


def fault(kind: str, *, service: str = "inference", at: float = 1.0, duration: float = 2.0, **parameters):
    return scenario_module.Fault(kind=kind, service=service, at_seconds=at, duration_seconds=duration, **parameters)


class RecordingBackend:
    """The backend's fault members and ``pod_statuses``; records every call as an action tuple."""

    def __init__(self, pods: dict[str, list[str]], *, refuse: str | None = None) -> None:
        self.pods = {service: list(names) for service, names in pods.items()}
        self.refuse = refuse
        self.actions: list[tuple] = []
        self.created = 0

    def pod_statuses(self, service: str) -> list[dict]:
        return [{"name": name, "phase": "Running", "ready": True} for name in self.pods.get(service, [])]

    def kill_pods(self, service: str, pods: list[str]) -> list[str]:
        self._maybe_refuse("kill_pods")
        self.actions.append(("kill", service, tuple(pods)))
        self.pods[service] = [p for p in self.pods[service] if p not in pods]
        return list(pods)

    def replace_pods(self, service: str, count: int) -> list[str]:
        self.actions.append(("replace", service, count))
        names = [f"{service}-new{self.created + i}" for i in range(count)]
        self.created += count
        self.pods[service] += names
        return names

    def set_faults(self, service: str, faults: dict, *, pods: list[str] | None = None) -> list[str]:
        self._maybe_refuse("set_faults")
        self.actions.append(("faults", service, tuple(pods), faults))
        return [p for p in pods if p in self.pods[service]]

    def set_proxy_faults(self, service: str, **settings) -> None:
        self._maybe_refuse("set_proxy_faults")
        self.actions.append(("proxy", service, settings))

    def set_partitioned(self, service: str, pods: list[str], *, partitioned: bool) -> list[str]:
        self.actions.append(("partition", service, tuple(pods), partitioned))
        return list(pods)

    def _maybe_refuse(self, member: str) -> None:
        if self.refuse == member:
            raise RuntimeError(f"{member} is not supported on this backend")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(tmp_path):
    events = events_module.EventLog(tmp_path / "events.jsonl")
    yield events
    events.close()


def executor(faults, backend, log, *, clock, warnings=None, seed: int = 7) -> chaos.FaultExecutor:
    return chaos.FaultExecutor(scenario=types.SimpleNamespace(faults=tuple(faults), seed=seed), backend=backend,
                               events=log, first_stage_start=lambda: ORIGIN, clock=clock,
                               warn=(warnings.append if warnings is not None else lambda line: None))


def fault_events(log) -> list[tuple]:
    return [(e["phase"], e["fault"], e.get("pods")) for e in events_module.read_events(log.path) if e["type"] == "fault"]


# -- the pure part -------------------------------------------------------------------------------------

def test_the_plan_orders_by_time_with_ends_before_starts_at_one_moment():
    faults = (fault("latency", at=5, duration=5, extra_latency_seconds=0.1),
              fault("error-rate", at=10, duration=2, error_probability=0.5),
              fault("partition", at=1, duration=9, replicas=1))
    assert [(s.at_seconds, s.fault, s.step) for s in chaos.plan(faults)] == [
        (1, 2, "start"), (5, 0, "start"), (10, 0, "end"), (10, 2, "end"), (10, 1, "start"), (12, 1, "end")]


def test_a_kill_lasting_no_time_ends_right_after_it_starts():
    faults = (fault("kill", at=3, duration=0, replicas=1), fault("latency", at=1, duration=2, extra_latency_seconds=0.1))
    assert [(s.fault, s.step) for s in chaos.plan(faults)] == [(1, "start"), (1, "end"), (0, "start"), (0, "end")]


@pytest.mark.parametrize("parameters, wanted", [
    pytest.param({}, 4, id="all"),
    pytest.param({"replicas": 1}, 1, id="one"),
    pytest.param({"replica_share": 0.5}, 2, id="half"),
    pytest.param({"replica_share": 0.3}, 2, id="a-share-rounds-up"),
    pytest.param({"replicas": 9}, 4, id="more-than-run-takes-all"),
])
def test_a_fault_picks_all_a_count_or_a_share_rounded_up_of_the_pods(parameters, wanted):
    running = ["i-3", "i-1", "i-4", "i-2"]
    picked = chaos.pick_pods(fault("latency", extra_latency_seconds=0.1, **parameters), running, seed=1, index=0)
    assert len(picked) == wanted and set(picked) <= set(running) and picked == sorted(picked)


def test_the_pick_is_the_same_for_a_seed_and_index_and_moves_with_them():
    one = fault("kill", replicas=1)
    running = [f"i-{n}" for n in range(8)]
    picks = {tuple(chaos.pick_pods(one, running, seed=seed, index=index)) for seed in range(4) for index in range(4)}
    assert chaos.pick_pods(one, running, seed=3, index=2) == chaos.pick_pods(one, list(reversed(running)), seed=3,
                                                                             index=2)
    assert len(picks) > 1  # not always the first pod


def test_overlapping_faults_compose_into_one_fault_state_and_a_proxy_filter():
    state = chaos.compose([fault("latency", extra_latency_seconds=0.2), fault("error-rate", error_probability=0.1),
                           fault("cpu-hog", cpu_hog_cores=0.5)])
    assert state == {"extra_latency_seconds": 0.2, "error_probability": 0.1, "cpu_hog_cores": 0.5}
    assert chaos.compose([]) == {}
    assert chaos.proxy_settings([fault("dependency-abort", percent=30), fault("dependency-delay", percent=100,
                                                                              delay_seconds=0.25)]) == {
        "abort_percent": 30, "abort_status": 503, "delay_percent": 100, "delay_seconds": 0.25}
    assert chaos.proxy_settings([]) == {"abort_percent": 0, "abort_status": 503, "delay_percent": 0,
                                        "delay_seconds": 0.0}


def test_every_replica_state_parameter_is_a_field_of_the_replicas_fault_state():
    samples = {"latency": {"extra_latency_seconds": 0.1}, "error-rate": {"error_probability": 0.1},
               "gpu-slow": {"gpu_clock_factor": 0.5}, "gpu-stall": {}, "cpu-hog": {"cpu_hog_cores": 1}}
    assert set(samples) == set(chaos.REPLICA_STATE_KINDS)
    for kind, parameters in samples.items():
        state = chaos.replica_fields(fault(kind, **parameters))
        faults_module.FaultState(**state)  # refuses unknown fields
        assert set(state) <= set(faults_module.FaultState.model_fields)


# -- the loop --------------------------------------------------------------------------------------------

def test_nothing_happens_before_the_first_stage_begins(log):
    backend = RecordingBackend({"inference": ["i-1", "i-2"]})
    runner = chaos.FaultExecutor(scenario=types.SimpleNamespace(faults=(fault("kill", at=0, replicas=1),), seed=1),
                                 backend=backend, events=log, first_stage_start=lambda: None, tick_seconds=0.01)
    runner.start()
    runner.stop()
    assert backend.actions == [] and fault_events(log) == []


def test_each_step_is_applied_when_due_as_the_expected_backend_actions(log):
    faults = (fault("kill", at=1, duration=2, replicas=1),
              fault("dependency-abort", service="formatter", at=2, duration=3, percent=30, http_status=502),
              fault("partition", at=4, duration=1, replica_share=1))
    backend = RecordingBackend({"inference": ["i-1", "i-2"], "formatter": ["f-1"]})
    clock = Clock(ORIGIN)
    runner = executor(faults, backend, log, clock=clock)
    runner.step(ORIGIN)
    assert backend.actions == []
    clock.now = ORIGIN + 2.5
    runner.step(ORIGIN)
    (killed,) = [a[2] for a in backend.actions if a[0] == "kill"]
    assert backend.actions == [
        ("kill", "inference", killed),
        ("proxy", "formatter", {"abort_percent": 30, "abort_status": 502, "delay_percent": 0, "delay_seconds": 0.0})]
    clock.now = ORIGIN + 10
    runner.step(ORIGIN)
    assert backend.actions[2:] == [
        ("replace", "inference", 1),  # as many as died, when the kill ends
        ("partition", "inference", ("i-1", "inference-new0") if killed == ("i-2",) else ("i-2", "inference-new0"), True),
        ("proxy", "formatter", {"abort_percent": 0, "abort_status": 503, "delay_percent": 0, "delay_seconds": 0.0}),
        ("partition", "inference", backend.actions[3][2], False)]
    assert fault_events(log) == [("start", 0, list(killed)), ("start", 1, []), ("end", 0, list(killed)),
                                 ("start", 2, list(backend.actions[3][2])), ("end", 1, []),
                                 ("end", 2, list(backend.actions[3][2]))]
    start = next(e for e in events_module.read_events(log.path) if e["type"] == "fault" and e["fault"] == 1)
    assert start["scheduled_time"] == ORIGIN + 2 and start["time"] == ORIGIN + 2.5 and start["late_seconds"] == 0.5
    assert start["label"] == "formatter's proxy aborts 30% (502)"
    assert start["parameters"] == {"percent": 30, "http_status": 502}


def test_overlapping_faults_on_one_replica_compose_and_ending_one_keeps_the_other(log):
    faults = (fault("latency", at=1, duration=4, extra_latency_seconds=0.2),
              fault("error-rate", at=2, duration=5, error_probability=0.5))
    backend = RecordingBackend({"inference": ["i-1"]})
    clock = Clock(ORIGIN + 3)
    runner = executor(faults, backend, log, clock=clock)
    runner.step(ORIGIN)
    clock.now = ORIGIN + 8
    runner.step(ORIGIN)
    assert backend.actions == [
        ("faults", "inference", ("i-1",), {"extra_latency_seconds": 0.2}),
        ("faults", "inference", ("i-1",), {"extra_latency_seconds": 0.2, "error_probability": 0.5}),
        ("faults", "inference", ("i-1",), {"error_probability": 0.5}),
        ("faults", "inference", ("i-1",), {})]


def test_a_fault_the_backend_refuses_is_a_failed_event_and_a_warning_and_the_run_goes_on(log):
    faults = (fault("dependency-delay", service="formatter", at=1, duration=2, percent=100, delay_seconds=0.2),
              fault("kill", at=2, duration=1, replicas=1))
    backend = RecordingBackend({"inference": ["i-1", "i-2"], "formatter": ["f-1"]}, refuse="set_proxy_faults")
    warnings: list[str] = []
    clock = Clock(ORIGIN + 5)
    executor(faults, backend, log, clock=clock, warnings=warnings).step(ORIGIN)
    assert [a[0] for a in backend.actions] == ["kill", "replace"]
    assert fault_events(log)[0] == ("failed", 0, None)
    failed = next(e for e in events_module.read_events(log.path) if e["type"] == "fault" and e["phase"] == "failed")
    assert failed["step"] == "start" and "not supported on this backend" in failed["reason"]
    assert warnings == ["fault 0 (formatter's proxy delays 100% by 0.2 s) could not start: set_proxy_faults is not "
                        "supported on this backend"]
    assert [e[:2] for e in fault_events(log)[1:]] == [("start", 1), ("end", 1)]  # no end for the failed one


def test_a_fault_with_no_replica_to_hit_is_a_failed_event(log):
    backend = RecordingBackend({"inference": []})
    warnings: list[str] = []
    executor((fault("latency", extra_latency_seconds=0.1),), backend, log, clock=Clock(ORIGIN + 9),
             warnings=warnings).step(ORIGIN)
    assert backend.actions == [] and [e[0] for e in fault_events(log)] == ["failed"]
    assert warnings == ["fault 0 (+0.1 s latency on inference) could not start: no running replica of inference"]


def test_stop_cuts_active_faults_short_and_leaves_killed_pods_unreplaced(log):
    faults = (fault("kill", at=1, duration=5, replicas=1), fault("cpu-hog", service="gateway", at=1, duration=5,
                                                                  cpu_hog_cores=1))
    backend = RecordingBackend({"inference": ["i-1", "i-2"], "gateway": ["g-1"]})
    runner = executor(faults, backend, log, clock=Clock(ORIGIN + 2))
    runner.step(ORIGIN)
    runner.stop()
    assert [a[0] for a in backend.actions] == ["kill", "faults", "faults"]
    assert backend.actions[-1] == ("faults", "gateway", ("g-1",), {})
    ends = [e for e in events_module.read_events(log.path) if e["type"] == "fault" and e["phase"] == "end"]
    assert [(e["fault"], e["cut_short"]) for e in ends] == [(0, True), (1, True)]
    assert runner.active == {}
