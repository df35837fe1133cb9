"""Ports of ``horizontal_test.go``: one sync of the controller, and its normalisation rules.

We test these aspects (each case is named after its upstream test):

- whole syncs (``reconcileAutoscaler``): desired replicas and the conditions AbleToScale,
  ScalingActive and ScalingLimited with upstream's reasons, for every metric type;
- min/max clamping before metrics are read, scaling disabled at zero, scale from/to zero;
- multiple metrics: the largest proposal wins, a broken metric blocks scale-down but not scale-up;
- legacy normalisation: rolling-max stabilization, the initial recommendation, ``max(2×, 4)`` limit;
- behavior: two-sided stabilization windows, Pods/Percent policies over periods, past scale
  events in both directions, selectPolicy Max/Min/Disabled, storing and reusing scale events;
- API defaulting of behavior.
"""
from __future__ import annotations

import dataclasses
import datetime

import pytest

import hpa_builders as b
from controllers.hpa import api, defaults, horizontal, settings

T, F = api.TRUE, api.FALSE
RUN, FAIL = api.RUNNING, api.FAILED
HOT, COOL = b.hot_cpu_creation_time(), b.cool_cpu_creation_time()
ONE_CPU_3 = ("1.0", "1.0", "1.0")
ONE_CPU_5 = ("1.0",) * 5
ABLE, ACTIVE, LIMITED = api.ABLE_TO_SCALE, api.SCALING_ACTIVE, api.SCALING_LIMITED
ok = b.status_ok_with_overrides
READY_FOR_NEW_SCALE = (ABLE, T, "ReadyForNewScale")
NO_RECOMMENDATIONS: tuple[api.TimestampedRecommendation, ...] = ()
"""Upstream's ``recommendations: []timestampedRecommendation{}`` (non-nil: no initial entry)."""


