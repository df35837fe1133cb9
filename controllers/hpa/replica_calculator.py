"""``pkg/controller/podautoscaler/replica_calculator.go``: one metric's replica proposal.

Read it next to upstream: :class:`ReplicaCalculator` holds what the Go struct holds (the pods the
lister would return, what the metrics client would answer, the two readiness periods) plus ``now``,
which upstream takes from the wall clock. Its methods keep upstream's names, order of checks and
messages. The rules worth remembering (``docs/hpa-decide.md`` has the long version):

- ``groupPods``: deleted or Failed pods are ignored; Pending pods are unready; a pod without a sample
  is *missing* (checked before readiness); for cpu only, readiness and the initialization period
  decide whether a sample counts.
- The fast path returns ``ceil(ratio × readyPodCount)``. With missing pods, or unready pods on a
  scale-up, the ratio is recomputed with missing pods at the fallback (scale-down) or 0 (scale-up)
  and unready pods at 0, and the result is thrown away if it is within tolerance or flips direction.
"""
from __future__ import annotations

import dataclasses
import datetime
import math

from controllers.hpa import api, metrics_client, utilization

INT32_MAX = utilization.INT32_MAX
INT64_MAX = utilization.INT64_MAX


class CalculationError(Exception):
    """A proposal could not be computed; the message is upstream's error text."""


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """``Tolerances``: the closed band ``[1 - scale_down, 1 + scale_up]`` that means "no change"."""

    scale_down: float
    scale_up: float

    def is_within(self, usage_ratio: float) -> bool:
        return (1.0 - self.scale_down) <= usage_ratio <= (1.0 + self.scale_up)


@dataclasses.dataclass(frozen=True)
class GroupedPods:
    """What ``groupPods`` returns."""

    ready_pod_count: int
    unready_pods: frozenset[str]
    missing_pods: frozenset[str]
    ignored_pods: frozenset[str]


@dataclasses.dataclass(frozen=True)
class ResourceReplicas:
    """``GetResourceReplicas``' results."""

    replicas: int
    utilization: int
    raw_utilization: int
    timestamp: datetime.datetime


@dataclasses.dataclass(frozen=True)
class UsageReplicas:
    """The results of the AverageValue / Value calculations."""

    replicas: int
    usage: int
    timestamp: datetime.datetime


