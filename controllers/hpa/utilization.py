"""``pkg/controller/podautoscaler/metrics/utilization.go``: the two usage ratios, in integer arithmetic.

Both divide with Go's truncating integer division *before* converting to float, so a ratio is always
a whole percent (Utilization) or a whole milli-unit (AverageValue) over the target. Python integers
do not overflow, which matches the current upstream code (it falls back to ``big.Int`` on overflow).
"""
from __future__ import annotations

import dataclasses

from controllers.hpa import metrics_client

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
INT64_MAX = 2**63 - 1


class UtilizationError(Exception):
    """No usable (metric, request) pair."""


@dataclasses.dataclass(frozen=True)
class ResourceUtilization:
    usage_ratio: float
    utilization: int
    """Whole percent of request, truncated."""
    raw_average_value: int
    """Mean milli-value over the pods that have a request."""


def go_quotient(numerator: int, denominator: int) -> int:
    """Go's integer ``/``: truncates toward zero (Python's ``//`` floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def get_resource_utilization_ratio(
    metrics: metrics_client.PodMetricsInfo, requests: dict[str, int], *, target_utilization: int
) -> ResourceUtilization:
    """``GetResourceUtilizationRatio``: ``int(100 * Σusage / Σrequest) / target``, over pods with a request."""
    pairs = [(metric.value, requests[name]) for name, metric in metrics.items() if name in requests]
    metrics_total = sum(value for value, _ in pairs)
    requests_total = sum(request for _, request in pairs)
    # If the set of requests is disjoint from the set of metrics, the requests total is zero.
    if requests_total == 0:
        raise UtilizationError("no metrics returned matched known pods")
    # The percentage is an int32; newer upstream clamps to the rails instead of wrapping.
    utilization = min(max(go_quotient(metrics_total * 100, requests_total), INT32_MIN), INT32_MAX)
    return ResourceUtilization(
        usage_ratio=float(utilization) / float(target_utilization),
        utilization=utilization,
        raw_average_value=go_quotient(metrics_total, len(pairs)),
    )


def get_metric_usage_ratio(metrics: metrics_client.PodMetricsInfo, *, target_usage: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: ``int(Σvalue / n) / target``, over *every* metric in the map."""
    current_usage = go_quotient(sum(metric.value for metric in metrics.values()), len(metrics))
    return float(current_usage) / float(target_usage), current_usage
