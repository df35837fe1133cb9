"""JSON in, JSON out: the decision interface's wire format (documented in ``docs/hpa-decide.md``).

Decoding validates like the API server would (``spec``) and like a careful reader would (everything
else): unknown keys, wrong types and impossible values raise :class:`InputError`, whose message
starts with the offending field's path, e.g. ``spec.metrics[0].resource.target.averageUtilization:
must be a positive integer, got 0``. Keys are the Kubernetes API's camelCase names.
"""
from __future__ import annotations

import datetime
import decimal
import fractions
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from controllers.hpa import api, defaults, horizontal, quantity, replaying, settings

T = TypeVar("T")
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TARGETS_BY_SOURCE = {
    api.RESOURCE: (api.UTILIZATION, api.AVERAGE_VALUE),
    api.CONTAINER_RESOURCE: (api.UTILIZATION, api.AVERAGE_VALUE),
    api.PODS: (api.AVERAGE_VALUE,),
    api.OBJECT: (api.VALUE, api.AVERAGE_VALUE),
    api.EXTERNAL: (api.VALUE, api.AVERAGE_VALUE),
}
_SOURCE_KEYS = {
    api.RESOURCE: "resource",
    api.CONTAINER_RESOURCE: "containerResource",
    api.PODS: "pods",
    api.OBJECT: "object",
    api.EXTERNAL: "external",
}
DEFAULT_METRICS = (
    api.MetricSpec(
        type=api.RESOURCE,
        resource=api.ResourceMetricSource(api.CPU, api.MetricTarget(api.UTILIZATION, average_utilization=80)),
    ),
)
"""What the API server puts into an empty ``spec.metrics`` (``SetDefaults_HorizontalPodAutoscaler``)."""


class InputError(ValueError):
    """The input is not a valid HPA state; ``path`` names the field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'input'}: {problem}")
        self.path = path
        self.problem = problem


# --- decoding: top level ------------------------------------------------------------------------

def decode_state(document: Any) -> horizontal.HPAState:
    """An :class:`horizontal.HPAState` from the decision interface's JSON object."""
    fields = _object(
        document,
        "",
        required=("now", "spec", "currentReplicas"),
        optional=("namespace", "controller", "statusReplicas", "pods", "podsMetrics", "objectMetrics",
                  "externalMetrics", "history"),
    )
    pods = _array(fields.get("pods", []), "pods", _decode_pod)
    _reject_duplicates([pod.name for pod, _ in pods], "pods", "name")
    status_replicas = fields.get("statusReplicas")
    return horizontal.HPAState(
        spec=_decode_spec(fields["spec"], "spec"),
        current_replicas=_int(fields["currentReplicas"], "currentReplicas", minimum=0),
        now=_time(fields["now"], "now"),
        status_replicas=None if status_replicas is None else _int(status_replicas, "statusReplicas", minimum=0),
        pods=tuple(pod for pod, _ in pods),
        metrics=api.MetricsSnapshot(
            resource=tuple(sample for _, sample in pods if sample is not None),
            pods=_decode_map(fields.get("podsMetrics", {}), "podsMetrics", _decode_pods_metric_values),
            object=_decode_map(fields.get("objectMetrics", {}), "objectMetrics", _decode_object_metric_value),
            external=_decode_map(fields.get("externalMetrics", {}), "externalMetrics", _decode_external_metric_values),
        ),
        history=_decode_history(fields.get("history", {}), "history"),
        controller=_decode_controller(fields.get("controller", {}), "controller"),
        namespace=_string(fields.get("namespace", "default"), "namespace"),
    )


def decode_replay(document: Any) -> tuple[horizontal.HPAState, list[replaying.SyncObservation]]:
    """``{"start": <state>, "syncs": [<observation>, ...]}`` for ``replay``."""
    fields = _object(document, "", required=("start", "syncs"))
    start = decode_state(fields["start"])
    return start, _array(fields["syncs"], "syncs", _decode_observation)


