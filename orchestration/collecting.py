"""What a run keeps from Prometheus: named range queries dumped as JSON into ``prometheus/``.

Series are kept per process (counters are never summed across replicas or proxies here), so the
analysis can take increases series by series and survive a process that comes, goes or restarts
mid-run. Before the dump the runner waits until no request is in flight in any replica
(:func:`wait_until_drained`: a queue can outlive the load) and for one more scrape of every target
after that (:func:`wait_for_final_scrape`), so the last counter values hold every request. A run whose
Prometheus was gone at the end is dumped afterwards from its TSDB by a temporary server
(:func:`dump_from_tsdb`): the samples are on disk in ``prometheus/tsdb`` either way.
"""
from __future__ import annotations

import json
import math
import pathlib
import time

from deploy.local import ports as ports_module
from deploy.local import processes
from deploy.prometheus import client as prometheus_client
from deploy.prometheus import render as prometheus_render

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
    "cpu_seconds": f"sum by (service, replica) (process_cpu_seconds_total{{{prometheus_client.app_selector()}}})",
    "up": "max by (job, instance, service, replica, proxy) (up)",
    "envoy_pending_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_pending_overflow)",
    "envoy_active_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_active_overflow)",
    "envoy_cx_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_cx_overflow)",
    "envoy_ejections": "sum by (envoy_cluster_name) (envoy_cluster_outlier_detection_ejections_enforced_total)",
    "envoy_retries": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_retry)",
    "envoy_timeouts": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_timeout)",
    "envoy_healthy": "sum by (envoy_cluster_name) (envoy_cluster_membership_healthy)",
    "envoy_rq_xx": "sum by (envoy_cluster_name, envoy_response_code_class) (envoy_cluster_upstream_rq_xx)",
    # flow conservation (analysis/verdicts/validity.py): what each proxy received, forwarded and answered itself
    "envoy_downstream_rq": ('sum by (envoy_http_conn_manager_prefix) '
                            '(envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix!="admin"})'),
    "envoy_upstream_rq": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_total)",
    "envoy_none_healthy": "sum by (envoy_cluster_name) (envoy_cluster_upstream_cx_none_healthy)",
    # what a proxy's fault filter answered itself (a scheduled dependency-abort fault)
    "envoy_fault_aborts": "sum by (envoy_http_conn_manager_prefix) (envoy_http_fault_aborts_injected)",
    "downstream_count": "sum by (service, replica, target, code) (tailstorm_downstream_duration_seconds_count)",
    # retries by layer (analysis/verdicts/checks.py): each caller's attempts by number, what its retry
    # policy withheld, and what Envoy's retry limit refused or its per-try timeout cut
    "downstream_attempts": ("sum by (service, replica, target, code, attempt) "
                            "(tailstorm_downstream_duration_seconds_count)"),
    "downstream_withheld": "sum by (service, replica, target, reason) (tailstorm_downstream_withheld_total)",
    "envoy_retry_overflow": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_retry_overflow)",
    "envoy_per_try_timeouts": "sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_per_try_timeout)",
}
MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series


def dump_ranges(prometheus_url: str, out_dir: pathlib.Path, *, start: float, end: float) -> list[str]:
    """Dump every query over [start, end]; return the names that failed (the others are kept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    step = max(1, math.ceil((end - start) / MAX_POINTS))
    failed = []
    with prometheus_client.Prometheus(prometheus_url, timeout_seconds=30) as prometheus:
        for name, query in QUERIES.items():
            try:
                result = prometheus.range(query, start=start, end=end, step=step)
            except prometheus_client.PrometheusError:
                failed.append(name)
                continue
            document = {"query": query, "start": start, "end": end, "step": step, "result": result}
            (out_dir / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")
    return failed


def wait_until_drained(prometheus_url: str, *, after: float, timeout_seconds: float,
                       poll_seconds: float = 0.2) -> float:
    """Wait until a scrape at or after ``after`` shows no request in flight in any replica; return
    how many were still in flight at the last scrape seen (0: drained; NaN: nothing scraped after it).

    Locust is stopped, but the services may still be working: a queue that outlived its callers'
    timeouts drains at the service's own rate. Counting only then keeps "forwarded" and "counted"
    comparable in the flow check; a stack that does not drain in time leaves its in-flight count in
    the dump, and the check allows for it."""
    deadline = time.monotonic() + timeout_seconds
    remaining = math.nan
    with prometheus_client.Prometheus(prometheus_url, timeout_seconds=2) as prometheus:
        while True:
            try:
                scraped = prometheus.last_scrape("")
                if scraped is not None and scraped >= after:
                    samples = prometheus.instant("sum(tailstorm_requests_in_flight)")
                    remaining = samples[0][1] if samples else 0.0
            except prometheus_client.PrometheusError:
                pass
            if remaining == 0 or time.monotonic() >= deadline:
                return remaining
            time.sleep(poll_seconds)


def wait_for_final_scrape(prometheus_url: str, *, after: float, timeout_seconds: float = 10.0) -> bool:
    """Wait until Prometheus has scraped every live target at or after ``after`` (epoch seconds).

    Returns False if that did not happen in time (a target stopped answering, Prometheus is gone);
    the dump then holds what was scraped before, and the analysis' flow check says how much is missing.
    """
    deadline = time.monotonic() + timeout_seconds
    with prometheus_client.Prometheus(prometheus_url, timeout_seconds=2) as prometheus:
        while time.monotonic() < deadline:
            try:
                oldest = prometheus.last_scrape("")
            except prometheus_client.PrometheusError:
                oldest = None
            if oldest is not None and oldest >= after:
                return True
            time.sleep(0.2)
    return False


def dump_from_tsdb(run_dir: pathlib.Path, *, prometheus_bin: str, start: float, end: float,
                   ports: ports_module.PortAllocator | None = None) -> list[str]:
    """Dump a finished run's series from its TSDB through a temporary Prometheus that scrapes nothing.

    Returns the names that failed, as :func:`dump_ranges` does; raises BackendError if the
    temporary server does not come up.
    """
    tsdb = run_dir / "prometheus" / "tsdb"
    if not tsdb.is_dir():
        raise processes.BackendError(f"{tsdb} is missing: this run kept no Prometheus data to recover")
    allocator = ports or ports_module.PortAllocator()
    port = allocator.allocate(what="the recovery Prometheus")
    config = run_dir / "backend" / "prometheus-recovery.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("global: {}\n", encoding="utf-8")
    process = processes.ManagedProcess(
        name="prometheus-recovery", log_path=run_dir / "backend" / "prometheus-recovery.log",
        argv=[prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
              f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=7d",
              f"--query.lookback-delta={prometheus_render.LOOKBACK_SECONDS}s", "--log.level=warn"])
    url = f"http://127.0.0.1:{port}"
    try:
        with prometheus_client.Prometheus(url, timeout_seconds=2) as prometheus:
            processes.wait_until(prometheus.is_ready, timeout_seconds=60, what="the recovery Prometheus to open the TSDB",
                                 failed=lambda: None if process.is_running() else process.log_tail())
        return dump_ranges(url, run_dir / "prometheus", start=start, end=end)
    finally:
        process.stop(grace_seconds=10)
        if ports is None:
            allocator.close()
