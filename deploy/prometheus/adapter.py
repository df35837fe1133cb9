"""prometheus-adapter rules: the cluster's Pods metrics, from the same PromQL as the local HPA.

The local autoscaler reads a Pods metric per replica as
``controllers.autoscaling.pods_metric_expression`` (the gauge averaged over the metric window);
on a cluster the HPA asks the custom metrics API, which prometheus-adapter answers by running its
``metricsQuery`` on the cluster's Prometheus. The rule built here is that same expression with the
adapter's placeholders, summed per pod (one series per pod; the sum only drops other labels).

``make cluster-up`` installs the adapter with ``python -m deploy.prometheus.adapter URL`` as its
Helm values. The adapter runs cluster-wide, so it uses the controller's default metric window; a
scenario that sets another ``controller.metric_window_seconds`` or its own ``queries`` gets the
same HPA on a cluster only if the adapter is reinstalled with matching rules.
"""
from __future__ import annotations

import argparse
import re
import sys

import yaml

from controllers import autoscaling
from schema import scenario as scenario_module

SERVED_METRICS = (
    "tailstorm_requests_in_flight",
    "tailstorm_queue_depth",
    "tailstorm_busy_servers",
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc",
)
"""Gauges served as Pods metrics: in-flight, queue and busy servers of every service, and the
vLLM-style engine gauges of ``work: gpu`` replicas. Every Pods metric of the catalog is among them
(a test checks it)."""
WINDOW_SECONDS = scenario_module.AutoscalerController().metric_window_seconds


def metrics_query(window_seconds: float = WINDOW_SECONDS) -> str:
    """The adapter's ``metricsQuery``: the local Pods-metric PromQL with the adapter's placeholders."""
    expression = autoscaling.pods_metric_expression("<<.Series>>", selector="<<.LabelMatchers>>",
                                                    window_seconds=window_seconds)
    return f"sum by (<<.GroupBy>>) ({expression})"


def series_query(names: tuple[str, ...] = SERVED_METRICS) -> str:
    """Which series the adapter discovers: the served gauges, on pods Prometheus found in a namespace."""
    pattern = "|".join(re.escape(name) for name in names)
    return f'{{__name__=~"^({pattern})$",namespace!="",pod!=""}}'


def rules(window_seconds: float = WINDOW_SECONDS) -> list[dict]:
    return [{
        "seriesQuery": series_query(),
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": "^(.*)$", "as": "${1}"},
        "metricsQuery": metrics_query(window_seconds),
    }]


def helm_values(prometheus_url: str) -> dict:
    """Values for the prometheus-community/prometheus-adapter chart: our rules only."""
    match = re.fullmatch(r"(?P<url>https?://[^:/]+)(?::(?P<port>\d+))?(?P<path>/.*)?", prometheus_url)
    if match is None:
        raise ValueError(f"prometheus URL {prometheus_url!r} is not http(s)://host[:port][/path]")
    return {
        "prometheus": {"url": match["url"], "port": int(match["port"] or 80), "path": match["path"] or ""},
        # the adapter lists series every relist interval: a new pod's metric is served after it
        "metricsRelistInterval": "15s",
        "rules": {"default": False, "custom": rules(), "external": [], "resource": {}},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print prometheus-adapter Helm values with tailstorm's rules.")
    parser.add_argument("prometheus_url", help="the cluster Prometheus, e.g. http://prometheus.tailstorm.svc:9090")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(yaml.safe_dump(helm_values(args.prometheus_url), sort_keys=False))
    except ValueError as exc:
        print(f"adapter: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
