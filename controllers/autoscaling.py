"""The local backend's HorizontalPodAutoscaler: observe → decide (controllers/hpa) → act → record.

Every sync period, per autoscaled service (the scenario's ``autoscaling`` block):

- **observe**: the pods as the API would list them (phase, Ready condition and its transition,
  ``startTime``: :meth:`LocalBackend.pod_statuses`), and the metrics a cluster's metrics APIs would
  serve, read from the run's Prometheus with the same PromQL:

  - cpu (metrics-server): per replica ``rate(process_cpu_seconds_total[W])`` as usage, stamped with
    the newest sample's time and window ``W``; a replica with fewer than two samples has no value
    (a *missing* pod, as in metrics-server);
  - Pods metrics (prometheus-adapter): the scenario's PromQL per replica, stamped with the query
    time and window ``W``;

- **decide**: build the decision input of docs/hpa-decide.md and call ``horizontal.reconcile``; the
  controller's memory (``decision.history``) is passed to the next sync;
- **act**: ``backend.scale`` when the decision rescales (a scale-up returns at once, the pods
  start in the backend's lifecycle thread; a scale-down drains in this thread, so the next sync
  waits for the drain — the real controller's write returns at once);
- **record**: each sync's full input and decision as one line of ``autoscaler/syncs.jsonl`` (so
  it can be replayed through the pure algorithm), an ``hpa_decision`` event per rescale, and a
  ``metric_crossed_target`` event when a metric's average goes from at-or-below to above its target
  (the time of the first 1 s Prometheus point above it since the previous sync).
"""
from __future__ import annotations

import json
import logging
import math
import pathlib
import threading
import time
from typing import Any


from controllers.hpa import codec, horizontal, quantity
from deploy.prometheus import client as prometheus_client
from schema import events as events_module

logger = logging.getLogger(__name__)

CONTAINER = "app"
SYNCS_PATH = pathlib.Path("autoscaler") / "syncs.jsonl"


def cpu_usage_query(service: str, window_seconds: float) -> str:
    """Per replica cpu cores used over the window: metrics-server's ΔcpuSeconds / Δt."""
    return f'rate(process_cpu_seconds_total{{{prometheus_client.app_selector(service=service)}}}[{window_seconds:g}s])'


def cpu_timestamp_query(service: str) -> str:
    """Per replica time of the newest cpu sample (metrics-server's ``timestamp``)."""
    return f'timestamp(process_cpu_seconds_total{{{prometheus_client.app_selector(service=service)}}})'


def pods_metric_expression(name: str, *, selector: str, window_seconds: float) -> str:
    """A Pods metric per replica: the gauge averaged over the window. The one PromQL both HPAs read:
    here with ``service="..."``, in prometheus-adapter's rules (deploy/prometheus/adapter.py) with
    its ``<<.Series>>`` and ``<<.LabelMatchers>>`` placeholders."""
    return f"avg_over_time({name}{{{selector}}}[{window_seconds:g}s])"


def pods_metric_query(spec, service: str, name: str) -> str:
    """The PromQL an adapter would run for Pods metric ``name`` (the scenario's, or a default)."""
    window = spec.controller.metric_window_seconds
    return spec.queries.get(name) or pods_metric_expression(name, selector=f'service="{service}"', window_seconds=window)


def first_above(prometheus: prometheus_client.Prometheus, query: str, *, threshold: float, start: float,
                end: float) -> float | None:
    """The first 1 s point in [start, end] where the single-series ``query`` exceeds ``threshold``."""
    for series in prometheus.range(query, start=start, end=end, step=1):
        for moment, value in series["values"]:
            if float(value) > threshold:
                return float(moment)
    return None


def controller_document(spec) -> dict:
    flags = spec.controller
    return {"syncPeriodSeconds": flags.sync_period_seconds, "tolerance": flags.tolerance,
            "cpuInitializationPeriodSeconds": flags.cpu_initialization_period_seconds,
            "initialReadinessDelaySeconds": flags.initial_readiness_delay_seconds,
            "downscaleStabilizationSeconds": flags.downscale_stabilization_seconds}


