"""Reconstructing the HPA-lag timeline from recorded Kubernetes API objects.

We test these aspects:

- one poll reads the HPA, its target's scale, the selected pods and the HPA's Events, in that order;
- ``hpa_decision`` from ``SuccessfulRescale`` Events (previous size from the previous Event),
  with the HPA status's metrics on the rescale at ``lastScaleTime``; other Events are ignored;
- ``pod_created`` / ``pod_scheduled`` / ``pod_started`` / ``pod_ready`` from pod metadata,
  conditions and container states; phases that have not happened yet are not emitted;
- polling again emits only what is new (idempotent), through ``schema.events.EventLog``;
- an expired rescale Event is recovered from ``status.lastScaleTime``; aggregated Events
  (``count`` > 1) yield their first and last occurrence.
"""
from __future__ import annotations

import copy
import datetime
import json
import pathlib
from typing import Any

import pytest

from controllers import kube, lagrecording
from schema import events as event_log

DATA = pathlib.Path(__file__).parent / "data"
NAMESPACE = "tailstorm"
SELECTOR = "app.kubernetes.io/instance=tailstorm,app.kubernetes.io/name=inference"
RESCALE_REASON = "cpu resource utilization (percentage of request) above target"
STATUS_METRICS = [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "412m", "averageUtilization": 82}}}]


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def t(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FakeKube:
    """Serves recorded objects the way the API would, and records every call it gets."""

    def __init__(self, *, hpa: dict, scale: dict, pods: dict, events: dict) -> None:
        self.hpa, self.scale, self.pods, self.events = hpa, scale, pods, events
        self.actions: list[tuple[Any, ...]] = []

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.actions.append(("list", "pods", namespace, label_selector))
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(","))
        return [p for p in self.pods["items"] if p["metadata"]["namespace"] == namespace
                and wanted.items() <= p["metadata"].get("labels", {}).items()]

    def get_hpa(self, *, namespace: str, name: str) -> dict[str, Any]:
        self.actions.append(("get", "horizontalpodautoscalers", namespace, name))
        if (self.hpa["metadata"]["namespace"], self.hpa["metadata"]["name"]) != (namespace, name):
            raise kube.NotFound(f"horizontalpodautoscalers {name} not found", status=404)
        return self.hpa

    def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        self.actions.append(("list", "events", namespace, kind, name))
        return [e for e in self.events["items"]
                if (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["metadata"]["namespace"]) == (kind, name, namespace)]

    def get_scale(self, *, namespace: str, kind: str, name: str) -> dict[str, Any]:
        self.actions.append(("get", f"{kind}/scale", namespace, name))
        return self.scale

    def patch_scale(self, *, namespace: str, kind: str, name: str, replicas: int) -> dict[str, Any]:
        self.actions.append(("patch", f"{kind}/scale", namespace, name, replicas))
        raise AssertionError("the lag recorder never writes")


@pytest.fixture
def fake_kube() -> FakeKube:
    return FakeKube(hpa=load("hpa.json"), scale=load("scale.json"), pods=load("pods.json"), events=load("events.json"))


@pytest.fixture
def recorder_and_log(fake_kube: FakeKube, tmp_path: pathlib.Path):
    log = event_log.EventLog(tmp_path / "events.jsonl")
    recorder = lagrecording.LagRecorder(kube_api=fake_kube, event_log=log, namespace=NAMESPACE, hpa_name="inference", service="inference")
    yield recorder, tmp_path / "events.jsonl"
    log.close()


def pod_line(type_: str, time: str, suffix: str) -> dict[str, Any]:
    return {"time": t(time), "type": type_, "service": "inference", "pod": f"inference-7c9d5b6f4d-{suffix}"}


def decision_line(time: str, current: int | None, desired: int, metrics: Any) -> dict[str, Any]:
    return {"time": t(time), "type": "hpa_decision", "service": "inference", "current_replicas": current,
            "desired_replicas": desired, "reason": RESCALE_REASON, "metrics": metrics}


FIRST_POLL = [
    pod_line("pod_created", "2024-05-01T11:37:55Z", "m8w4t"),
    pod_line("pod_created", "2024-05-01T11:37:55Z", "x2kqp"),
    pod_line("pod_scheduled", "2024-05-01T11:37:55Z", "m8w4t"),
    pod_line("pod_scheduled", "2024-05-01T11:37:55Z", "x2kqp"),
    pod_line("pod_started", "2024-05-01T11:37:58Z", "m8w4t"),
    pod_line("pod_started", "2024-05-01T11:37:58Z", "x2kqp"),
    pod_line("pod_ready", "2024-05-01T11:38:09Z", "x2kqp"),
    pod_line("pod_ready", "2024-05-01T11:38:10Z", "m8w4t"),
    decision_line("2024-05-01T12:00:31Z", None, 3, None),
    pod_line("pod_created", "2024-05-01T12:00:31Z", "r7bzn"),
    pod_line("pod_scheduled", "2024-05-01T12:00:31Z", "r7bzn"),
    pod_line("pod_started", "2024-05-01T12:00:33Z", "r7bzn"),
    pod_line("pod_ready", "2024-05-01T12:00:41Z", "r7bzn"),
    decision_line("2024-05-01T12:01:16Z", 3, 4, STATUS_METRICS),
    pod_line("pod_created", "2024-05-01T12:01:16Z", "h5vcj"),
    pod_line("pod_scheduled", "2024-05-01T12:01:17Z", "h5vcj"),
    pod_line("pod_started", "2024-05-01T12:01:19Z", "h5vcj"),
]


