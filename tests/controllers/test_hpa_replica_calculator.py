"""Ports of ``replica_calculator_test.go``: one metric's replica proposal.

We test these aspects (each case is named after its upstream test):

- Resource Utilization targets: scale up/down, container metrics, tolerance, superfluous metrics;
- pod grouping: unready, hot-CPU (initialization period), Pending, Failed and deleted pods;
- missing pods: 100 % (or the target above 100 %) on scale-down, 0 on scale-up, none at exactly 1.0;
- unready pods at 0 on scale-up only; the direction guards (rolling-update surge);
- Pods (AverageValue) metrics, where readiness does not matter but Pending does;
- Object and External metrics, Value and AverageValue, ready-pod counting, overflow caps;
- configurable (asymmetric) tolerances; integer truncation; upstream's error messages;
- ``groupPods`` and ``calculateRequests`` on their own.
"""
from __future__ import annotations

import dataclasses
import datetime

import pytest

import hpa_builders as b
from controllers.hpa import api, metrics_client, replica_calculator

T, F = api.TRUE, api.FALSE
RUN, PEND, FAIL = api.RUNNING, api.PENDING, api.FAILED
HOT, COOL = b.hot_cpu_creation_time(), b.cool_cpu_creation_time()
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
levels = b.make_pod_metric_levels


@dataclasses.dataclass(frozen=True)
class ResourceCase:
    current: int
    requests: tuple[str, ...]
    levels: list[list[int]]
    target: int
    expected_replicas: int
    expected_utilization: int
    expected_raw: int
    container: str = ""
    readiness: tuple[str, ...] | None = None
    start_times: tuple[datetime.datetime, ...] | None = None
    phases: tuple[str, ...] | None = None
    deleted: tuple[bool, ...] | None = None
    pod_names: tuple[str, ...] = ()
    tolerances: replica_calculator.Tolerances = b.DEFAULT_TOLERANCES


def one_cpu(count: int) -> tuple[str, ...]:
    return ("1.0",) * count


RESOURCE_CASES = [
    # TestReplicaCalcResourceScale
    pytest.param(ResourceCase(3, one_cpu(3), levels(300, 500, 700), 30, 5, 50, 2 * 500), id="TestReplicaCalcResourceScale/scale-up"),
    pytest.param(ResourceCase(3, one_cpu(3), [[1000, 300], [1000, 500], [1000, 700]], 30, 5, 50, 500, container="container2"),
                 id="TestReplicaCalcResourceScale/scale-up-container-metric"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(300, 500, 700), 30, 4, 60, 2 * 600, readiness=(F, T, T)),
                 id="TestReplicaCalcResourceScale/scale-up-unready-pod-scales-less"),
    pytest.param(ResourceCase(3, one_cpu(3), [[0, 300], [0, 500], [0, 700]], 30, 4, 60, 600, container="container2",
                              start_times=(HOT, COOL, COOL)),
                 id="TestReplicaCalcResourceScale/scale-up-hot-cpu-container-scales-less"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(300, 500, 700), 30, 4, 60, 2 * 600, start_times=(HOT, COOL, COOL)),
                 id="TestReplicaCalcResourceScale/scale-up-hot-cpu-pod-scales-less"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(400, 500, 700), 30, 3, 40, 2 * 400, readiness=(T, F, F)),
                 id="TestReplicaCalcResourceScale/no-scale-unready-pods-ignored"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(400, 500, 700), 30, 3, 40, 2 * 400, readiness=(T, F, F),
                              start_times=(COOL, HOT, HOT)),
                 id="TestReplicaCalcResourceScale/no-scale-hot-cpu-pods-ignored"),
    pytest.param(ResourceCase(2, one_cpu(4), levels(500, 700), 30, 4, 60, 2 * 600, readiness=(T, T, F, F),
                              phases=(RUN, RUN, FAIL, FAIL)),
                 id="TestReplicaCalcResourceScale/scale-up-failed-pods-ignored"),
    pytest.param(ResourceCase(2, one_cpu(4), [[1000, 500], [9000, 700], [1000], [9000]], 30, 4, 60, 600,
                              container="container2", readiness=(T, T, F, F), phases=(RUN, RUN, FAIL, FAIL)),
                 id="TestReplicaCalcResourceScale/scale-up-failed-pods-ignored-with-missing-container-metric"),
    pytest.param(ResourceCase(2, one_cpu(4), [[1000, 500], [9000, 700]], 30, 4, 60, 600, container="container2",
                              readiness=(T, T, F, F), phases=(RUN, RUN, FAIL, FAIL)),
                 id="TestReplicaCalcResourceScale/scale-up-container-metrics-with-failed-pods-ignored"),
    pytest.param(ResourceCase(2, one_cpu(4), levels(500, 700), 30, 4, 60, 2 * 600, readiness=(T, T, F, F),
                              phases=(RUN,) * 4, deleted=(False, False, True, True)),
                 id="TestReplicaCalcResourceScale/scale-up-pods-being-deleted-are-ignored"),
    pytest.param(ResourceCase(2, one_cpu(4), levels(500, 700), 30, 4, 60, 600, container="container1",
                              readiness=(T, T, F, F), phases=(RUN,) * 4, deleted=(False, False, True, True)),
                 id="TestReplicaCalcResourceScale/scale-up-container-metrics-with-pods-being-deleted-ignored"),
    pytest.param(ResourceCase(5, one_cpu(5), levels(100, 300, 500, 250, 250), 50, 3, 28, 2 * 280),
                 id="TestReplicaCalcResourceScale/scale-down"),
    pytest.param(ResourceCase(5, one_cpu(5), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, 3, 28, 280,
                              container="container2"),
                 id="TestReplicaCalcResourceScale/scale-down-container-metric"),
    pytest.param(ResourceCase(5, one_cpu(5), levels(100, 300, 500, 250, 250), 50, 2, 30, 2 * 300, readiness=(T, T, T, F, F)),
                 id="TestReplicaCalcResourceScale/scale-down-exclude-unready-pods"),
    pytest.param(ResourceCase(5, one_cpu(5), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, 2, 30, 300,
                              container="container2", readiness=(T, T, T, F, F)),
                 id="TestReplicaCalcResourceScale/scale-down-container-metric-excludes-unready-pods"),
    pytest.param(ResourceCase(5, one_cpu(5), levels(100), 50, 1, 10, 2 * 100, readiness=(T, F, F, F, F),
                              phases=(RUN, PEND, PEND, PEND, PEND)),
                 id="TestReplicaCalcResourceScale/scale-down-exclude-unscheduled-pods"),
    pytest.param(ResourceCase(5, one_cpu(5), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, 1, 10, 100,
                              container="container2", readiness=(T, F, F, F, F), phases=(RUN, PEND, PEND, PEND, PEND)),
                 id="TestReplicaCalcResourceScale/scale-down-container-metric-excludes-unscheduled-pods"),
    pytest.param(ResourceCase(5, one_cpu(5), levels(100, 300, 500, 250, 250), 50, 2, 30, 2 * 300,
                              start_times=(COOL, COOL, COOL, HOT, HOT)),
                 id="TestReplicaCalcResourceScale/scale-down-ignore-hot-cpu-pods"),
    pytest.param(ResourceCase(5, one_cpu(5), [[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]], 50, 2, 30, 300,
                              container="container2", start_times=(COOL, COOL, COOL, HOT, HOT)),
                 id="TestReplicaCalcResourceScale/scale-down-container-metric-ignores-hot-cpu-pods"),
    pytest.param(ResourceCase(5, one_cpu(7), levels(100, 300, 500, 250, 250), 50, 3, 28, 2 * 280,
                              readiness=(T, T, T, T, T, F, F), phases=(RUN,) * 5 + (FAIL, FAIL)),
                 id="TestReplicaCalcResourceScale/scale-down-failed-pods-ignored"),
    pytest.param(ResourceCase(5, one_cpu(7), levels(100, 300, 500, 250, 250), 50, 3, 28, 2 * 280,
                              readiness=(T, T, T, T, T, F, F), phases=(RUN,) * 7, deleted=(False,) * 5 + (True, True)),
                 id="TestReplicaCalcResourceScale/scale-down-pods-being-deleted-are-ignored"),
    pytest.param(ResourceCase(5, one_cpu(7), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], 50, 3, 28, 280,
                              container="container2", readiness=(T, T, T, T, T, F, F), phases=(RUN,) * 7,
                              deleted=(False,) * 5 + (True, True)),
                 id="TestReplicaCalcResourceScale/scale-down-still-running-pods-being-deleted-are-ignored-issue-83561"),
    # Standalone upstream tests
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(1010, 1030, 1020), 100, 3, 102, 2 * 1020),
                 id="TestReplicaCalcTolerance"),
    pytest.param(ResourceCase(4, one_cpu(4), levels(4000, 9500, 3000, 7000, 3200, 2000), 100, 24, 587, 2 * 5875),
                 id="TestReplicaCalcSuperfluousMetrics"),
    pytest.param(ResourceCase(4, one_cpu(4), levels(400, 95), 100, 3, 24, 495), id="TestReplicaCalcMissingMetrics"),
    pytest.param(ResourceCase(2, one_cpu(2), levels(1000), 100, 2, 100, 2 * 1000), id="TestReplicaCalcMissingMetricsNoChangeEq"),
    pytest.param(ResourceCase(2, one_cpu(2), levels(1900), 100, 2, 190, 2 * 1900), id="TestReplicaCalcMissingMetricsNoChangeGt"),
    pytest.param(ResourceCase(2, one_cpu(2), levels(600), 100, 2, 60, 2 * 600), id="TestReplicaCalcMissingMetricsNoChangeLt"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(100, 450), 50, 3, 45, 2 * 450, readiness=(F, T, T)),
                 id="TestReplicaCalcMissingMetricsUnreadyChange"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(100, 450), 50, 3, 45, 2 * 450, start_times=(HOT, COOL, COOL)),
                 id="TestReplicaCalcMissingMetricsHotCpuNoChange"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(100, 2000), 50, 4, 200, 2 * 2000, readiness=(F, T, T)),
                 id="TestReplicaCalcMissingMetricsUnreadyScaleUp"),
    pytest.param(ResourceCase(3, one_cpu(3), levels(100, 2000), 50, 4, 200, 2 * 2000, readiness=(F, T, T),
                              start_times=(HOT, COOL, COOL)),
                 id="TestReplicaCalcMissingMetricsHotCpuScaleUp"),
    pytest.param(ResourceCase(4, one_cpu(4), levels(100, 100, 100), 50, 3, 10, 2 * 100, readiness=(F, T, T, T)),
                 id="TestReplicaCalcMissingMetricsUnreadyScaleDown"),
    pytest.param(ResourceCase(4, ("1.0", "1.0", "2.0", "2.0"), levels(200, 100, 100), 300, 2, 6, 2 * 100,
                              readiness=(F, T, T, T)),
                 id="TestReplicaCalcMissingMetricsScaleDownTargetOver100"),
    pytest.param(ResourceCase(2, one_cpu(3), levels(100, 100), 50, 2, 10, 2 * 100, phases=(RUN, RUN, RUN)),
                 id="TestReplicaCalcDuringRollingUpdateWithMaxSurge"),
    # TestReplicaCalcConfigurableTolerance
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(909, 1010, 1111), 100, 4, 101, 2 * 1010,
                              tolerances=replica_calculator.Tolerances(0.0, 0.0)),
                 id="TestReplicaCalcConfigurableTolerance/outside-a-0%-tolerance"),
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(1890, 1910, 1900), 100, 3, 190, 2 * 1900,
                              tolerances=replica_calculator.Tolerances(0.1, 2.0)),
                 id="TestReplicaCalcConfigurableTolerance/within-a-200%-scale-up-tolerance"),
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(1100, 1080, 1090), 100, 4, 109, 2 * 1090,
                              tolerances=replica_calculator.Tolerances(2.0, 0.08)),
                 id="TestReplicaCalcConfigurableTolerance/outside-8%-scale-up-tolerance"),
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(660, 640, 650), 100, 3, 65, 2 * 650,
                              tolerances=replica_calculator.Tolerances(0.36, 0.1)),
                 id="TestReplicaCalcConfigurableTolerance/within-a-36%-scale-down-tolerance"),
    pytest.param(ResourceCase(3, ("0.9", "1.0", "1.1"), levels(660, 640, 650), 100, 2, 65, 2 * 650,
                              tolerances=replica_calculator.Tolerances(0.34, 0.1)),
                 id="TestReplicaCalcConfigurableTolerance/outside-a-34%-scale-down-tolerance"),
]