def _decode_observation(value: Any, path: str) -> replaying.SyncObservation:
    fields = _object(
        value,
        path,
        optional=("now", "currentReplicas", "statusReplicas", "pods", "podsMetrics", "objectMetrics", "externalMetrics"),
    )
    pods = None if "pods" not in fields else _array(fields["pods"], f"{path}.pods", _decode_pod)
    return replaying.SyncObservation(
        now=_optional(fields, "now", path, _time),
        current_replicas=_optional(fields, "currentReplicas", path, _replica_count),
        status_replicas=_optional(fields, "statusReplicas", path, _replica_count),
        pods=None if pods is None else tuple(pod for pod, _ in pods),
        resource_metrics=None if pods is None else tuple(sample for _, sample in pods if sample is not None),
        pods_metrics=_optional(fields, "podsMetrics", path, _map_of(_decode_pods_metric_values)),
        object_metrics=_optional(fields, "objectMetrics", path, _map_of(_decode_object_metric_value)),
        external_metrics=_optional(fields, "externalMetrics", path, _map_of(_decode_external_metric_values)),
    )


def _decode_controller(value: Any, path: str) -> settings.ControllerSettings:
    names = {
        "syncPeriodSeconds": "sync_period_seconds",
        "tolerance": "tolerance",
        "cpuInitializationPeriodSeconds": "cpu_initialization_period_seconds",
        "initialReadinessDelaySeconds": "initial_readiness_delay_seconds",
        "downscaleStabilizationSeconds": "downscale_stabilization_seconds",
        "scaleUpLimitFactor": "scale_up_limit_factor",
        "scaleUpLimitMinimum": "scale_up_limit_minimum",
    }
    fields = _object(value, path, optional=tuple(names))
    values = {names[key]: _number(item, _join(path, key), minimum=0) for key, item in fields.items()}
    if "downscale_stabilization_seconds" in values:
        values["downscale_stabilization_seconds"] = _int(
            fields["downscaleStabilizationSeconds"], _join(path, "downscaleStabilizationSeconds"), minimum=0
        )
    if values.get("sync_period_seconds") == 0:
        raise InputError(_join(path, "syncPeriodSeconds"), "must be positive")
    return settings.ControllerSettings(**values)


# --- decoding: spec -----------------------------------------------------------------------------

def _decode_spec(value: Any, path: str) -> api.HorizontalPodAutoscalerSpec:
    fields = _object(value, path, required=("maxReplicas",), optional=("minReplicas", "metrics", "behavior", "scaleTargetRef"))
    max_replicas = _int(fields["maxReplicas"], _join(path, "maxReplicas"), minimum=1)
    metrics = tuple(_array(fields.get("metrics", []), _join(path, "metrics"), _decode_metric_spec)) or DEFAULT_METRICS
    min_replicas = None
    if fields.get("minReplicas") is not None:
        min_replicas = _int(fields["minReplicas"], _join(path, "minReplicas"), minimum=0)
        if min_replicas > max_replicas:
            raise InputError(_join(path, "minReplicas"), f"must be less than or equal to maxReplicas ({max_replicas})")
        if min_replicas == 0 and not any(m.type in (api.OBJECT, api.EXTERNAL) for m in metrics):
            raise InputError(
                _join(path, "minReplicas"),
                "0 is only allowed with at least one Object or External metric (HPAScaleToZero)",
            )
    behavior = None
    if fields.get("behavior") is not None:
        behavior = defaults.set_defaults_behavior(_decode_behavior(fields["behavior"], _join(path, "behavior")))
    return api.HorizontalPodAutoscalerSpec(
        max_replicas=max_replicas, min_replicas=min_replicas, metrics=metrics, behavior=behavior
    )


