"""Replaying a recorded metric series through the algorithm.

We test these aspects:

- time advances by the sync period and the controller's memory is carried between syncs;
- the replica count follows the previous decision unless the observation says otherwise;
- scale-up rate limits and the 300 s scale-down window play out over a series.
"""
from __future__ import annotations

import dataclasses
import datetime

import hpa_builders as b
from controllers.hpa import api, horizontal, quantity, replaying


def queue_state(current_replicas: int) -> horizontal.HPAState:
    """External AverageValue target 10 per replica, default behavior (so it carries scale events)."""
    target = api.MetricTarget(api.AVERAGE_VALUE, average_value=quantity.milli_value("10"))
    metric = api.MetricSpec(api.EXTERNAL, external=api.ExternalMetricSource(api.MetricIdentifier("queue_messages_ready"), target))
    spec = api.HorizontalPodAutoscalerSpec(
        max_replicas=50, min_replicas=1, metrics=(metric,), behavior=api.HorizontalPodAutoscalerBehavior()
    )
    return horizontal.HPAState(spec=spec, current_replicas=current_replicas, now=b.NOW, history=api.History(recommendations=()))


def queue(value: int) -> replaying.SyncObservation:
    sample = api.ExternalMetricValues(b.NOW, (quantity.milli_value(value),))
    return replaying.SyncObservation(external_metrics={"queue_messages_ready": sample})


def test_replay_plays_out_rate_limits_and_the_scale_down_window_over_a_series() -> None:
    # t=0: 60 -> 6 (limit max(2+4, 2x2)=6); t=15: 200 -> 20 capped at 12; t=30: 20;
    # then 50 (5 replicas) holds at 20 until the t=30 proposal leaves the 300 s window at t=330.
    series = [60, 200, 200] + [50] * 20
    decisions = replaying.replay(start=queue_state(2), observations=[queue(v) for v in series])
    assert [d.desired_replicas for d in decisions] == [6, 12, 20] + [20] * 19 + [5]
    assert decisions[1].conditions[2].reason == "ScaleUpLimit"
    assert decisions[3].conditions[0].reason == "ScaleDownStabilized"


def test_next_state_steps_time_and_carries_the_previous_decision() -> None:
    start = queue_state(2)
    first = horizontal.reconcile(replaying.next_state(start, queue(60), previous=None))
    state = replaying.next_state(start, queue(60), previous=first)
    assert state.now == b.NOW + datetime.timedelta(seconds=15)
    assert (state.current_replicas, state.history) == (first.desired_replicas, first.history)


def test_observed_replicas_override_the_assumption_that_the_scale_was_applied() -> None:
    start = queue_state(2)
    observations = [queue(60), dataclasses.replace(queue(60), current_replicas=2, now=b.NOW + datetime.timedelta(seconds=40))]
    decisions = replaying.replay(start=start, observations=observations)
    assert [d.current_replicas for d in decisions] == [2, 2]
    assert decisions[1].history.recommendations[-1].timestamp == b.NOW + datetime.timedelta(seconds=40)
