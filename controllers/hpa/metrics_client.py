"""The reads of ``pkg/controller/podautoscaler/metrics/client.go``, answered from a snapshot.

Upstream these are REST calls to metrics.k8s.io, custom.metrics.k8s.io and external.metrics.k8s.io.
Here the answers are already in an :class:`api.MetricsSnapshot`; a metric the snapshot lacks raises
:class:`MetricsError` as a failed API call would, with upstream's messages.
"""
from __future__ import annotations

import dataclasses
import datetime

from controllers.hpa import api

METRIC_SERVER_DEFAULT_METRIC_WINDOW_SECONDS = 60.0
"""``metricServerDefaultMetricWindow``: assumed when a custom metric carries no ``windowSeconds``."""


class MetricsError(Exception):
    """A metrics API read failed or returned nothing usable."""


@dataclasses.dataclass(frozen=True)
class PodMetric:
    """``metricsclient.PodMetric``: one pod's value (milli-units) and the sample's time window."""

    value: int
    timestamp: datetime.datetime | None = None
    window_seconds: float = 0.0


PodMetricsInfo = dict[str, PodMetric]
"""Pod name -> metric. Mutable on purpose: the calculator adds and removes pods as upstream does."""


def get_resource_metric(
    snapshot: api.MetricsSnapshot, *, resource: str, container: str = ""
) -> tuple[PodMetricsInfo, datetime.datetime]:
    """``GetResourceMetric``: per-pod usage summed over containers (or of one named container)."""
    items = snapshot.resource
    if not items:
        raise MetricsError("no metrics returned from resource metrics API")
    if container:
        metrics = _get_container_metrics(items, resource=resource, container=container)
    else:
        metrics = _get_pod_metrics(items, resource=resource)
    return metrics, items[0].timestamp


def _get_container_metrics(items: tuple[api.PodMetrics, ...], *, resource: str, container: str) -> PodMetricsInfo:
    """``getContainerMetrics``: the named container's usage. A pod whose metrics lack the container
    (or its resource) is left out and so becomes "missing"; releases before 2026 failed the whole
    metric instead ("container X not present in metrics for pod")."""
    metrics: PodMetricsInfo = {}
    for item in items:
        found = next((c for c in item.containers if c.name == container), None)
        if found is not None and resource in found.usage:
            metrics[item.name] = PodMetric(found.usage[resource], item.timestamp, item.window_seconds)
    return metrics


def _get_pod_metrics(items: tuple[api.PodMetrics, ...], *, resource: str) -> PodMetricsInfo:
    """``getPodMetrics``: a pod with no containers, or one container without the resource, is left out."""
    metrics: PodMetricsInfo = {}
    for item in items:
        if item.containers and all(resource in c.usage for c in item.containers):
            total = sum(c.usage[resource] for c in item.containers)
            metrics[item.name] = PodMetric(total, item.timestamp, item.window_seconds)
    return metrics


def get_raw_metric(snapshot: api.MetricsSnapshot, *, metric_name: str) -> tuple[PodMetricsInfo, datetime.datetime]:
    """``GetRawMetric``: a Pods (custom) metric for every pod."""
    answer = snapshot.pods.get(metric_name)
    if answer is None:
        raise MetricsError(f"unable to fetch metrics from custom metrics API: no values for pods metric {metric_name}")
    if not answer.values:
        raise MetricsError("no metrics returned from custom metrics API")
    window = answer.window_seconds if answer.window_seconds is not None else METRIC_SERVER_DEFAULT_METRIC_WINDOW_SECONDS
    metrics = {name: PodMetric(value, answer.timestamp, window) for name, value in answer.values}
    return metrics, answer.timestamp


def get_object_metric(snapshot: api.MetricsSnapshot, *, metric_name: str) -> tuple[int, datetime.datetime]:
    """``GetObjectMetric``: the value of one metric describing one object."""
    answer = snapshot.object.get(metric_name)
    if answer is None:
        raise MetricsError(f"unable to fetch metrics from custom metrics API: no value for object metric {metric_name}")
    return answer.value, answer.timestamp


def get_external_metric(
    snapshot: api.MetricsSnapshot, *, metric_name: str
) -> tuple[tuple[int, ...], datetime.datetime]:
    """``GetExternalMetric``: every series of an external metric that matched its selector."""
    answer = snapshot.external.get(metric_name)
    if answer is None:
        raise MetricsError(f"unable to fetch metrics from external metrics API: no values for external metric {metric_name}")
    if not answer.values:
        raise MetricsError("no metrics returned from external metrics API")
    return answer.values, answer.timestamp
