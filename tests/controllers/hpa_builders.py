"""Builders that recreate the fixtures of the upstream Go tests (not a test module).

``replica_calculator_test.go`` and ``horizontal_test.go`` describe pods as parallel lists (readiness,
start time, phase, deletion) and metrics as "levels"; these functions turn the same lists into our
frozen inputs, so a ported case reads like its Go original. Upstream details kept on purpose:

- pods are ``test-pod-<i>`` with two containers, ``container1`` and ``container2``;
- an unset start time or transition time is Go's zero time (year 1), not "missing";
- the calculator fixture samples metrics at the zero time unless told otherwise, the controller
  fixture at "now", both with a one-minute window;
- the controller fixture splits each pod's CPU request and usage evenly over the two containers.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence

from controllers.hpa import api, horizontal, quantity, replica_calculator, settings

UTC = datetime.timezone.utc
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero ``time.Time``: what an unset ``metav1.Time`` holds."""
POD_PREFIX = "test-pod"
METRIC_NAME = "qps"

UPSTREAM_TEST_SETTINGS = settings.ControllerSettings(
    tolerance=0.1,  # defaultTestingTolerance
    cpu_initialization_period_seconds=120,  # defaultTestingCPUInitializationPeriod
    initial_readiness_delay_seconds=10,  # defaultTestingDelayOfInitialReadinessStatus
    downscale_stabilization_seconds=300,
    scale_up_limit_factor=8,  # horizontal_test.go init(): "set this high so we don't accidentally run into it"
)
DEFAULT_TOLERANCES = replica_calculator.Tolerances(scale_down=0.1, scale_up=0.1)


def hot_cpu_creation_time() -> datetime.datetime:
    """``hotCPUCreationTime``: a pod that started just now (inside the CPU initialization period)."""
    return NOW


def cool_cpu_creation_time() -> datetime.datetime:
    """``coolCPUCreationTime``: a pod that started three minutes ago (past the 2-minute period)."""
    return NOW - datetime.timedelta(minutes=3)


def ago(**delta: float) -> datetime.datetime:
    return NOW - datetime.timedelta(**delta)


def pod_name(index: int) -> str:
    return f"{POD_PREFIX}-{index}"


def make_pod_metric_levels(*values: int) -> list[list[int]]:
    """``makePodMetricLevels``: both containers of pod i report ``values[i]``."""
    return [[value, value] for value in values]


def calculator(
    *,
    current_replicas: int,
    requests: Sequence[str] = (),
    levels: Sequence[Sequence[int]] = (),
    pod_names: Sequence[str] = (),
    readiness: Sequence[str] | None = None,
    start_times: Sequence[datetime.datetime] | None = None,
    phases: Sequence[str] | None = None,
    deleted: Sequence[bool] | None = None,
    metric_levels: Sequence[int] = (),
    timestamp: datetime.datetime = ZERO_TIME,
) -> replica_calculator.ReplicaCalculator:
    """``newReplicaCalcSetup``/``prepareTestClient`` of ``replica_calculator_test.go``.

    ``levels`` are per-container cpu usages (resource metrics); ``metric_levels`` feed the custom
    "qps" metric as a Pods metric (one per pod), an Object metric (the first) and an External metric
    (all series).
    """
    count = max(current_replicas, len(phases or ()))
    pods = tuple(
        api.Pod(
            name=pod_name(i),
            phase=phases[i] if phases else api.RUNNING,
            ready=api.PodCondition(readiness[i] if readiness and i < len(readiness) else api.TRUE, ZERO_TIME),
            start_time=start_times[i] if start_times else ZERO_TIME,
            deletion_timestamp=NOW if deleted and deleted[i] else None,
            containers=tuple(
                api.Container(name, {api.CPU: quantity.milli_value(requests[i])} if i < len(requests) else {})
                for name in ("container1", "container2")
            ),
        )
        for i in range(count)
    )
    resource = tuple(
        api.PodMetrics(
            name=pod_names[i] if i < len(pod_names) else pod_name(i),
            timestamp=timestamp,
            window_seconds=60,
            # Unreported containers stay zero values (no name, no usage), as in the Go fixture.
            containers=tuple(
                api.ContainerMetrics(f"container{j + 1}", {api.CPU: level[j]}) if j < len(level) else api.ContainerMetrics("", {})
                for j in range(2)
            ),
        )
        for i, level in enumerate(levels)
    )
    snapshot = api.MetricsSnapshot(
        resource=resource,
        pods={METRIC_NAME: api.PodsMetricValues(timestamp, tuple((pod_name(i), v) for i, v in enumerate(metric_levels)))},
        object={METRIC_NAME: api.ObjectMetricValue(timestamp, metric_levels[0])} if metric_levels else {},
        external={METRIC_NAME: api.ExternalMetricValues(timestamp, tuple(metric_levels))},
    )
    return replica_calculator.ReplicaCalculator(
        pods=pods,
        metrics=snapshot,
        now=NOW,
        cpu_initialization_period_seconds=UPSTREAM_TEST_SETTINGS.cpu_initialization_period_seconds,
        delay_of_initial_readiness_status_seconds=UPSTREAM_TEST_SETTINGS.initial_readiness_delay_seconds,
        namespace="test-namespace",
    )


