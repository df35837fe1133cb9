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
==================  ===========================================================================

:func:`timeline_events` is pure (objects in, events out). :class:`LagRecorder` observes through
:class:`controllers.kube.Kube` and emits through :class:`deploy.events.EventLog`; it remembers what
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
from deploy import events as event_types

RESCALE_REASON = "SuccessfulRescale"
_RESCALE_MESSAGE = re.compile(r"^New size: (?P<size>\d+); reason: (?P<reason>.*)$", re.DOTALL)
_FINER_THAN_MICROSECONDS = re.compile(r"(\.\d{6})\d+")
_SAME_MOMENT_SECONDS = 1.0
"""An Event and ``lastScaleTime`` within this of each other describe the same rescale (both are
written by the same sync; the API serialises them to whole seconds)."""


@dataclasses.dataclass(frozen=True)
class TimelineEvent:
    """One line of ``events.jsonl``: a type from :mod:`deploy.events`, a UTC time, and fields."""

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
        self, *, kube_api: kube.Kube, event_log: event_types.EventLog, namespace: str, hpa_name: str, service: str
    ) -> None:
        self._kube = kube_api
        self._log = event_log
        self._namespace = namespace
        self._hpa_name = hpa_name
        self._service = service
        self._emitted: set[tuple[Any, ...]] = set()

    def record_once(self) -> list[TimelineEvent]:
        """Observe, reconstruct, emit what is new. Returns the newly emitted events."""
        hpa = self._kube.get_hpa(namespace=self._namespace, name=self._hpa_name)
        target = hpa["spec"]["scaleTargetRef"]
        scale = self._kube.get_scale(namespace=self._namespace, kind=target["kind"], name=target["name"])
        selector = scale.get("status", {}).get("selector", "")
        # An empty selector would list every pod in the namespace; the HPA itself refuses to run then.
        pods = self._kube.list_pods(namespace=self._namespace, label_selector=selector) if selector else []
        hpa_events = self._kube.list_events(namespace=self._namespace, kind="HorizontalPodAutoscaler", name=self._hpa_name)
        new = [e for e in timeline_events(service=self._service, hpa=hpa, events=hpa_events, pods=pods)
               if e.key() not in self._emitted]
        for event in new:
            self._log.emit(event.type, time_seconds=event.time_seconds, **event.fields)
            self._emitted.add(event.key())
        return new


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
