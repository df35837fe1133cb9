"""The HPA-lag timeline of a run, per scale-up, and how it compares with the lag model.

For every scale-up decision (``hpa_decision`` with more replicas) in ``events.jsonl``, the moments:

==========================  ==================================================================
stage                       event
==========================  ==================================================================
``load_step``               the latest rise of the schedule at or before the decision: a ``phase``
                            event whose (mean) arrival rate is above the previous phase's, or a
                            jump of the rate inside a stage (``scenario.json``'s ``rate_steps``: a
                            square wave's high half, a spike's peak, a burst)
``metric_crossed``          the first ``metric_crossed_target`` of the service in [step, decision]
``hpa_decision``            the decision itself
``pod_created`` …           ``pod_created``, ``pod_scheduled``, ``pod_started``, ``pod_ready``,
``pod_first_request``       ``pod_first_request`` of the first new pod to become Ready (the model's
                            "first new capacity"); every new pod's times are kept too
``p99_recovered``           the first end of a sliding window (``P99_WINDOW_SECONDS``, by completion
                            time) after ``pod_ready`` whose end-to-end p99 is at or under the SLO;
                            a failed request counts as infinitely slow (it is not a good event of
                            the SLO), so fast 503s from a tripped breaker do not look like recovery
==========================  ==================================================================

:func:`comparison_rows` lines the measured stage durations up against ``lagmodel.hpa_lag_budget``
with this run's settings and with the cluster defaults; the seed lab's 30 s constant is judged
once, from this timeline, among the seed rows (analysis/verdicts/checks.py). Pure: events,
request (finish time, latency) pairs and the resolved scenario dict in; plain data out.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from analysis.formulas import lagmodel

DEFAULT_SLO_P99_SECONDS = 1.0
"""End-to-end p99 threshold when the scenario has no ``slo`` block (with one, its
``end_to_end.latency_seconds`` at its ``objective`` quantile is used): 1 s, a common
interactive-API p99 objective, and well under the chain's per-hop timeouts (4–5 s), so "back under
it" means requests are served again rather than timing out in queues."""
P99_WINDOW_SECONDS = 5.0
"""Sliding window of the p99 series: at the spike's rates, a few hundred requests per window."""
P99_STEP_SECONDS = 1.0
PROMETHEUS_SCRAPE_SECONDS = 1.0
"""The local Prometheus scrapes every second (deploy/prometheus/render.py)."""
PROCESS_BOOT_SECONDS = 0.9
"""uvicorn + the service's imports until /readyz can answer: 0.77–0.97 s (three spawns of the
inference app, first 200 from /readyz, idle 2-core dev machine, 2026-11); added to the service's
``ready_after_seconds`` as the model's application boot."""

STAGES = ("load_step", "metric_crossed", "hpa_decision", "pod_created", "pod_scheduled", "pod_started", "pod_ready",
          "pod_first_request", "p99_recovered")
POD_STAGES = ("pod_created", "pod_scheduled", "pod_started", "pod_ready", "pod_first_request")


@dataclasses.dataclass(frozen=True)
class ScaleUp:
    """One scale-up's timeline; times are UTC epoch seconds, None where the run shows no such event."""

    service: str
    from_replicas: int
    to_replicas: int
    times: Mapping[str, float | None]
    """Stage name (``STAGES``) → time."""
    pods: Mapping[str, Mapping[str, float | None]]
    """Every pod this decision created → its pod-stage times."""
    slo_p99_seconds: float
    load_step_phase: str | None = None
    """The phase whose start is the load step."""

    @property
    def lag_seconds(self) -> float | None:
        """The HPA lag: from the load step to the first new replica Ready."""
        return self.measured("load_step", "pod_ready")

    def intervals(self) -> list[tuple[str, float, float]]:
        """(from → to label, start, end) between consecutive measured stages, seconds since the step."""
        origin = self.times.get("load_step")
        known = sorted(((name, self.times[name]) for name in STAGES if self.times.get(name) is not None),
                       key=lambda item: item[1])  # stable: stages at the same moment keep their order
        if origin is None or len(known) < 2:
            return []
        return [(f"{a} → {b}", ta - origin, tb - origin) for (a, ta), (b, tb) in zip(known, known[1:])]

    def measured(self, start: str, end: str) -> float | None:
        a, b = self.times.get(start), self.times.get(end)
        return None if a is None or b is None else b - a


