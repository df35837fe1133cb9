"""``pkg/controller/podautoscaler/horizontal.go``: one sync of one HPA, as a pure function.

:func:`reconcile` is ``reconcileAutoscaler`` from the moment the target's scale has been read: it
takes everything the controller would read or remember (:class:`HPAState`) and returns what it would
do (:class:`Decision`), including the updated in-memory history to pass to the next sync. Nothing
here reads a clock or does I/O; upstream's ``time.Now()`` is ``state.now``.

The decision assumes the scale write succeeds, so a rescale reports ``AbleToScale=True /
SucceededRescale`` and records a scale event (upstream does both only after a successful update).

Helpers keep upstream's names and order so the two can be read side by side:
``computeReplicasForMetrics`` -> ``computeReplicasForMetric`` -> ``computeStatusFor*Metric``; then
``normalizeDesiredReplicas`` (no ``behavior``: rolling-max stabilization and the
``max(2 × current, 4)`` limit) or ``normalizeDesiredReplicasWithBehaviors`` (two-sided stabilization,
then Pods/Percent policies over their periods).
"""
from __future__ import annotations

import dataclasses
import datetime
import math

from controllers.hpa import api, defaults, replica_calculator, settings

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

MESSAGE_SUCCEEDED_GET_SCALE = "the HPA controller was able to get the target's current scale"
MESSAGE_SCALING_DISABLED = "scaling is disabled since the replica count of the target is zero"
MESSAGE_READY_FOR_NEW_SCALE = "recommended size matches current size"
MESSAGE_SCALE_DOWN_STABILIZED = (
    "recent recommendations were higher than current one, applying the highest recent recommendation"
)
MESSAGE_SCALE_UP_STABILIZED = (
    "recent recommendations were lower than current one, applying the lowest recent recommendation"
)
MESSAGE_DESIRED_WITHIN_RANGE = "the desired count is within the acceptable range"
MESSAGE_TOO_MANY_REPLICAS = "the desired replica count is more than the maximum replica count"
MESSAGE_TOO_FEW_REPLICAS = "the desired replica count is less than the minimum replica count"
MESSAGE_SCALE_UP_LIMIT = "the desired replica count is increasing faster than the maximum scale rate"
MESSAGE_SCALE_DOWN_LIMIT = "the desired replica count is decreasing faster than the maximum scale rate"


@dataclasses.dataclass(frozen=True)
class HPAState:
    """Everything one sync of one HPA reads."""

    spec: api.HorizontalPodAutoscalerSpec
    current_replicas: int
    """``scale.spec.replicas``: what the target wants, not how many pods run."""
    now: datetime.datetime
    status_replicas: int | None = None
    """``scale.status.replicas`` (only Object/External AverageValue use it); defaults to current."""
    pods: tuple[api.Pod, ...] = ()
    metrics: api.MetricsSnapshot = api.MetricsSnapshot()
    history: api.History = api.History()
    controller: settings.ControllerSettings = settings.ControllerSettings()
    namespace: str = "default"

    def __post_init__(self) -> None:
        if not self.spec.metrics:
            raise ValueError("spec.metrics is empty; the API server would default it to cpu Utilization 80")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the sync decided, and what the controller remembers for the next one."""

    current_replicas: int
    desired_replicas: int
    """The replica count to write; equals ``current_replicas`` when nothing changes."""
    rescale: bool
    rescale_reason: str
    """The ``SuccessfulRescale`` event's reason; empty without a rescale."""
    metrics: tuple[api.MetricProposal, ...]
    conditions: tuple[api.Condition, ...]
    history: api.History
    error: str | None = None
    """Upstream's reconcile error, e.g. when a metric could not be read."""


@dataclasses.dataclass(frozen=True)
class MetricsResult:
    """``computeReplicasForMetrics``' results; ``replicas == -1`` means "do not scale"."""

    replicas: int
    metric: str
    proposals: tuple[api.MetricProposal, ...]
    timestamp: datetime.datetime | None
    condition: api.Condition
    error: str | None


@dataclasses.dataclass(frozen=True)
class NormalizationArg:
    """``NormalizationArg``: what the behavior-based normalisation needs."""

    scale_up_behavior: api.HPAScalingRules
    scale_down_behavior: api.HPAScalingRules
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int


@dataclasses.dataclass(frozen=True)
class Normalization:
    desired_replicas: int
    recommendations: tuple[api.TimestampedRecommendation, ...]
    conditions: tuple[api.Condition, ...]


@dataclasses.dataclass(frozen=True)
class Stabilization:
    replicas: int
    reason: str
    message: str
    recommendations: tuple[api.TimestampedRecommendation, ...]


@dataclasses.dataclass(frozen=True)
class _MetricOutcome:
    proposal: api.MetricProposal
    condition: api.Condition | None = None
    error: str | None = None


# --- reconcileAutoscaler ------------------------------------------------------------------------

