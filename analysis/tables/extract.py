"""Reading a run directory into flat records: requests, phases, events and Prometheus series.

I/O and reshaping only, no judgement: the measurements, the comparisons and the report work on
what these functions return. Reads the resolved scenario as data (``scenario.json``), never by
importing the scenario code, so analysis stays independent of services, controllers and Locust.

:func:`load_run` reads everything once into a :class:`Run`. The tidy tables — one row per request
(:class:`Request`), per service and scrape (:class:`ServicePoint`) and per event
(:class:`EventRow`) — are cut to a measurement window with :func:`within_window`, so a learner can
load them into any dataframe library without knowing Prometheus.
"""
from __future__ import annotations

import bisect
import csv
import dataclasses
import json
import math
import pathlib

from schema import events as events_module


class RunDataError(Exception):
    """A run directory lacks what the analysis needs; the message says which file."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One client request, all its attempts folded: latency runs from the *intended* start."""

    intended_start: float
    finished: float
    latency_seconds: float
    status: int
    attempts: int
    phase: str
    outcome: str
    send_lag_seconds: float = 0.0
    """How late the first attempt left the client after its intended start (the generator's lag)."""
    answered_attempts: int = 0
    """Attempts that got an HTTP status (the others never reached a proxy, or timed out on the way)."""
    accepted_attempts: int = 0
    """Attempts answered below 500 (what adaptive throttling counts as accepted)."""
    withheld: str = ""
    """Why the client's retry policy did not send the request's next attempt (one of
    WITHHELD_OUTCOMES), or "" when it did not hold one back."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    start: float
    end: float
    arrival_rate_per_second: float | None
    """The stage's mean rate; None for a closed-loop client, which follows no schedule."""
    expected_curve: tuple[tuple[float, float], ...] | None = None
    """[(offset from the phase start, expected arrivals before it), …] from ``scenario.json``'s
    ``expected_arrivals`` (read linearly); None for runs that predate it (then rate × time)."""

    def expected_arrivals(self, start: float, end: float) -> float | None:
        """Arrivals the scenario's schedule expects in [start, end) of this phase; None without a schedule."""
        if self.expected_curve:
            return (expected_before(self.expected_curve, end - self.start)
                    - expected_before(self.expected_curve, start - self.start))
        if self.arrival_rate_per_second is None:
            return None
        return self.arrival_rate_per_second * (end - start)

    def window(self, *, warmup_seconds: float, cooldown_seconds: float) -> tuple[float, float]:
        """The measured part of the phase; the whole phase if it is too short to trim."""
        start, end = self.start + warmup_seconds, self.end - cooldown_seconds
        return (start, end) if end > start else (self.start, self.end)


@dataclasses.dataclass(frozen=True)
class Series:
    labels: dict
    times: tuple[float, ...]
    values: tuple[float, ...]


def expected_before(curve: tuple[tuple[float, float], ...], offset: float) -> float:
    """The curve's expected arrivals before ``offset``: linear between its points; at a point where
    it jumps (a burst), the value before the jump."""
    times = [t for t, _ in curve]
    index = bisect.bisect_left(times, offset)
    if index == 0:
        return curve[0][1]
    if index == len(curve):
        return curve[-1][1]
    (t0, c0), (t1, c1) = curve[index - 1], curve[index]
    if t1 == offset:
        return c1
    return c0 + (c1 - c0) * (offset - t0) / (t1 - t0)


def read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunDataError(f"{path} is missing; is this a tailstorm run directory?") from exc


def read_scenario(run_dir: pathlib.Path) -> dict:
    return read_json(run_dir / "scenario.json")


def read_events(run_dir: pathlib.Path) -> list[dict]:
    """The run's events in time order (schema/events.py reads the file; a torn last line is skipped)."""
    path = run_dir / "events.jsonl"
    return sorted(events_module.read_events(path), key=lambda e: e["time"]) if path.exists() else []