@dataclasses.dataclass(frozen=True)
class ReplicaCalculator:
    pods: tuple[api.Pod, ...]
    """What the pod lister returns for the target's selector."""
    metrics: api.MetricsSnapshot
    now: datetime.datetime
    cpu_initialization_period_seconds: float = 300.0
    delay_of_initial_readiness_status_seconds: float = 30.0
    namespace: str = "default"

    def get_resource_replicas(
        self, *, current_replicas: int, target_utilization: int, resource: str, tolerances: Tolerances, container: str = ""
    ) -> ResourceReplicas:
        """``GetResourceReplicas``: a Utilization target (percent of request)."""
        try:
            metrics, timestamp = metrics_client.get_resource_metric(
                self.metrics, resource=resource, container=container
            )
        except metrics_client.MetricsError as e:
            raise CalculationError(f"unable to get metrics for resource {resource}: {e}") from e
        pods = self._list_pods()
        groups = self._group_pods(pods, metrics, resource=resource)
        remove_metrics_for_pods(metrics, groups.ignored_pods)
        remove_metrics_for_pods(metrics, groups.unready_pods)
        if not metrics:
            raise CalculationError("did not receive metrics for targeted pods (pods might be unready)")
        requests = calculate_requests(pods, container=container, resource=resource)
        first = _resource_utilization(metrics, requests, target_utilization=target_utilization)

        def result(replicas: int) -> ResourceReplicas:
            return ResourceReplicas(replicas, first.utilization, first.raw_average_value, timestamp)

        scale_up_with_unready = bool(groups.unready_pods) and first.usage_ratio > 1.0
        if not scale_up_with_unready and not groups.missing_pods:
            if tolerances.is_within(first.usage_ratio):
                return result(current_replicas)
            return result(math.ceil(first.usage_ratio * groups.ready_pod_count))

        if groups.missing_pods:
            # On a scale-down a missing pod uses 100 % of its request (or the target if above 100 %),
            # on a scale-up 0 %. At exactly 1.0 the missing pods stay out.
            fallback_utilization = max(100, target_utilization)
            for name in groups.missing_pods:
                if first.usage_ratio < 1.0:
                    metrics[name] = metrics_client.PodMetric(
                        utilization.go_quotient(requests[name] * fallback_utilization, 100)
                    )
                elif first.usage_ratio > 1.0:
                    metrics[name] = metrics_client.PodMetric(0)
        if scale_up_with_unready:
            for name in groups.unready_pods:
                metrics[name] = metrics_client.PodMetric(0)

        new_ratio = _resource_utilization(metrics, requests, target_utilization=target_utilization).usage_ratio
        return result(
            _rebalanced_replicas(
                current_replicas=current_replicas,
                usage_ratio=first.usage_ratio,
                new_usage_ratio=new_ratio,
                metric_count=len(metrics),
                tolerances=tolerances,
            )
        )

    def get_raw_resource_replicas(
        self, *, current_replicas: int, target_usage: int, resource: str, tolerances: Tolerances, container: str = ""
    ) -> UsageReplicas:
        """``GetRawResourceReplicas``: a Resource metric with an AverageValue target."""
        try:
            metrics, timestamp = metrics_client.get_resource_metric(
                self.metrics, resource=resource, container=container
            )
        except metrics_client.MetricsError as e:
            raise CalculationError(f"unable to get metrics for resource {resource}: {e}") from e
        replicas, usage = self.calc_plain_metric_replicas(
            metrics, current_replicas=current_replicas, target_usage=target_usage, tolerances=tolerances, resource=resource
        )
        return UsageReplicas(replicas, usage, timestamp)

    def get_metric_replicas(
        self, *, current_replicas: int, target_usage: int, metric_name: str, tolerances: Tolerances
    ) -> UsageReplicas:
        """``GetMetricReplicas``: a Pods metric (AverageValue over the pods)."""
        try:
            metrics, timestamp = metrics_client.get_raw_metric(self.metrics, metric_name=metric_name)
        except metrics_client.MetricsError as e:
            raise CalculationError(f"unable to get metric {metric_name}: {e}") from e
        replicas, usage = self.calc_plain_metric_replicas(
            metrics, current_replicas=current_replicas, target_usage=target_usage, tolerances=tolerances, resource=""
        )
        return UsageReplicas(replicas, usage, timestamp)

    def calc_plain_metric_replicas(
        self,
        metrics: metrics_client.PodMetricsInfo,
        *,
        current_replicas: int,
        target_usage: int,
        tolerances: Tolerances,
        resource: str,
    ) -> tuple[int, int]:
        """``calcPlainMetricReplicas``: like the Utilization path, averaging raw milli-values."""
        pods = self._list_pods()
        groups = self._group_pods(pods, metrics, resource=resource)
        remove_metrics_for_pods(metrics, groups.ignored_pods)
        remove_metrics_for_pods(metrics, groups.unready_pods)
        if not metrics:
            raise CalculationError("did not receive metrics for targeted pods (pods might be unready)")
        usage_ratio, usage = utilization.get_metric_usage_ratio(metrics, target_usage=target_usage)

        scale_up_with_unready = bool(groups.unready_pods) and usage_ratio > 1.0
        if not scale_up_with_unready and not groups.missing_pods:
            if tolerances.is_within(usage_ratio):
                return current_replicas, usage
            return math.ceil(usage_ratio * groups.ready_pod_count), usage

        # A missing pod uses exactly the target on a scale-down, nothing on a scale-up.
        for name in groups.missing_pods:
            if usage_ratio < 1.0:
                metrics[name] = metrics_client.PodMetric(target_usage)
            elif usage_ratio > 1.0:
                metrics[name] = metrics_client.PodMetric(0)
        if scale_up_with_unready:
            for name in groups.unready_pods:
                metrics[name] = metrics_client.PodMetric(0)

        new_usage_ratio, _ = utilization.get_metric_usage_ratio(metrics, target_usage=target_usage)
        replicas = _rebalanced_replicas(
            current_replicas=current_replicas,
            usage_ratio=usage_ratio,
            new_usage_ratio=new_usage_ratio,
            metric_count=len(metrics),
            tolerances=tolerances,
        )
        return replicas, usage

    def get_object_metric_replicas(
        self,
        *,
        current_replicas: int,
        target_usage: int,
        metric_name: str,
        tolerances: Tolerances,
        object_ref: api.CrossVersionObjectReference,
    ) -> UsageReplicas:
        """``GetObjectMetricReplicas``: an Object metric with a Value target."""
        try:
            usage, timestamp = metrics_client.get_object_metric(self.metrics, metric_name=metric_name)
        except metrics_client.MetricsError as e:
            # Upstream's format string has its arguments in this (odd) order.
            raise CalculationError(
                f"unable to get metric {metric_name}: {object_ref.kind} on {self.namespace} {object_ref.name}/{e}"
            ) from e
        usage_ratio = float(usage) / float(target_usage)
        replicas = self.get_usage_ratio_replica_count(
            current_replicas=current_replicas, usage_ratio=usage_ratio, tolerances=tolerances
        )
        # Upstream drops the sample's timestamp here (it returns a zero time); we keep it.
        return UsageReplicas(replicas, usage, timestamp)

    def get_usage_ratio_replica_count(self, *, current_replicas: int, usage_ratio: float, tolerances: Tolerances) -> int:
        """``getUsageRatioReplicaCount``: ``ceil(ratio × ready pods)``; from 0 replicas ``ceil(ratio)``."""
        if current_replicas == 0:
            # Scale from zero: no tolerance and no pod count.
            return min(math.ceil(usage_ratio), INT32_MAX)
        if tolerances.is_within(usage_ratio):
            return current_replicas
        try:
            ready_pod_count = self.get_ready_pods_count()
        except CalculationError as e:
            raise CalculationError(f"unable to calculate ready pods: {e}") from e
        replica_count = usage_ratio * float(ready_pod_count)
        return INT32_MAX if replica_count > INT32_MAX else math.ceil(replica_count)

    def get_object_per_pod_metric_replicas(
        self,
        *,
        status_replicas: int,
        target_average_usage: int,
        metric_name: str,
        tolerances: Tolerances,
        object_ref: api.CrossVersionObjectReference,
    ) -> UsageReplicas:
        """``GetObjectPerPodMetricReplicas``: an Object metric with an AverageValue target."""
        try:
            usage, timestamp = metrics_client.get_object_metric(self.metrics, metric_name=metric_name)
        except metrics_client.MetricsError as e:
            raise CalculationError(
                f"unable to get metric {metric_name}: {object_ref.kind} on {self.namespace} {object_ref.name}/{e}"
            ) from e
        replicas = status_replicas
        usage_ratio = _go_float_division(float(usage), float(target_average_usage) * float(replicas))
        if not tolerances.is_within(usage_ratio):
            replicas = math.ceil(float(usage) / float(target_average_usage))
        average = _ceil_int64(_go_float_division(float(usage), float(status_replicas)))
        return UsageReplicas(replicas, average, timestamp)

    def get_ready_pods_count(self) -> int:
        """``getReadyPodsCount``: pods that are Running *and* have ``Ready=True``."""
        pods = self._list_pods()
        return sum(1 for pod in pods if pod.phase == api.RUNNING and is_pod_ready(pod))

    def get_external_metric_replicas(
        self,
        *,
        current_replicas: int,
        target_usage: int,
        metric_name: str,
        tolerances: Tolerances,
        selector: api.LabelSelector | None = None,
    ) -> UsageReplicas:
        """``GetExternalMetricReplicas``: an External metric with a Value target (sum of the series)."""
        values, timestamp = self._external_metric(metric_name=metric_name, selector=selector)
        usage = 0
        for value in values:
            # Cap at MaxInt64 on positive overflow, as upstream does.
            if value > 0 and usage > INT64_MAX - value:
                usage = INT64_MAX
                break
            usage += value
        usage_ratio = float(usage) / float(target_usage)
        replicas = self.get_usage_ratio_replica_count(
            current_replicas=current_replicas, usage_ratio=usage_ratio, tolerances=tolerances
        )
        # Upstream drops the sample's timestamp here too; we keep it.
        return UsageReplicas(replicas, usage, timestamp)

    def get_external_per_pod_metric_replicas(
        self,
        *,
        status_replicas: int,
        target_usage_per_pod: int,
        metric_name: str,
        tolerances: Tolerances,
        selector: api.LabelSelector | None = None,
    ) -> UsageReplicas:
        """``GetExternalPerPodMetricReplicas``: an External metric with an AverageValue target."""
        values, timestamp = self._external_metric(metric_name=metric_name, selector=selector)
        usage = 0
        for value in values:
            usage += value
            # Upstream checks "usage < 0" after an int64 addition: overflow (or a negative sum) saturates.
            if usage < 0 or usage > INT64_MAX:
                usage = INT64_MAX
                break
        replicas = status_replicas
        usage_ratio = _go_float_division(float(usage), float(target_usage_per_pod) * float(replicas))
        if not tolerances.is_within(usage_ratio):
            proposal = math.ceil(float(usage) / float(target_usage_per_pod))
            replicas = INT32_MAX if proposal > INT32_MAX else proposal
        if float(usage) >= float(INT64_MAX):
            average = INT64_MAX
        else:
            average = _ceil_int64(_go_float_division(float(usage), float(status_replicas)))
        return UsageReplicas(replicas, average, timestamp)

    def _external_metric(
        self, *, metric_name: str, selector: api.LabelSelector | None
    ) -> tuple[tuple[int, ...], datetime.datetime]:
        try:
            return metrics_client.get_external_metric(self.metrics, metric_name=metric_name)
        except metrics_client.MetricsError as e:
            raise CalculationError(
                f"unable to get external metric {self.namespace}/{metric_name}/{format_label_selector(selector)}: {e}"
            ) from e

    def _list_pods(self) -> tuple[api.Pod, ...]:
        if not self.pods:
            raise CalculationError("no pods returned by selector while calculating replica count")
        return self.pods

    def _group_pods(
        self, pods: tuple[api.Pod, ...], metrics: metrics_client.PodMetricsInfo, *, resource: str
    ) -> GroupedPods:
        return group_pods(
            pods,
            metrics,
            resource=resource,
            cpu_initialization_period_seconds=self.cpu_initialization_period_seconds,
            delay_of_initial_readiness_status_seconds=self.delay_of_initial_readiness_status_seconds,
            now=self.now,
        )