def p99_series(requests: Iterable[tuple[float, float]], *, window_seconds: float = P99_WINDOW_SECONDS,
               step_seconds: float = P99_STEP_SECONDS, quantile: float = 0.99) -> list[tuple[float, float]]:
    """(window end, p99 latency) over sliding windows of requests by completion time (nearest rank).

    ``requests`` are (finish time, latency) pairs; give a failed request ``math.inf`` as latency.
    """
    done = sorted(requests)
    if not done:
        return []
    finishes = [finished for finished, _ in done]
    series = []
    end = finishes[0] + window_seconds
    while end <= finishes[-1] + step_seconds:
        lo, hi = bisect.bisect_left(finishes, end - window_seconds), bisect.bisect_right(finishes, end)
        latencies = sorted(latency for _, latency in done[lo:hi])
        if latencies:
            series.append((end, latencies[max(0, math.ceil(quantile * len(latencies)) - 1)]))
        end += step_seconds
    return series


def scale_ups(events: Sequence[Mapping[str, Any]], *, p99: Sequence[tuple[float, float]] = (),
              slo_p99_seconds: float = DEFAULT_SLO_P99_SECONDS,
              rate_steps: Sequence[Sequence[Sequence[float]] | None] = ()) -> list[ScaleUp]:
    """Every scale-up decision's timeline, oldest first. ``rate_steps`` is ``scenario.json``'s
    (per stage, the offsets where the rate jumps up); without it only phases are load steps."""
    events = sorted(events, key=lambda e: e["time"])
    steps = _load_steps(events, rate_steps)
    decisions = [e for e in events if e["type"] == "hpa_decision"]
    result = []
    for index, decision in enumerate(decisions):
        if decision["desired_replicas"] <= decision["current_replicas"]:
            continue
        service, at = decision["service"], decision["time"]
        later = [d["time"] for d in decisions[index + 1:] if d["service"] == service]
        until = later[0] if later else math.inf
        step, step_phase = max(((t, name) for t, name in steps if t <= at), key=lambda s: s[0], default=(None, None))
        crossed = next((e["time"] for e in events if e["type"] == "metric_crossed_target"
                        and e["service"] == service and (step is None or e["time"] >= step) and e["time"] <= at), None)
        created = [e["pod"] for e in events if e["type"] == "pod_created" and e["service"] == service
                   and at <= e["time"] < until]
        pods = {pod: {stage: next((e["time"] for e in events if e["type"] == stage and e.get("pod") == pod), None)
                      for stage in POD_STAGES} for pod in created}
        first = min(pods.values(), key=lambda p: (p["pod_ready"] is None, p["pod_ready"] or 0.0), default=None)
        times: dict[str, float | None] = {"load_step": step, "metric_crossed": crossed, "hpa_decision": at}
        times.update({stage: (first or {}).get(stage) for stage in POD_STAGES})
        ready = times["pod_ready"]
        times["p99_recovered"] = None if ready is None else next(
            (end for end, value in p99 if end >= ready and value <= slo_p99_seconds), None)
        result.append(ScaleUp(service, decision["current_replicas"], decision["desired_replicas"], times, pods,
                              slo_p99_seconds, step_phase))
    return result


def _load_steps(events: Sequence[Mapping[str, Any]],
                rate_steps: Sequence[Sequence[Sequence[float]] | None] = ()) -> list[tuple[float, str | None]]:
    """(time, phase) of phases whose arrival rate is above the previous phase's, and of every jump
    up of the rate inside a phase (its offset in ``rate_steps`` after the phase's start), in time order."""
    steps, previous = set(), None
    for event in events:
        if event["type"] != "phase":
            continue
        rate = event.get("arrival_rate_per_second")
        if previous is not None and rate is not None and rate > previous:
            steps.add((event["time"], event.get("phase")))
        previous = rate if rate is not None else previous
        index = event.get("index")
        jumps = rate_steps[index] if index is not None and index < len(rate_steps) else None
        steps.update((event["time"] + jump[0], event.get("phase")) for jump in jumps or ())
    return sorted(steps, key=lambda step: step[0])


