"""Whole decisions of one sync, every field: what ``tailstorm hpa decide`` prints.

``test_hpa_horizontal.py`` ports upstream's replica counts and condition reasons; this module pins
each decision completely — rescale reason, proposals, every condition with its message, the
recommendations and scale events remembered, the reconcile error — on the upstream fixture. We
test these aspects:

- the guards before any metric is read: above maxReplicas, below minReplicas (storing a scale
  event when ``behavior`` is set), scaling disabled at zero replicas;
- the legacy path (no ``behavior``): a scale-up, a stabilized and a completed scale-down, the
  scale-up limit (``ScaleUpLimit``) and the maximum (``TooManyReplicas``);
- broken metrics: all broken (no change, the error), one broken beside a scale-up (scale, error);
- the behavior path: scale-up stabilization, a scale-down capped by a Pods policy.
"""
from __future__ import annotations

import datetime

import pytest

import hpa_builders as b
from controllers.hpa import api, horizontal

NOW = b.NOW
T, F = api.TRUE, api.FALSE


def ago(seconds: float) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


def condition(kind: str, status: str, reason: str, message: str) -> api.Condition:
    return api.Condition(kind, status, reason, message)


def rescaled(to: int) -> api.Condition:
    return condition("AbleToScale", T, "SucceededRescale", f"the HPA controller was able to update the target scale to {to}")


VALID_PODS_METRIC = condition("ScalingActive", T, "ValidMetricFound",
                              "the HPA was able to successfully calculate a replica count from pods metric qps")
WITHIN_RANGE = condition("ScalingLimited", F, "DesiredWithinRange", horizontal.MESSAGE_DESIRED_WITHIN_RANGE)


def state(*, current: int, levels=(), min_replicas: int = 1, max_replicas: int = 10, recommendations=None,
          metrics=None, **kwargs) -> horizontal.HPAState:
    return b.controller_state(min_replicas=min_replicas, max_replicas=max_replicas, spec_replicas=current,
                              status_replicas=current, metrics=metrics or [b.pods_metric("15")], levels=levels,
                              recommendations=recommendations, **kwargs)


def pods_proposal(replicas: int, average: int) -> api.MetricProposal:
    return api.MetricProposal("Pods", "pods metric qps", replicas, NOW, api.MetricValueStatus(average_value=average))


def test_above_max_replicas_scales_to_the_maximum_before_reading_metrics() -> None:
    assert horizontal.reconcile(state(current=12, max_replicas=5)) == horizontal.Decision(
        12, 5, True, "Current number of replicas above Spec.MaxReplicas", (), (rescaled(5),),
        api.History(recommendations=(api.TimestampedRecommendation(12, NOW),)),
    )


def test_below_min_replicas_scales_to_the_minimum_and_remembers_the_scale_up_with_behavior() -> None:
    decision = horizontal.reconcile(state(current=1, min_replicas=3, scale_up_rules=b.generate_scaling_rules(4, 60, 0, 0, 0)))
    assert decision == horizontal.Decision(
        1, 3, True, "Current number of replicas below Spec.MinReplicas", (), (rescaled(3),),
        api.History(recommendations=(api.TimestampedRecommendation(1, NOW),),
                    scale_up_events=(api.TimestampedScaleEvent(2, NOW, False),)),
    )


def test_zero_replicas_with_a_minimum_above_zero_disables_scaling() -> None:
    assert horizontal.reconcile(state(current=0, levels=(20000,))) == horizontal.Decision(
        0, 0, False, "", (),
        (condition("AbleToScale", T, "SucceededGetScale", horizontal.MESSAGE_SUCCEEDED_GET_SCALE),
         condition("ScalingActive", F, "ScalingDisabled", horizontal.MESSAGE_SCALING_DISABLED)),
        api.History(recommendations=(api.TimestampedRecommendation(0, NOW),)),
    )