def pod_document(status: dict, *, cpu_request: str, cpu: tuple[float, float] | None, window: float) -> dict:
    """One pod as docs/hpa-decide.md takes it; ``cpu`` is (cores, sample time) or None (missing)."""
    pod: dict[str, Any] = {"name": status["name"], "phase": status["phase"],
                           "containers": [{"name": CONTAINER, "requests": {"cpu": cpu_request}}]}
    if status["start_time"] is not None:
        pod["startTime"] = status["start_time"]
    if status["ready"]:
        pod["ready"] = {"status": "True", "lastTransitionTime": status["ready_since"]}
    elif status["unready_since"] is not None:
        pod["ready"] = {"status": "False", "lastTransitionTime": status["unready_since"]}
    if cpu is not None:
        cores, sampled_at = cpu
        pod["metrics"] = {"timestamp": sampled_at, "window": window,
                          "containers": [{"name": CONTAINER, "usage": {"cpu": f"{math.ceil(cores * 1e9)}n"}}]}
    return pod


def observe(*, service: str, spec, pods: list[dict], current_replicas: int, prometheus: prometheus_client.Prometheus, now: float,
            history: dict | None) -> dict:
    """The decision input of one sync: spec, pods with cpu samples, Pods metric values, memory."""
    window = spec.controller.metric_window_seconds
    names = {pod["name"] for pod in pods}
    wants_cpu = any(m.get("type") == "Resource" and m.get("resource", {}).get("name") == "cpu" for m in spec.metrics)
    cpu: dict[str, tuple[float, float]] = {}
    if wants_cpu:
        usage = prometheus.by_label(cpu_usage_query(service, window), "replica", at=now)
        stamps = prometheus.by_label(cpu_timestamp_query(service), "replica", at=now)
        cpu = {name: (usage[name], stamps[name]) for name in usage if name in stamps}
    document: dict[str, Any] = {
        "now": now, "spec": spec.hpa_spec(), "currentReplicas": current_replicas,
        "controller": controller_document(spec),
        "pods": [pod_document(p, cpu_request=spec.cpu_request, cpu=cpu.get(p["name"]), window=window) for p in pods],
    }
    pods_metrics = {}
    for metric in spec.metrics:
        if metric.get("type") != "Pods":
            continue
        name = metric["pods"]["metric"]["name"]
        values = prometheus.by_label(pods_metric_query(spec, service, name), "replica", at=now)
        # the adapter answers for the pods the selector matches now; a drained replica's series
        # may linger in Prometheus for the window, but it is no longer a pod of the target
        pods_metrics[name] = {"timestamp": now, "windowSeconds": window,
                              "values": {pod: f"{math.ceil(value * 1000)}m" for pod, value in values.items()
                                         if pod in names and math.isfinite(value)}}
    if pods_metrics:
        document["podsMetrics"] = pods_metrics
    if history is not None:
        document["history"] = history
    return document


def metric_levels(spec, service: str, decision: horizontal.Decision) -> list[dict]:
    """Per metric: its target, the current average the decision computed (what the HPA's
    ``status.currentMetrics`` would show; None where the metric failed), and an aggregate PromQL of it."""
    window = spec.controller.metric_window_seconds
    levels = []
    for metric, proposal in zip(spec.metrics, decision.metrics):
        current = proposal.current if proposal.error is None else None
        if metric.get("type") == "Pods":
            name = metric["pods"]["metric"]["name"]
            value = current.average_value / 1000 if current and current.average_value is not None else None
            levels.append({"metric": name, "target": quantity.milli_value(metric["pods"]["target"]["averageValue"]) / 1000,
                           "value": value, "aggregate": f"avg({pods_metric_query(spec, service, name)})"})
        elif metric.get("type") == "Resource" and metric["resource"]["name"] == "cpu" \
                and metric["resource"]["target"].get("type") == "Utilization":
            request_cores = quantity.milli_value(spec.cpu_request) / 1000
            value = float(current.average_utilization) if current and current.average_utilization is not None else None
            levels.append({"metric": "cpu", "target": float(metric["resource"]["target"]["averageUtilization"]),
                           "value": value,
                           "aggregate": f"100 * avg({cpu_usage_query(service, window)}) / {request_cores:g}"})
    return levels


