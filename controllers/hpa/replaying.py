"""Replay a recorded metric series through the algorithm, one sync at a time.

A run records, per HPA sync, what the metrics APIs served (and, optionally, the pods and replica
counts). :func:`replay` feeds those observations through :func:`horizontal.reconcile` in order,
carrying the controller's memory (recommendations, scale events) from one decision into the next
sync, exactly as kube-controller-manager keeps it between syncs. Comparing the result with the
decisions the loop actually made separates algorithm effects from actuation lag.
"""
from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import TypeVar

from controllers.hpa import api, horizontal

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class SyncObservation:
    """What one sync observed. ``None`` keeps the previous sync's value, except:

    - ``now`` defaults to the previous sync plus ``controller.sync_period_seconds``;
    - ``current_replicas`` defaults to the previous decision's ``desired_replicas`` (the scale write
      is assumed to have happened), and ``status_replicas`` to ``current_replicas``.
    """

    now: datetime.datetime | None = None
    current_replicas: int | None = None
    status_replicas: int | None = None
    pods: tuple[api.Pod, ...] | None = None
    resource_metrics: tuple[api.PodMetrics, ...] | None = None
    pods_metrics: Mapping[str, api.PodsMetricValues] | None = None
    object_metrics: Mapping[str, api.ObjectMetricValue] | None = None
    external_metrics: Mapping[str, api.ExternalMetricValues] | None = None


def replay(*, start: horizontal.HPAState, observations: Sequence[SyncObservation]) -> list[horizontal.Decision]:
    """The decisions, in order, for ``start`` updated by each observation in turn."""
    decisions: list[horizontal.Decision] = []
    state = start
    for observation in observations:
        state = next_state(state, observation, previous=decisions[-1] if decisions else None)
        decisions.append(horizontal.reconcile(state))
    return decisions


def next_state(
    state: horizontal.HPAState, observation: SyncObservation, *, previous: horizontal.Decision | None
) -> horizontal.HPAState:
    """The state of the next sync: ``state`` with the observation applied and the memory carried over."""
    if previous is None:
        now = observation.now or state.now
        current = _first(observation.current_replicas, state.current_replicas)
        status = _first(observation.status_replicas, state.status_replicas)
        history = state.history
    else:
        now = observation.now or state.now + datetime.timedelta(seconds=state.controller.sync_period_seconds)
        current = _first(observation.current_replicas, previous.desired_replicas)
        status = observation.status_replicas
        history = previous.history
    metrics = api.MetricsSnapshot(
        resource=_first(observation.resource_metrics, state.metrics.resource),
        pods=_first(observation.pods_metrics, state.metrics.pods),
        object=_first(observation.object_metrics, state.metrics.object),
        external=_first(observation.external_metrics, state.metrics.external),
    )
    return dataclasses.replace(
        state,
        now=now,
        current_replicas=current,
        status_replicas=status,
        pods=_first(observation.pods, state.pods),
        metrics=metrics,
        history=history,
    )


def _first(value: T | None, fallback: T) -> T:
    return fallback if value is None else value
