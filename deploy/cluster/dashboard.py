"""The Grafana dashboard of a cluster run: the report's plots as live panels.

Each panel reads the series the run keeps (``orchestration.collecting.QUERIES``) as a rate or a level,
so what a student watches during a kind run is what the report later shows: latency quantiles,
throughput and errors, in-flight requests, ready replicas, utilisation, retries, breaker overflows
and ejections. The chart ships the JSON in a ConfigMap labelled for Grafana's dashboard sidecar.
Windows are fixed (Prometheus scrapes every second), so every expression is plain PromQL that
``promtool`` parses in the tests.
"""
from __future__ import annotations

from deploy.prometheus import client as prometheus_client

RATE_WINDOW = "15s"

PANELS = (
    ("Server-side p99 latency (s)", "histogram_quantile(0.99, sum by (service, le) "
     f"(rate(tailstorm_request_duration_seconds_bucket[{RATE_WINDOW}])))", "s"),
    ("Server-side p50 latency (s)", "histogram_quantile(0.5, sum by (service, le) "
     f"(rate(tailstorm_request_duration_seconds_bucket[{RATE_WINDOW}])))", "s"),
    ("Throughput by status (req/s)", "sum by (service, code) "
     f"(rate(tailstorm_request_duration_seconds_count[{RATE_WINDOW}]))", "reqps"),
    ("In-flight requests", "sum by (service) (tailstorm_requests_in_flight)", "short"),
    ("Ready replicas", "sum by (service) (tailstorm_ready)", "short"),
    ("Utilisation (busy / servers)", "sum by (service) (tailstorm_busy_servers) / sum by (service) (tailstorm_servers)",
     "percentunit"),
    ("Queue depth", "sum by (service) (tailstorm_queue_depth)", "short"),
    ("Shed (req/s)", f"sum by (service, reason) (rate(tailstorm_shed_total[{RATE_WINDOW}]))", "reqps"),
    ("Envoy retries (req/s)", f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_retry[{RATE_WINDOW}]))",
     "reqps"),
    ("Breaker overflow: pending (req/s)",
     f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_pending_overflow[{RATE_WINDOW}]))", "reqps"),
    ("Breaker overflow: max_requests (req/s)",
     f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_active_overflow[{RATE_WINDOW}]))", "reqps"),
    ("Outlier ejections (per s)",
     f"sum by (envoy_cluster_name) (rate(envoy_cluster_outlier_detection_ejections_enforced_total[{RATE_WINDOW}]))",
     "short"),
    ("Healthy upstream hosts", "sum by (envoy_cluster_name) (envoy_cluster_membership_healthy)", "short"),
    ("CPU per replica (cores)", f"sum by (service, replica) (rate(process_cpu_seconds_total{{{prometheus_client.app_selector()}}}"
     f"[{RATE_WINDOW}]))", "short"),
)


def expressions() -> list[str]:
    return [expression for _, expression, _ in PANELS]


def dashboard() -> dict:
    """A Grafana dashboard (schemaVersion 39) with one time-series panel per entry of PANELS."""
    panels = []
    for index, (title, expression, unit) in enumerate(PANELS):
        panels.append({
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expression, "legendFormat": "__auto"}],
        })
    return {
        "uid": "tailstorm",
        "title": "tailstorm",
        "tags": ["tailstorm"],
        "schemaVersion": 39,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }
