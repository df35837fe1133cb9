"""RED metrics every service exports, built on a registry passed in (one per app, one per test).

Names follow Prometheus conventions (base units, ``_seconds``, ``_total``). Server-side durations
cover a request's whole stay in the replica (queueing + work + downstream calls), so Little's law
L = λW holds between ``tailstorm_requests_in_flight`` and ``tailstorm_request_duration_seconds``.
"""
from __future__ import annotations

import dataclasses

import prometheus_client

from services.common import settings as settings_module


@dataclasses.dataclass(frozen=True)
class ServiceMetrics:
    request_duration: prometheus_client.Histogram
    in_flight: prometheus_client.Gauge
    queue_depth: prometheus_client.Gauge
    busy_servers: prometheus_client.Gauge
    servers: prometheus_client.Gauge
    ready: prometheus_client.Gauge
    work_duration: prometheus_client.Histogram
    shed: prometheus_client.Counter
    downstream_duration: prometheus_client.Histogram
    downstream_withheld: prometheus_client.Counter
    faults: prometheus_client.Counter
    unready_requests: prometheus_client.Counter
    tenant_rejected: prometheus_client.Counter


def create_metrics(
    settings: settings_module.ServiceSettings, registry: prometheus_client.CollectorRegistry
) -> ServiceMetrics:
    buckets = settings.histogram_buckets
    work_buckets = settings_module.log_buckets(
        low=settings.service_time.mean_seconds / 50, high=settings.service_time.mean_seconds * 50
    )
    metrics = ServiceMetrics(
        request_duration=prometheus_client.Histogram(
            "tailstorm_request_duration_seconds",
            "Server-side time from arrival to response: queueing, work and downstream calls.",
            ["service", "route", "code"], buckets=buckets, registry=registry,
        ),
        in_flight=prometheus_client.Gauge(
            "tailstorm_requests_in_flight", "Requests inside this replica (queued, working or calling).",
            ["service"], registry=registry,
        ),
        queue_depth=prometheus_client.Gauge(
            "tailstorm_queue_depth", "Admitted requests waiting for a server.", ["service"], registry=registry,
        ),
        busy_servers=prometheus_client.Gauge(
            "tailstorm_busy_servers", "Servers currently working on a request.", ["service"], registry=registry,
        ),
        servers=prometheus_client.Gauge(
            "tailstorm_servers", "Servers in this replica (c per replica).", ["service"], registry=registry,
        ),
        ready=prometheus_client.Gauge(
            "tailstorm_ready", "1 while this replica's readiness probe passes.", ["service"], registry=registry,
        ),
        work_duration=prometheus_client.Histogram(
            "tailstorm_work_duration_seconds", "Time a server spent on one request (the service time S).",
            ["service"], buckets=work_buckets, registry=registry,
        ),
        shed=prometheus_client.Counter(
            "tailstorm_shed_total", "Requests refused: queue full (503) or deadline expired in queue (504).",
            ["service", "reason"], registry=registry,
        ),
        downstream_duration=prometheus_client.Histogram(
            "tailstorm_downstream_duration_seconds",
            "Client-side time of one downstream attempt (label attempt: 0 for the first try, N for retry N).",
            ["service", "target", "code", "attempt"], buckets=buckets, registry=registry,
        ),
        downstream_withheld=prometheus_client.Counter(
            "tailstorm_downstream_withheld_total",
            "Downstream attempts the retry policy did not send: throttled locally, retry budget spent, no time "
            "left (services/common/retrying.py).", ["service", "target", "reason"], registry=registry,
        ),
        faults=prometheus_client.Counter(
            "tailstorm_faults_injected_total", "Requests answered by an injected fault.",
            ["service", "kind"], registry=registry,
        ),
        unready_requests=prometheus_client.Counter(
            "tailstorm_unready_requests_total",
            "Requests that arrived while readiness was failing: traffic the proxy should not have sent.",
            ["service"], registry=registry,
        ),
        tenant_rejected=prometheus_client.Counter(
            "tailstorm_tenant_rejected_total",
            "Requests answered 429 at once because their tenant held its bulkhead's limit of this replica's "
            "requests (tenant_limits; the tenants are the scenario's client classes, a handful).",
            ["service", "tenant"], registry=registry,
        ),
    )
    for tenant in settings.tenant_limits:  # a capped tenant's count reads 0, not absent, until it is refused
        metrics.tenant_rejected.labels(settings.service, tenant)
    metrics.servers.labels(settings.service).set(settings.servers)
    return metrics