@pytest.mark.parametrize(
    "state, expected_replicas, expected_conditions",
    [
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        levels=(300, 500, 700), cpu_requests=ONE_CPU_3), 5, ok(), id="TestScaleUp"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[api.MetricSpec(api.CONTAINER_RESOURCE, container_resource=api.ContainerResourceMetricSource(
                                            api.CPU, "container1", api.MetricTarget(api.UTILIZATION, average_utilization=30)))],
                                        levels=(300, 500, 700), cpu_requests=ONE_CPU_3), 5, ok(), id="TestScaleUpContainer"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        levels=(300, 500, 700), cpu_requests=ONE_CPU_3, readiness=(F, T, T)), 4, ok(),
                     id="TestScaleUpUnreadyLessScale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        levels=(300, 500, 700), cpu_requests=ONE_CPU_3, start_times=(HOT, COOL, COOL)), 4, ok(),
                     id="TestScaleUpHotCpuLessScale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        levels=(400, 500, 700), cpu_requests=ONE_CPU_3, readiness=(T, F, F)), 3,
                     ok(READY_FOR_NEW_SCALE), id="TestScaleUpUnreadyNoScale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        levels=(400, 500, 700), cpu_requests=ONE_CPU_3, readiness=(T, F, F),
                                        start_times=(COOL, HOT, HOT)), 3, ok(READY_FOR_NEW_SCALE), id="TestScaleUpHotCpuNoScale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=2, status_replicas=2, cpu_target=30,
                                        levels=(500, 700), cpu_requests=("1.0",) * 4, readiness=(T, T, F, F),
                                        phases=(RUN, RUN, FAIL, FAIL)), 4, ok(), id="TestScaleUpIgnoresFailedPods"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=2, status_replicas=2, cpu_target=30,
                                        levels=(500, 700), cpu_requests=("1.0",) * 4, readiness=(T, T, F, F),
                                        deleted=(False, False, True, True)), 4, ok(), id="TestScaleUpIgnoresDeletionPods"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("15.0")], levels=(20000, 10000, 30000), cpu_requests=ONE_CPU_3),
                     4, ok(), id="TestScaleUpCM"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("15.0")], levels=(50000, 10000, 30000), cpu_requests=ONE_CPU_3,
                                        readiness=(T, T, F), start_times=(COOL, COOL, HOT)),
                     6, ok(), id="TestScaleUpCMUnreadyAndHotCpuNoLessScale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("15.0")], levels=(50000, 15000, 30000), cpu_requests=ONE_CPU_3,
                                        readiness=(F, T, F), start_times=(HOT, COOL, HOT)),
                     6, ok((LIMITED, T, "TooManyReplicas")), id="TestScaleUpCMUnreadyandCpuHot"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("15.0")], levels=(50000, 15000, 30000), cpu_requests=ONE_CPU_3,
                                        start_times=(HOT, COOL, HOT)),
                     6, ok((LIMITED, T, "TooManyReplicas")), id="TestScaleUpHotCpuNoScaleWouldScaleDown"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.object_metric(value="15.0")], levels=(20000,)), 4, ok(), id="TestScaleUpCMObject"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=6, spec_replicas=0, status_replicas=0,
                                        metrics=[b.object_metric(value="15.0")], levels=(20000,)), 2, ok(), id="TestScaleUpFromZeroCMObject"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=6, spec_replicas=0, status_replicas=0,
                                        metrics=[b.object_metric(value="1.0")], levels=(1000,)), 1, ok(),
                     id="TestScaleUpFromZeroIgnoresToleranceCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.object_metric(average_value="10.0")], levels=(40000,)), 4, ok(),
                     id="TestScaleUpPerPodCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.external_metric(value="6666m")], levels=(8600,)), 4, ok(), id="TestScaleUpCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[b.external_metric(average_value="2222m")], levels=(8600,)), 4, ok(),
                     id="TestScaleUpPerPodCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, recommendations=NO_RECOMMENDATIONS),
                     3, ok(), id="TestScaleDown"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[api.MetricSpec(api.CONTAINER_RESOURCE, container_resource=api.ContainerResourceMetricSource(
                                            api.CPU, "container2", api.MetricTarget(api.UTILIZATION, average_utilization=50)))],
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, recommendations=NO_RECOMMENDATIONS),
                     3, ok(), id="TestScaleDownContainerResource"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        scale_up_rules=b.generate_scaling_rules(0, 0, 100, 15, 30),
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, recommendations=NO_RECOMMENDATIONS),
                     3, ok(), id="TestScaleDownWithScalingRules"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, recommendations=None),
                     5, ok((ABLE, T, "ScaleDownStabilized")), id="TestScaleDownStabilizeInitialSize"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.pods_metric("20.0")], levels=(12000,) * 5, cpu_requests=ONE_CPU_5,
                                        recommendations=NO_RECOMMENDATIONS), 3, ok(), id="TestScaleDownCM"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.object_metric(value="20.0")], levels=(12000,), cpu_requests=ONE_CPU_5,
                                        recommendations=NO_RECOMMENDATIONS), 3, ok(), id="TestScaleDownCMObject"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.object_metric(value="20.0")], levels=(0,), cpu_requests=ONE_CPU_5,
                                        recommendations=NO_RECOMMENDATIONS), 0, ok(), id="TestScaleDownToZeroCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.object_metric(average_value="20.0")], levels=(60000,), cpu_requests=ONE_CPU_5,
                                        recommendations=NO_RECOMMENDATIONS), 3, ok(), id="TestScaleDownPerPodCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.external_metric(value="14400m")], levels=(8600,), recommendations=NO_RECOMMENDATIONS),
                     3, ok(), id="TestScaleDownCMExternal"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.external_metric(value="14400m")], levels=(0,), recommendations=NO_RECOMMENDATIONS),
                     0, ok(), id="TestScaleDownToZeroCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5,
                                        metrics=[b.external_metric(average_value="3000m")], levels=(8600,), recommendations=NO_RECOMMENDATIONS),
                     3, ok(), id="TestScaleDownPerPodCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, readiness=(T, T, T, F, F),
                                        recommendations=NO_RECOMMENDATIONS), 2, ok(), id="TestScaleDownIncludeUnreadyPods"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, start_times=(COOL, COOL, COOL, HOT, HOT),
                                        recommendations=NO_RECOMMENDATIONS), 2, ok(), id="TestScaleDownIgnoreHotCpuPods"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=("1.0",) * 7, readiness=(T,) * 5 + (F, F),
                                        phases=(RUN,) * 5 + (FAIL, FAIL), recommendations=NO_RECOMMENDATIONS), 3, ok(),
                     id="TestScaleDownIgnoresFailedPods"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        levels=(100, 300, 500, 250, 250), cpu_requests=("1.0",) * 7, readiness=(T,) * 5 + (F, F),
                                        deleted=(False,) * 5 + (True, True), recommendations=NO_RECOMMENDATIONS), 3, ok(),
                     id="TestScaleDownIgnoresDeletionPods"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=100,
                                        levels=(1010, 1030, 1020), cpu_requests=("0.9", "1.0", "1.1")), 3, ok(READY_FOR_NEW_SCALE),
                     id="TestTolerance"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("20.0")], levels=(20000, 20001, 21000), cpu_requests=("0.9", "1.0", "1.1")),
                     3, ok(READY_FOR_NEW_SCALE), id="TestToleranceCM"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3,
                                        metrics=[b.object_metric(value="20.0")], levels=(20050,), cpu_requests=("0.9", "1.0", "1.1")),
                     3, ok(READY_FOR_NEW_SCALE), id="TestToleranceCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=4, status_replicas=4,
                                        metrics=[b.external_metric(value="8666m")], levels=(8600,)), 4, ok(READY_FOR_NEW_SCALE),
                     id="TestToleranceCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=4, status_replicas=4,
                                        metrics=[b.object_metric(average_value="2200m")], levels=(8600,)), 4, ok(READY_FOR_NEW_SCALE),
                     id="TestTolerancePerPodCMObject"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=4, status_replicas=4,
                                        metrics=[b.external_metric(average_value="2200m")], levels=(8600,)), 4, ok(READY_FOR_NEW_SCALE),
                     id="TestTolerancePerPodCMExternal"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=90,
                                        levels=(10, 95, 10), cpu_requests=("0.9", "1.0", "1.1"), recommendations=NO_RECOMMENDATIONS),
                     2, ok((LIMITED, T, "TooFewReplicas")), id="TestMinReplicas"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=90,
                                        levels=(0, 0, 0), cpu_requests=("0.9", "1.0", "1.1"), recommendations=NO_RECOMMENDATIONS),
                     0, ok(), id="TestZeroMinReplicasDesiredZero"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=90,
                                        levels=(0, 0, 0), cpu_requests=("0.9", "1.0", "1.1"), recommendations=NO_RECOMMENDATIONS),
                     2, ok((LIMITED, T, "TooFewReplicas")), id="TestMinReplicasDesiredZero"),
        pytest.param(b.controller_state(min_replicas=3, max_replicas=5, spec_replicas=0, status_replicas=0, cpu_target=90,
                                        cpu_requests=()), 0,
                     [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "ScalingDisabled")], id="TestZeroReplicas"),
        pytest.param(b.controller_state(min_replicas=3, max_replicas=5, spec_replicas=2, status_replicas=2, cpu_target=90,
                                        cpu_requests=()), 3, [(ABLE, T, "SucceededRescale")], id="TestTooFewReplicas"),
        pytest.param(b.controller_state(min_replicas=3, max_replicas=5, spec_replicas=10, status_replicas=10, cpu_target=90,
                                        cpu_requests=()), 5, [(ABLE, T, "SucceededRescale")], id="TestTooManyReplicas"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=90,
                                        levels=(8000, 9500, 1000), cpu_requests=("0.9", "1.0", "1.1")), 5,
                     ok((LIMITED, T, "TooManyReplicas")), id="TestMaxReplicas"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=4, status_replicas=4, cpu_target=100,
                                        levels=(400, 95), cpu_requests=("1.0",) * 4, recommendations=NO_RECOMMENDATIONS), 3, ok(),
                     id="TestMissingMetrics"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=4, status_replicas=4, cpu_target=100,
                                        levels=(), cpu_requests=("1.0",) * 4), 4,
                     [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "FailedGetResourceMetric")], id="TestEmptyMetrics"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=1, status_replicas=1, cpu_target=100,
                                        levels=(200,), cpu_requests=()), 1,
                     [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "FailedGetResourceMetric")], id="TestEmptyCPURequest"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=1, status_replicas=1, cpu_target=50,
                                        levels=(200,), cpu_requests=("0.2",)), 2, ok(), id="TestEventCreated"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=2, status_replicas=2, cpu_target=50,
                                        levels=(200, 200), cpu_requests=("0.4", "0.4")), 2, ok(READY_FOR_NEW_SCALE),
                     id="TestEventNotCreated"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=4, status_replicas=4, cpu_target=50,
                                        levels=(200,), cpu_requests=("0.2",), recommendations=NO_RECOMMENDATIONS), 2, ok(),
                     id="TestMissingReports"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=100, spec_replicas=3, status_replicas=3, cpu_target=10,
                                        scale_up_rules=b.generate_scaling_rules(0, 0, 700, 60, 0),
                                        levels=(100, 200, 300), cpu_requests=("0.1", "0.1", "0.1")), 24,
                     ok((LIMITED, T, "ScaleUpLimit")), id="TestUpscaleCap"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=20, spec_replicas=3, status_replicas=3, cpu_target=10,
                                        scale_up_rules=b.generate_scaling_rules(0, 0, 700, 60, 0),
                                        levels=(100, 200, 300), cpu_requests=("0.1", "0.1", "0.1")), 20,
                     ok((LIMITED, T, "TooManyReplicas")), id="TestUpscaleCapGreaterThanMaxReplicas"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=8, spec_replicas=4, status_replicas=5, cpu_target=50,
                                        levels=(500,) * 5, cpu_requests=("1",) * 5), 4, ok(READY_FOR_NEW_SCALE),
                     id="TestMoreReplicasThanSpecNoScale"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3,
                                        metrics=[b.pods_metric("15.0")], levels=(20000, 10000, 30000), cpu_requests=ONE_CPU_3),
                     4, ok(), id="TestNoBackoffUpscaleCM"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=10,
                                        metrics=[b.pods_metric("15.0")], levels=(20000, 10000, 30000), cpu_requests=ONE_CPU_3),
                     5, ok((LIMITED, T, "TooManyReplicas")), id="TestNoBackoffUpscaleCMNoBackoffCpu"),
        pytest.param(b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=4, status_replicas=4, cpu_target=100,
                                        levels=(50, 50, 50), cpu_requests=("0.1", "0.1", "0.1"),
                                        recommendations=[api.TimestampedRecommendation(10, b.ago(minutes=10)),
                                                         api.TimestampedRecommendation(4, b.ago(minutes=1))]),
                     4, ok((ABLE, T, "ScaleDownStabilized")), id="TestStabilizeDownscale"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=1, status_replicas=1,
                                        levels=(0, 0, 0, 0), cpu_requests=("1.0",) * 4), 2,
                     [(ABLE, T, "SucceededRescale")], id="TestScaleUpRCImmediately"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=5, spec_replicas=6, status_replicas=6, cpu_target=50,
                                        levels=(8000, 9500, 1000), cpu_requests=("0.9", "1.0", "1.1")), 5,
                     [(ABLE, T, "SucceededRescale")], id="TestScaleDownRCImmediately"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3, cpu_target=30,
                                        metrics=[api.MetricSpec("CheddarCheese")], levels=(300, 400, 500), cpu_requests=ONE_CPU_3),
                     4, ok(), id="TestScaleUpOneMetricInvalid"),
        pytest.param(b.controller_state(min_replicas=0, max_replicas=6, spec_replicas=0, status_replicas=0, cpu_target=30,
                                        metrics=[api.MetricSpec("CheddarCheese")], levels=(300, 400, 500), cpu_requests=ONE_CPU_3,
                                        recommendations=NO_RECOMMENDATIONS), 4, ok(), id="TestScaleUpFromZeroOneMetricInvalid"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=3, status_replicas=3,
                                        metrics=[api.MetricSpec("CheddarCheese")], levels=(), cpu_requests=ONE_CPU_3), 3,
                     [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "InvalidMetricSourceType")], id="TestScaleUpBothMetricsEmpty"),
        pytest.param(b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                                        metrics=[api.MetricSpec("CheddarCheese")], levels=(100, 300, 500, 250, 250),
                                        cpu_requests=ONE_CPU_5, recommendations=NO_RECOMMENDATIONS), 5,
                     [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "InvalidMetricSourceType")], id="TestNoScaleDownOneMetricInvalid"),
    ],
)
def test_sync_decides_upstream_replicas_and_conditions(
    state: horizontal.HPAState, expected_replicas: int, expected_conditions: list[tuple[str, str, str]]
) -> None:
    decision = horizontal.reconcile(state)
    assert decision.desired_replicas == expected_replicas
    assert b.condition_triples(decision) == expected_conditions
    assert decision.rescale is (expected_replicas != state.current_replicas)