def test_a_legacy_scale_up_reports_the_metric_and_remembers_the_recommendation() -> None:
    # (20000 + 10000 + 30000) / 3 = 20000m against 15: ratio 1.33 -> 4
    assert horizontal.reconcile(state(current=3, levels=(20000, 10000, 30000))) == horizontal.Decision(
        3, 4, True, "pods metric qps above target", (pods_proposal(4, 20000),),
        (rescaled(4), VALID_PODS_METRIC, WITHIN_RANGE),
        api.History(recommendations=(api.TimestampedRecommendation(3, NOW), api.TimestampedRecommendation(4, NOW))),
    )


def test_a_legacy_scale_down_inside_the_window_is_stabilized_at_the_highest_recent_recommendation() -> None:
    decision = horizontal.reconcile(state(current=5, levels=(12000,) * 5, recommendations=[
        api.TimestampedRecommendation(5, ago(60))]))
    # 12000 against 15000: ratio 0.8 -> 4, but 5 was recommended a minute ago
    assert decision == horizontal.Decision(
        5, 5, False, "", (pods_proposal(4, 12000),),
        (condition("AbleToScale", T, "ScaleDownStabilized", horizontal.MESSAGE_SCALE_DOWN_STABILIZED),
         VALID_PODS_METRIC, WITHIN_RANGE),
        api.History(recommendations=(api.TimestampedRecommendation(5, ago(60)), api.TimestampedRecommendation(4, NOW))),
    )


def test_a_legacy_scale_down_after_the_window_replaces_the_expired_recommendation() -> None:
    decision = horizontal.reconcile(state(current=5, levels=(12000,) * 5, recommendations=[
        api.TimestampedRecommendation(5, ago(400)), api.TimestampedRecommendation(6, ago(350))]))
    assert decision == horizontal.Decision(
        5, 4, True, "All metrics below target", (pods_proposal(4, 12000),),
        (rescaled(4), VALID_PODS_METRIC, WITHIN_RANGE),
        api.History(recommendations=(api.TimestampedRecommendation(5, ago(400)), api.TimestampedRecommendation(4, NOW))),
    )


def test_a_legacy_scale_up_is_capped_by_the_scale_up_limit_then_by_the_maximum() -> None:
    # 100 replicas wanted; the fixture's factor 8 allows max(8 × 1, 4) = 8
    decision = horizontal.reconcile(state(current=1, levels=(1_500_000,)))
    assert (decision.desired_replicas, decision.rescale_reason, decision.conditions[2]) == (
        8, "pods metric qps above target",
        condition("ScalingLimited", T, "ScaleUpLimit", horizontal.MESSAGE_SCALE_UP_LIMIT))
    decision = horizontal.reconcile(state(current=1, levels=(1_500_000,), max_replicas=6))
    assert (decision.desired_replicas, decision.conditions[2]) == (
        6, condition("ScalingLimited", T, "TooManyReplicas", horizontal.MESSAGE_TOO_MANY_REPLICAS))


def test_when_every_metric_fails_nothing_changes_and_the_error_is_reported() -> None:
    cause = "unable to get metric qps: no metrics returned from custom metrics API"
    decision = horizontal.reconcile(state(current=3, levels=()))
    assert decision == horizontal.Decision(
        3, 3, False, "",
        (api.MetricProposal("Pods", "pods metric qps", reason="FailedGetPodsMetric", error=cause),),
        (condition("AbleToScale", T, "SucceededGetScale", horizontal.MESSAGE_SUCCEEDED_GET_SCALE),
         condition("ScalingActive", F, "FailedGetPodsMetric", f"the HPA was unable to compute the replica count: {cause}")),
        api.History(recommendations=(api.TimestampedRecommendation(3, NOW),)),
        f"invalid metrics (1 invalid out of 1), first error is: failed to get pods metric value: {cause}",
    )