def crossing_fraction(*, before: float | None, after: float | None, target: float) -> float:
    """φ = (target − before) / (after − before), clamped to [0, 1]; 0 when a level is unknown."""
    if before is None or after is None or after <= before:
        return 0.0
    return min(1.0, max(0.0, (target - before) / (after - before)))


def model_budgets(scenario: Mapping[str, Any], service: str, *, from_replicas: int = 1,
                  to_replicas: int = 1, crossing: float = 0.0) -> dict[str, lagmodel.LagBudget]:
    """The lag model with this scenario's settings, and with the cluster defaults (docs/hpa-decide.md).

    Locally the metric comes from Prometheus (1 s scrapes) through an ``avg_over_time``/``rate``
    window ``W``, not metrics-server: after a step the windowed value ramps linearly over ``W``, so
    it crosses the target φ·W after the step, plus half a scrape of sample age (no U[0, R) phase:
    the window slides continuously). φ is ``crossing`` (see :func:`crossing_fraction`).
    """
    autoscaling = scenario.get("autoscaling", {}).get(service, {})
    controller = autoscaling.get("controller", {})
    pods = scenario.get("pods", {})
    spec = scenario.get("services", {}).get(service, {})
    window = controller.get("metric_window_seconds", 15.0)
    local = lagmodel.hpa_lag_budget(
        metric_pipeline_seconds=crossing * window + PROMETHEUS_SCRAPE_SECONDS / 2,
        sync_period_seconds=controller.get("sync_period_seconds", 15.0),
        current_replicas=from_replicas, desired_replicas=max(from_replicas, to_replicas),
        api_seconds=0.0,  # the local scale() creates the pod in the same call
        scheduling_seconds=pods.get("scheduling_delay_seconds", 0.5),
        container_start_seconds=pods.get("container_start_seconds", 2.0),
        app_boot_seconds=spec.get("ready_after_seconds", 0.0) + PROCESS_BOOT_SECONDS,
        readiness_initial_delay_seconds=pods.get("readiness_initial_delay_seconds", 0.0),
        readiness_period_seconds=pods.get("readiness_period_seconds", 10.0),
    )
    return {"model (this run's settings)": local, "model (cluster defaults)": lagmodel.hpa_lag_budget()}


MEASURED_TERMS = (
    ("metric_pipeline_seconds", "load_step", "metric_crossed"),
    ("sync_pickup_seconds", "metric_crossed", "hpa_decision"),
    ("api_scheduling_seconds", "hpa_decision", "pod_scheduled"),
    ("container_start_seconds", "pod_scheduled", "pod_started"),
    ("readiness_seconds", "pod_started", "pod_ready"),
)


def comparison_rows(scale_up: ScaleUp, scenario: Mapping[str, Any], *, crossing: float = 0.0) -> list[dict[str, Any]]:
    """One row per lag-model term plus the total: measured, and the two model budgets.

    The model's stabilization and rate-limit terms have no separate measurement: they are inside
    "sync pickup" (crossing → the decision that rescales).
    """
    budgets = model_budgets(scenario, scale_up.service, from_replicas=scale_up.from_replicas,
                            to_replicas=scale_up.to_replicas, crossing=crossing)
    measured = {term: scale_up.measured(a, b) for term, a, b in MEASURED_TERMS}
    rows = []
    for term in lagmodel.LagBudget.__dataclass_fields__:
        row = {"term": term, "measured_seconds": measured.get(term)}
        row.update({name: budget.terms()[term] for name, budget in budgets.items()})
        rows.append(row)
    total = {"term": "total (step → ready)", "measured_seconds": scale_up.lag_seconds}
    total.update({name: budget.total_seconds for name, budget in budgets.items()})
    rows.append(total)
    return rows