def cpu_utilization_metric(target: int) -> api.MetricSpec:
    return api.MetricSpec(
        api.RESOURCE, resource=api.ResourceMetricSource(api.CPU, api.MetricTarget(api.UTILIZATION, average_utilization=target))
    )


def pods_metric(average_value: str) -> api.MetricSpec:
    target = api.MetricTarget(api.AVERAGE_VALUE, average_value=quantity.milli_value(average_value))
    return api.MetricSpec(api.PODS, pods=api.PodsMetricSource(api.MetricIdentifier(METRIC_NAME), target))


def object_metric(*, value: str | None = None, average_value: str | None = None) -> api.MetricSpec:
    target = _value_target(value=value, average_value=average_value)
    described = api.CrossVersionObjectReference(kind="Deployment", name="some-deployment", api_version="apps/v1")
    return api.MetricSpec(api.OBJECT, object=api.ObjectMetricSource(described, api.MetricIdentifier(METRIC_NAME), target))


def external_metric(*, value: str | None = None, average_value: str | None = None) -> api.MetricSpec:
    target = _value_target(value=value, average_value=average_value)
    identifier = api.MetricIdentifier(METRIC_NAME, selector=api.LabelSelector())
    return api.MetricSpec(api.EXTERNAL, external=api.ExternalMetricSource(identifier, target))


def _value_target(*, value: str | None, average_value: str | None) -> api.MetricTarget:
    if value is not None:
        return api.MetricTarget(api.VALUE, value=quantity.milli_value(value))
    assert average_value is not None
    return api.MetricTarget(api.AVERAGE_VALUE, average_value=quantity.milli_value(average_value))


def generate_scaling_rules(
    pods: int, pods_period: int, percent: int, percent_period: int, stabilization_window: int
) -> api.HPAScalingRules:
    """``generateScalingRules``: selectPolicy Max, a Pods and/or a Percent policy."""
    policies = []
    if pods:
        policies.append(api.HPAScalingPolicy(api.PODS_POLICY, pods, pods_period))
    if percent:
        policies.append(api.HPAScalingPolicy(api.PERCENT_POLICY, percent, percent_period))
    return api.HPAScalingRules(
        stabilization_window_seconds=stabilization_window, select_policy=api.MAX_CHANGE, policies=tuple(policies)
    )


def events_uniform_distribution(changes: Sequence[int], period_seconds: int) -> tuple[api.TimestampedScaleEvent, ...]:
    """``generateEventsUniformDistribution``: events centred in equal slices of the last period."""
    segment = period_seconds / len(changes)
    return tuple(
        api.TimestampedScaleEvent(change, NOW - datetime.timedelta(seconds=period_seconds - segment * (i + 1) + segment / 2))
        for i, change in enumerate(changes)
    )


def controller_state(
    *,
    min_replicas: int,
    max_replicas: int,
    spec_replicas: int,
    status_replicas: int,
    cpu_target: int = 0,
    metrics: Sequence[api.MetricSpec] = (),
    levels: Sequence[int] = (),
    cpu_requests: Sequence[str] | None = None,
    readiness: Sequence[str] | None = None,
    start_times: Sequence[datetime.datetime] | None = None,
    phases: Sequence[str] | None = None,
    deleted: Sequence[bool] | None = None,
    scale_up_rules: api.HPAScalingRules | None = None,
    scale_down_rules: api.HPAScalingRules | None = None,
    recommendations: Sequence[api.TimestampedRecommendation] | None = None,
) -> horizontal.HPAState:
    """``testCase.prepareTestClient`` of ``horizontal_test.go``; ``recommendations=None`` is Go's nil."""
    count = len(cpu_requests) if cpu_requests is not None else status_replicas
    pods = tuple(_controller_pod(i, cpu_requests, readiness, start_times, phases, deleted) for i in range(count))
    resource = tuple(
        api.PodMetrics(
            pod_name(i),
            NOW,
            60,
            tuple(api.ContainerMetrics(c, {api.CPU: level // 2, api.MEMORY: 1024 * 1024 // 2 * 1000}) for c in ("container1", "container2")),
        )
        for i, level in enumerate(levels)
    )
    snapshot = api.MetricsSnapshot(
        resource=resource,
        pods={METRIC_NAME: api.PodsMetricValues(NOW, tuple((pod_name(i), level) for i, level in enumerate(levels)))},
        object={METRIC_NAME: api.ObjectMetricValue(NOW, levels[0])} if levels else {},
        external={METRIC_NAME: api.ExternalMetricValues(NOW, tuple(levels))},
    )
    spec_metrics = ([cpu_utilization_metric(cpu_target)] if cpu_target > 0 else []) + list(metrics)
    if not spec_metrics:
        # The fixture's "manual defaulting": cpu with an empty target.
        spec_metrics = [api.MetricSpec(api.RESOURCE, resource=api.ResourceMetricSource(api.CPU, api.MetricTarget(api.UTILIZATION)))]
    behavior = None
    if scale_up_rules is not None or scale_down_rules is not None:
        behavior = api.HorizontalPodAutoscalerBehavior(scale_up=scale_up_rules, scale_down=scale_down_rules)
    return horizontal.HPAState(
        spec=api.HorizontalPodAutoscalerSpec(
            max_replicas=max_replicas, min_replicas=min_replicas, metrics=tuple(spec_metrics), behavior=behavior
        ),
        current_replicas=spec_replicas,
        status_replicas=status_replicas,
        now=NOW,
        pods=pods,
        metrics=snapshot,
        history=api.History(recommendations=None if recommendations is None else tuple(recommendations)),
        controller=UPSTREAM_TEST_SETTINGS,
        namespace="test-namespace",
    )


def _controller_pod(
    i: int,
    cpu_requests: Sequence[str] | None,
    readiness: Sequence[str] | None,
    start_times: Sequence[datetime.datetime] | None,
    phases: Sequence[str] | None,
    deleted: Sequence[bool] | None,
) -> api.Pod:
    start = start_times[i] if start_times else ZERO_TIME
    request = quantity.milli_value(cpu_requests[i] if cpu_requests is not None else "1.0")
    return api.Pod(
        name=pod_name(i),
        phase=phases[i] if phases else api.RUNNING,
        ready=api.PodCondition(readiness[i] if readiness else api.TRUE, start),
        start_time=start,
        deletion_timestamp=NOW if deleted and deleted[i] else None,
        containers=tuple(api.Container(c, {api.CPU: request // 2}) for c in ("container1", "container2")),
    )


STATUS_OK = (
    (api.ABLE_TO_SCALE, api.TRUE, "SucceededRescale"),
    (api.SCALING_ACTIVE, api.TRUE, "ValidMetricFound"),
    (api.SCALING_LIMITED, api.FALSE, "DesiredWithinRange"),
)


def status_ok_with_overrides(*overrides: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    """``statusOkWithOverrides``: the usual three conditions, some replaced (by type)."""
    conditions = list(STATUS_OK)
    for override in overrides:
        conditions = [override if c[0] == override[0] else c for c in conditions]
    return conditions


def condition_triples(decision: horizontal.Decision) -> list[tuple[str, str, str]]:
    """Conditions without messages, as upstream's tests compare them."""
    return [(c.type, c.status, c.reason) for c in decision.conditions]