def test_first_poll_emits_the_whole_timeline_in_time_order(recorder_and_log) -> None:
    recorder, path = recorder_and_log
    recorder.record_once()
    assert event_log.read_events(path) == FIRST_POLL


def test_poll_reads_hpa_then_scale_then_pods_then_events_and_never_writes(recorder_and_log, fake_kube: FakeKube) -> None:
    recorder, _ = recorder_and_log
    recorder.record_once()
    assert fake_kube.actions == [
        ("get", "horizontalpodautoscalers", NAMESPACE, "inference"),
        ("get", "Deployment/scale", NAMESPACE, "inference"),
        ("list", "pods", NAMESPACE, SELECTOR),
        ("list", "events", NAMESPACE, "HorizontalPodAutoscaler", "inference"),
    ]


def test_later_polls_emit_only_what_happened_since(recorder_and_log, fake_kube: FakeKube) -> None:
    recorder, path = recorder_and_log
    recorder.record_once()
    fake_kube.pods = load("pods-later.json")
    assert [e.type for e in recorder.record_once()] == ["pod_ready"]
    assert recorder.record_once() == []
    assert event_log.read_events(path) == FIRST_POLL + [pod_line("pod_ready", "2024-05-01T12:01:29Z", "h5vcj")]


def test_missing_hpa_surfaces_as_not_found(recorder_and_log, fake_kube: FakeKube) -> None:
    recorder, path = recorder_and_log
    fake_kube.hpa = copy.deepcopy(fake_kube.hpa)
    fake_kube.hpa["metadata"]["name"] = "something-else"
    with pytest.raises(kube.NotFound):
        recorder.record_once()
    assert event_log.read_events(path) == []


def test_expired_rescale_event_is_recovered_from_the_hpa_status() -> None:
    decisions = lagrecording.hpa_decision_events(service="inference", hpa=load("hpa.json"), events=[])
    assert [(d.time_seconds, d.fields["current_replicas"], d.fields["desired_replicas"], d.fields["metrics"]) for d in decisions] == [
        (t("2024-05-01T12:01:16Z"), None, 4, STATUS_METRICS)
    ]


def test_aggregated_rescale_event_yields_its_first_and_last_occurrence() -> None:
    events = load("events.json")["items"]
    repeated = copy.deepcopy(events[1])
    repeated.update(count=2, lastTimestamp="2024-05-01T12:05:01Z")
    decisions = lagrecording.hpa_decision_events(service="inference", hpa={"status": {}}, events=[repeated])
    assert [(d.time_seconds, d.fields["desired_replicas"]) for d in decisions] == [
        (t("2024-05-01T12:00:31Z"), 3),
        (t("2024-05-01T12:05:01Z"), 3),
    ]


@pytest.mark.parametrize(
    "status, expected_types",
    [
        pytest.param({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                      "lastTransitionTime": "2024-05-01T12:01:16Z", "reason": "Unschedulable"}]}, ["pod_created"], id="unschedulable"),
        pytest.param({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": "2024-05-01T12:01:17Z"}],
                      "containerStatuses": [{"name": "inference", "state": {"waiting": {"reason": "ContainerCreating"}}}]},
                     ["pod_created", "pod_scheduled"], id="container-creating"),
        pytest.param({"phase": "Running", "containerStatuses": [
                          {"name": "app", "state": {"running": {"startedAt": "2024-05-01T12:01:18Z"}}},
                          {"name": "sidecar", "state": {"running": {"startedAt": "2024-05-01T12:01:21Z"}}}]},
                     ["pod_created", "pod_started@2024-05-01T12:01:21Z"], id="started-when-the-last-container-runs"),
    ],
)
def test_pod_events_cover_only_the_phases_that_happened(status: dict, expected_types: list[str]) -> None:
    pod = {"metadata": {"name": "inference-7c9d5b6f4d-new", "creationTimestamp": "2024-05-01T12:01:16Z"}, "status": status}
    got = []
    for e in lagrecording.pod_events(service="inference", pod=pod):
        got.append(e.type if e.type != "pod_started" else f"pod_started@{datetime.datetime.fromtimestamp(e.time_seconds, datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
    assert got == expected_types


def test_an_event_expiring_between_polls_does_not_re_emit_the_decisions_that_remain(recorder_and_log, fake_kube: FakeKube) -> None:
    recorder, path = recorder_and_log
    recorder.record_once()
    fake_kube.events = copy.deepcopy(fake_kube.events)
    del fake_kube.events["items"][1]  # the 12:00:31 rescale's Event reached its TTL
    assert recorder.record_once() == []
    assert event_log.read_events(path) == FIRST_POLL