def read_phases(run_dir: pathlib.Path, scenario: dict, events: list[dict],
                requests: list[Request] | None = None) -> list[Phase]:
    """Phases as they actually ran: start from the ``phase`` events, length from the scenario, cut
    at the end of the run (``run_finished``) or, for a run whose runner died, at the last moment
    anything was measured, so a truncated phase's rates count only the time it ran."""
    stages = scenario["stages"]
    curves = scenario.get("expected_arrivals") or [None] * len(stages)
    starts = {e["index"]: e["time"] for e in events if e["type"] == "phase"}
    finished = max((e["time"] for e in events if e["type"] == "run_finished"), default=None)
    if finished is None:
        if requests is None:
            requests = read_requests(run_dir) if run_dir is not None else []
        finished = last_measured(events, requests)
    phases = []
    for index, stage in enumerate(stages):
        if index not in starts:
            break  # the run stopped before this stage began
        end = min(starts[index] + stage["duration_seconds"], finished)
        curve = tuple(tuple(point) for point in curves[index]) if curves[index] else None
        phases.append(Phase(stage["name"], starts[index], end, stage.get("arrival_rate_per_second"), curve))
    return phases


def last_measured(events: list[dict], requests: list[Request]) -> float:
    """The last moment a run without ``run_finished`` measured anything: its last answered request
    or its last event, whichever is later."""
    moments = [r.finished for r in requests if r.outcome != "client_overflow"] + [e["time"] for e in events]
    return max(moments, default=math.inf)


def measured_span(run_dir: pathlib.Path) -> tuple[float, float] | None:
    """(first event, last measured moment) of a run directory; None if it recorded nothing."""
    events = read_events(run_dir)
    if not events:
        return None
    finished = max((e["time"] for e in events if e["type"] == "run_finished"), default=None)
    end = finished if finished is not None else last_measured(events, read_requests(run_dir))
    return min(e["time"] for e in events), end


WITHHELD_OUTCOMES = ("throttled", "retry_budget", "no_time_left")
"""Rows of attempts the client's retry policy did not send (services/common/retrying.py
``WITHHELD_REASONS``; analysis reads them as data): no actual start, status 0, not attempts."""
REQUEST_LOGS = "requests*.csv"
"""One request log per Locust process: ``requests.csv``, and ``requests-<w>.csv`` for a further worker w."""


def read_requests(run_dir: pathlib.Path) -> list[Request]:
    """Every Locust process's log, each folded into requests, merged in order of intended start."""
    requests = []
    for path in sorted((run_dir / "locust").glob(REQUEST_LOGS)):
        requests += read_request_log(path)
    return sorted(requests, key=lambda r: r.intended_start)