@pytest.mark.parametrize(
    "cpu_levels, expected_replicas, expected_conditions",
    [
        pytest.param((300, 400, 500), 4, ok(), id="TestScaleUpOneMetricEmpty"),
        pytest.param((100, 300, 500, 250, 250), 5, [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, "FailedGetExternalMetric")],
                     id="TestNoScaleDownOneMetricEmpty"),
    ],
)
def test_failing_metric_blocks_scale_down_but_not_scale_up(cpu_levels, expected_replicas, expected_conditions) -> None:
    count = len(cpu_levels)
    state = b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=count, status_replicas=count,
                               cpu_target=30 if count == 3 else 50, metrics=[b.external_metric(value="100m")],
                               levels=cpu_levels, cpu_requests=("1.0",) * count, recommendations=NO_RECOMMENDATIONS)
    state = dataclasses.replace(state, metrics=dataclasses.replace(state.metrics, external={}))  # the external API fails
    decision = horizontal.reconcile(state)
    assert decision.desired_replicas == expected_replicas
    assert b.condition_triples(decision) == expected_conditions
    assert decision.error.startswith("invalid metrics (1 invalid out of 2), first error is: failed to get qps external metric value")


@pytest.mark.parametrize(
    "metric_spec, reason",
    [
        pytest.param(None, "FailedGetResourceMetric", id="TestConditionFailedGetMetrics/FailedGetResourceMetric"),
        pytest.param(b.pods_metric("15.0"), "FailedGetPodsMetric", id="TestConditionFailedGetMetrics/FailedGetPodsMetric"),
        pytest.param(b.object_metric(value="15.0"), "FailedGetObjectMetric", id="TestConditionFailedGetMetrics/FailedGetObjectMetric"),
        pytest.param(b.external_metric(value="300m"), "FailedGetExternalMetric", id="TestConditionFailedGetMetrics/FailedGetExternalMetric"),
    ],
)
def test_unavailable_metric_sets_scaling_active_false_with_its_reason(metric_spec, reason) -> None:
    state = b.controller_state(min_replicas=1, max_replicas=100, spec_replicas=3, status_replicas=3,
                               cpu_target=10 if metric_spec is None else 0, metrics=[metric_spec] if metric_spec else [],
                               levels=(100, 200, 300), cpu_requests=("0.1",) * 3)
    decision = horizontal.reconcile(dataclasses.replace(state, metrics=api.MetricsSnapshot()))
    assert decision.desired_replicas == 3
    assert not decision.rescale
    assert b.condition_triples(decision) == [(ABLE, T, "SucceededGetScale"), (ACTIVE, F, reason)]
    assert decision.conditions[1].message.startswith("the HPA was unable to compute the replica count: ")