def reconcile(state: HPAState) -> Decision:
    """``reconcileAutoscaler`` after ``SucceededGetScale``: decide this sync's replica count."""
    spec = dataclasses.replace(state.spec, behavior=defaults.set_defaults_behavior(state.spec.behavior))
    current = state.current_replicas
    conditions = set_condition((), api.ABLE_TO_SCALE, api.TRUE, "SucceededGetScale", MESSAGE_SUCCEEDED_GET_SCALE)
    history = dataclasses.replace(
        state.history,
        recommendations=record_initial_recommendation(
            state.history.recommendations, current_replicas=current, now=state.now
        ),
    )
    min_replicas = spec.min_replicas if spec.min_replicas is not None else 1
    if current == 0 and min_replicas != 0:
        # Someone scaled the target to zero by hand: the HPA stands aside.
        conditions = set_condition(conditions, api.SCALING_ACTIVE, api.FALSE, "ScalingDisabled", MESSAGE_SCALING_DISABLED)
        return Decision(current, current, False, "", (), conditions, history)
    if current > spec.max_replicas:
        reason = "Current number of replicas above Spec.MaxReplicas"
        return _rescaled(state, spec, history, conditions, desired=spec.max_replicas, reason=reason, proposals=())
    if current < min_replicas:
        reason = "Current number of replicas below Spec.MinReplicas"
        return _rescaled(state, spec, history, conditions, desired=min_replicas, reason=reason, proposals=())
    return _decide_from_metrics(state, spec, history, conditions, min_replicas=min_replicas)


def _decide_from_metrics(
    state: HPAState,
    spec: api.HorizontalPodAutoscalerSpec,
    history: api.History,
    conditions: tuple[api.Condition, ...],
    *,
    min_replicas: int,
) -> Decision:
    current = state.current_replicas
    result = compute_replicas_for_metrics(
        calculator=_calculator_for(state),
        spec=spec,
        spec_replicas=current,
        status_replicas=state.status_replicas if state.status_replicas is not None else current,
        tolerances=tolerances_for_hpa(spec, controller=state.controller),
    )
    conditions = set_condition(conditions, **dataclasses.asdict(result.condition))
    if result.replicas == -1:
        return Decision(current, current, False, "", result.proposals, conditions, history, result.error)
    desired, rescale_metric = 0, ""
    if result.replicas > desired:
        desired, rescale_metric = result.replicas, result.metric
    reason = ""
    if desired > current:
        reason = f"{rescale_metric} above target"
    if desired < current:
        reason = "All metrics below target"
    normalization = _normalize(state, spec, history, conditions, prenormalized=desired, min_replicas=min_replicas)
    history = dataclasses.replace(history, recommendations=normalization.recommendations)
    if normalization.desired_replicas == current:
        return Decision(current, current, False, "", result.proposals, normalization.conditions, history, result.error)
    return _rescaled(
        state,
        spec,
        history,
        normalization.conditions,
        desired=normalization.desired_replicas,
        reason=reason,
        proposals=result.proposals,
        error=result.error,
    )


def _normalize(
    state: HPAState,
    spec: api.HorizontalPodAutoscalerSpec,
    history: api.History,
    conditions: tuple[api.Condition, ...],
    *,
    prenormalized: int,
    min_replicas: int,
) -> Normalization:
    common = dict(
        current_replicas=state.current_replicas,
        prenormalized_desired_replicas=prenormalized,
        min_replicas=min_replicas,
        max_replicas=spec.max_replicas,
        recommendations=history.recommendations or (),
        now=state.now,
        controller=state.controller,
        conditions=conditions,
    )
    if spec.behavior is None:
        return normalize_desired_replicas(**common)
    return normalize_desired_replicas_with_behaviors(
        behavior=spec.behavior,
        scale_up_events=history.scale_up_events,
        scale_down_events=history.scale_down_events,
        **common,
    )


def _rescaled(
    state: HPAState,
    spec: api.HorizontalPodAutoscalerSpec,
    history: api.History,
    conditions: tuple[api.Condition, ...],
    *,
    desired: int,
    reason: str,
    proposals: tuple[api.MetricProposal, ...],
    error: str | None = None,
) -> Decision:
    """The successful-update branch: condition, then ``storeScaleEvent``."""
    message = f"the HPA controller was able to update the target scale to {desired}"
    conditions = set_condition(conditions, api.ABLE_TO_SCALE, api.TRUE, "SucceededRescale", message)
    scale_up_events, scale_down_events = store_scale_event(
        behavior=spec.behavior,
        scale_up_events=history.scale_up_events,
        scale_down_events=history.scale_down_events,
        prev_replicas=state.current_replicas,
        new_replicas=desired,
        now=state.now,
    )
    history = dataclasses.replace(history, scale_up_events=scale_up_events, scale_down_events=scale_down_events)
    return Decision(state.current_replicas, desired, True, reason, proposals, conditions, history, error)


def _calculator_for(state: HPAState) -> replica_calculator.ReplicaCalculator:
    return replica_calculator.ReplicaCalculator(
        pods=state.pods,
        metrics=state.metrics,
        now=state.now,
        cpu_initialization_period_seconds=state.controller.cpu_initialization_period_seconds,
        delay_of_initial_readiness_status_seconds=state.controller.initial_readiness_delay_seconds,
        namespace=state.namespace,
    )


def record_initial_recommendation(
    recommendations: tuple[api.TimestampedRecommendation, ...] | None, *, current_replicas: int, now: datetime.datetime
) -> tuple[api.TimestampedRecommendation, ...]:
    """``recordInitialRecommendation``: a new (or forgotten) HPA starts with ``{current, now}``.

    This is why a freshly created HPA, or one after a controller restart, cannot scale down during
    its first stabilization window.
    """
    if recommendations is None:
        return (api.TimestampedRecommendation(current_replicas, now),)
    return recommendations


def tolerances_for_hpa(
    spec: api.HorizontalPodAutoscalerSpec, *, controller: settings.ControllerSettings
) -> replica_calculator.Tolerances:
    """``tolerancesForHpa`` with ``HPAConfigurableTolerance`` on (beta, default on since 1.35)."""
    scale_down = scale_up = controller.tolerance
    behavior = spec.behavior
    if behavior is not None and behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
        scale_down = behavior.scale_down.tolerance
    if behavior is not None and behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
        scale_up = behavior.scale_up.tolerance
    return replica_calculator.Tolerances(scale_down=scale_down, scale_up=scale_up)


def set_condition(
    conditions: tuple[api.Condition, ...], type: str, status: str, reason: str, message: str
) -> tuple[api.Condition, ...]:
    """``setConditionInList``: replace the condition of that type in place, or append it."""
    updated = api.Condition(type=type, status=status, reason=reason, message=message)
    if any(condition.type == type for condition in conditions):
        return tuple(updated if condition.type == type else condition for condition in conditions)
    return conditions + (updated,)


# --- computeReplicasForMetrics ------------------------------------------------------------------