def test_a_broken_metric_does_not_block_a_scale_up_by_another_but_is_still_reported() -> None:
    broken = api.MetricSpec("Pods", pods=api.PodsMetricSource(api.MetricIdentifier("absent"),
                                                                api.MetricTarget("AverageValue", average_value=1000)))
    decision = horizontal.reconcile(state(current=3, levels=(20000, 10000, 30000), metrics=[broken, b.pods_metric("15")]))
    assert (decision.desired_replicas, decision.rescale, decision.rescale_reason) == (4, True, "pods metric qps above target")
    assert decision.conditions == (rescaled(4), VALID_PODS_METRIC, WITHIN_RANGE)
    assert decision.error == ("invalid metrics (1 invalid out of 2), first error is: failed to get pods metric value: "
                              "unable to get metric absent: unable to fetch metrics from custom metrics API: "
                              "no values for pods metric absent")


def test_a_broken_metric_blocks_a_scale_down_by_another() -> None:
    broken = api.MetricSpec("Pods", pods=api.PodsMetricSource(api.MetricIdentifier("absent"),
                                                                api.MetricTarget("AverageValue", average_value=1000)))
    decision = horizontal.reconcile(state(current=5, levels=(12000,) * 5, metrics=[b.pods_metric("15"), broken]))
    assert (decision.desired_replicas, decision.rescale) == (5, False)
    assert decision.conditions[1].reason == "FailedGetPodsMetric"


def test_behavior_scale_up_is_stabilized_at_the_lowest_recommendation_of_its_window() -> None:
    decision = horizontal.reconcile(state(
        current=3, levels=(20000, 10000, 30000), scale_up_rules=b.generate_scaling_rules(4, 60, 0, 0, 120),
        recommendations=[api.TimestampedRecommendation(3, ago(60))]))
    assert decision == horizontal.Decision(
        3, 3, False, "", (pods_proposal(4, 20000),),
        (condition("AbleToScale", T, "ScaleUpStabilized", horizontal.MESSAGE_SCALE_UP_STABILIZED),
         VALID_PODS_METRIC, WITHIN_RANGE),
        api.History(recommendations=(api.TimestampedRecommendation(3, ago(60)), api.TimestampedRecommendation(4, NOW))),
    )


def test_behavior_scale_down_is_capped_by_its_pods_policy_and_stored_as_an_event() -> None:
    decision = horizontal.reconcile(state(
        current=5, levels=(6000,) * 5, scale_down_rules=b.generate_scaling_rules(1, 60, 0, 0, 0), recommendations=[]))
    # 6000 against 15000: ratio 0.4 -> 2; one pod per 60 s allows 4
    assert decision == horizontal.Decision(
        5, 4, True, "All metrics below target", (pods_proposal(2, 6000),),
        (rescaled(4), VALID_PODS_METRIC,
         condition("ScalingLimited", T, "ScaleDownLimit", horizontal.MESSAGE_SCALE_DOWN_LIMIT)),
        api.History(recommendations=(api.TimestampedRecommendation(2, NOW),),
                    scale_down_events=(api.TimestampedScaleEvent(1, NOW, False),)),
    )


def test_at_exactly_max_replicas_the_metrics_decide() -> None:
    decision = horizontal.reconcile(state(current=10, max_replicas=10, levels=(15000,) * 10))
    assert (decision.desired_replicas, decision.rescale, decision.rescale_reason) == (10, False, "")


def test_a_state_refuses_empty_metrics_and_a_naive_time_with_a_sentence() -> None:
    spec = api.HorizontalPodAutoscalerSpec(max_replicas=2)
    with pytest.raises(ValueError) as raised:
        horizontal.HPAState(spec=spec, current_replicas=1, now=NOW)
    assert str(raised.value) == "spec.metrics is empty; the API server would default it to cpu Utilization 80"
    spec = api.HorizontalPodAutoscalerSpec(max_replicas=2, metrics=(b.pods_metric("1"),))
    with pytest.raises(ValueError) as raised:
        horizontal.HPAState(spec=spec, current_replicas=1, now=NOW.replace(tzinfo=None))
    assert str(raised.value) == "now must be timezone-aware (UTC)"
