"""The HPA-lag timeline, reconstructed from the Kubernetes objects of a cluster run.

On the kind/cluster backend the real HPA decides and real pods start, so the timeline is read back
from the API instead of being emitted as it happens:

==================  ===========================================================================
event type          where it comes from
==================  ===========================================================================
``hpa_decision``    each ``SuccessfulRescale`` Event of the HPA ("New size: N; reason: ..."), and
                    ``status.lastScaleTime`` / ``status.desiredReplicas`` when its Event expired
``pod_created``     ``metadata.creationTimestamp``
``pod_scheduled``   ``status.conditions[PodScheduled=True].lastTransitionTime``
``pod_started``     the latest ``status.containerStatuses[].state.running.startedAt`` (all started)
``pod_ready``       ``status.conditions[Ready=True].lastTransitionTime``
``scale``           with each ``hpa_decision`` (``emit_scale``): the HPA's write to the scale,
                    as the local autoscaler's ``backend.scale`` call records it
``pod_draining``    ``metadata.deletionTimestamp`` minus ``deletionGracePeriodSeconds`` (when the
                    deletion was asked for; the pod leaves its Service's endpoints then)
``pod_deleted``     the first poll that no longer lists a pod seen before (poll precision)
``pod_died``        a container's ``lastState.terminated`` (restarted): ``finishedAt``, exit code
==================  ===========================================================================

:class:`PodWatcher` emits the pod events of any label selector (every service, autoscaled or not);
:class:`LagRecorder` the HPA's decisions (and, unless ``include_pods=False``, the pod events of
its target).

:func:`timeline_events` is pure (objects in, events out). :class:`LagRecorder` observes through
:class:`controllers.kube.Kube` and emits through :class:`schema.events.EventLog`; it remembers what
it emitted, so polling it repeatedly is idempotent (level-triggered, like a controller).

Events are aggregated by the API server: a repeated identical message bumps ``count`` and
``lastTimestamp``, so only the first and the last occurrence of a repeated rescale are visible.
Both are emitted when they differ.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

from controllers import kube
from schema import events as event_types

RESCALE_REASON = "SuccessfulRescale"
_RESCALE_MESSAGE = re.compile(r"^New size: (?P<size>\d+); reason: (?P<reason>.*)$", re.DOTALL)
_FINER_THAN_MICROSECONDS = re.compile(r"(\.\d{6})\d+")
_SAME_MOMENT_SECONDS = 1.0
"""An Event and ``lastScaleTime`` within this of each other describe the same rescale (both are
written by the same sync; the API serialises them to whole seconds)."""


@dataclasses.dataclass(frozen=True)
class TimelineEvent:
    """One line of ``events.jsonl``: a type from :mod:`schema.events`, a UTC time, and fields."""

    type: str
    time_seconds: float
    fields: Mapping[str, Any]

    def key(self) -> tuple[Any, ...]:
        """Identity across polls: what happened, when, to which pod (or to what size).

        Derived fields (the previous size, the status's metrics) are left out: they can change
        between polls when an older Event expires or the status moves on.
        """
        return (self.type, self.time_seconds, self.fields.get("pod"), self.fields.get("desired_replicas"))


def timeline_events(
    *, service: str, hpa: Mapping[str, Any], events: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> list[TimelineEvent]:
    """Every timeline event the objects show, oldest first (ties keep a stable, readable order)."""
    timeline = hpa_decision_events(service=service, hpa=hpa, events=events)
    for pod in pods:
        timeline.extend(pod_events(service=service, pod=pod))
    order = {name: index for index, name in enumerate(
        (event_types.HPA_DECISION, event_types.POD_CREATED, event_types.POD_SCHEDULED,
         event_types.POD_STARTED, event_types.POD_READY)
    )}
    return sorted(timeline, key=lambda e: (e.time_seconds, order.get(e.type, 99), e.fields.get("pod", "")))


def hpa_decision_events(
    *, service: str, hpa: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
) -> list[TimelineEvent]:
    """``hpa_decision`` per rescale: from the HPA's Events, completed by its status."""
    rescales = sorted(_rescales(events), key=lambda r: r[0])
    decisions = []
    previous_size = None
    for time_seconds, size, reason in rescales:
        decisions.append(_decision(service, time_seconds, previous_size, size, reason, metrics=None))
        previous_size = size
    status = hpa.get("status", {})
    last_scale = _time_or_none(status.get("lastScaleTime"))
    current_metrics = status.get("currentMetrics")
    if last_scale is None:
        return decisions
    matching = [d for d in decisions if abs(d.time_seconds - last_scale) <= _SAME_MOMENT_SECONDS]
    if matching:
        # The latest rescale's Event is still there: attach the metrics the status shows for it.
        latest = matching[-1]
        decisions[decisions.index(latest)] = dataclasses.replace(latest, fields={**latest.fields, "metrics": current_metrics})
        return decisions
    if not decisions or last_scale > decisions[-1].time_seconds:
        # The Event has expired (default TTL 1 h) but the status still records the last rescale.
        decisions.append(
            _decision(service, last_scale, previous_size, status.get("desiredReplicas"), None, metrics=current_metrics)
        )
    return decisions


def pod_events(*, service: str, pod: Mapping[str, Any]) -> list[TimelineEvent]:
    """``pod_created``, ``pod_scheduled``, ``pod_started``, ``pod_ready``: whichever have happened."""
    name = pod["metadata"]["name"]
    status = pod.get("status", {})
    moments = {
        event_types.POD_CREATED: _time_or_none(pod["metadata"].get("creationTimestamp")),
        event_types.POD_SCHEDULED: _condition_true_since(status, "PodScheduled"),
        event_types.POD_STARTED: _all_containers_started(status),
        event_types.POD_READY: _condition_true_since(status, "Ready"),
    }
    return [
        TimelineEvent(type_, moment, {"service": service, "pod": name})
        for type_, moment in moments.items()
        if moment is not None
    ]


class LagRecorder:
    """Polls one HPA, its Events and its target's pods; emits each timeline event once."""

    def __init__(
        self, *, kube_api: kube.Kube, event_log: event_types.EventLog, namespace: str, hpa_name: str, service: str,
        initial_replicas: int | None = None, include_pods: bool = True, emit_scale: bool = False,
    ) -> None:
        self._kube = kube_api
        self._log = event_log
        self._namespace = namespace
        self._hpa_name = hpa_name
        self._service = service
        self._initial_replicas = initial_replicas
        """The target's replicas when recording began: the first decision's ``current_replicas``."""
        self._include_pods = include_pods
        self._emit_scale = emit_scale
        self._emitted: set[tuple[Any, ...]] = set()

    def record_once(self) -> list[TimelineEvent]:
        """Observe, reconstruct, emit what is new. Returns the newly emitted events."""
        hpa = self._kube.get_hpa(namespace=self._namespace, name=self._hpa_name)
        target = hpa["spec"]["scaleTargetRef"]
        pods: list[dict[str, Any]] = []
        if self._include_pods:
            scale = self._kube.get_scale(namespace=self._namespace, kind=target["kind"], name=target["name"])
            selector = scale.get("status", {}).get("selector", "")
            # An empty selector would list every pod in the namespace; the HPA itself refuses to run then.
            pods = self._kube.list_pods(namespace=self._namespace, label_selector=selector) if selector else []
        hpa_events = self._kube.list_events(namespace=self._namespace, kind="HorizontalPodAutoscaler", name=self._hpa_name)
        timeline = timeline_events(service=self._service, hpa=hpa, events=hpa_events, pods=pods)
        timeline = with_initial_replicas(timeline, self._initial_replicas)
        new = [e for e in timeline if e.key() not in self._emitted]
        for event in new:
            self._log.emit(event.type, time_seconds=event.time_seconds, **event.fields)
            self._emitted.add(event.key())
            if self._emit_scale and event.type == event_types.HPA_DECISION:
                self._log.emit(event_types.SCALE, time_seconds=event.time_seconds, service=self._service,
                               from_replicas=event.fields["current_replicas"],
                               to_replicas=event.fields["desired_replicas"], reason=f"hpa: {event.fields['reason']}")
        return new


def with_initial_replicas(timeline: list[TimelineEvent], initial_replicas: int | None) -> list[TimelineEvent]:
    """The first decision's unknown previous size is the target's size when recording began."""
    if initial_replicas is None:
        return timeline
    for index, event in enumerate(timeline):
        if event.type == event_types.HPA_DECISION:
            if event.fields["current_replicas"] is None:
                timeline[index] = dataclasses.replace(event, fields={**event.fields, "current_replicas": initial_replicas})
            break
    return timeline


def pod_exit_events(*, service: str, pod: Mapping[str, Any]) -> list[TimelineEvent]:
    """``pod_draining`` once deletion was asked for; ``pod_died`` per restarted container."""
    name = pod["metadata"]["name"]
    found = []
    deletion = _time_or_none(pod["metadata"].get("deletionTimestamp"))
    if deletion is not None:
        # the API sets deletionTimestamp to the request time plus the grace period
        asked_at = deletion - float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        found.append(TimelineEvent(event_types.POD_DRAINING, asked_at, {"service": service, "pod": name}))
    for container in pod.get("status", {}).get("containerStatuses") or []:
        terminated = container.get("lastState", {}).get("terminated")
        finished = _time_or_none((terminated or {}).get("finishedAt"))
        if finished is not None:
            found.append(TimelineEvent(event_types.POD_DIED, finished, {
                "service": service, "pod": name, "container": container.get("name"),
                "returncode": terminated.get("exitCode"), "restarts": container.get("restartCount")}))
    return found


class PodWatcher:
    """Polls the pods of one service (a label selector); emits each pod event once, and
    ``pod_deleted`` when a pod it saw is no longer listed."""

    def __init__(self, *, kube_api: kube.Kube, event_log: event_types.EventLog, namespace: str, selector: str,
                 service: str) -> None:
        self._kube = kube_api
        self._log = event_log
        self._namespace = namespace
        self._selector = selector
        self._service = service
        self._emitted: set[tuple[Any, ...]] = set()
        self._seen: set[str] = set()

    def record_once(self, *, now: float) -> list[TimelineEvent]:
        pods = self._kube.list_pods(namespace=self._namespace, label_selector=self._selector)
        timeline = [event for pod in pods
                    for event in pod_events(service=self._service, pod=pod) + pod_exit_events(service=self._service, pod=pod)]
        listed = {pod["metadata"]["name"] for pod in pods}
        timeline += [TimelineEvent(event_types.POD_DELETED, now, {"service": self._service, "pod": name})
                     for name in sorted(self._seen - listed)]
        self._seen = (self._seen & listed) | listed
        new = sorted((e for e in timeline if _watch_key(e) not in self._emitted), key=lambda e: e.time_seconds)
        for event in new:
            self._log.emit(event.type, time_seconds=event.time_seconds, **event.fields)
            self._emitted.add(_watch_key(event))
        return new


def _watch_key(event: TimelineEvent) -> tuple[Any, ...]:
    """One pod event per pod and type; a death per restart; a deletion once."""
    if event.type in (event_types.POD_DELETED, event_types.POD_DRAINING):
        return (event.type, event.fields["pod"])
    if event.type == event_types.POD_DIED:
        return (event.type, event.fields["pod"], event.fields["container"], event.fields["restarts"])
    return event.key()


def _rescales(events: Iterable[Mapping[str, Any]]) -> Iterable[tuple[float, int, str]]:
    for event in events:
        if event.get("reason") != RESCALE_REASON:
            continue
        match = _RESCALE_MESSAGE.match(event.get("message", ""))
        if match is None:
            continue
        size, reason = int(match["size"]), match["reason"]
        first = _time_or_none(event.get("firstTimestamp")) or _time_or_none(event.get("eventTime"))
        last = _time_or_none(event.get("lastTimestamp"))
        if first is not None:
            yield first, size, reason
        if last is not None and first is not None and last != first and event.get("count", 1) > 1:
            yield last, size, reason


def _decision(
    service: str, time_seconds: float, previous: int | None, size: int | None, reason: str | None, *, metrics: Any
) -> TimelineEvent:
    return TimelineEvent(
        event_types.HPA_DECISION,
        time_seconds,
        {"service": service, "current_replicas": previous, "desired_replicas": size, "reason": reason, "metrics": metrics},
    )


def _condition_true_since(status: Mapping[str, Any], condition_type: str) -> float | None:
    for condition in status.get("conditions", []):
        if condition.get("type") == condition_type and condition.get("status") == "True":
            return _time_or_none(condition.get("lastTransitionTime"))
    return None


def _all_containers_started(status: Mapping[str, Any]) -> float | None:
    containers = status.get("containerStatuses") or []
    started = [_time_or_none(c.get("state", {}).get("running", {}).get("startedAt")) for c in containers]
    if not started or any(moment is None for moment in started):
        return None
    return max(moment for moment in started if moment is not None)


def _time_or_none(text: str | None) -> float | None:
    """RFC3339 (``Z`` or offset, optional fraction) to UTC epoch seconds."""
    if not text:
        return None
    # MicroTime has 6 fractional digits; trim anything finer so fromisoformat accepts it.
    text = _FINER_THAN_MICROSECONDS.sub(r"\1", text.replace("Z", "+00:00"))
    return datetime.datetime.fromisoformat(text).timestamp()


def epoch_seconds(text: str | None) -> float | None:
    """An API timestamp (RFC3339) as UTC epoch seconds; None when the field is unset."""
    return _time_or_none(text)