def test_computed_tolerance_regression_scales_down_just_outside_and_not_just_inside_the_band() -> None:
    """TestComputedToleranceAlgImplementation (controller level; minReplicas 0 and maxReplicas 1000)."""
    requests = tuple(f"{300 + d}m" for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0))

    def decide(target_fraction: float) -> int:
        state = b.controller_state(min_replicas=0, max_replicas=1000, spec_replicas=10, status_replicas=10,
                                   cpu_target=int(target_fraction * 100), levels=(150,) * 10, cpu_requests=requests,
                                   recommendations=NO_RECOMMENDATIONS)
        return horizontal.reconcile(state).desired_replicas

    assert decide(abs(1 / (2.0 * (1 - 0.1))) + 0.01) == 9
    assert decide(abs(1 / (2.0 * (1 - 0.1))) + 0.004) == 10


def test_sync_reports_each_metric_and_the_reason_upstream_puts_in_the_rescale_event() -> None:
    state = b.controller_state(min_replicas=1, max_replicas=5, spec_replicas=3, status_replicas=3, cpu_target=10,
                               metrics=[b.pods_metric("15.0")], levels=(20000, 10000, 30000), cpu_requests=ONE_CPU_3)
    decision = horizontal.reconcile(state)
    cpu, qps = decision.metrics
    assert (cpu.metric, cpu.replicas, cpu.current.average_utilization) == ("cpu resource utilization (percentage of request)", 600, 2000)
    assert (qps.metric, qps.replicas, qps.current.average_value) == ("pods metric qps", 4, 20000)
    assert decision.rescale_reason == "cpu resource utilization (percentage of request) above target"


def test_sync_reports_all_metrics_below_target_when_scaling_down() -> None:
    state = b.controller_state(min_replicas=2, max_replicas=6, spec_replicas=5, status_replicas=5, cpu_target=50,
                               levels=(100, 300, 500, 250, 250), cpu_requests=ONE_CPU_5, recommendations=NO_RECOMMENDATIONS)
    assert horizontal.reconcile(state).rescale_reason == "All metrics below target"


# --- legacy normalisation -----------------------------------------------------------------------

def recs(*pairs: tuple[int, float]) -> tuple[api.TimestampedRecommendation, ...]:
    """Recommendations as (replicas, minutes ago)."""
    return tuple(api.TimestampedRecommendation(r, b.ago(minutes=m)) for r, m in pairs)


@pytest.mark.parametrize(
    "recommendations, prenormalized, expected_stabilized, expected_log_length",
    [
        pytest.param((), 5, 5, 1, id="TestNormalizeDesiredReplicas/empty-log"),
        pytest.param(recs((4, 2), (5, 1)), 3, 5, 3, id="TestNormalizeDesiredReplicas/stabilize"),
        pytest.param(recs((1, 2), (2, 1)), 3, 3, 3, id="TestNormalizeDesiredReplicas/no-stabilize"),
        pytest.param(recs((10, 10), (9, 9)), 3, 3, 2, id="TestNormalizeDesiredReplicas/no-stabilize-old-recommendations"),
        pytest.param(recs((10, 10), (4, 1), (5, 2), (9, 9)), 3, 5, 4, id="TestNormalizeDesiredReplicas/stabilize-old-recommendations"),
    ],
)
def test_legacy_stabilization_takes_the_max_over_the_window_and_reuses_the_last_expired_slot(
    recommendations, prenormalized, expected_stabilized, expected_log_length
) -> None:
    stabilized, stored = horizontal.stabilize_recommendation(
        recommendations=recommendations, prenormalized_desired_replicas=prenormalized, now=b.NOW,
        downscale_stabilisation_window_seconds=300,
    )
    assert stabilized == expected_stabilized
    assert len(stored) == expected_log_length
    assert api.TimestampedRecommendation(prenormalized, b.NOW) in stored


def test_legacy_stabilization_overwrites_the_last_expired_entry_not_the_first() -> None:
    _, stored = horizontal.stabilize_recommendation(
        recommendations=recs((10, 10), (4, 1), (5, 2), (9, 9)), prenormalized_desired_replicas=3, now=b.NOW,
        downscale_stabilisation_window_seconds=300,
    )
    assert [r.recommendation for r in stored] == [10, 4, 5, 3]


@pytest.mark.parametrize(
    "current, desired, min_replicas, max_replicas, expected, reason",
    [
        pytest.param(5, 7, 3, 8, 7, "DesiredWithinRange", id="prenormalized-desired-replicas-within-range"),
        pytest.param(3, 1, 2, 8, 2, "TooFewReplicas", id="prenormalized-desired-replicas-below-minReplicas"),
        pytest.param(1, 0, 0, 10, 0, "DesiredWithinRange", id="prenormalized-desired-zeroed-replicas-within-range"),
        pytest.param(20, 1000, 1, 10, 10, "TooManyReplicas", id="maxReplicas-is-the-limit-because-maxReplicas-lt-scaleUpLimit"),
        pytest.param(3, 1000, 1, 2000, 6, "ScaleUpLimit", id="scaleUpLimit-is-the-limit-because-scaleUpLimit-lt-maxReplicas"),
        pytest.param(1, 1000, 1, 2000, 4, "ScaleUpLimit", id="not-upstream-scaleUpLimitMinimum-of-4"),
    ],
)
def test_legacy_limits_clamp_to_min_max_and_double_or_four(current, desired, min_replicas, max_replicas, expected, reason) -> None:
    """TestConvertDesiredReplicasWithRules, with the production factor 2 (upstream's test sets 8)."""
    replicas, got_reason, _ = horizontal.convert_desired_replicas_with_rules(
        current_replicas=current, desired_replicas=desired, hpa_min_replicas=min_replicas, hpa_max_replicas=max_replicas
    )
    assert (replicas, got_reason) == (expected, reason)