def group_pods(
    pods: tuple[api.Pod, ...],
    metrics: metrics_client.PodMetricsInfo,
    *,
    resource: str,
    cpu_initialization_period_seconds: float,
    delay_of_initial_readiness_status_seconds: float,
    now: datetime.datetime,
) -> GroupedPods:
    """``groupPods``: sort pods into ready (counted), unready, missing and ignored.

    The first matching rule decides: deleted or Failed -> ignored; Pending -> unready; no metric ->
    missing; then, for cpu only, :func:`is_cpu_sample_unready`.
    """
    ready_pod_count = 0
    unready, missing, ignored = set(), set(), set()
    for pod in pods:
        if pod.deletion_timestamp is not None or pod.phase == api.FAILED:
            ignored.add(pod.name)
            continue
        if pod.phase == api.PENDING:
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == api.CPU and is_cpu_sample_unready(
            pod,
            metric,
            cpu_initialization_period_seconds=cpu_initialization_period_seconds,
            delay_of_initial_readiness_status_seconds=delay_of_initial_readiness_status_seconds,
            now=now,
        ):
            unready.add(pod.name)
            continue
        ready_pod_count += 1
    return GroupedPods(ready_pod_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def is_cpu_sample_unready(
    pod: api.Pod,
    metric: metrics_client.PodMetric,
    *,
    cpu_initialization_period_seconds: float,
    delay_of_initial_readiness_status_seconds: float,
    now: datetime.datetime,
) -> bool:
    """The cpu branch of ``groupPods``.

    Without a Ready condition or a start time: unready. Within the initialization period: unready if
    NotReady, or if the sample's window began before the pod became Ready. After it: unready only if
    NotReady and the pod went NotReady within the readiness delay of starting (never been ready).
    """
    condition = pod.ready
    if condition is None or pod.start_time is None:
        return True
    initialization_ends = pod.start_time + datetime.timedelta(seconds=cpu_initialization_period_seconds)
    if initialization_ends > now:
        window = datetime.timedelta(seconds=metric.window_seconds)
        sample_predates_readiness = metric.timestamp is None or (
            metric.timestamp < condition.last_transition_time + window
        )
        return condition.status == api.FALSE or sample_predates_readiness
    readiness_delay_ends = pod.start_time + datetime.timedelta(seconds=delay_of_initial_readiness_status_seconds)
    return condition.status == api.FALSE and readiness_delay_ends > condition.last_transition_time


def is_pod_ready(pod: api.Pod) -> bool:
    """``podutil.IsPodReady``: the Ready condition exists and is True."""
    return pod.ready is not None and pod.ready.status == api.TRUE


def calculate_requests(pods: tuple[api.Pod, ...], *, container: str, resource: str) -> dict[str, int]:
    """``calculateRequests``: each pod's request, pod-level if set (and no container is named)."""
    requests = {}
    for pod in pods:
        if pod.requests and not container:
            requests[pod.name] = calculate_pod_level_requests(pod, resource=resource)
        else:
            requests[pod.name] = calculate_pod_requests_from_containers(pod, container=container, resource=resource)
    return requests


def calculate_pod_level_requests(pod: api.Pod, *, resource: str) -> int:
    """``calculatePodLevelRequests``."""
    requests = pod.requests or {}
    if resource not in requests:
        raise CalculationError(f"missing pod-level request for {resource} in Pod {pod.name}")
    return requests[resource]


def calculate_pod_requests_from_containers(pod: api.Pod, *, container: str, resource: str) -> int:
    """``calculatePodRequestsFromContainers``: sum over containers and sidecars, or the named one."""
    sidecars = tuple(c for c in pod.init_containers if c.restart_policy == "Always")
    request = 0
    for candidate in pod.containers + sidecars:
        if not container or container == candidate.name:
            if resource not in candidate.requests:
                raise CalculationError(
                    f"missing request for {resource} in container {candidate.name} of Pod {pod.name}"
                )
            request += candidate.requests[resource]
        if container == candidate.name:
            return request
    if container:
        raise CalculationError(f"container {container} not found in Pod {pod.name}")
    return request


def remove_metrics_for_pods(metrics: metrics_client.PodMetricsInfo, pods: frozenset[str]) -> None:
    """``removeMetricsForPods`` (mutates, as upstream does)."""
    for name in pods:
        metrics.pop(name, None)


def format_label_selector(selector: api.LabelSelector | None) -> str:
    """A selector as Go's ``%+v`` prints a ``*metav1.LabelSelector`` (it appears in messages)."""
    if selector is None:
        return "nil"
    labels = "".join(f"{key}: {value}," for key, value in sorted(selector.match_labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{r.key},Operator:{r.operator},Values:[{' '.join(r.values)}],}},"
        for r in selector.match_expressions
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )


def _resource_utilization(
    metrics: metrics_client.PodMetricsInfo, requests: dict[str, int], *, target_utilization: int
) -> utilization.ResourceUtilization:
    try:
        return utilization.get_resource_utilization_ratio(metrics, requests, target_utilization=target_utilization)
    except utilization.UtilizationError as e:
        raise CalculationError(str(e)) from e


def _rebalanced_replicas(
    *, current_replicas: int, usage_ratio: float, new_usage_ratio: float, metric_count: int, tolerances: Tolerances
) -> int:
    """The tail shared by both calculations once missing and unready pods were filled in."""
    if (
        tolerances.is_within(new_usage_ratio)
        or (usage_ratio < 1.0 and new_usage_ratio > 1.0)
        or (usage_ratio > 1.0 and new_usage_ratio < 1.0)
    ):
        # The change would be too small, or the filled-in pods flip the direction of scaling.
        return current_replicas
    new_replicas = math.ceil(new_usage_ratio * metric_count)
    if (new_usage_ratio < 1.0 and new_replicas > current_replicas) or (
        new_usage_ratio > 1.0 and new_replicas < current_replicas
    ):
        # The number of metrics (e.g. a rolling update's surge) would flip the direction.
        return current_replicas
    return new_replicas


def _go_float_division(numerator: float, denominator: float) -> float:
    """float64 division as Go does it: ±Inf or NaN instead of an exception when dividing by zero."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0 or math.isnan(numerator):
        return math.nan
    return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)


def _ceil_int64(value: float) -> int:
    """``int64(math.Ceil(x))``. Go's conversion is undefined outside the int64 range (and for NaN or
    ±Inf, e.g. an AverageValue metric at 0 replicas); we saturate at MaxInt64 instead."""
    if not math.isfinite(value):
        return INT64_MAX
    return min(max(math.ceil(value), -INT64_MAX - 1), INT64_MAX)