def _decode_metric_spec(value: Any, path: str) -> api.MetricSpec:
    fields = _object(value, path, required=("type",), optional=tuple(_SOURCE_KEYS.values()))
    source_type = _string(fields["type"], _join(path, "type"), choices=tuple(_SOURCE_KEYS))
    key = _SOURCE_KEYS[source_type]
    others = sorted(set(fields) - {"type", key})
    if others:
        raise InputError(_join(path, others[0]), f"must not be set for type {source_type}")
    if fields.get(key) is None:
        raise InputError(_join(path, key), f"is required for type {source_type}")
    source_path = _join(path, key)
    decoders: dict[str, Callable[[Any, str], Any]] = {
        api.RESOURCE: _decode_resource_source,
        api.CONTAINER_RESOURCE: _decode_container_resource_source,
        api.PODS: _decode_pods_source,
        api.OBJECT: _decode_object_source,
        api.EXTERNAL: _decode_external_source,
    }
    return api.MetricSpec(type=source_type, **{_snake(key): decoders[source_type](fields[key], source_path)})


def _decode_resource_source(value: Any, path: str) -> api.ResourceMetricSource:
    fields = _object(value, path, required=("name", "target"))
    return api.ResourceMetricSource(
        name=_string(fields["name"], _join(path, "name")),
        target=_decode_target(fields["target"], _join(path, "target"), allowed=_TARGETS_BY_SOURCE[api.RESOURCE]),
    )


def _decode_container_resource_source(value: Any, path: str) -> api.ContainerResourceMetricSource:
    fields = _object(value, path, required=("name", "container", "target"))
    return api.ContainerResourceMetricSource(
        name=_string(fields["name"], _join(path, "name")),
        container=_string(fields["container"], _join(path, "container")),
        target=_decode_target(fields["target"], _join(path, "target"), allowed=_TARGETS_BY_SOURCE[api.CONTAINER_RESOURCE]),
    )


def _decode_pods_source(value: Any, path: str) -> api.PodsMetricSource:
    fields = _object(value, path, required=("metric", "target"))
    return api.PodsMetricSource(
        metric=_decode_metric_identifier(fields["metric"], _join(path, "metric")),
        target=_decode_target(fields["target"], _join(path, "target"), allowed=_TARGETS_BY_SOURCE[api.PODS]),
    )


def _decode_object_source(value: Any, path: str) -> api.ObjectMetricSource:
    fields = _object(value, path, required=("describedObject", "metric", "target"))
    described_path = _join(path, "describedObject")
    described = _object(fields["describedObject"], described_path, required=("kind", "name"), optional=("apiVersion",))
    return api.ObjectMetricSource(
        described_object=api.CrossVersionObjectReference(
            kind=_string(described["kind"], _join(described_path, "kind")),
            name=_string(described["name"], _join(described_path, "name")),
            api_version=_string(described.get("apiVersion", ""), _join(described_path, "apiVersion"), allow_empty=True),
        ),
        metric=_decode_metric_identifier(fields["metric"], _join(path, "metric")),
        target=_decode_target(fields["target"], _join(path, "target"), allowed=_TARGETS_BY_SOURCE[api.OBJECT]),
    )


def _decode_external_source(value: Any, path: str) -> api.ExternalMetricSource:
    fields = _object(value, path, required=("metric", "target"))
    return api.ExternalMetricSource(
        metric=_decode_metric_identifier(fields["metric"], _join(path, "metric")),
        target=_decode_target(fields["target"], _join(path, "target"), allowed=_TARGETS_BY_SOURCE[api.EXTERNAL]),
    )


def _decode_metric_identifier(value: Any, path: str) -> api.MetricIdentifier:
    fields = _object(value, path, required=("name",), optional=("selector",))
    selector = None if fields.get("selector") is None else _decode_selector(fields["selector"], _join(path, "selector"))
    return api.MetricIdentifier(name=_string(fields["name"], _join(path, "name")), selector=selector)


def _decode_selector(value: Any, path: str) -> api.LabelSelector:
    fields = _object(value, path, optional=("matchLabels", "matchExpressions"))
    labels_path = _join(path, "matchLabels")
    labels = _object(fields.get("matchLabels", {}), labels_path, optional=None)
    expressions = _array(fields.get("matchExpressions", []), _join(path, "matchExpressions"), _decode_requirement)
    return api.LabelSelector(
        match_labels=tuple((key, _string(item, _join(labels_path, key), allow_empty=True)) for key, item in labels.items()),
        match_expressions=tuple(expressions),
    )