def test_legacy_path_limits_every_sync_without_remembering_earlier_ones() -> None:
    """Without behavior no scale events are stored; the next sync may double again."""
    state = b.controller_state(min_replicas=1, max_replicas=100, spec_replicas=3, status_replicas=3, cpu_target=10,
                               levels=(100, 200, 300), cpu_requests=("0.1",) * 3)
    state = dataclasses.replace(state, controller=dataclasses.replace(state.controller, scale_up_limit_factor=2.0))
    decision = horizontal.reconcile(state)
    assert (decision.desired_replicas, decision.history.scale_up_events) == (6, ())
    assert b.condition_triples(decision)[2] == (LIMITED, T, "ScaleUpLimit")


# --- behavior -----------------------------------------------------------------------------------

def test_calculate_scale_up_limit_with_min_select_policy_takes_the_smallest_proposal() -> None:
    """TestCalculateScaleUpLimitWithScalingRules."""
    rules = api.HPAScalingRules(300, api.MIN_CHANGE, (api.HPAScalingPolicy(api.PODS_POLICY, 2, 60),
                                                      api.HPAScalingPolicy(api.PERCENT_POLICY, 50, 60)))
    limit = horizontal.calculate_scale_up_limit_with_scaling_rules(
        current_replicas=1, scale_up_events=(), scale_down_events=(), scaling_rules=rules, now=b.NOW
    )
    assert limit == 2


def test_calculate_scale_down_limit_with_min_select_policy_takes_the_largest_proposal() -> None:
    """TestCalculateScaleDownLimitWithBehaviors."""
    rules = api.HPAScalingRules(300, api.MIN_CHANGE, (api.HPAScalingPolicy(api.PODS_POLICY, 2, 60),
                                                      api.HPAScalingPolicy(api.PERCENT_POLICY, 50, 60)))
    limit = horizontal.calculate_scale_down_limit_with_behaviors(
        current_replicas=5, scale_up_events=(), scale_down_events=(), scaling_rules=rules, now=b.NOW
    )
    assert limit == 3


rules = b.generate_scaling_rules
events = b.events_uniform_distribution


