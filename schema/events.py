"""The event vocabulary both backends write to a run's ``events.jsonl``.

One JSON object per line: ``{"time": <UTC epoch seconds>, "type": <one of TYPES>, ...}``. The
local backend, the cluster recorder and the runner all write through :class:`EventLog`, so the
analysis reads one format whatever produced it. Lines are flushed as they are written: a run that
crashes keeps every event up to the crash.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

# Run lifecycle (the runner).
RUN_STARTED = "run_started"
RUN_FINISHED = "run_finished"
PHASE = "phase"  # a load stage begins: {phase, arrival_rate_per_second}
# Replica lifecycle (backends). Pod phases follow the HPA-lag timeline's vocabulary.
SCALE = "scale"  # {service, from_replicas, to_replicas, reason}
POD_CREATED = "pod_created"  # {service, pod}
POD_SCHEDULED = "pod_scheduled"
POD_STARTED = "pod_started"  # container (process) started
POD_READY = "pod_ready"  # readiness passed; Envoy may now send traffic
POD_FIRST_REQUEST = "pod_first_request"
POD_DRAINING = "pod_draining"  # removed from endpoints, finishing accepted requests
POD_DELETED = "pod_deleted"  # process gone after a clean drain
POD_DIED = "pod_died"  # exited on its own: {service, pod, returncode}
# Autoscaling (controllers).
HPA_DECISION = "hpa_decision"  # {service, current_replicas, desired_replicas, metrics}
METRIC_CROSSED_TARGET = "metric_crossed_target"
HPA_SYNC_FAILED = "hpa_sync_failed"  # the metrics could not be read: {service, reason} (FailedGetPodsMetric)
P99_RECOVERED = "p99_recovered"
# Chaos: the fault executor (controllers/chaos.py) writes one ``fault`` event when a scheduled fault
# starts and one when it ends, told apart by ``phase``:
#   {phase: "start", fault, kind, service, label, pods, parameters, at_seconds, duration_seconds, scheduled_time}
#   {phase: "end", fault, kind, service, label, pods, started}        (``cut_short`` if the run stopped first)
#   {phase: "failed", fault, kind, service, label, step: "start"|"end", reason}   (could not be applied)
# ``fault`` is the index in the scenario's ``faults``; ``pods`` the replicas it hit (empty for a proxy
# fault); ``time`` is when the backend had applied it, ``scheduled_time`` when it was due (epoch s).
# Older runs wrote ``{service, kind}`` without ``phase``: readers treat that as an instant fault.
FAULT = "fault"
FAULT_START, FAULT_END, FAULT_FAILED = "start", "end", "failed"
# The testbed's own parts (Envoys, Prometheus, Locust): not the system under test.
PROCESS_DIED = "process_died"  # {process, role, service, returncode, log_tail}
PROCESS_RECOVERED = "process_recovered"  # restarted and serving again: {process, role, service, down_since, restarts}

TYPES = frozenset({
    RUN_STARTED, RUN_FINISHED, PHASE, SCALE, POD_CREATED, POD_SCHEDULED, POD_STARTED, POD_READY,
    POD_FIRST_REQUEST, POD_DRAINING, POD_DELETED, POD_DIED, HPA_DECISION, METRIC_CROSSED_TARGET,
    P99_RECOVERED, FAULT, PROCESS_DIED, PROCESS_RECOVERED, HPA_SYNC_FAILED,
})


class EventLog:
    """Append-only, thread-safe JSONL writer; each event is on disk when ``emit`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, type_: str, *, time_seconds: float | None = None, **fields: Any) -> dict:
        if type_ not in TYPES:
            raise ValueError(f"unknown event type {type_!r}; known: {sorted(TYPES)}")
        event = {"time": time.time() if time_seconds is None else time_seconds, "type": type_, **fields}
        line = json.dumps(event, sort_keys=True)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()
        return event

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_events(path: Path) -> list[dict]:
    """All events of a run in file order; a torn last line (crash mid-write) is skipped."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