def _decode_requirement(value: Any, path: str) -> api.LabelSelectorRequirement:
    fields = _object(value, path, required=("key", "operator"), optional=("values",))
    values = _array(fields.get("values", []), _join(path, "values"), lambda v, p: _string(v, p, allow_empty=True))
    return api.LabelSelectorRequirement(
        key=_string(fields["key"], _join(path, "key")),
        operator=_string(fields["operator"], _join(path, "operator"), choices=("In", "NotIn", "Exists", "DoesNotExist")),
        values=tuple(values),
    )


def _decode_target(value: Any, path: str, *, allowed: tuple[str, ...]) -> api.MetricTarget:
    fields = _object(value, path, required=("type",), optional=("value", "averageValue", "averageUtilization"))
    target_type = _string(fields["type"], _join(path, "type"), choices=allowed)
    key = {api.UTILIZATION: "averageUtilization", api.VALUE: "value", api.AVERAGE_VALUE: "averageValue"}[target_type]
    others = sorted(set(fields) - {"type", key})
    if others:
        raise InputError(_join(path, others[0]), f"must not be set for type {target_type} (set {key})")
    if fields.get(key) is None:
        raise InputError(_join(path, key), f"is required for type {target_type}")
    if target_type == api.UTILIZATION:
        return api.MetricTarget(target_type, average_utilization=_int(fields[key], _join(path, key), minimum=1))
    milli = _quantity(fields[key], _join(path, key), positive=True)
    if target_type == api.VALUE:
        return api.MetricTarget(target_type, value=milli)
    return api.MetricTarget(target_type, average_value=milli)


def _decode_behavior(value: Any, path: str) -> api.HorizontalPodAutoscalerBehavior:
    fields = _object(value, path, optional=("scaleUp", "scaleDown"))
    return api.HorizontalPodAutoscalerBehavior(
        scale_up=_optional(fields, "scaleUp", path, _decode_rules),
        scale_down=_optional(fields, "scaleDown", path, _decode_rules),
    )


def _decode_rules(value: Any, path: str) -> api.HPAScalingRules:
    fields = _object(value, path, optional=("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"))
    policies = None
    if fields.get("policies") is not None:
        policies = tuple(_array(fields["policies"], _join(path, "policies"), _decode_policy))
        if not policies:
            raise InputError(_join(path, "policies"), "must specify at least one Policy")
    tolerance = None
    if fields.get("tolerance") is not None:
        tolerance = float(quantity.parse(_quantity_text(fields["tolerance"], _join(path, "tolerance"))))
        if tolerance < 0:
            raise InputError(_join(path, "tolerance"), "must not be negative")
    return api.HPAScalingRules(
        stabilization_window_seconds=_optional(
            fields, "stabilizationWindowSeconds", path, lambda v, p: _int(v, p, minimum=0, maximum=3600)
        ),
        select_policy=_optional(
            fields, "selectPolicy", path, lambda v, p: _string(v, p, choices=(api.MAX_CHANGE, api.MIN_CHANGE, api.DISABLED))
        ),
        policies=policies,
        tolerance=tolerance,
    )


def _decode_policy(value: Any, path: str) -> api.HPAScalingPolicy:
    fields = _object(value, path, required=("type", "value", "periodSeconds"))
    return api.HPAScalingPolicy(
        type=_string(fields["type"], _join(path, "type"), choices=(api.PODS_POLICY, api.PERCENT_POLICY)),
        value=_int(fields["value"], _join(path, "value"), minimum=1),
        period_seconds=_int(fields["periodSeconds"], _join(path, "periodSeconds"), minimum=1, maximum=1800),
    )


# --- decoding: pods, metric values, history -----------------------------------------------------