@pytest.mark.parametrize(
    "current, desired, min_replicas, max_replicas, up_rules, down_rules, up_events, down_events, expected, reason",
    [
        pytest.param(5, 7, 3, 8, None, None, (), (), 7, "DesiredWithinRange", id="prenormalized-desired-replicas-within-range"),
        pytest.param(3, 1, 2, 8, None, None, (), (), 2, "TooFewReplicas", id="prenormalized-desired-replicas-lt-minReplicas"),
        pytest.param(1, 0, 0, 10, None, None, (), (), 0, "DesiredWithinRange", id="within-range-when-minReplicas-is-0"),
        pytest.param(20, 1000, 1, 10, None, None, (), (), 10, "TooManyReplicas", id="maxReplicas-is-the-limit"),
        pytest.param(100, 1000, 100, 150, None, None, (), (), 150, "TooManyReplicas", id="desired-more-than-maximum"),
        pytest.param(3, 1000, 1, 2000, rules(0, 0, 1, 60, 0), None, (), (), 4, "ScaleUpLimit",
                     id="scaleUpLimit-with-user-policies"),
        pytest.param(10, 50, 1, 1000, None, None, (), (), 20, "ScaleUpLimit", id="scaleUp-with-default-behavior"),
        pytest.param(10, 500, 1, 1000, rules(100, 60, 100, 60, 0), None, (), (), 110, "ScaleUpLimit",
                     id="scaleUp-with-pods-policy-larger-than-percent-policy"),
        pytest.param(10, 500, 1, 1000, rules(2, 60, 100, 60, 0), None, (), (), 20, "ScaleUpLimit",
                     id="scaleUp-with-percent-policy-larger-than-pods-policy"),
        pytest.param(10, 50, 1, 1000, rules(100, 60, 0, 0, 0), None, (), (), 50, "DesiredWithinRange",
                     id="scaleUp-with-spec-MaxReplicas-limitation-with-large-pod-policy"),
        pytest.param(10, 50, 1, 1000, rules(10000, 60, 0, 0, 0), None, (), (), 50, "DesiredWithinRange",
                     id="scaleUp-with-spec-MaxReplicas-limitation-with-large-percent-policy"),
        pytest.param(10, 50, 1, 1000, rules(30, 60, 0, 0, 0), None, (), (), 40, "ScaleUpLimit", id="scaleUp-with-pod-policy-limitation"),
        pytest.param(10, 50, 1, 1000, rules(0, 0, 200, 60, 0), None, (), (), 30, "ScaleUpLimit",
                     id="scaleUp-with-percent-policy-limitation"),
        pytest.param(100, 2, 1, 1000, None, rules(20, 60, 1, 60, 300), (), (), 80, "ScaleDownLimit",
                     id="scaleDown-with-percent-policy-larger-than-pod-policy"),
        pytest.param(100, 2, 1, 1000, None, rules(2, 60, 1, 60, 300), (), (), 98, "ScaleDownLimit",
                     id="scaleDown-with-pod-policy-larger-than-percent-policy"),
        pytest.param(10, 0, 1, 1000, None, rules(100, 60, 0, 0, 300), (), (), 1, "TooFewReplicas",
                     id="scaleDown-with-spec-MinReplicas-limitation-with-large-pod-policy"),
        pytest.param(10, 2, 5, 1000, None, rules(0, 0, 100, 60, 300), (), (), 5, "TooFewReplicas",
                     id="scaleDown-with-spec-MinReplicas-limitation-with-large-percent-policy"),
        pytest.param(10, 2, 1, 1000, None, rules(5, 60, 0, 0, 300), (), (), 5, "ScaleDownLimit", id="scaleDown-with-pod-policy-limitation"),
        pytest.param(10, 5, 1, 1000, None, rules(0, 0, 50, 60, 300), (), (), 5, "DesiredWithinRange",
                     id="scaleDown-with-percent-policy-limitation"),
        pytest.param(100, 500, 1, 200, rules(300, 60, 0, 0, 0), None, events([1, 5, 9], 120), (), 200, "TooManyReplicas",
                     id="scaleUp-with-spec-MaxReplicas-limitation-with-large-pod-policy-and-events"),
        pytest.param(100, 500, 1, 200, rules(0, 0, 10000, 60, 0), None, events([1, 5, 9], 120), (), 200, "TooManyReplicas",
                     id="scaleUp-with-spec-MaxReplicas-limitation-with-large-percent-policy-and-events"),
        pytest.param(100, 500, 1, 1000, rules(5, 120, 0, 0, 0), None, events([1, 5, 9], 120), (), 100, "ScaleUpLimit",
                     id="scaleUp-with-currentReplicas-limitation-with-a-lot-of-recent-scale-up-events"),
        pytest.param(100, 500, 1, 1000, rules(150, 120, 0, 0, 0), None, events([1, 5, 9], 120), (), 235, "ScaleUpLimit",
                     id="scaleUp-with-pod-policy-and-previous-scale-up-events"),
        pytest.param(100, 500, 1, 1000, rules(0, 0, 200, 120, 0), None, events([1, 5, 9], 120), (), 255, "ScaleUpLimit",
                     id="scaleUp-with-percent-policy-and-previous-scale-up-events"),
        pytest.param(6, 24, 1, 1000, rules(0, 0, 300, 300, 0), None, events([4], 120), events([2], 120), 16, "ScaleUpLimit",
                     id="scaleUp-with-percent-policy-and-previous-scale-up-and-down-events"),
        pytest.param(10, 5, 1, 1000, None, None, (), events([1, 5, 9], 120), 5, "DesiredWithinRange",
                     id="scaleDown-with-default-policy-and-previous-events"),
        pytest.param(100, 0, 1, 1000, None, rules(115, 120, 0, 0, 300), (), events([1, 5, 9], 120), 1, "TooFewReplicas",
                     id="scaleDown-with-spec-MinReplicas-nil-limitation-with-large-pod-policy-and-previous-events"),
        pytest.param(100, 0, 5, 1000, None, rules(130, 120, 0, 0, 300), (), events([1, 5, 9], 120), 5, "TooFewReplicas",
                     id="scaleDown-with-spec-MinReplicas-limitation-with-large-pod-policy-and-previous-events"),
        pytest.param(100, 2, 5, 1000, None, rules(0, 0, 100, 120, 300), (), events([1, 5, 9], 120), 5, "TooFewReplicas",
                     id="scaleDown-with-spec-MinReplicas-limitation-with-large-percent-policy-and-previous-events"),
        pytest.param(100, 2, 1, 1000, None, rules(5, 120, 0, 0, 300), (), events([1, 5, 9], 120), 100, "ScaleDownLimit",
                     id="scaleDown-with-pod-policy-limitation-and-previous-events"),
        pytest.param(100, 0, 1, 1000, None, rules(0, 0, 50, 120, 300), (), events([2, 4, 6], 120), 56, "ScaleDownLimit",
                     id="scaleDown-with-percent-policy-limitation-and-previous-events"),
        pytest.param(10, 1, 1, 1000, None, rules(0, 0, 50, 180, 0), events([2], 120), events([4], 120), 6, "ScaleDownLimit",
                     id="scaleDown-with-percent-policy-and-previous-scale-up-and-down-events"),
        pytest.param(100, 0, 1, 1000, None, rules(0, 0, 10, 120, 300), (), events([10, 10, 10], 120), 100, "ScaleDownLimit",
                     id="scaleDown-with-previous-events-preventing-further-scale-down"),
        pytest.param(10, 5, 1, 1000, None, rules(0, 0, 1000, 120, 300), (), events([10, 10, 10], 120), 5, "DesiredWithinRange",
                     id="scaleDown-with-previous-events-still-allowing-more-scale-down"),
        pytest.param(100, 200, 1, 1000, rules(1000, 60, 0, 0, 0), None, events([8, 12, 9, 11], 120), (), 200, "DesiredWithinRange",
                     id="check-outdated-flag-for-events-for-one-behavior-for-up"),
        pytest.param(100, 200, 1, 1000, rules(1000, 120, 100, 60, 0), None, events([8, 12, 9, 11], 120), (), 200,
                     "DesiredWithinRange", id="events-not-marked-outdated-for-two-policies-up"),
        pytest.param(100, 200, 1, 1000, rules(1000, 30, 100, 60, 0), None, events([8, 12, 9, 11], 120), (), 200,
                     "DesiredWithinRange", id="events-marked-outdated-for-two-policies-up"),
        pytest.param(100, 5, 1, 1000, None, rules(1000, 60, 0, 0, 300), (), events([8, 12, 9, 11], 120), 5, "DesiredWithinRange",
                     id="check-outdated-flag-for-events-for-one-behavior-for-down"),
        pytest.param(100, 5, 1, 1000, None, rules(1000, 120, 100, 60, 300), (), events([8, 12, 9, 11], 120), 5,
                     "DesiredWithinRange", id="events-not-marked-outdated-for-two-policies-down"),
        pytest.param(100, 5, 1, 1000, None, rules(1000, 30, 100, 60, 300), (), events([8, 12, 9, 11], 120), 5,
                     "DesiredWithinRange", id="events-marked-outdated-for-two-policies-down"),
    ],
)
def test_behavior_rate_limits_match_upstream(
    current, desired, min_replicas, max_replicas, up_rules, down_rules, up_events, down_events, expected, reason
) -> None:
    """TestScalingWithRules."""
    args = horizontal.NormalizationArg(
        scale_up_behavior=defaults.generate_hpa_scale_up_rules(up_rules),
        scale_down_behavior=defaults.generate_hpa_scale_down_rules(down_rules),
        min_replicas=min_replicas, max_replicas=max_replicas, current_replicas=current, desired_replicas=desired,
    )
    replicas, got_reason, _ = horizontal.convert_desired_replicas_with_behavior_rate(
        args, scale_up_events=up_events, scale_down_events=down_events, now=b.NOW
    )
    assert (replicas, got_reason) == (expected, reason)


@pytest.mark.parametrize(
    "select_policy, expected",
    [
        pytest.param(api.MAX_CHANGE, 20, id="max-biggest-change"),
        pytest.param(api.MIN_CHANGE, 14, id="min-smallest-change"),
        pytest.param(api.DISABLED, 10, id="disabled-no-change"),
    ],
)
def test_select_policy_picks_which_policy_limits_a_scale_up(select_policy: str, expected: int) -> None:
    up = api.HPAScalingRules(0, select_policy, defaults.DEFAULT_SCALE_UP_RULES.policies)
    args = horizontal.NormalizationArg(up, defaults.DEFAULT_SCALE_DOWN_RULES, 1, 100, 10, 50)
    assert horizontal.convert_desired_replicas_with_behavior_rate(args, scale_up_events=(), scale_down_events=(), now=b.NOW)[0] == expected