def read_request_log(path: pathlib.Path) -> list[Request]:
    """Fold one log's attempts into requests, keyed by the request's number in the log (by intended
    start in logs that predate the number; a burst's requests share an intended start)."""
    attempts: dict[str, list[dict]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("outcome"):
                attempts.setdefault(row.get("request") or row["intended_start"], []).append(row)
    return [fold(rows) for rows in attempts.values()]


def fold(rows: list[dict]) -> Request:
    """One request from its rows: the last attempt sent decides status and outcome; a request whose
    first attempt was withheld has none sent and that reason as its outcome."""
    number = lambda r: int(r["attempt"] or 0)  # noqa: E731
    last = max(rows, key=number)
    intended = float(last["intended_start"])
    if last["outcome"] == "client_overflow":
        return Request(intended, intended, 0.0, 0, 0, last["phase"], "client_overflow")
    withheld = next((r["outcome"] for r in rows if r["outcome"] in WITHHELD_OUTCOMES), "")
    sent = [r for r in rows if r["outcome"] not in WITHHELD_OUTCOMES]
    if not sent:
        return Request(intended, intended, 0.0, 0, 0, last["phase"], withheld, withheld=withheld)
    first, last = min(sent, key=number), max(sent, key=number)
    finished = float(last["actual_start"]) + float(last["latency_seconds"])
    answered = sum(1 for r in sent if int(r["status"] or 0) > 0)
    accepted = sum(1 for r in sent if 0 < int(r["status"] or 0) < 500)
    return Request(intended, finished, finished - intended, int(last["status"]), len(sent), last["phase"],
                   last["outcome"], float(first["actual_start"]) - intended, answered, accepted, withheld)


def read_range(run_dir: pathlib.Path, name: str) -> list[Series]:
    """One dumped Prometheus range query as series; [] if it was not dumped."""
    path = run_dir / "prometheus" / f"{name}.json"
    if not path.exists():
        return []
    document = json.loads(path.read_text(encoding="utf-8"))
    return [Series(item["metric"], tuple(float(t) for t, _ in item["values"]),
                   tuple(float(v) for _, v in item["values"])) for item in document["result"]]


def value_at(series: Series, when: float) -> float | None:
    """The last sample at or before ``when``; None before the series' first sample."""
    index = bisect.bisect_right(series.times, when) - 1
    return series.values[index] if index >= 0 else None


def counter_increase(series: Series, start: float, end: float) -> float:
    """Increase of a counter over [start, end], counting resets (a restarted process starts at 0).

    A series born inside the window (a replica started mid-run) counts from 0, because a new
    process's counters start there.
    """
    first = bisect.bisect_right(series.times, start)
    last = bisect.bisect_right(series.times, end)
    if first >= last:
        return 0.0
    previous = series.values[first - 1] if first > 0 else 0.0
    total = 0.0
    for value in series.values[first:last]:
        total += value - previous if value >= previous else value
        previous = value
    return total


def counter_rate(series: Series, start: float, end: float) -> float | None:
    """Per-second rate of a counter over the samples inside [start, end] (resets counted).

    The rate is taken between the first and last sample inside the window, not over the nominal
    window, so 1 s scrape jitter does not bias short windows. A series born inside the window
    counts from 0 at the window start.
    """
    first = bisect.bisect_left(series.times, start)
    last = bisect.bisect_right(series.times, end)
    if last - first < 2 and not (first == 0 and last == 1):
        return None
    born_inside = first == 0 and series.times[0] > start + 1.5  # no sample before: a new process
    begin_time = start if born_inside else series.times[first]
    previous = 0.0 if born_inside else series.values[first]
    total = 0.0
    for value in series.values[first + (0 if born_inside else 1):last]:
        total += value - previous if value >= previous else value
        previous = value
    span = series.times[last - 1] - begin_time
    return total / span if span > 0 else None


def gauge_mean(series: Series, start: float, end: float) -> float | None:
    """Mean of a gauge's samples inside [start, end]; None if there are none."""
    first = bisect.bisect_left(series.times, start)
    last = bisect.bisect_right(series.times, end)
    samples = series.values[first:last]
    return sum(samples) / len(samples) if samples else None


def sum_by(series_list: list[Series], label: str, reducer, start: float, end: float) -> dict[str, float]:
    """Apply ``reducer(series, start, end)`` per series and add the results up per ``label`` value."""
    totals: dict[str, float] = {}
    for series in series_list:
        value = reducer(series, start, end)
        if value is not None:
            key = series.labels.get(label, "")
            totals[key] = totals.get(key, 0.0) + value
    return totals


def sampled_sum(series_list: list[Series], label: str, key: str) -> tuple[list[float], list[float]]:
    """Per timestamp, the sum of all series whose ``label`` equals ``key`` (for plotting gauges)."""
    totals: dict[float, float] = {}
    for series in series_list:
        if series.labels.get(label) == key:
            for t, v in zip(series.times, series.values):
                totals[t] = totals.get(t, 0.0) + v
    times = sorted(totals)
    return times, [totals[t] for t in times]


def histogram_quantile(quantile: float, buckets: dict[float, float]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding the rank.

    ``buckets`` maps upper bound ``le`` (with +Inf) to the cumulative count. NaN with no
    observations; the highest finite bound when the rank falls in the +Inf bucket.
    """
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile {quantile} is outside [0, 1]")
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return math.nan
    rank = quantile * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return bounds[-1]


def bucket_increases(series_list: list[Series], *, service: str, start: float, end: float) -> dict[float, float]:
    """Cumulative bucket counts of one service's histogram over [start, end], all replicas summed."""
    buckets: dict[float, float] = {}
    for series in series_list:
        if series.labels.get("service") != service:
            continue
        bound = float(series.labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + counter_increase(series, start, end)
    return buckets


def select(series_list: list[Series], **labels: str) -> list[Series]:
    """The series whose labels include every ``label=value`` given."""
    return [s for s in series_list if all(s.labels.get(k) == v for k, v in labels.items())]


def increments(series_list: list[Series], start: float, end: float) -> list[tuple[float, float]]:
    """Per scrape inside [start, end], the counter increase since the previous scrape, all series summed.

    Resets count from 0 (a restarted process); a series born inside the window counts from 0 at
    its first sample. Returned as (scrape time, increase) pairs in time order: the raw material for
    batch-means intervals of means that Prometheus only keeps as ``_sum``/``_count`` counters.
    """
    totals: dict[float, float] = {}
    for series in series_list:
        first = bisect.bisect_left(series.times, start)
        last = bisect.bisect_right(series.times, end)
        for index in range(first, last):
            previous = series.values[index - 1] if index > 0 else 0.0
            value = series.values[index]
            if index == 0 and series.times[0] <= start + 1.5:
                continue  # the series' first sample at the window start: no interval to attribute
            delta = value - previous if value >= previous else value
            totals[series.times[index]] = totals.get(series.times[index], 0.0) + delta
    return sorted(totals.items())


def paired_increments(numerator: list[Series], denominator: list[Series], start: float,
                      end: float) -> tuple[list[float], list[float]]:
    """Increments of two counters (``_sum`` and ``_count``) aligned on the same scrapes."""
    top = dict(increments(numerator, start, end))
    bottom = dict(increments(denominator, start, end))
    times = sorted(set(top) | set(bottom))
    return [top.get(t, 0.0) for t in times], [bottom.get(t, 0.0) for t in times]


def fraction_above(threshold: float, buckets: dict[float, float]) -> tuple[float, float]:
    """(observations above ``threshold``, all observations) from cumulative histogram buckets.

    Exact when the threshold is a bucket bound; otherwise the count inside the bucket holding it
    is split linearly, as Prometheus' ``histogram_quantile`` does. Beyond the largest finite bound
    the whole +Inf bucket counts as above.
    """
    bounds = sorted(buckets)
    if not bounds:
        return 0.0, 0.0
    total = buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if bound >= threshold:
            if math.isinf(bound):
                below = lower_count
            else:
                share = (threshold - lower_bound) / (bound - lower_bound) if bound > lower_bound else 1.0
                below = lower_count + (count - lower_count) * share
            return max(0.0, total - below), total
        lower_bound, lower_count = bound, count
    return 0.0, total


def is_bucket_bound(threshold: float, buckets: dict[float, float]) -> bool:
    return any(math.isclose(threshold, bound, rel_tol=1e-6) for bound in buckets)


# -- the whole run, loaded once -------------------------------------------------------------------

SERIES_NAMES = (
    "request_count", "request_sum", "request_bucket", "work_count", "work_sum", "work_bucket", "in_flight",
    "queue_depth", "busy_servers", "servers", "ready", "shed", "cpu_seconds", "envoy_pending_overflow",
    "envoy_active_overflow", "envoy_cx_overflow", "envoy_ejections", "envoy_retries", "envoy_timeouts",
    "envoy_healthy", "envoy_rq_xx", "envoy_downstream_rq", "envoy_upstream_rq", "envoy_none_healthy",
    "downstream_count", "downstream_attempts", "downstream_withheld", "envoy_retry_overflow",
    "envoy_per_try_timeouts", "up", "envoy_fault_aborts",
)
"""Every dump the analysis reads; a missing one reads as no series (older runs, failed dumps)."""


@dataclasses.dataclass
class Run:
    """Everything one run directory holds, read once."""

    dir: pathlib.Path
    scenario: dict
    events: list[dict]
    phases: list[Phase]
    requests: list[Request]
    series: dict[str, list[Series]]
    environment: dict

    @property
    def services(self) -> list[str]:
        """The scenario's services, in chain order."""
        names = list(self.scenario["services"])
        chain = chain_order(self.scenario)
        return chain + [s for s in names if s not in chain]

    @property
    def warmup_seconds(self) -> float:
        return self.scenario.get("window", {}).get("warmup_seconds", 0.0)

    @property
    def cooldown_seconds(self) -> float:
        return self.scenario.get("window", {}).get("cooldown_seconds", 0.0)

    @property
    def origin(self) -> float:
        """When the run started (its first event); time axes count from here."""
        return min([e["time"] for e in self.events] or [0.0])

    def window(self, phase: Phase) -> tuple[float, float]:
        """The measured part of a phase: warm-up and cool-down cut off."""
        return phase.window(warmup_seconds=self.warmup_seconds, cooldown_seconds=self.cooldown_seconds)


def chain_order(scenario: dict) -> list[str]:
    """Services reachable from the entry, depth first in call order (the seed's "top to bottom")."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name not in scenario["services"]:
            return
        order.append(name)
        for call in scenario["services"][name].get("calls") or []:
            visit(call["service"])
    visit(scenario.get("entry", "gateway"))
    return order


def visits(scenario: dict) -> dict[str, int]:
    """How many times one end-to-end request passes each service: a call with ``parallel: k``
    multiplies by k, calls in sequence add up (the call graph is acyclic: the schema refuses cycles)."""
    counts: dict[str, int] = {}

    def visit(name: str, times: int) -> None:
        counts[name] = counts.get(name, 0) + times
        for call in scenario["services"][name].get("calls") or []:
            visit(call["service"], times * int(call.get("parallel", 1)))
    visit(scenario.get("entry", "gateway"), 1)
    return counts


def load_run(run_dir: pathlib.Path) -> Run:
    """Read a run directory; RunDataError names what is missing."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise RunDataError(f"{run_dir} is not a directory; pass a run directory such as runs/<time>-<scenario>")
    scenario = read_scenario(run_dir)
    events = read_events(run_dir)
    environment_path = run_dir / "environment.json"
    requests = read_requests(run_dir)
    return Run(dir=run_dir, scenario=scenario, events=events, phases=read_phases(run_dir, scenario, events, requests),
               requests=requests, series={name: read_range(run_dir, name) for name in SERIES_NAMES},
               environment=read_json(environment_path) if environment_path.exists() else {})


# -- tidy tables -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ServicePoint:
    """One per-service value at one scrape, all replicas added up (a tidy "long" row)."""

    time: float
    service: str
    metric: str
    """A gauge name (``in_flight``, ``ready``, …) or ``<counter>_per_second`` for a counter's rate."""
    value: float


@dataclasses.dataclass(frozen=True)
class EventRow:
    """One event of events.jsonl, with the service (if any) lifted out of its fields."""

    time: float
    type: str
    service: str
    detail: str
    """The remaining fields as compact JSON."""


GAUGES = ("in_flight", "queue_depth", "busy_servers", "servers", "ready")
COUNTERS = ("request_count", "work_count", "shed")


def service_points(run: Run, start: float = -math.inf, end: float = math.inf) -> list[ServicePoint]:
    """The per-service time series as tidy rows inside [start, end]: gauges summed, counters as rates."""
    rows = []
    for service in run.services:
        for name in GAUGES:
            times, values = sampled_sum(run.series.get(name, []), "service", service)
            rows += [ServicePoint(t, service, name, v) for t, v in zip(times, values) if start <= t <= end]
        for name in COUNTERS:
            previous_time = None
            for t, delta in increments(select(run.series.get(name, []), service=service), start, end):
                if previous_time is not None and t > previous_time:
                    rows.append(ServicePoint(t, service, f"{name}_per_second", delta / (t - previous_time)))
                previous_time = t
    return sorted(rows, key=lambda r: (r.time, r.service, r.metric))


def event_rows(events: list[dict]) -> list[EventRow]:
    """Events as tidy rows, in time order."""
    rows = []
    for event in events:
        rest = {k: v for k, v in event.items() if k not in ("time", "type", "service")}
        rows.append(EventRow(event["time"], event["type"], str(event.get("service", "")),
                             json.dumps(rest, sort_keys=True, separators=(",", ":"))))
    return rows


def within_window(records, start: float, end: float) -> list:
    """The records (requests by intended start, anything else by ``time``) inside [start, end)."""
    def when(record) -> float:
        return record.intended_start if isinstance(record, Request) else record.time
    return [r for r in records if start <= when(r) < end]