def timeline(events: Sequence[Mapping[str, Any]], requests: Iterable[tuple[float, float]],
             scenario: Mapping[str, Any], *, level=None) -> dict[str, Any]:
    """Everything the report needs: each scale-up's times, stage intervals and comparison rows.

    ``level(service, start, end)``, when given, is the autoscaling metric's mean per pod over
    [start, end]; it estimates the crossing fraction φ of the model's metric-pipeline term.
    """
    declared = scenario.get("slo") or {}
    slo = declared.get("end_to_end", {}).get("latency_seconds", DEFAULT_SLO_P99_SECONDS)
    quantile = declared.get("objective", 0.99)
    ups = scale_ups(events, p99=p99_series(requests, quantile=quantile), slo_p99_seconds=slo,
                    rate_steps=scenario.get("rate_steps") or ())
    rows = []
    for up in ups:
        step, decided = up.times["load_step"], up.times["hpa_decision"]
        crossing, target = 0.0, _target(events, up)
        if level is not None and step is not None and target is not None:
            window = scenario.get("autoscaling", {}).get(up.service, {}).get("controller", {}).get(
                "metric_window_seconds", 15.0)
            crossing = crossing_fraction(before=level(up.service, step - window, step),
                                         after=level(up.service, step, min(decided, step + window)), target=target)
        rows.append({"service": up.service, "from_replicas": up.from_replicas, "to_replicas": up.to_replicas,
                     "load_step_phase": up.load_step_phase, "lag_seconds": up.lag_seconds, "times": dict(up.times), "pods": {k: dict(v) for k, v in up.pods.items()},
                     "crossing_fraction": crossing, "intervals": up.intervals(),
                     "comparison": comparison_rows(up, scenario, crossing=crossing)})
    return {"slo_p99_seconds": slo, "slo_quantile": quantile, "scale_ups": rows}


def _target(events: Sequence[Mapping[str, Any]], up: ScaleUp) -> float | None:
    crossed = up.times.get("metric_crossed")
    return next((e.get("target") for e in events if e["type"] == "metric_crossed_target"
                 and e["service"] == up.service and e["time"] == crossed), None)


def from_run(run) -> dict[str, Any]:
    """:func:`timeline` for an ``extract.Run``: sent requests by completion time (failures as ∞),
    and, for an in-flight Pods metric, its per-pod level from the run's ``in_flight`` dump."""
    from analysis.tables import extract  # noqa: PLC0415 (only the adapter from a run needs it)
    requests = [(r.finished, r.latency_seconds if r.outcome == "ok" else math.inf)
                for r in run.requests if r.outcome != "client_overflow"]

    def level(service: str, start: float, end: float) -> float | None:
        metrics = run.scenario.get("autoscaling", {}).get(service, {}).get("metrics", [])
        if not any(m.get("pods", {}).get("metric", {}).get("name") == "tailstorm_requests_in_flight" for m in metrics):
            return None
        means = [extract.gauge_mean(s, start, end) for s in extract.select(run.series.get("in_flight", []),
                                                                           service=service)]
        means = [m for m in means if m is not None]
        return sum(means) / len(means) if means else None

    return timeline(run.events, requests, run.scenario, level=level)


REPORT_HEADER = ["term", "measured s", "model (this run's settings) s", "model (cluster defaults) s"]


def report_sections(summary: Mapping[str, Any]) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """(title, sentence, header, rows) per measured scale-up, in the report's section shape."""
    def text(value) -> str:
        return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.1f}"

    document = summary.get("hpa_lag_timeline") or {}
    sections = []
    for up in document.get("scale_ups", []):
        if not up["intervals"]:
            continue
        rows = [[row["term"], text(row["measured_seconds"]), text(row["model (this run's settings)"]),
                 text(row["model (cluster defaults)"])] for row in up["comparison"]]
        times = up["times"]
        for label, start, end in (("ready → first request served", "pod_ready", "pod_first_request"),
                                  ("ready → p99 under the SLO", "pod_ready", "p99_recovered")):
            measured = None if times[start] is None or times[end] is None else times[end] - times[start]
            rows.append([label, text(measured), "–", "–"])
        quantile = 100 * document.get("slo_quantile", 0.99)
        sentence = (f"Measured stage by stage (events.jsonl) against the lag model (analysis/formulas/lagmodel.py) with this "
                    f"run's settings (crossing fraction φ = {up['crossing_fraction']:.2f}) and with cluster defaults "
                    f"(the seed's 30 s constant is judged among the seed rows). Stabilization and rate limits are "
                    f"inside the measured sync pickup. "
                    f"SLO: end-to-end p{quantile:g} ≤ {document['slo_p99_seconds']:g} s, failures counted as "
                    f"violations.")
        sections.append((f"HPA lag: {up['service']} {up['from_replicas']} → {up['to_replicas']}", sentence,
                         REPORT_HEADER, rows))
    return sections
