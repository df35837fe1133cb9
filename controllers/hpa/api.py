"""The objects the HPA algorithm reads and writes, shaped after the Kubernetes API.

Names follow ``autoscaling/v2`` (``HorizontalPodAutoscalerSpec``, ``MetricSpec``, ``HPAScalingRules``,
``MetricValueStatus``, ...), ``metrics.k8s.io`` (``PodMetrics``) and ``core/v1`` (the few ``Pod``
fields the controller looks at), in snake_case here and camelCase in JSON (:mod:`.codec`).

Two simplifications, both deliberate:

- Quantities are stored already converted with ``MilliValue()`` (see :mod:`.quantity`), because
  that is the only way the controller ever reads them.
- Times are timezone-aware ``datetime`` values: exact integer arithmetic, and Go's ``Before`` /
  ``After`` become ``<`` / ``>``.
"""
from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

# MetricSourceType
RESOURCE = "Resource"
CONTAINER_RESOURCE = "ContainerResource"
PODS = "Pods"
OBJECT = "Object"
EXTERNAL = "External"
METRIC_SOURCE_TYPES = (OBJECT, PODS, RESOURCE, CONTAINER_RESOURCE, EXTERNAL)

# MetricTargetType
UTILIZATION = "Utilization"
VALUE = "Value"
AVERAGE_VALUE = "AverageValue"

# HPAScalingPolicyType and ScalingPolicySelect
PODS_POLICY = "Pods"
PERCENT_POLICY = "Percent"
MAX_CHANGE = "Max"
MIN_CHANGE = "Min"
DISABLED = "Disabled"

# core/v1 pod phases and condition statuses
PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
UNKNOWN = "Unknown"
TRUE = "True"
FALSE = "False"

# HorizontalPodAutoscalerConditionType
ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"

CPU = "cpu"
MEMORY = "memory"


# --- autoscaling/v2 spec -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """Carried for the metric's name and for messages; metric values are looked up by metric name."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@dataclasses.dataclass(frozen=True)
class MetricIdentifier:
    name: str
    selector: LabelSelector | None = None


@dataclasses.dataclass(frozen=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@dataclasses.dataclass(frozen=True)
class MetricTarget:
    """``type`` is Utilization, Value or AverageValue; quantities are milli-values."""

    type: str
    value: int | None = None
    average_value: int | None = None
    average_utilization: int | None = None


@dataclasses.dataclass(frozen=True)
class ResourceMetricSource:
    name: str
    target: MetricTarget


@dataclasses.dataclass(frozen=True)
class ContainerResourceMetricSource:
    name: str
    container: str
    target: MetricTarget


@dataclasses.dataclass(frozen=True)
class PodsMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclasses.dataclass(frozen=True)
class ObjectMetricSource:
    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


@dataclasses.dataclass(frozen=True)
class ExternalMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """Exactly one source matches ``type`` (the API server validates that; the algorithm trusts it)."""

    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


@dataclasses.dataclass(frozen=True)
class HPAScalingPolicy:
    type: str
    value: int
    period_seconds: int


@dataclasses.dataclass(frozen=True)
class HPAScalingRules:
    """``None`` means "not set"; :mod:`.defaults` fills everything but the scale-down window."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[HPAScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclasses.dataclass(frozen=True)
class HorizontalPodAutoscalerBehavior:
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


@dataclasses.dataclass(frozen=True)
class HorizontalPodAutoscalerSpec:
    max_replicas: int
    min_replicas: int | None = None
    metrics: tuple[MetricSpec, ...] = ()
    behavior: HorizontalPodAutoscalerBehavior | None = None


# --- core/v1 pods and the metrics APIs ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Container:
    """A container's name and ``resources.requests`` (milli-values by resource name)."""

    name: str
    requests: Mapping[str, int] = dataclasses.field(default_factory=dict)
    restart_policy: str | None = None
    """Only for init containers: ``Always`` makes it a sidecar whose requests count."""


@dataclasses.dataclass(frozen=True)
class PodCondition:
    status: str
    last_transition_time: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Pod:
    name: str
    phase: str = RUNNING
    ready: PodCondition | None = None
    """The ``Ready`` condition; ``None`` when the pod has none yet."""
    start_time: datetime.datetime | None = None
    deletion_timestamp: datetime.datetime | None = None
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    requests: Mapping[str, int] | None = None
    """Pod-level ``spec.resources.requests`` (KEP-2837); used instead of the containers' when set."""


@dataclasses.dataclass(frozen=True)
class ContainerMetrics:
    name: str
    usage: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class PodMetrics:
    """One item of a ``metrics.k8s.io/v1beta1`` PodMetricsList (what metrics-server serves)."""

    name: str
    timestamp: datetime.datetime
    window_seconds: float
    containers: tuple[ContainerMetrics, ...]


@dataclasses.dataclass(frozen=True)
class PodsMetricValues:
    """A ``custom.metrics.k8s.io`` answer for one metric over the pods: value per pod name, in order."""

    timestamp: datetime.datetime
    values: tuple[tuple[str, int], ...]
    window_seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class ObjectMetricValue:
    """A ``custom.metrics.k8s.io`` answer for one metric of one object."""

    timestamp: datetime.datetime
    value: int


@dataclasses.dataclass(frozen=True)
class ExternalMetricValues:
    """An ``external.metrics.k8s.io`` answer: every series that matched the selector."""

    timestamp: datetime.datetime
    values: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class MetricsSnapshot:
    """Everything the metrics APIs would answer during one sync. A metric missing from the
    mappings behaves like a failing API call (``FailedGet...Metric``)."""

    resource: tuple[PodMetrics, ...] = ()
    pods: Mapping[str, PodsMetricValues] = dataclasses.field(default_factory=dict)
    object: Mapping[str, ObjectMetricValue] = dataclasses.field(default_factory=dict)
    external: Mapping[str, ExternalMetricValues] = dataclasses.field(default_factory=dict)


# --- controller memory --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TimestampedRecommendation:
    recommendation: int
    timestamp: datetime.datetime


@dataclasses.dataclass(frozen=True)
class TimestampedScaleEvent:
    replica_change: int
    """Absolute value, never negative."""
    timestamp: datetime.datetime
    outdated: bool = False


@dataclasses.dataclass(frozen=True)
class History:
    """What kube-controller-manager keeps in memory per HPA between syncs (lost on restart)."""

    recommendations: tuple[TimestampedRecommendation, ...] | None = None
    """``None``: the controller has not seen this HPA yet (the first sync records ``current``)."""
    scale_up_events: tuple[TimestampedScaleEvent, ...] = ()
    scale_down_events: tuple[TimestampedScaleEvent, ...] = ()


# --- outputs ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MetricValueStatus:
    value: int | None = None
    average_value: int | None = None
    average_utilization: int | None = None


@dataclasses.dataclass(frozen=True)
class MetricProposal:
    """One metric's outcome in one sync: its replica proposal and what it measured, or its error."""

    type: str
    metric: str
    """Upstream's description, e.g. ``cpu resource utilization (percentage of request)``."""
    replicas: int | None = None
    timestamp: datetime.datetime | None = None
    current: MetricValueStatus | None = None
    resource: str | None = None
    """The resource name for Resource/ContainerResource metrics (memory renders as BinarySI)."""
    reason: str | None = None
    """On failure: the ``ScalingActive`` reason it would set (``FailedGetResourceMetric``, ...)."""
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