def _decode_pod(value: Any, path: str) -> tuple[api.Pod, api.PodMetrics | None]:
    fields = _object(
        value,
        path,
        required=("name",),
        optional=("phase", "ready", "startTime", "deletionTimestamp", "containers", "initContainers", "requests", "metrics"),
    )
    name = _string(fields["name"], _join(path, "name"))
    pod = api.Pod(
        name=name,
        phase=_string(fields.get("phase", api.RUNNING), _join(path, "phase"),
                      choices=(api.PENDING, api.RUNNING, api.SUCCEEDED, api.FAILED, api.UNKNOWN)),
        ready=_optional(fields, "ready", path, _decode_condition),
        start_time=_optional(fields, "startTime", path, _time),
        deletion_timestamp=_optional(fields, "deletionTimestamp", path, _time),
        containers=tuple(_array(fields.get("containers", []), _join(path, "containers"), _decode_container)),
        init_containers=tuple(_array(fields.get("initContainers", []), _join(path, "initContainers"), _decode_container)),
        requests=_optional(fields, "requests", path, _decode_resource_list),
    )
    sample = _optional(fields, "metrics", path, lambda v, p: _decode_pod_metrics(v, p, pod_name=name))
    return pod, sample


def _decode_condition(value: Any, path: str) -> api.PodCondition:
    fields = _object(value, path, required=("status", "lastTransitionTime"))
    return api.PodCondition(
        status=_string(fields["status"], _join(path, "status"), choices=(api.TRUE, api.FALSE, api.UNKNOWN)),
        last_transition_time=_time(fields["lastTransitionTime"], _join(path, "lastTransitionTime")),
    )


def _decode_container(value: Any, path: str) -> api.Container:
    fields = _object(value, path, required=("name",), optional=("requests", "restartPolicy"))
    return api.Container(
        name=_string(fields["name"], _join(path, "name")),
        requests=_decode_resource_list(fields.get("requests", {}), _join(path, "requests")),
        restart_policy=_optional(fields, "restartPolicy", path, lambda v, p: _string(v, p, choices=("Always",))),
    )


def _decode_pod_metrics(value: Any, path: str, *, pod_name: str) -> api.PodMetrics:
    fields = _object(value, path, required=("timestamp", "window", "containers"))
    containers = _array(fields["containers"], _join(path, "containers"), _decode_container_metrics)
    return api.PodMetrics(
        name=pod_name,
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
        window_seconds=_seconds(fields["window"], _join(path, "window")),
        containers=tuple(containers),
    )


def _decode_container_metrics(value: Any, path: str) -> api.ContainerMetrics:
    fields = _object(value, path, required=("name", "usage"))
    return api.ContainerMetrics(
        name=_string(fields["name"], _join(path, "name")),
        usage=_decode_resource_list(fields["usage"], _join(path, "usage")),
    )


def _decode_resource_list(value: Any, path: str) -> dict[str, int]:
    fields = _object(value, path, optional=None)
    return {key: _quantity(item, _join(path, key)) for key, item in fields.items()}


def _decode_pods_metric_values(value: Any, path: str) -> api.PodsMetricValues:
    fields = _object(value, path, required=("timestamp", "values"), optional=("windowSeconds",))
    values = _object(fields["values"], _join(path, "values"), optional=None)
    return api.PodsMetricValues(
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
        values=tuple((name, _quantity(item, _join(_join(path, "values"), name))) for name, item in values.items()),
        window_seconds=_optional(fields, "windowSeconds", path, lambda v, p: _number(v, p, minimum=0)),
    )


def _decode_object_metric_value(value: Any, path: str) -> api.ObjectMetricValue:
    fields = _object(value, path, required=("timestamp", "value"))
    return api.ObjectMetricValue(
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
        value=_quantity(fields["value"], _join(path, "value")),
    )


def _decode_external_metric_values(value: Any, path: str) -> api.ExternalMetricValues:
    fields = _object(value, path, required=("timestamp", "values"))
    return api.ExternalMetricValues(
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
        values=tuple(_array(fields["values"], _join(path, "values"), _quantity)),
    )