def compute_replicas_for_metrics(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    spec: api.HorizontalPodAutoscalerSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> MetricsResult:
    """``computeReplicasForMetrics``: the largest valid proposal, and how to treat broken metrics.

    If every metric failed, or some failed and the others would scale *down*, the result is -1
    ("do not scale") and ``ScalingActive`` takes the first failure's reason. A broken metric
    therefore never causes a scale-down but does not block a scale-up.
    """
    outcomes = [
        compute_replicas_for_metric(
            calculator=calculator,
            metric_spec=metric_spec,
            spec_replicas=spec_replicas,
            status_replicas=status_replicas,
            tolerances=tolerances,
        )
        for metric_spec in spec.metrics
    ]
    proposals = tuple(outcome.proposal for outcome in outcomes)
    replicas, metric, timestamp = 0, "", None
    for outcome in outcomes:
        proposal = outcome.proposal
        if outcome.error is None and proposal.replicas is not None and (replicas == 0 or proposal.replicas > replicas):
            replicas, metric, timestamp = proposal.replicas, proposal.metric, proposal.timestamp
    invalid = [outcome for outcome in outcomes if outcome.error is not None]
    error = None
    if invalid:
        error = f"invalid metrics ({len(invalid)} invalid out of {len(outcomes)}), first error is: {invalid[0].error}"
    if len(invalid) >= len(outcomes) or (invalid and replicas < spec_replicas):
        assert invalid[0].condition is not None
        return MetricsResult(-1, "", proposals, None, invalid[0].condition, error)
    message = f"the HPA was able to successfully calculate a replica count from {metric}"
    condition = api.Condition(api.SCALING_ACTIVE, api.TRUE, "ValidMetricFound", message)
    return MetricsResult(replicas, metric, proposals, timestamp, condition, error)


def compute_replicas_for_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeReplicasForMetric``: dispatch on the metric source type."""
    common = dict(calculator=calculator, metric_spec=metric_spec, tolerances=tolerances)
    if metric_spec.type == api.OBJECT and metric_spec.object is not None:
        return compute_status_for_object_metric(spec_replicas=spec_replicas, status_replicas=status_replicas, **common)
    if metric_spec.type == api.PODS and metric_spec.pods is not None:
        return compute_status_for_pods_metric(current_replicas=spec_replicas, **common)
    if metric_spec.type == api.RESOURCE and metric_spec.resource is not None:
        return compute_status_for_resource_metric(current_replicas=spec_replicas, **common)
    if metric_spec.type == api.CONTAINER_RESOURCE and metric_spec.container_resource is not None:
        return compute_status_for_container_resource_metric(current_replicas=spec_replicas, **common)
    if metric_spec.type == api.EXTERNAL and metric_spec.external is not None:
        return compute_status_for_external_metric(spec_replicas=spec_replicas, status_replicas=status_replicas, **common)
    # The API server rejects unknown types; upstream still guards against them.
    error = f'unknown metric source type "{metric_spec.type}"'
    return _failed(metric_spec.type, "", reason="InvalidMetricSourceType", cause=error, error=error)


def compute_status_for_object_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeStatusForObjectMetric``: Value uses spec replicas, AverageValue status replicas."""
    source = metric_spec.object
    assert source is not None
    name, target = source.metric.name, source.target
    if target.type == api.VALUE and target.value is not None:
        metric = f"{source.described_object.kind} metric {name}"
        try:
            result = calculator.get_object_metric_replicas(
                current_replicas=spec_replicas,
                target_usage=target.value,
                metric_name=name,
                tolerances=tolerances,
                object_ref=source.described_object,
            )
        except replica_calculator.CalculationError as e:
            return _failed(api.OBJECT, metric, reason="FailedGetObjectMetric", cause=str(e),
                           error=f"failed to get object metric value: {e}")
        return _proposed(api.OBJECT, metric, result.replicas, result.timestamp, api.MetricValueStatus(value=result.usage))
    if target.type == api.AVERAGE_VALUE and target.average_value is not None:
        # Upstream describes this one as "external metric"; kept for faithful messages.
        metric = f"external metric {name}({replica_calculator.format_label_selector(source.metric.selector)})"
        try:
            result = calculator.get_object_per_pod_metric_replicas(
                status_replicas=status_replicas,
                target_average_usage=target.average_value,
                metric_name=name,
                tolerances=tolerances,
                object_ref=source.described_object,
            )
        except replica_calculator.CalculationError as e:
            return _failed(api.OBJECT, metric, reason="FailedGetObjectMetric", cause=str(e),
                           error=f"failed to get object metric value: failed to get {name} object metric: {e}")
        status = api.MetricValueStatus(average_value=result.usage)
        return _proposed(api.OBJECT, metric, result.replicas, result.timestamp, status)
    cause = "invalid object metric source: neither a value target nor an average value target was set"
    return _failed(api.OBJECT, f"{source.described_object.kind} metric {name}", reason="FailedGetObjectMetric",
                   cause=cause, error=f"failed to get object metric value: {cause}")


def compute_status_for_pods_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    current_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeStatusForPodsMetric``: AverageValue over the pods."""
    source = metric_spec.pods
    assert source is not None
    metric = f"pods metric {source.metric.name}"
    try:
        result = calculator.get_metric_replicas(
            current_replicas=current_replicas,
            target_usage=source.target.average_value or 0,
            metric_name=source.metric.name,
            tolerances=tolerances,
        )
    except replica_calculator.CalculationError as e:
        return _failed(api.PODS, metric, reason="FailedGetPodsMetric", cause=str(e),
                       error=f"failed to get pods metric value: {e}")
    status = api.MetricValueStatus(average_value=result.usage)
    return _proposed(api.PODS, metric, result.replicas, result.timestamp, status)


def compute_status_for_resource_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    current_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeStatusForResourceMetric``."""
    source = metric_spec.resource
    assert source is not None
    try:
        proposal = compute_status_for_resource_metric_generic(
            calculator=calculator,
            current_replicas=current_replicas,
            target=source.target,
            resource_name=source.name,
            container="",
            tolerances=tolerances,
        )
    except replica_calculator.CalculationError as e:
        return _failed(api.RESOURCE, _resource_metric_name(source.name, source.target, container=False),
                       reason="FailedGetResourceMetric", cause=str(e),
                       error=f"failed to get {source.name} resource metric value: {e}", resource=source.name)
    return _MetricOutcome(proposal)


def compute_status_for_container_resource_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    current_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeStatusForContainerResourceMetric``: one named container's usage and request."""
    source = metric_spec.container_resource
    assert source is not None
    try:
        proposal = compute_status_for_resource_metric_generic(
            calculator=calculator,
            current_replicas=current_replicas,
            target=source.target,
            resource_name=source.name,
            container=source.container,
            tolerances=tolerances,
        )
    except replica_calculator.CalculationError as e:
        return _failed(api.CONTAINER_RESOURCE, _resource_metric_name(source.name, source.target, container=True),
                       reason="FailedGetContainerResourceMetric", cause=str(e),
                       error=f"failed to get {source.container} container metric value: {e}", resource=source.name)
    return _MetricOutcome(proposal)


def compute_status_for_resource_metric_generic(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    current_replicas: int,
    target: api.MetricTarget,
    resource_name: str,
    container: str,
    tolerances: replica_calculator.Tolerances,
) -> api.MetricProposal:
    """``computeStatusForResourceMetricGeneric``: AverageValue if set, else Utilization."""
    source_type = api.CONTAINER_RESOURCE if container else api.RESOURCE
    metric = _resource_metric_name(resource_name, target, container=bool(container))
    if target.average_value is not None:
        try:
            raw = calculator.get_raw_resource_replicas(
                current_replicas=current_replicas,
                target_usage=target.average_value,
                resource=resource_name,
                tolerances=tolerances,
                container=container,
            )
        except replica_calculator.CalculationError as e:
            raise replica_calculator.CalculationError(f"failed to get {resource_name} usage: {e}") from e
        status = api.MetricValueStatus(average_value=raw.usage)
        return api.MetricProposal(source_type, metric, raw.replicas, raw.timestamp, status, resource=resource_name)
    if target.average_utilization is None:
        raise replica_calculator.CalculationError(
            "invalid resource metric source: neither an average utilization target nor an average value (usage) "
            "target was set"
        )
    try:
        result = calculator.get_resource_replicas(
            current_replicas=current_replicas,
            target_utilization=target.average_utilization,
            resource=resource_name,
            tolerances=tolerances,
            container=container,
        )
    except replica_calculator.CalculationError as e:
        raise replica_calculator.CalculationError(f"failed to get {resource_name} utilization: {e}") from e
    status = api.MetricValueStatus(average_value=result.raw_utilization, average_utilization=result.utilization)
    return api.MetricProposal(source_type, metric, result.replicas, result.timestamp, status, resource=resource_name)


def compute_status_for_external_metric(
    *,
    calculator: replica_calculator.ReplicaCalculator,
    metric_spec: api.MetricSpec,
    spec_replicas: int,
    status_replicas: int,
    tolerances: replica_calculator.Tolerances,
) -> _MetricOutcome:
    """``computeStatusForExternalMetric``: AverageValue (status replicas) wins over Value."""
    source = metric_spec.external
    assert source is not None
    name, target = source.metric.name, source.target
    metric = f"external metric {name}({replica_calculator.format_label_selector(source.metric.selector)})"
    prefix = f"failed to get {name} external metric value: "
    if target.average_value is not None:
        try:
            result = calculator.get_external_per_pod_metric_replicas(
                status_replicas=status_replicas,
                target_usage_per_pod=target.average_value,
                metric_name=name,
                tolerances=tolerances,
                selector=source.metric.selector,
            )
        except replica_calculator.CalculationError as e:
            return _failed(api.EXTERNAL, metric, reason="FailedGetExternalMetric", cause=str(e),
                           error=f"{prefix}failed to get {name} external metric: {e}")
        status = api.MetricValueStatus(average_value=result.usage)
        return _proposed(api.EXTERNAL, metric, result.replicas, result.timestamp, status)
    if target.value is not None:
        try:
            result = calculator.get_external_metric_replicas(
                current_replicas=spec_replicas,
                target_usage=target.value,
                metric_name=name,
                tolerances=tolerances,
                selector=source.metric.selector,
            )
        except replica_calculator.CalculationError as e:
            return _failed(api.EXTERNAL, metric, reason="FailedGetExternalMetric", cause=str(e),
                           error=f"{prefix}failed to get external metric {name}: {e}")
        return _proposed(api.EXTERNAL, metric, result.replicas, result.timestamp, api.MetricValueStatus(value=result.usage))
    cause = "invalid external metric source: neither a value target nor an average value target was set"
    return _failed(api.EXTERNAL, metric, reason="FailedGetExternalMetric", cause=cause, error=prefix + cause)


def _resource_metric_name(resource_name: str, target: api.MetricTarget, *, container: bool) -> str:
    if target.average_value is not None:
        return f"{resource_name} resource"
    if container:
        return f"{resource_name} container resource utilization (percentage of request)"
    return f"{resource_name} resource utilization (percentage of request)"


def _proposed(
    source_type: str,
    metric: str,
    replicas: int,
    timestamp: datetime.datetime,
    current: api.MetricValueStatus,
) -> _MetricOutcome:
    return _MetricOutcome(api.MetricProposal(source_type, metric, replicas, timestamp, current))


def _failed(
    source_type: str, metric: str, *, reason: str, cause: str, error: str, resource: str | None = None
) -> _MetricOutcome:
    """``getUnableComputeReplicaCountCondition``: the condition carries the calculator's error."""
    message = f"the HPA was unable to compute the replica count: {cause}"
    condition = api.Condition(api.SCALING_ACTIVE, api.FALSE, reason, message)
    proposal = api.MetricProposal(source_type, metric, resource=resource, reason=reason, error=cause)
    return _MetricOutcome(proposal, condition, error)


# --- normalization without behavior -------------------------------------------------------------

def stabilize_recommendation(
    *,
    recommendations: tuple[api.TimestampedRecommendation, ...],
    prenormalized_desired_replicas: int,
    now: datetime.datetime,
    downscale_stabilisation_window_seconds: float,
) -> tuple[int, tuple[api.TimestampedRecommendation, ...]]:
    """``stabilizeRecommendation``: the max of this and every recommendation not older than the window.

    The new raw recommendation overwrites the *last* expired entry, or is appended.
    """
    cutoff = now - datetime.timedelta(seconds=downscale_stabilisation_window_seconds)
    max_recommendation = prenormalized_desired_replicas
    old_sample_index = None
    for index, recommendation in enumerate(recommendations):
        if recommendation.timestamp < cutoff:
            old_sample_index = index
        elif recommendation.recommendation > max_recommendation:
            max_recommendation = recommendation.recommendation
    stored = _store(recommendations, old_sample_index, api.TimestampedRecommendation(prenormalized_desired_replicas, now))
    return max_recommendation, stored


def normalize_desired_replicas(
    *,
    current_replicas: int,
    prenormalized_desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    recommendations: tuple[api.TimestampedRecommendation, ...],
    now: datetime.datetime,
    controller: settings.ControllerSettings,
    conditions: tuple[api.Condition, ...] = (),
) -> Normalization:
    """``normalizeDesiredReplicas``: legacy path (``spec.behavior`` is nil)."""
    stabilized, recommendations = stabilize_recommendation(
        recommendations=recommendations,
        prenormalized_desired_replicas=prenormalized_desired_replicas,
        now=now,
        downscale_stabilisation_window_seconds=controller.downscale_stabilization_seconds,
    )
    if stabilized != prenormalized_desired_replicas:
        conditions = set_condition(conditions, api.ABLE_TO_SCALE, api.TRUE, "ScaleDownStabilized", MESSAGE_SCALE_DOWN_STABILIZED)
    else:
        conditions = set_condition(conditions, api.ABLE_TO_SCALE, api.TRUE, "ReadyForNewScale", MESSAGE_READY_FOR_NEW_SCALE)
    desired, reason, message = convert_desired_replicas_with_rules(
        current_replicas=current_replicas,
        desired_replicas=stabilized,
        hpa_min_replicas=min_replicas,
        hpa_max_replicas=max_replicas,
        scale_up_limit_factor=controller.scale_up_limit_factor,
        scale_up_limit_minimum=controller.scale_up_limit_minimum,
    )
    limited = api.FALSE if desired == stabilized else api.TRUE
    conditions = set_condition(conditions, api.SCALING_LIMITED, limited, reason, message)
    return Normalization(desired, recommendations, conditions)


def convert_desired_replicas_with_rules(
    *,
    current_replicas: int,
    desired_replicas: int,
    hpa_min_replicas: int,
    hpa_max_replicas: int,
    scale_up_limit_factor: float = 2.0,
    scale_up_limit_minimum: float = 4.0,
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithRules``: clamp to min, and to ``min(max, scaleUpLimit)``."""
    # Do not scale up too much at once: bogus CPU reports once caused runaway scale-ups (#32304).
    scale_up_limit = calculate_scale_up_limit(
        current_replicas, scale_up_limit_factor=scale_up_limit_factor, scale_up_limit_minimum=scale_up_limit_minimum
    )
    if hpa_max_replicas > scale_up_limit:
        maximum_allowed, reason, message = scale_up_limit, "ScaleUpLimit", MESSAGE_SCALE_UP_LIMIT
    else:
        maximum_allowed, reason, message = hpa_max_replicas, "TooManyReplicas", MESSAGE_TOO_MANY_REPLICAS
    if desired_replicas < hpa_min_replicas:
        return hpa_min_replicas, "TooFewReplicas", MESSAGE_TOO_FEW_REPLICAS
    if desired_replicas > maximum_allowed:
        return maximum_allowed, reason, message
    return desired_replicas, "DesiredWithinRange", MESSAGE_DESIRED_WITHIN_RANGE


def calculate_scale_up_limit(
    current_replicas: int, *, scale_up_limit_factor: float = 2.0, scale_up_limit_minimum: float = 4.0
) -> int:
    """``calculateScaleUpLimit``: ``int32(max(factor × current, minimum))``."""
    return int(max(scale_up_limit_factor * float(current_replicas), scale_up_limit_minimum))


# --- normalization with behavior ----------------------------------------------------------------

def normalize_desired_replicas_with_behaviors(
    *,
    behavior: api.HorizontalPodAutoscalerBehavior,
    current_replicas: int,
    prenormalized_desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    recommendations: tuple[api.TimestampedRecommendation, ...],
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    now: datetime.datetime,
    controller: settings.ControllerSettings,
    conditions: tuple[api.Condition, ...] = (),
) -> Normalization:
    """``normalizeDesiredReplicasWithBehaviors``: stabilize, then apply the rate policies."""
    behavior = maybe_init_scale_down_stabilization_window(
        defaults.set_defaults_behavior(behavior) or api.HorizontalPodAutoscalerBehavior(),
        downscale_stabilisation_window_seconds=controller.downscale_stabilization_seconds,
    )
    assert behavior.scale_up is not None and behavior.scale_down is not None
    args = NormalizationArg(
        scale_up_behavior=behavior.scale_up,
        scale_down_behavior=behavior.scale_down,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        current_replicas=current_replicas,
        desired_replicas=prenormalized_desired_replicas,
    )
    stabilization = stabilize_recommendation_with_behaviors(args, recommendations=recommendations, now=now)
    if stabilization.replicas != prenormalized_desired_replicas:
        conditions = set_condition(conditions, api.ABLE_TO_SCALE, api.TRUE, stabilization.reason, stabilization.message)
    else:
        conditions = set_condition(conditions, api.ABLE_TO_SCALE, api.TRUE, "ReadyForNewScale", MESSAGE_READY_FOR_NEW_SCALE)
    args = dataclasses.replace(args, desired_replicas=stabilization.replicas)
    desired, reason, message = convert_desired_replicas_with_behavior_rate(
        args, scale_up_events=scale_up_events, scale_down_events=scale_down_events, now=now
    )
    limited = api.FALSE if desired == stabilization.replicas else api.TRUE
    conditions = set_condition(conditions, api.SCALING_LIMITED, limited, reason, message)
    return Normalization(desired, stabilization.recommendations, conditions)


def maybe_init_scale_down_stabilization_window(
    behavior: api.HorizontalPodAutoscalerBehavior, *, downscale_stabilisation_window_seconds: int
) -> api.HorizontalPodAutoscalerBehavior:
    """``maybeInitScaleDownStabilizationWindow``: an unset scale-down window takes the flag's value."""
    scale_down = behavior.scale_down
    if scale_down is not None and scale_down.stabilization_window_seconds is None:
        scale_down = dataclasses.replace(scale_down, stabilization_window_seconds=int(downscale_stabilisation_window_seconds))
        return dataclasses.replace(behavior, scale_down=scale_down)
    return behavior


def stabilize_recommendation_with_behaviors(
    args: NormalizationArg,
    *,
    recommendations: tuple[api.TimestampedRecommendation, ...],
    now: datetime.datetime,
) -> Stabilization:
    """``stabilizeRecommendationWithBehaviors``: clamp *current* between two rolling limits.

    ``up`` is the lowest recommendation in the scale-up window, ``down`` the highest in the
    scale-down window (both include this sync's). The result moves from current to at least ``up``
    and at most ``down``; when the windows straddle current, it stays put.
    """
    up_cutoff = now - datetime.timedelta(seconds=args.scale_up_behavior.stabilization_window_seconds or 0)
    down_cutoff = now - datetime.timedelta(seconds=args.scale_down_behavior.stabilization_window_seconds or 0)
    up_recommendation = down_recommendation = args.desired_replicas
    old_sample_index = None
    for index, recommendation in enumerate(recommendations):
        if recommendation.timestamp > up_cutoff:
            up_recommendation = min(recommendation.recommendation, up_recommendation)
        if recommendation.timestamp > down_cutoff:
            down_recommendation = max(recommendation.recommendation, down_recommendation)
        if recommendation.timestamp < up_cutoff and recommendation.timestamp < down_cutoff:
            old_sample_index = index
    stabilized = args.current_replicas
    if stabilized < up_recommendation:
        stabilized = up_recommendation
    if stabilized > down_recommendation:
        stabilized = down_recommendation
    stored = _store(recommendations, old_sample_index, api.TimestampedRecommendation(args.desired_replicas, now))
    if args.desired_replicas >= args.current_replicas:
        return Stabilization(stabilized, "ScaleUpStabilized", MESSAGE_SCALE_UP_STABILIZED, stored)
    return Stabilization(stabilized, "ScaleDownStabilized", MESSAGE_SCALE_DOWN_STABILIZED, stored)


def convert_desired_replicas_with_behavior_rate(
    args: NormalizationArg,
    *,
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    now: datetime.datetime,
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithBehaviorRate``: the policy limit, never past current, then min/max."""
    current, desired = args.current_replicas, args.desired_replicas
    if desired > current:
        scale_up_limit = calculate_scale_up_limit_with_scaling_rules(
            current_replicas=current,
            scale_up_events=scale_up_events,
            scale_down_events=scale_down_events,
            scaling_rules=args.scale_up_behavior,
            now=now,
        )
        # No further scale-up until recent scale-up events have aged out of their periods.
        scale_up_limit = max(scale_up_limit, current)
        if args.max_replicas > scale_up_limit:
            maximum_allowed, reason, message = scale_up_limit, "ScaleUpLimit", MESSAGE_SCALE_UP_LIMIT
        else:
            maximum_allowed, reason, message = args.max_replicas, "TooManyReplicas", MESSAGE_TOO_MANY_REPLICAS
        if desired > maximum_allowed:
            return maximum_allowed, reason, message
    elif desired < current:
        scale_down_limit = calculate_scale_down_limit_with_behaviors(
            current_replicas=current,
            scale_up_events=scale_up_events,
            scale_down_events=scale_down_events,
            scaling_rules=args.scale_down_behavior,
            now=now,
        )
        # No further scale-down until recent scale-down events have aged out of their periods.
        scale_down_limit = min(scale_down_limit, current)
        if args.min_replicas < scale_down_limit:
            minimum_allowed, reason, message = scale_down_limit, "ScaleDownLimit", MESSAGE_SCALE_DOWN_LIMIT
        else:
            minimum_allowed, reason, message = args.min_replicas, "TooFewReplicas", MESSAGE_TOO_FEW_REPLICAS
        if desired < minimum_allowed:
            return minimum_allowed, reason, message
    return desired, "DesiredWithinRange", MESSAGE_DESIRED_WITHIN_RANGE


def get_replicas_change_per_period(
    *, period_seconds: int, scale_events: tuple[api.TimestampedScaleEvent, ...], now: datetime.datetime
) -> int:
    """``getReplicasChangePerPeriod``: replicas changed by events strictly newer than ``now - period``."""
    cutoff = now - datetime.timedelta(seconds=period_seconds)
    return sum(event.replica_change for event in scale_events if event.timestamp > cutoff)


def calculate_scale_up_limit_with_scaling_rules(
    *,
    current_replicas: int,
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    scaling_rules: api.HPAScalingRules,
    now: datetime.datetime,
) -> int:
    """``calculateScaleUpLimitWithScalingRules``: per policy, from the replicas at its period's start.

    ``Max`` (default) takes the largest proposal, ``Min`` the smallest, ``Disabled`` allows none.
    Percent rounds up, in float64 (50 replicas + 10 % allows 56).
    """
    if scaling_rules.select_policy == api.DISABLED:
        return current_replicas
    select_min = scaling_rules.select_policy == api.MIN_CHANGE
    result = INT32_MAX if select_min else INT32_MIN
    for policy in scaling_rules.policies or ():
        period_start = _period_start_replicas(current_replicas, policy, scale_up_events, scale_down_events, now=now)
        if policy.type == api.PODS_POLICY:
            proposed = period_start + policy.value
        else:
            proposed = math.ceil(float(period_start) * (1 + float(policy.value) / 100))
        result = min(result, proposed) if select_min else max(result, proposed)
    return result


def calculate_scale_down_limit_with_behaviors(
    *,
    current_replicas: int,
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    scaling_rules: api.HPAScalingRules,
    now: datetime.datetime,
) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the mirror image; Percent truncates (may go below 0)."""
    if scaling_rules.select_policy == api.DISABLED:
        return current_replicas
    select_min_change = scaling_rules.select_policy == api.MIN_CHANGE
    result = INT32_MIN if select_min_change else INT32_MAX
    for policy in scaling_rules.policies or ():
        period_start = _period_start_replicas(current_replicas, policy, scale_up_events, scale_down_events, now=now)
        if policy.type == api.PODS_POLICY:
            proposed = period_start - policy.value
        else:
            proposed = int(float(period_start) * (1 - float(policy.value) / 100))
        result = max(result, proposed) if select_min_change else min(result, proposed)
    return result


def _period_start_replicas(
    current_replicas: int,
    policy: api.HPAScalingPolicy,
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    *,
    now: datetime.datetime,
) -> int:
    """Replicas at the start of the policy's period: both directions count, for every policy."""
    added = get_replicas_change_per_period(period_seconds=policy.period_seconds, scale_events=scale_up_events, now=now)
    deleted = get_replicas_change_per_period(period_seconds=policy.period_seconds, scale_events=scale_down_events, now=now)
    return current_replicas - added + deleted


def store_scale_event(
    *,
    behavior: api.HorizontalPodAutoscalerBehavior | None,
    scale_up_events: tuple[api.TimestampedScaleEvent, ...],
    scale_down_events: tuple[api.TimestampedScaleEvent, ...],
    prev_replicas: int,
    new_replicas: int,
    now: datetime.datetime,
) -> tuple[tuple[api.TimestampedScaleEvent, ...], tuple[api.TimestampedScaleEvent, ...]]:
    """``storeScaleEvent``: remember ``{|change|, now}``, reusing the last outdated slot.

    Without ``behavior`` nothing is stored: the legacy limit has no memory.
    """
    if behavior is None:
        return scale_up_events, scale_down_events
    if new_replicas > prev_replicas:
        rules, events, change = behavior.scale_up, scale_up_events, new_replicas - prev_replicas
    else:
        rules, events, change = behavior.scale_down, scale_down_events, prev_replicas - new_replicas
    marked = mark_scale_events_outdated(events, longest_policy_period_seconds=get_longest_policy_period(rules), now=now)
    last_outdated = max((index for index, event in enumerate(marked) if event.outdated), default=None)
    stored = _store(marked, last_outdated, api.TimestampedScaleEvent(change, now, False))
    if new_replicas > prev_replicas:
        return stored, scale_down_events
    return scale_up_events, stored


def mark_scale_events_outdated(
    events: tuple[api.TimestampedScaleEvent, ...], *, longest_policy_period_seconds: int, now: datetime.datetime
) -> tuple[api.TimestampedScaleEvent, ...]:
    """``markScaleEventsOutdated``: events older than the longest policy period can be reused."""
    cutoff = now - datetime.timedelta(seconds=longest_policy_period_seconds)
    return tuple(
        dataclasses.replace(event, outdated=True) if event.timestamp < cutoff else event for event in events
    )


def get_longest_policy_period(scaling_rules: api.HPAScalingRules | None) -> int:
    """``getLongestPolicyPeriod``."""
    if scaling_rules is None:
        return 0
    return max((policy.period_seconds for policy in scaling_rules.policies or ()), default=0)


def _store(entries: tuple, index: int | None, entry: object) -> tuple:
    """Overwrite ``entries[index]`` with ``entry``, or append it when ``index`` is None."""
    if index is None:
        return entries + (entry,)
    return entries[:index] + (entry,) + entries[index + 1:]

