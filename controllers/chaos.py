"""The fault schedule executor: the scenario's ``faults`` applied at their times through the backend.

A scenario lists faults (schema/scenario.py ``FAULT_KINDS``): each starts ``at_seconds`` after the
first load stage began and holds for ``duration_seconds``. The executor has the shape of the
autoscaler: a pure part, tested without processes, and a loop around it.

- **pure**: :func:`plan` orders the starts and ends; :func:`pick_pods` chooses the replicas a fault
  hits (all, a count, or a share rounded up, drawn with the scenario's seed); :func:`compose` is the
  ``FaultState`` a replica holds while several faults overlap on it, :func:`proxy_settings` what a
  service's Envoy fault filter holds;
- **loop**: :class:`FaultExecutor` waits in a thread until the first stage begins, applies each due
  step through the backend's fault members (deploy/backend.py) and writes a ``fault`` event with
  ``phase`` ``start`` or ``end`` (schema/events.py), so validity knows the damage was intended and
  every plot shades the window. A fault the backend cannot apply is a ``failed`` event and a
  one-line warning; the run goes on. ``stop`` ends every fault still active (``cut_short``) before
  the stack goes down.

The executor imports no backend: it is handed one, local or cluster, and uses only the protocol.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from schema import events as events_module

logger = logging.getLogger(__name__)

START, END, FAILED = events_module.FAULT_START, events_module.FAULT_END, events_module.FAULT_FAILED
REPLICA_STATE_KINDS = ("latency", "error-rate", "gpu-slow", "gpu-stall", "cpu-hog")
"""Faults a replica applies itself (its admin API's ``FaultState``)."""
PROXY_KINDS = ("dependency-abort", "dependency-delay")
"""Faults the service's Envoy applies (its fault filter)."""
TICK_SECONDS = 0.05
"""How often the loop looks for due steps: a fault starts at most this late (plus the backend's time)."""


# -- the pure part ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Step:
    """A fault's start or end, due ``at_seconds`` after the first stage began."""

    at_seconds: float
    fault: int
    """Index in the scenario's ``faults``."""
    step: str
    """START or END."""


def plan(faults) -> list[Step]:
    """Every start and end in the order to apply them: by time; at one moment, faults that end go
    before faults that start (a replica is cleared before it is faulted again), and a fault lasting
    0 s (a kill replaced at once) ends right after it started."""
    def rank(step: Step) -> int:
        if step.step == START:
            return 1
        return 2 if faults[step.fault].duration_seconds == 0 else 0
    steps = [Step(f.at_seconds, i, START) for i, f in enumerate(faults)]
    steps += [Step(f.at_seconds + f.duration_seconds, i, END) for i, f in enumerate(faults)]
    return sorted(steps, key=lambda s: (s.at_seconds, rank(s), s.fault))


def pick_pods(fault, candidates: list[str], *, seed: int, index: int) -> list[str]:
    """The pods ``fault`` hits among ``candidates``: all of them, ``replicas`` of them, or
    ``replica_share`` of them rounded up; a count beyond the candidates takes them all. The draw is
    seeded by the scenario's seed and the fault's index, so a rerun hits the same positions."""
    names = sorted(candidates)
    if fault.replicas is None and fault.replica_share is None:
        return names
    wanted = fault.replicas if fault.replicas is not None else math.ceil(fault.replica_share * len(names) - 1e-9)
    return sorted(random.Random(f"{seed}/faults/{index}").sample(names, min(wanted, len(names))))


def replica_fields(fault) -> dict[str, Any]:
    """The ``FaultState`` fields (services/common/faults.py) a replica-state fault sets."""
    return {
        "latency": lambda: {"extra_latency_seconds": fault.extra_latency_seconds},
        "error-rate": lambda: {"error_probability": fault.error_probability},
        "gpu-slow": lambda: {"gpu_clock_factor": fault.gpu_clock_factor},
        "gpu-stall": lambda: {"gpu_stalled": True},
        "cpu-hog": lambda: {"cpu_hog_cores": fault.cpu_hog_cores},
    }[fault.kind]()


def compose(faults) -> dict[str, Any]:
    """The whole ``FaultState`` of a replica that these faults hit at once (``{}``: none). The
    schema lets no two faults of one kind overlap on a service, so their fields never collide."""
    state: dict[str, Any] = {}
    for fault in faults:
        state.update(replica_fields(fault))
    return state


def proxy_settings(faults) -> dict[str, Any]:
    """What a service's Envoy fault filter holds while these ``dependency-*`` faults are active
    (all zero: idle), as ``set_proxy_faults`` takes it."""
    settings: dict[str, Any] = {"abort_percent": 0, "abort_status": 503, "delay_percent": 0, "delay_seconds": 0.0}
    for fault in faults:
        if fault.kind == "dependency-abort":
            settings.update(abort_percent=fault.percent, abort_status=fault.http_status or 503)
        elif fault.kind == "dependency-delay":
            settings.update(delay_percent=fault.percent, delay_seconds=fault.delay_seconds)
    return settings


# -- the loop ----------------------------------------------------------------------------------------

class CannotApply(Exception):
    """The fault cannot be applied now (e.g. no replica of the service runs); the message says why."""


@dataclasses.dataclass
class Active:
    """A fault that started: the pods it hit and when."""

    pods: list[str]
    started: float
    scheduled_time: float


class FaultExecutor:
    """Runs one scenario's fault schedule against a backend, from ``start`` to ``stop``."""

    def __init__(self, *, scenario, backend, events: events_module.EventLog,
                 first_stage_start: Callable[[], float | None], warn: Callable[[str], None] = logger.warning,
                 clock: Callable[[], float] = time.time, tick_seconds: float = TICK_SECONDS) -> None:
        self.faults = tuple(scenario.faults)
        self.seed = scenario.seed
        self.backend = backend
        self.events = events
        self.first_stage_start = first_stage_start
        """Epoch seconds the first stage began, or None before it has."""
        self.warn = warn
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.steps = plan(self.faults)
        self.done = 0
        """Steps applied (or failed) so far, in ``steps`` order."""
        self.active: dict[int, Active] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-executor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and end every fault still active (cut short; killed pods are not replaced,
        the stack is going down)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            for index in sorted(self.active):
                self._end(index, cut_short=True)

    def _run(self) -> None:
        while not self._stopping.wait(self.tick_seconds):
            try:
                origin = self.first_stage_start()
            except (OSError, ValueError) as exc:  # the phase log is being written: look again next tick
                logger.debug("first stage start not readable yet: %s", exc)
                continue
            if origin is not None:
                self.step(origin)
            if self.done == len(self.steps):
                return

    def step(self, origin: float) -> None:
        """Apply every step due by now, the first stage having begun at ``origin`` (epoch seconds)."""
        with self._lock:
            while self.done < len(self.steps) and not self._stopping.is_set():
                step = self.steps[self.done]
                if origin + step.at_seconds > self.clock():
                    return
                self.done += 1
                if step.step == START:
                    self._start(step.fault, scheduled_time=origin + step.at_seconds)
                elif step.fault in self.active:
                    self._end(step.fault, cut_short=False)

    # -- one fault -----------------------------------------------------------------------------------

    def _start(self, index: int, *, scheduled_time: float) -> None:
        fault = self.faults[index]
        try:
            pods = self._apply(index, fault)
        except Exception as exc:  # noqa: BLE001 — whatever the backend raised, the run goes on; the event says why
            self._failed(index, "start", exc)
            self._undo_quietly(index, fault)
            return
        now = self.clock()
        self.active[index] = Active(pods=pods, started=now, scheduled_time=scheduled_time)
        self.events.emit(events_module.FAULT, time_seconds=now, phase=START, **self._describe(index),
                         pods=pods, parameters=fault.parameters, at_seconds=fault.at_seconds,
                         duration_seconds=fault.duration_seconds, scheduled_time=scheduled_time,
                         late_seconds=round(now - scheduled_time, 3))

    def _end(self, index: int, *, cut_short: bool) -> None:
        fault, active = self.faults[index], self.active.pop(index)
        try:
            if not (cut_short and fault.kind == "kill"):
                self._clear(index, fault, active.pods)
        except Exception as exc:  # noqa: BLE001 — as in _start: recorded, warned, the run goes on
            self._failed(index, "end", exc)
            return
        self.events.emit(events_module.FAULT, time_seconds=self.clock(), phase=END, **self._describe(index),
                         pods=active.pods, started=active.started, scheduled_time=active.scheduled_time,
                         cut_short=cut_short)

    def _apply(self, index: int, fault) -> list[str]:
        """Make the fault happen; returns the pods it hit (none for a proxy fault)."""
        if fault.kind in PROXY_KINDS:
            self.backend.set_proxy_faults(fault.service, **proxy_settings(self._active_on(fault.service, PROXY_KINDS)
                                                                          + [fault]))
            return []
        statuses = self.backend.pod_statuses(fault.service)
        running = [p["name"] for p in statuses if p["phase"] == "Running"
                   and (p["ready"] or fault.kind != "partition")]  # only a pod in the endpoints can be cut off
        pods = pick_pods(fault, running, seed=self.seed, index=index)
        if not pods:
            raise CannotApply(f"no {'ready' if fault.kind == 'partition' else 'running'} replica of {fault.service}")
        self.active[index] = Active(pods=pods, started=self.clock(), scheduled_time=0.0)  # for compose, and an undo
        if fault.kind == "kill":
            return self.backend.kill_pods(fault.service, pods)
        if fault.kind == "partition":
            return self.backend.set_partitioned(fault.service, pods, partitioned=True)
        applied = []
        for pod in pods:  # one call per pod: each holds the faults of every fault that hit it
            applied += self.backend.set_faults(fault.service, compose(self._active_on_pod(fault.service, pod)),
                                               pods=[pod])
        return applied

    def _clear(self, index: int, fault, pods: list[str]) -> None:
        """Undo the fault (``index`` no longer active): replace killed pods, clear states and filters."""
        if fault.kind == "kill":
            if pods:
                self.backend.replace_pods(fault.service, len(pods))
        elif fault.kind == "partition":
            self.backend.set_partitioned(fault.service, pods, partitioned=False)
        elif fault.kind in PROXY_KINDS:
            self.backend.set_proxy_faults(fault.service, **proxy_settings(self._active_on(fault.service, PROXY_KINDS)))
        else:
            for pod in pods:  # a pod gone since is skipped by the backend
                self.backend.set_faults(fault.service, compose(self._active_on_pod(fault.service, pod)), pods=[pod])

    def _undo_quietly(self, index: int, fault) -> None:
        """After a failed start: clear what part of it took effect (a kill cannot be undone)."""
        active = self.active.pop(index, None)
        if fault.kind == "kill":
            return
        try:
            self._clear(index, fault, active.pods if active else [])
        except Exception as exc:  # noqa: BLE001 — the failure is already recorded; this is best effort
            logger.warning("could not undo the failed fault %d: %s", index, exc)

    def _active_on(self, service: str, kinds: tuple[str, ...]) -> list:
        return [self.faults[i] for i in sorted(self.active)
                if self.faults[i].service == service and self.faults[i].kind in kinds]

    def _active_on_pod(self, service: str, pod: str) -> list:
        return [self.faults[i] for i, a in sorted(self.active.items())
                if self.faults[i].service == service and self.faults[i].kind in REPLICA_STATE_KINDS and pod in a.pods]

    def _failed(self, index: int, step: str, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        self.events.emit(events_module.FAULT, time_seconds=self.clock(), phase=FAILED, **self._describe(index),
                         step=step, reason=reason)
        self.warn(f"fault {index} ({self.faults[index].label}) could not {step}: {reason.splitlines()[0]}")

    def _describe(self, index: int) -> dict:
        fault = self.faults[index]
        return {"fault": index, "kind": fault.kind, "service": fault.service, "label": fault.label}