def _decode_history(value: Any, path: str) -> api.History:
    fields = _object(value, path, optional=("recommendations", "scaleUpEvents", "scaleDownEvents"))
    recommendations = _optional(
        fields, "recommendations", path, lambda v, p: tuple(_array(v, p, _decode_recommendation))
    )
    return api.History(
        recommendations=recommendations,
        scale_up_events=tuple(_array(fields.get("scaleUpEvents", []), _join(path, "scaleUpEvents"), _decode_scale_event)),
        scale_down_events=tuple(_array(fields.get("scaleDownEvents", []), _join(path, "scaleDownEvents"), _decode_scale_event)),
    )


def _decode_recommendation(value: Any, path: str) -> api.TimestampedRecommendation:
    fields = _object(value, path, required=("recommendation", "timestamp"))
    return api.TimestampedRecommendation(
        recommendation=_int(fields["recommendation"], _join(path, "recommendation"), minimum=0),
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
    )


def _decode_scale_event(value: Any, path: str) -> api.TimestampedScaleEvent:
    fields = _object(value, path, required=("replicaChange", "timestamp"), optional=("outdated",))
    outdated = fields.get("outdated", False)
    if not isinstance(outdated, bool):
        raise InputError(_join(path, "outdated"), f"must be true or false, got {_describe(outdated)}")
    return api.TimestampedScaleEvent(
        replica_change=_int(fields["replicaChange"], _join(path, "replicaChange"), minimum=0),
        timestamp=_time(fields["timestamp"], _join(path, "timestamp")),
        outdated=outdated,
    )


# --- decoding: scalars --------------------------------------------------------------------------

def _object(
    value: Any, path: str, *, required: tuple[str, ...] = (), optional: tuple[str, ...] | None = ()
) -> dict[str, Any]:
    """A JSON object; ``optional=None`` allows any key (maps such as ``requests``)."""
    if not isinstance(value, dict):
        raise InputError(path, f"must be an object, got {_describe(value)}")
    if optional is not None:
        known = set(required) | set(optional)
        unknown = sorted(set(value) - known)
        if unknown:
            raise InputError(_join(path, unknown[0]), f"unknown field (known here: {', '.join(sorted(known))})")
    for key in required:
        if value.get(key) is None:
            raise InputError(_join(path, key), "is required")
    return value