@pytest.mark.parametrize(
    "select_policy, expected",
    [
        pytest.param(api.MAX_CHANGE, 5, id="max-biggest-change"),
        pytest.param(api.MIN_CHANGE, 9, id="min-smallest-change"),
        pytest.param(api.DISABLED, 10, id="disabled-no-change"),
    ],
)
def test_select_policy_picks_which_policy_limits_a_scale_down(select_policy: str, expected: int) -> None:
    down = api.HPAScalingRules(300, select_policy, (api.HPAScalingPolicy(api.PODS_POLICY, 1, 60),
                                                    api.HPAScalingPolicy(api.PERCENT_POLICY, 50, 60)))
    args = horizontal.NormalizationArg(defaults.DEFAULT_SCALE_UP_RULES, down, 1, 100, 10, 2)
    assert horizontal.convert_desired_replicas_with_behavior_rate(args, scale_up_events=(), scale_down_events=(), now=b.NOW)[0] == expected


def test_percent_scale_up_rounds_up_in_float64_so_ten_percent_of_fifty_allows_fifty_six() -> None:
    """``50 * (1 + 10/100) == 55.00000000000001`` in float64; ceil gives 56, as upstream."""
    up = api.HPAScalingRules(0, api.MAX_CHANGE, (api.HPAScalingPolicy(api.PERCENT_POLICY, 10, 60),))
    limit = horizontal.calculate_scale_up_limit_with_scaling_rules(
        current_replicas=50, scale_up_events=(), scale_down_events=(), scaling_rules=up, now=b.NOW
    )
    assert limit == 56


def event(change: int, seconds_ago: float, outdated: bool = False) -> api.TimestampedScaleEvent:
    return api.TimestampedScaleEvent(change, b.ago(seconds=seconds_ago), outdated)


@pytest.mark.parametrize(
    "scaling_rules, previous, expected_events, expected_change",
    [
        pytest.param(None, (), [], 0, id="empty-entries-with-default-behavior"),
        pytest.param(rules(10, 60, 100, 60, 0), (), [(5, False)], 0, id="empty-entries-with-two-policy-behavior"),
        pytest.param(None, (event(7, 61),), [(7, False)], 0, id="one-outdated-entry-to-be-kept-untouched-without-behavior"),
        pytest.param(rules(10, 60, 100, 60, 0), (event(7, 61),), [(5, False)], 0, id="one-outdated-entry-to-be-replaced-with-behavior"),
        pytest.param(rules(10, 60, 100, 60, 0), (event(7, 58),), [(7, False), (5, False)], 7,
                     id="one-actual-entry-to-be-not-touched-with-behavior"),
        pytest.param(rules(10, 60, 0, 0, 0), (event(7, 61), event(6, 59)), [(5, False), (6, False)], 6,
                     id="two-entries-one-of-them-to-be-replaced"),
        pytest.param(rules(10, 60, 100, 30, 0), (event(8, 29), event(6, 59), event(7, 61), event(9, 61)),
                     [(8, False), (6, False), (7, True), (5, False)], 14, id="replace-one-entry-use-policies-with-different-periods"),
        pytest.param(rules(10, 120, 100, 30, 0), (event(7, 58), event(6, 59)), [(7, False), (6, False), (5, False)], 13,
                     id="two-entries-both-actual"),
    ],
)
def test_store_scale_event_reuses_the_last_outdated_slot_in_both_directions(scaling_rules, previous, expected_events, expected_change) -> None:
    """TestStoreScaleEvents."""
    for direction in ("up", "down"):
        behavior = None
        if scaling_rules is not None:
            behavior = api.HorizontalPodAutoscalerBehavior(**{f"scale_{direction}": scaling_rules})
        assert horizontal.get_replicas_change_per_period(period_seconds=60, scale_events=previous, now=b.NOW) == expected_change
        up, down = horizontal.store_scale_event(
            behavior=behavior,
            scale_up_events=previous if direction == "up" else (),
            scale_down_events=previous if direction == "down" else (),
            prev_replicas=10,
            new_replicas=15 if direction == "up" else 5,
            now=b.NOW,
        )
        stored = up if direction == "up" else down
        assert [(e.replica_change, e.outdated) for e in stored] == expected_events, direction


@pytest.mark.parametrize(
    "recommendations, current, prenormalized, up_window, down_window, expected, expected_stored",
    [
        pytest.param((), 100, 5, 0, 0, 5, [5], id="empty-recommendations-for-scaling-down"),
        pytest.param(recs((4, 2), (5, 1)), 100, 3, 0, 180, 5, [4, 5, 3], id="simple-scale-down-stabilization"),
        pytest.param(recs((4, 2), (5, 1)), 1, 7, 300, 0, 4, [4, 5, 7], id="simple-scale-up-stabilization"),
        pytest.param(recs((1, 2), (2, 1)), 100, 3, 300, 0, 3, [1, 2, 3], id="no-scale-down-stabilization"),
        pytest.param(recs((4, 2), (5, 1)), 1, 3, 0, 300, 3, [4, 5, 3], id="no-scale-up-stabilization"),
        pytest.param(recs((10, 10), (9, 9)), 100, 3, 0, 0, 3, [10, 3], id="no-scale-down-stabilization-reuse-recommendation-element"),
        pytest.param(recs((10, 10), (9, 9)), 1, 100, 0, 0, 100, [10, 100], id="no-scale-up-stabilization-reuse-recommendation-element"),
        pytest.param(recs((10, 10), (4, 1), (5, 2), (9, 9)), 100, 3, 0, 180, 5, [10, 4, 5, 3],
                     id="scale-down-stabilization-reuse-one-of-obsolete-recommendation-element"),
        pytest.param(recs((10, 100), (6, 1), (5, 2), (9, 3)), 1, 100, 300, 0, 5, [100, 6, 5, 9],
                     id="scale-up-stabilization-reuse-one-of-obsolete-recommendation-element"),
        pytest.param(recs((2, 100), (3, 3)), 2, 1, 300, 300, 2, None,
                     id="do-not-scale-up-when-prenormalized-rec-goes-down"),
        pytest.param(recs((2, 100), (1, 3)), 2, 3, 300, 300, 2, None,
                     id="do-not-scale-down-when-prenormalized-rec-goes-up"),
    ],
)
def test_behavior_stabilization_clamps_current_between_both_windows(
    recommendations, current, prenormalized, up_window, down_window, expected, expected_stored
) -> None:
    """TestNormalizeDesiredReplicasWithBehavior."""
    args = horizontal.NormalizationArg(
        scale_up_behavior=api.HPAScalingRules(stabilization_window_seconds=up_window),
        scale_down_behavior=api.HPAScalingRules(stabilization_window_seconds=down_window),
        min_replicas=1, max_replicas=1000, current_replicas=current, desired_replicas=prenormalized,
    )
    result = horizontal.stabilize_recommendation_with_behaviors(args, recommendations=recommendations, now=b.NOW)
    assert result.replicas == expected
    if expected_stored is not None:
        assert [r.recommendation for r in result.recommendations] == expected_stored


def test_default_behavior_fills_every_unset_field_and_a_user_policy_list_replaces_the_default() -> None:
    """SetDefaults_HorizontalPodAutoscalerBehavior / GenerateHPAScale{Up,Down}Rules."""
    user = api.HorizontalPodAutoscalerBehavior(scale_up=api.HPAScalingRules(policies=(api.HPAScalingPolicy(api.PODS_POLICY, 1, 60),)))
    filled = defaults.set_defaults_behavior(user)
    assert filled.scale_up == api.HPAScalingRules(0, api.MAX_CHANGE, (api.HPAScalingPolicy(api.PODS_POLICY, 1, 60),))
    assert filled.scale_down == defaults.DEFAULT_SCALE_DOWN_RULES
    assert filled.scale_down.stabilization_window_seconds is None  # the controller flag fills it
    assert defaults.set_defaults_behavior(None) is None


def test_scale_down_window_defaults_to_the_controller_flag_when_behavior_is_set() -> None:
    """maybeInitScaleDownStabilizationWindow: 300 s from --horizontal-pod-autoscaler-downscale-stabilization."""
    state = b.controller_state(min_replicas=1, max_replicas=10, spec_replicas=5, status_replicas=5, cpu_target=50,
                               scale_up_rules=b.generate_scaling_rules(4, 15, 100, 15, 0),
                               levels=(100,) * 5, cpu_requests=ONE_CPU_5,
                               recommendations=[api.TimestampedRecommendation(5, b.ago(seconds=299))])
    held = horizontal.reconcile(state)
    assert (held.desired_replicas, b.condition_triples(held)[0]) == (5, (ABLE, T, "ScaleDownStabilized"))
    later = dataclasses.replace(state, controller=dataclasses.replace(state.controller, downscale_stabilization_seconds=200))
    assert horizontal.reconcile(later).desired_replicas == 1


def test_behavior_tolerance_overrides_the_controller_tolerance_per_direction() -> None:
    """tolerancesForHpa with HPAConfigurableTolerance (beta, on since 1.35)."""
    base = b.controller_state(min_replicas=1, max_replicas=10, spec_replicas=3, status_replicas=3, cpu_target=100,
                              levels=(1050, 1050, 1050), cpu_requests=ONE_CPU_3)
    assert horizontal.reconcile(base).desired_replicas == 3
    tight = api.HorizontalPodAutoscalerBehavior(scale_up=api.HPAScalingRules(tolerance=0.01))
    tightened = dataclasses.replace(base, spec=dataclasses.replace(base.spec, behavior=tight))
    assert horizontal.reconcile(tightened).desired_replicas == 4


def test_successful_rescale_with_behavior_records_a_scale_event_for_the_next_sync() -> None:
    state = b.controller_state(min_replicas=1, max_replicas=10, spec_replicas=3, status_replicas=3, cpu_target=30,
                               scale_up_rules=b.generate_scaling_rules(1, 60, 0, 0, 0),
                               levels=(300, 500, 700), cpu_requests=ONE_CPU_3)
    first = horizontal.reconcile(state)
    assert first.desired_replicas == 4
    assert first.history.scale_up_events == (api.TimestampedScaleEvent(1, b.NOW),)
    second = horizontal.reconcile(dataclasses.replace(
        state, current_replicas=4, now=b.NOW + datetime.timedelta(seconds=15), history=first.history
    ))
    assert (second.desired_replicas, b.condition_triples(second)[2]) == (4, (LIMITED, T, "ScaleUpLimit"))


def test_first_sync_records_the_current_replicas_as_a_recommendation() -> None:
    """recordInitialRecommendation: a new HPA cannot scale down during its first window."""
    state = b.controller_state(min_replicas=1, max_replicas=10, spec_replicas=5, status_replicas=5, cpu_target=50,
                               levels=(100,) * 5, cpu_requests=ONE_CPU_5, recommendations=None)
    decision = horizontal.reconcile(state)
    assert decision.desired_replicas == 5
    assert [r.recommendation for r in decision.history.recommendations] == [5, 1]


def test_state_without_metrics_or_with_a_naive_time_is_rejected() -> None:
    state = b.controller_state(min_replicas=1, max_replicas=10, spec_replicas=1, status_replicas=1, cpu_target=50)
    with pytest.raises(ValueError, match="spec.metrics is empty"):
        dataclasses.replace(state, spec=dataclasses.replace(state.spec, metrics=()))
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(state, now=datetime.datetime(2024, 5, 1))


def test_controller_settings_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="tolerance must not be negative"):
        settings.ControllerSettings(tolerance=-0.1)


@pytest.mark.parametrize(
    "current, percent, expected",
    [
        pytest.param(10, 15, 8, id="8.5-truncates-to-8"),
        pytest.param(80, 10, 72, id="docs-example-80-minus-10-percent"),
        pytest.param(3, 50, 1, id="1.5-truncates-to-1"),
    ],
)
def test_percent_scale_down_truncates_so_the_pods_removed_round_up(current: int, percent: int, expected: int) -> None:
    down = api.HPAScalingRules(0, api.MAX_CHANGE, (api.HPAScalingPolicy(api.PERCENT_POLICY, percent, 60),))
    limit = horizontal.calculate_scale_down_limit_with_behaviors(
        current_replicas=current, scale_up_events=(), scale_down_events=(), scaling_rules=down, now=b.NOW
    )
    assert limit == expected