def resource_calculator(case: ResourceCase) -> replica_calculator.ReplicaCalculator:
    return b.calculator(
        current_replicas=case.current,
        requests=case.requests,
        levels=case.levels,
        pod_names=case.pod_names,
        readiness=case.readiness,
        start_times=case.start_times,
        phases=case.phases,
        deleted=case.deleted,
    )


@pytest.mark.parametrize("case", RESOURCE_CASES)
def test_utilization_proposal_matches_upstream_when_computed_from_resource_metrics(case: ResourceCase) -> None:
    result = resource_calculator(case).get_resource_replicas(
        current_replicas=case.current,
        target_utilization=case.target,
        resource=api.CPU,
        tolerances=case.tolerances,
        container=case.container,
    )
    assert (result.replicas, result.utilization, result.raw_utilization) == (
        case.expected_replicas,
        case.expected_utilization,
        case.expected_raw,
    )
    assert result.timestamp == b.ZERO_TIME


def test_tolerance_band_around_the_computed_scale_down_boundary_matches_upstream() -> None:
    """TestReplicaCalcComputedToleranceAlgImplementation: 10 pods at 150m, requests ~300m."""
    per_pod_requested = 300
    requests = tuple(f"{per_pod_requested + d}m" for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0))
    case_levels = [[150, 150]] * 10

    def replicas_for(target_fraction: float) -> int:
        calc = b.calculator(current_replicas=10, requests=requests, levels=case_levels)
        return calc.get_resource_replicas(
            current_replicas=10, target_utilization=int(target_fraction * 100), resource=api.CPU, tolerances=b.DEFAULT_TOLERANCES
        ).replicas

    target = abs(1 / (2.0 * (1 - 0.1))) + 0.01
    assert replicas_for(target) == 9  # ceil(1500 / (3000 * 0.5655...) * 10)
    assert replicas_for(abs(1 / (2.0 * (1 - 0.1))) + 0.004) == 10