def _array(value: Any, path: str, decode: Callable[[Any, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise InputError(path, f"must be an array, got {_describe(value)}")
    return [decode(item, f"{path}[{index}]") for index, item in enumerate(value)]


def _decode_map(value: Any, path: str, decode: Callable[[Any, str], T]) -> dict[str, T]:
    fields = _object(value, path, optional=None)
    return {key: decode(item, _join(path, key)) for key, item in fields.items()}


def _replica_count(value: Any, path: str) -> int:
    return _int(value, path, minimum=0)


def _map_of(decode: Callable[[Any, str], T]) -> Callable[[Any, str], dict[str, T]]:
    return lambda value, path: _decode_map(value, path, decode)


def _optional(fields: Mapping[str, Any], key: str, path: str, decode: Callable[[Any, str], T]) -> T | None:
    value = fields.get(key)
    return None if value is None else decode(value, _join(path, key))


def _int(value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and not (math.isfinite(value) and value.is_integer())
    ):
        raise InputError(path, f"must be an integer, got {_describe(value)}")
    number = int(value)
    if minimum is not None and number < minimum:
        expected = "a positive integer" if minimum == 1 else f"at least {minimum}"
        raise InputError(path, f"must be {expected}, got {number}")
    if maximum is not None and number > maximum:
        raise InputError(path, f"must be at most {maximum}, got {number}")
    return number


def _number(value: Any, path: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(path, f"must be a number, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise InputError(path, f"must be at least {minimum}, got {value}")
    return float(value)


def _string(value: Any, path: str, *, choices: tuple[str, ...] | None = None, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InputError(path, f"must be a non-empty string, got {_describe(value)}")
    if choices is not None and value not in choices:
        raise InputError(path, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def _quantity_text(value: Any, path: str) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(path, f"must be a quantity such as \"500m\" or 2, got {_describe(value)}")
    return value


def _quantity(value: Any, path: str, *, positive: bool = False) -> int:
    text = _quantity_text(value, path)  # an InputError already names the path: keep it out of the try
    try:
        milli = quantity.milli_value(text)
    except ValueError as e:
        raise InputError(path, str(e)) from e
    if positive and milli <= 0:
        raise InputError(path, f"must be positive, got {value!r}")
    return milli


def _time(value: Any, path: str) -> datetime.datetime:
    """RFC3339 (``2024-05-01T12:00:00Z``) or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        microseconds = round(fractions.Fraction(decimal.Decimal(repr(value))) * 1_000_000)
        return EPOCH + datetime.timedelta(microseconds=microseconds)
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        example = '"2024-05-01T12:00:00Z"'
        raise InputError(path, f"must be an RFC3339 time such as {example} or epoch seconds, got {_describe(value)}")
    fraction = (match["fraction"] or ".0")[:7]  # microseconds are as fine as datetime goes
    zone = "+00:00" if match["zone"] in "Zz" else match["zone"]
    try:
        parsed = datetime.datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{zone}")
    except ValueError as e:
        raise InputError(path, f"is not a valid time: {e}") from e
    return parsed.astimezone(UTC)


def _seconds(value: Any, path: str) -> float:
    """Seconds as a number, or a Go duration string (``"15s"``, ``"1m0s"``, ``"15.012s"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str) and value and _DURATION_PART.sub("", value) == "":
        return sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(value))
    raise InputError(path, f"must be seconds or a duration such as \"30s\", got {_describe(value)}")


def _reject_duplicates(names: list[str], path: str, key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise InputError(f"{path}[{index}].{key}", f"duplicate {key} {name!r}")
        seen.add(name)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    return repr(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


# --- encoding -----------------------------------------------------------------------------------

def encode_decision(decision: horizontal.Decision) -> dict[str, Any]:
    """The decision as JSON: what to do, why, and the memory to pass to the next sync."""
    return {
        "currentReplicas": decision.current_replicas,
        "desiredReplicas": decision.desired_replicas,
        "rescale": decision.rescale,
        "rescaleReason": decision.rescale_reason,
        "metrics": [_encode_proposal(proposal) for proposal in decision.metrics],
        "conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in decision.conditions
        ],
        "history": encode_history(decision.history),
        "error": decision.error,
    }


def encode_history(history: api.History) -> dict[str, Any]:
    recommendations = None
    if history.recommendations is not None:
        recommendations = [
            {"recommendation": r.recommendation, "timestamp": format_time(r.timestamp)} for r in history.recommendations
        ]
    return {
        "recommendations": recommendations,
        "scaleUpEvents": [_encode_scale_event(event) for event in history.scale_up_events],
        "scaleDownEvents": [_encode_scale_event(event) for event in history.scale_down_events],
    }


def _encode_scale_event(event: api.TimestampedScaleEvent) -> dict[str, Any]:
    return {"replicaChange": event.replica_change, "timestamp": format_time(event.timestamp), "outdated": event.outdated}


def _encode_proposal(proposal: api.MetricProposal) -> dict[str, Any]:
    encoded: dict[str, Any] = {"type": proposal.type, "metric": proposal.metric}
    if proposal.error is not None:
        encoded.update(reason=proposal.reason, error=proposal.error)
        return encoded
    encoded["replicas"] = proposal.replicas
    encoded["timestamp"] = None if proposal.timestamp is None else format_time(proposal.timestamp)
    if proposal.current is not None:
        encoded["current"] = _encode_value_status(proposal.current, binary=proposal.resource == api.MEMORY)
    return encoded


def _encode_value_status(status: api.MetricValueStatus, *, binary: bool) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    if status.average_utilization is not None:
        encoded["averageUtilization"] = status.average_utilization
    if status.average_value is not None:
        encoded["averageValue"] = quantity.format_milli(status.average_value, binary=binary)
    if status.value is not None:
        encoded["value"] = quantity.format_milli(status.value)
    return encoded


def format_time(moment: datetime.datetime) -> str:
    """RFC3339 in UTC with ``Z``; fractional seconds only when present (like Go's RFC3339Nano)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
