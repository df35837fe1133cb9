"""What a run keeps from Prometheus: named range queries dumped as JSON into ``prometheus/``.

Series are kept per replica (counters are never summed across replicas here), so the analysis can
take increases series by series and survive a replica that comes or goes mid-run.
"""
from __future__ import annotations

import json
import math
import pathlib

import httpx

APP = 'job="tailstorm-app"'
QUERIES = {
    "request_count": "sum by (service, replica, code) (tailstorm_request_duration_seconds_count)",
    "request_sum": "sum by (service, replica, code) (tailstorm_request_duration_seconds_sum)",
    "request_bucket": "sum by (service, replica, le) (tailstorm_request_duration_seconds_bucket)",
    "work_count": "sum by (service, replica) (tailstorm_work_duration_seconds_count)",
    "work_sum": "sum by (service, replica) (tailstorm_work_duration_seconds_sum)",
    "work_bucket": "sum by (service, replica, le) (tailstorm_work_duration_seconds_bucket)",
    "in_flight": "sum by (service, replica) (tailstorm_requests_in_flight)",
    "queue_depth": "sum by (service, replica) (tailstorm_queue_depth)",
    "busy_servers": "sum by (service, replica) (tailstorm_busy_servers)",
    "servers": "sum by (service, replica) (tailstorm_servers)",
    "ready": "sum by (service, replica) (tailstorm_ready)",
    "shed": "sum by (service, replica, reason) (tailstorm_shed_total)",
    "cpu_seconds": f"sum by (service, replica) (process_cpu_seconds_total{{{APP}}})",
    "up": f"sum by (service, replica) (up{{{APP}}})",
    "envoy_pending_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_pending_overflow)",
    "envoy_active_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_active_overflow)",
    "envoy_cx_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_cx_overflow)",
    "envoy_ejections": "sum by (envoy_cluster_name) (envoy_cluster_outlier_detection_ejections_enforced_total)",
    "envoy_retries": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_retry)",
    "envoy_timeouts": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_timeout)",
    "envoy_healthy": "sum by (envoy_cluster_name) (envoy_cluster_membership_healthy)",
    "envoy_rq_xx": "sum by (envoy_cluster_name, envoy_response_code_class) (envoy_cluster_upstream_rq_xx)",
}
MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series


def dump_ranges(prometheus_url: str, out_dir: pathlib.Path, *, start: float, end: float) -> list[str]:
    """Dump every query over [start, end]; return the names that failed (the others are kept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    step = max(1, math.ceil((end - start) / MAX_POINTS))
    failed = []
    with httpx.Client(timeout=30) as client:
        for name, query in QUERIES.items():
            try:
                response = client.get(f"{prometheus_url}/api/v1/query_range",
                                      params={"query": query, "start": start, "end": end, "step": step})
                response.raise_for_status()
                result = response.json()["data"]["result"]
            except (httpx.HTTPError, KeyError, ValueError):
                failed.append(name)
                continue
            document = {"query": query, "start": start, "end": end, "step": step, "result": result}
            (out_dir / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")
    return failed


def instant(prometheus_url: str, query: str, *, client: httpx.Client) -> dict[str, float]:
    """An instant query as {first label value: value}; {} when Prometheus cannot answer."""
    try:
        result = client.get(f"{prometheus_url}/api/v1/query", params={"query": query}).json()["data"]["result"]
    except (httpx.HTTPError, KeyError, ValueError):
        return {}
    return {next(iter(item["metric"].values()), ""): float(item["value"][1]) for item in result}