class Autoscaler:
    """One thread running every autoscaled service's HPA until :meth:`stop`."""

    def __init__(self, *, scenario, backend, events: events_module.EventLog, run_dir: pathlib.Path) -> None:
        self.scenario = scenario
        self.backend = backend
        self.events = events
        self.syncs_path = pathlib.Path(run_dir) / SYNCS_PATH
        self.prometheus = prometheus_client.Prometheus(backend.prometheus_url)
        self.history: dict[str, dict | None] = {service: None for service in scenario.autoscaling}
        self.above: dict[tuple[str, str], bool] = {}
        self.last_sync: dict[str, float] = {}
        self.sync_count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.scenario.autoscaling:
            return
        self.syncs_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="autoscaler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.prometheus.close()

    def _run(self) -> None:
        due = {service: time.monotonic() for service in self.scenario.autoscaling}
        while not self._stop.is_set():
            service = min(due, key=due.get)
            if self._stop.wait(max(0.0, due[service] - time.monotonic())):
                return
            period = self.scenario.autoscaling[service].controller.sync_period_seconds
            due[service] += period
            if due[service] < time.monotonic():  # a slow sync: keep the period, drop missed ticks
                due[service] = time.monotonic() + period
            try:
                self.sync_once(service)
            except prometheus_client.PrometheusError as exc:
                # as the HPA controller does when the metrics API fails (a FailedGetPodsMetric
                # Event, no rescale): record it and try again next period
                logger.warning("autoscaler sync of %s could not read its metrics: %s", service, exc)
                self.events.emit(events_module.HPA_SYNC_FAILED, service=service, reason=str(exc))
            except Exception:
                # As kube-controller-manager does with a failed sync (it records the error and
                # requeues the HPA), log and try again next period: a failed scale must not end
                # autoscaling for the rest of the run.
                logger.exception("autoscaler sync of %s failed; retrying next period", service)

    def sync_once(self, service: str, *, now: float | None = None) -> dict:
        """One sync of one service's HPA: observe, decide, act, record; returns the record."""
        spec = self.scenario.autoscaling[service]
        now = time.time() if now is None else now
        document = observe(service=service, spec=spec, pods=self.backend.pod_statuses(service),
                           current_replicas=self.backend.replica_count(service), prometheus=self.prometheus,
                           now=now, history=self.history[service])
        decision = horizontal.reconcile(codec.decode_state(document))
        encoded = codec.encode_decision(decision)
        levels = metric_levels(spec, service, decision)
        with self._lock:
            self.sync_count += 1
            record = {"service": service, "sync": self.sync_count, "time": now, "input": document,
                      "decision": encoded, "levels": [{k: v for k, v in lv.items() if k != "aggregate"}
                                                      for lv in levels]}
            with open(self.syncs_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._note_crossings(service, levels, now)
        self.history[service] = encoded["history"]
        self.last_sync[service] = now
        if decision.rescale:
            self.events.emit(events_module.HPA_DECISION, service=service, current_replicas=decision.current_replicas,
                             desired_replicas=decision.desired_replicas, reason=decision.rescale_reason,
                             metrics=encoded["metrics"], sync=record["sync"], sync_time=now)
            self.backend.scale(service, decision.desired_replicas, reason=f"hpa: {decision.rescale_reason}")
        return record

    def _note_crossings(self, service: str, levels: list[dict], now: float) -> None:
        period = self.scenario.autoscaling[service].controller.sync_period_seconds
        for level in levels:
            key = (service, level["metric"])
            above = level["value"] is not None and level["value"] > level["target"]
            if above and not self.above.get(key, False):
                since = self.last_sync.get(service, now - period)
                try:
                    crossed = first_above(self.prometheus, level["aggregate"], threshold=level["target"],
                                                          start=since, end=now)
                except prometheus_client.PrometheusError:
                    crossed = None  # fall back to the sync that saw it
                self.events.emit(events_module.METRIC_CROSSED_TARGET, time_seconds=crossed or now, service=service,
                                 metric=level["metric"], value=level["value"], target=level["target"],
                                 seen_at_sync=now)
            self.above[key] = above