@pytest.mark.parametrize(
    "pod_names, requests, expected_error",
    [
        pytest.param(("an-older-pod-name",), ("1.0",), "no metrics returned matched known pods",
                     id="TestReplicaCalcDisjointResourcesMetrics"),
        pytest.param((), ("1.0", "1.0", "1.0"), "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
                     id="TestReplicaCalcEmptyMetrics"),
        pytest.param((), (), "missing request for cpu in container container1 of Pod test-pod-0",
                     id="TestReplicaCalcEmptyCPURequest"),
    ],
)
def test_utilization_proposal_fails_with_upstream_message_when_inputs_do_not_match(
    pod_names: tuple[str, ...], requests: tuple[str, ...], expected_error: str
) -> None:
    metric_levels = [] if "resource metrics API" in expected_error else levels(100)
    calc = b.calculator(current_replicas=len(requests) or 1, requests=requests, levels=metric_levels, pod_names=pod_names)
    with pytest.raises(replica_calculator.CalculationError, match=expected_error):
        calc.get_resource_replicas(current_replicas=1, target_utilization=100, resource=api.CPU, tolerances=b.DEFAULT_TOLERANCES)


@pytest.mark.parametrize(
    "current, metric_levels, target, expected_replicas, expected_usage, readiness, start_times, phases, tolerances",
    [
        pytest.param(3, (20000, 10000, 30000), 15000, 4, 20000, None, None, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleUpCM"),
        pytest.param(3, (50000, 10000, 30000), 15000, 6, 30000, (T, T, F), (COOL, COOL, HOT), None, b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale"),
        pytest.param(3, (50000, 15000, 30000), 15000, 7, 31666, (F, T, F), (HOT, COOL, HOT), None, b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown"),
        pytest.param(5, (12000,) * 5, 20000, 3, 12000, None, None, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleDownCM"),
        pytest.param(3, (20000, 21000, 21000), 20000, 3, 20666, None, None, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcToleranceCM"),
        pytest.param(3, (20000, 21000, 21000), 20000, 4, 20666, None, None, None, replica_calculator.Tolerances(0.1, 0.01),
                     id="TestReplicaCalcConfigurableToleranceCM"),
        pytest.param(5, (20000, 19000, 21000), 20000, 5, 20000, None, None, None, b.DEFAULT_TOLERANCES,
                     id="TestPlainMetricReplicaCalcMissingMetricsNoChangeEq"),
        pytest.param(2, (10000, 10000), 17000, 2, 10000, None, None, (RUN, RUN, RUN), b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM"),
    ],
)
def test_pods_metric_proposal_matches_upstream_when_averaging_over_pods(
    current, metric_levels, target, expected_replicas, expected_usage, readiness, start_times, phases, tolerances
) -> None:
    calc = b.calculator(current_replicas=current, metric_levels=metric_levels, readiness=readiness, start_times=start_times, phases=phases)
    result = calc.get_metric_replicas(current_replicas=current, target_usage=target, metric_name=b.METRIC_NAME, tolerances=tolerances)
    assert (result.replicas, result.usage) == (expected_replicas, expected_usage)


def test_pods_metric_treats_pending_pods_as_unready_and_missing_ones_at_the_target() -> None:
    """Plain metrics: a Pending pod counts 0 on scale-up; a missing one the target on scale-down."""
    calc = b.calculator(current_replicas=4, metric_levels=(30000, 30000, 30000), phases=(RUN, RUN, RUN, PEND))
    scale_up = calc.get_metric_replicas(current_replicas=4, target_usage=15000, metric_name=b.METRIC_NAME, tolerances=b.DEFAULT_TOLERANCES)
    assert scale_up.replicas == 6  # ratio 2 -> with the Pending pod at 0: 90000/4/15000 = 1.5 -> ceil(1.5 * 4)
    calc = b.calculator(current_replicas=4, metric_levels=(5000, 5000))
    scale_down = calc.get_metric_replicas(current_replicas=4, target_usage=10000, metric_name=b.METRIC_NAME, tolerances=b.DEFAULT_TOLERANCES)
    assert scale_down.replicas == 3  # ratio .5 -> missing at target: (10000 + 20000) / 4 = 7500 -> ceil(.75 * 4)


OBJECT = "object"
OBJECT_PER_POD = "objectPerPod"
EXTERNAL = "external"
EXTERNAL_PER_POD = "externalPerPod"


@pytest.mark.parametrize(
    "kind, current, metric_levels, target, expected_replicas, expected_usage, readiness, tolerances",
    [
        pytest.param(OBJECT, 3, (20000,), 15000, 4, 20000, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleUpCMObject"),
        pytest.param(OBJECT_PER_POD, 3, (20000,), 5000, 4, 6667, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleUpCMPerPodObject"),
        pytest.param(OBJECT, 3, (50000,), 10000, 5, 50000, (F, T, F), b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods"),
        pytest.param(EXTERNAL, 3, (8600,), 4400, 2, 8600, (F, T, F), b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods"),
        pytest.param(EXTERNAL_PER_POD, 3, (8600,), 2150, 4, 2867, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleUpPerPodCMExternal"),
        pytest.param(OBJECT_PER_POD, 5, (6000,), 2000, 3, 1200, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleDownPerPodCMObject"),
        pytest.param(OBJECT, 5, (12000,), 20000, 3, 12000, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleDownCMObject"),
        pytest.param(EXTERNAL, 5, (8600,), 14334, 3, 8600, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleDownCMExternal"),
        pytest.param(EXTERNAL_PER_POD, 5, (8600,), 2867, 3, 1720, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleDownPerPodCMExternal"),
        pytest.param(OBJECT, 3, (20666,), 20000, 3, 20666, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcToleranceCMObject"),
        pytest.param(OBJECT_PER_POD, 4, (20166,), 5000, 4, 5042, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcTolerancePerPodCMObject"),
        pytest.param(EXTERNAL, 3, (8600,), 8888, 3, 8600, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcToleranceCMExternal"),
        pytest.param(EXTERNAL_PER_POD, 3, (8600,), 2900, 3, 2867, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcTolerancePerPodCMExternal"),
        pytest.param(OBJECT, 3, (20666,), 20000, 4, 20666, None, replica_calculator.Tolerances(0.1, 0.01),
                     id="TestReplicaCalcConfigurableToleranceCMObject"),
        pytest.param(OBJECT_PER_POD, 4, (20208,), 5000, 5, 5052, None, replica_calculator.Tolerances(0.1, 0.01),
                     id="TestReplicaCalcConfigurableTolerancePerPodCMObject"),
        pytest.param(EXTERNAL, 3, (8900,), 8800, 4, 8900, None, replica_calculator.Tolerances(0.1, 0.01),
                     id="TestReplicaCalcConfigurableToleranceCMExternal"),
        pytest.param(EXTERNAL_PER_POD, 3, (8600,), 2800, 4, 2867, None, replica_calculator.Tolerances(0.1, 0.01),
                     id="TestReplicaCalcConfigurableTolerancePerPodCMExternal"),
        pytest.param(OBJECT, 3, (INT64_MAX,), 1, INT32_MAX, INT64_MAX, None, b.DEFAULT_TOLERANCES, id="TestReplicaCalcScaleUpOverflow"),
        pytest.param(EXTERNAL_PER_POD, 1, (INT64_MAX,), 1, INT32_MAX, INT64_MAX, None, b.DEFAULT_TOLERANCES,
                     id="TestExternalPerPodMetricReplicaOverflow"),
        pytest.param(EXTERNAL_PER_POD, 1, (INT64_MAX,), INT64_MAX, 1, INT64_MAX, None, b.DEFAULT_TOLERANCES,
                     id="TestExternalPerPodMetricUsageOverflow"),
        pytest.param(EXTERNAL, 3, (INT64_MAX // 2 + 1, INT64_MAX // 2 + 1), INT64_MAX, 3, INT64_MAX, None, b.DEFAULT_TOLERANCES,
                     id="TestReplicaCalcExternalMetricUsageOverflow"),
    ],
)
def test_object_and_external_proposals_match_upstream_for_value_and_average_value_targets(
    kind, current, metric_levels, target, expected_replicas, expected_usage, readiness, tolerances
) -> None:
    calc = b.calculator(current_replicas=current, metric_levels=metric_levels, readiness=readiness)
    ref = api.CrossVersionObjectReference(kind="Deployment", name="some-deployment", api_version="apps/v1")
    common = dict(metric_name=b.METRIC_NAME, tolerances=tolerances)
    if kind == OBJECT:
        result = calc.get_object_metric_replicas(current_replicas=current, target_usage=target, object_ref=ref, **common)
    elif kind == OBJECT_PER_POD:
        result = calc.get_object_per_pod_metric_replicas(status_replicas=current, target_average_usage=target, object_ref=ref, **common)
    elif kind == EXTERNAL:
        result = calc.get_external_metric_replicas(current_replicas=current, target_usage=target, **common)
    else:
        result = calc.get_external_per_pod_metric_replicas(status_replicas=current, target_usage_per_pod=target, **common)
    assert (result.replicas, result.usage) == (expected_replicas, expected_usage)


@pytest.mark.parametrize(
    "usage, target, expected",
    [
        pytest.param(20000, 15000, 2, id="scale-from-zero-uses-ceil-of-the-ratio"),
        pytest.param(15500, 15000, 2, id="scale-from-zero-ignores-the-tolerance"),
        pytest.param(0, 15000, 0, id="zero-usage-stays-at-zero"),
    ],
)
def test_value_metric_proposes_ceil_of_the_ratio_when_current_replicas_is_zero(usage: int, target: int, expected: int) -> None:
    """getUsageRatioReplicaCount with currentReplicas == 0 (TestScaleUpFromZero*CMObject)."""
    calc = b.calculator(current_replicas=0, metric_levels=(usage,))
    result = calc.get_external_metric_replicas(current_replicas=0, target_usage=target, metric_name=b.METRIC_NAME, tolerances=b.DEFAULT_TOLERANCES)
    assert result.replicas == expected


@pytest.mark.parametrize(
    "method, expected_error",
    [
        pytest.param("pods", "unable to get metric qps: unable to fetch metrics from custom metrics API", id="pods"),
        pytest.param("object", "unable to get metric qps: Deployment on test-namespace some-deployment/unable to fetch", id="object"),
        pytest.param("external", "unable to get external metric test-namespace/qps/&LabelSelector{MatchLabels:map[string]string{},"
                                 "MatchExpressions:[]LabelSelectorRequirement{},}: unable to fetch", id="external"),
    ],
)
def test_custom_metric_errors_carry_upstream_wording_when_the_metric_is_not_served(method: str, expected_error: str) -> None:
    calc = dataclasses.replace(b.calculator(current_replicas=3), metrics=api.MetricsSnapshot())
    ref = api.CrossVersionObjectReference(kind="Deployment", name="some-deployment")
    with pytest.raises(replica_calculator.CalculationError) as raised:
        if method == "pods":
            calc.get_metric_replicas(current_replicas=3, target_usage=1, metric_name="qps", tolerances=b.DEFAULT_TOLERANCES)
        elif method == "object":
            calc.get_object_metric_replicas(current_replicas=3, target_usage=1, metric_name="qps", tolerances=b.DEFAULT_TOLERANCES, object_ref=ref)
        else:
            calc.get_external_metric_replicas(current_replicas=3, target_usage=1, metric_name="qps",
                                              tolerances=b.DEFAULT_TOLERANCES, selector=api.LabelSelector())
    assert str(raised.value).startswith(expected_error)


def pod(name: str, *, phase: str = api.SUCCEEDED, start: datetime.datetime | None = None,
        ready: tuple[str, datetime.datetime] | None = None, deleted: bool = False) -> api.Pod:
    condition = None if ready is None else api.PodCondition(*ready)
    return api.Pod(name=name, phase=phase, ready=condition, start_time=start, deletion_timestamp=b.NOW if deleted else None)


def metric(value: int = 1, *, timestamp: datetime.datetime | None = None, window: float = 0.0) -> metrics_client.PodMetric:
    return metrics_client.PodMetric(value, timestamp, window)


@pytest.mark.parametrize(
    "pods, metrics, resource, expected",
    [
        pytest.param((), {}, api.CPU, (0, set(), set(), set()), id="void"),
        pytest.param((pod("bentham"),), {"bentham": metric(timestamp=b.NOW, window=60)}, api.MEMORY, (1, set(), set(), set()),
                     id="count-in-a-ready-pod-memory"),
        pytest.param((pod("lucretius", start=b.NOW),), {"lucretius": metric()}, api.CPU, (0, {"lucretius"}, set(), set()),
                     id="unready-a-pod-without-ready-condition-cpu"),
        pytest.param((pod("bentham", start=b.ago(minutes=1), ready=(T, b.ago(seconds=30))),),
                     {"bentham": metric(timestamp=b.NOW, window=30)}, api.CPU, (1, set(), set(), set()),
                     id="count-in-a-ready-pod-with-fresh-metrics-during-initialization-period-cpu"),
        pytest.param((pod("bentham", start=b.ago(minutes=1), ready=(T, b.ago(seconds=30))),),
                     {"bentham": metric(timestamp=b.NOW, window=60)}, api.CPU, (0, {"bentham"}, set(), set()),
                     id="unready-a-ready-pod-without-fresh-metrics-during-initialization-period-cpu"),
        pytest.param((pod("lucretius", start=b.ago(minutes=10), ready=(F, b.ago(minutes=9, seconds=54))),),
                     {"lucretius": metric()}, api.CPU, (0, {"lucretius"}, set(), set()),
                     id="unready-an-unready-pod-during-initialization-period-cpu"),
        pytest.param((pod("bentham", start=b.ago(minutes=3), ready=(T, b.ago(minutes=3))),),
                     {"bentham": metric(timestamp=b.ago(minutes=2), window=60)}, api.CPU, (1, set(), set(), set()),
                     id="count-in-a-ready-pod-without-fresh-metrics-after-initialization-period-cpu"),
        pytest.param((pod("lucretius", start=b.ago(minutes=10), ready=(F, b.ago(minutes=9))),),
                     {"lucretius": metric()}, api.CPU, (1, set(), set(), set()),
                     id="count-in-an-unready-pod-that-was-ready-after-initialization-period-cpu"),
        pytest.param((pod("lucretius", start=b.ago(minutes=10), ready=(F, b.ago(minutes=9, seconds=50))),),
                     {"lucretius": metric()}, api.CPU, (1, set(), set(), set()),
                     id="unready-pod-that-has-never-been-ready-after-initialization-period-cpu"),
        pytest.param((pod("epicurus", start=b.ago(minutes=3)),), {}, api.CPU, (0, set(), {"epicurus"}, set()), id="a-missing-pod"),
        pytest.param((pod("lucretius", start=b.NOW), pod("niccolo", start=b.ago(minutes=3), ready=(T, b.ago(minutes=3))),
                      pod("epicurus", start=b.ago(minutes=3))),
                     {"lucretius": metric(), "niccolo": metric()}, api.CPU, (1, {"lucretius"}, {"epicurus"}, set()), id="several-pods"),
        pytest.param((pod("unscheduled", phase=PEND),), {}, api.CPU, (0, {"unscheduled"}, set(), set()), id="pending-pods-are-unreadied"),
        pytest.param((pod("deleted", phase=PEND, deleted=True),), {"deleted": metric()}, api.CPU, (0, set(), set(), {"deleted"}),
                     id="ignore-pods-with-deletion-timestamps"),
        pytest.param((pod("failed", phase=FAIL),), {"failed": metric()}, api.CPU, (0, set(), set(), {"failed"}),
                     id="ignore-pods-in-a-failed-state"),
        pytest.param((pod("waiting", phase=RUN, start=b.NOW, ready=(F, b.NOW)),), {"waiting": metric()}, "", (1, set(), set(), set()),
                     id="not-upstream-readiness-is-ignored-for-custom-metrics"),
    ],
)
def test_group_pods_sorts_pods_like_upstream(pods, metrics, resource, expected) -> None:
    """TestGroupPods (the last case is ours: readiness only matters for cpu)."""
    groups = replica_calculator.group_pods(
        pods, metrics, resource=resource, cpu_initialization_period_seconds=120,
        delay_of_initial_readiness_status_seconds=10, now=b.NOW,
    )
    assert (groups.ready_pod_count, set(groups.unready_pods), set(groups.missing_pods), set(groups.ignored_pods)) == expected


def container(name: str, cpu: int | None, *, restart_policy: str | None = None) -> api.Container:
    return api.Container(name, {} if cpu is None else {api.CPU: cpu}, restart_policy)


@pytest.mark.parametrize(
    "test_pod, container_name, expected",
    [
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100), container("container2", 50))), "", 150,
                     id="sum-container-requests"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100), container("container2", 50)),
                             requests={api.CPU: 800}), "", 800,
                     id="pod-level-resources-override-container-requests"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", None), container("container2", 50)),
                             requests={api.CPU: 800}), "", 800,
                     id="pod-level-resources-override-missing-container-requests"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100), container("container2", 50))), "container1", 100,
                     id="container-if-a-container-name-is-specified-calculate-requests-only-for-that-container"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100), container("container2", 50)),
                             requests={api.CPU: 800}), "container1", 100,
                     id="container-name-ignores-pod-level-requests"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100),),
                             init_containers=(container("init-container1", 20), container("restartable-container1", 50, restart_policy="Always"))),
                     "", 150, id="pod-with-restartable-init-containers"),
    ],
)
def test_calculate_requests_matches_upstream(test_pod: api.Pod, container_name: str, expected: int) -> None:
    """TestCalculateRequests."""
    assert replica_calculator.calculate_requests((test_pod,), container=container_name, resource=api.CPU) == {"test-pod": expected}


@pytest.mark.parametrize(
    "test_pod, container_name, expected_error",
    [
        pytest.param(api.Pod("test-pod", containers=(container("container1", None), container("container2", 50))), "",
                     "missing request for cpu in container container1 of Pod test-pod",
                     id="TestCalculateRequests/fail-if-a-container-is-missing-requests"),
        pytest.param(api.Pod("test-pod", containers=(container("container1", 100),)), "non-existent-container",
                     "container non-existent-container not found in Pod test-pod",
                     id="TestCalculatePodRequestsFromContainers_NonExistentContainer"),
    ],
)
def test_calculate_requests_fails_with_upstream_message_when_a_request_is_missing(test_pod, container_name, expected_error) -> None:
    with pytest.raises(replica_calculator.CalculationError) as raised:
        replica_calculator.calculate_requests((test_pod,), container=container_name, resource=api.CPU)
    assert str(raised.value) == expected_error


@pytest.mark.parametrize(
    "ratio, expected",
    [
        pytest.param(0.9, True, id="lower-edge-is-inside"),
        pytest.param(1.1, True, id="upper-edge-110-over-100-is-inside-since-v1.33"),
        pytest.param(110 / 100, True, id="float64-1.1-is-inside"),
        pytest.param(0.8999, False, id="below"),
        pytest.param(1.1001, False, id="above"),
    ],
)
def test_tolerance_band_is_closed_on_both_sides(ratio: float, expected: bool) -> None:
    assert b.DEFAULT_TOLERANCES.is_within(ratio) is expected
