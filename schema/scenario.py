"""Scenario schema and loader: one YAML file describes one experiment for either backend.

A scenario declares the topology (services, their work models and calls), Envoy resilience
settings, client behaviour, load stages, the measurement window and the predictions to check. The
schema rejects unknown keys and bad values; :func:`load_scenario` turns every problem into a
:class:`ScenarioError` naming the file, the field and what is allowed. This module depends on
pydantic and PyYAML only, so analysis may import it.
"""
from __future__ import annotations

import csv
import math
import pathlib
import typing
from typing import Literal

import pydantic
import yaml

from services.common import settings as service_settings

SCENARIO_DIR = pathlib.Path(__file__).parents[1] / "loadtests" / "scenarios"
"""The catalog: scenario files are data of load generation, read by every part through this schema."""


class ScenarioError(Exception):
    """A scenario file cannot be used; the message names the file, the field and the fix."""


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class CircuitBreaker(Strict):
    """Envoy ``circuit_breakers.thresholds[DEFAULT]`` of the callee's cluster (Envoy's defaults)."""

    max_connections: int = pydantic.Field(1024, ge=1)
    max_pending_requests: int = pydantic.Field(1024, ge=1)
    max_requests: int = pydantic.Field(1024, ge=1)
    max_retries: int = pydantic.Field(3, ge=0)


class RetryPolicy(Strict):
    """Envoy route ``retry_policy``; ``num_retries: 0`` disables Envoy retries."""

    retry_on: str = "connect-failure,reset"
    num_retries: int = pydantic.Field(0, ge=0, le=10)
    per_try_timeout_seconds: float | None = pydantic.Field(None, gt=0)


class OutlierDetection(Strict):
    """Envoy ``outlier_detection`` (passive ejection of failing replicas)."""

    consecutive_5xx: int = pydantic.Field(5, ge=1)
    interval_seconds: float = pydantic.Field(2.0, gt=0)
    base_ejection_time_seconds: float = pydantic.Field(10.0, gt=0)
    max_ejection_percent: int = pydantic.Field(50, ge=0, le=100)


class EnvoySettings(Strict):
    """Resilience settings of the Envoy in front of a service."""

    route_timeout_seconds: float = pydantic.Field(5.0, gt=0)
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    retry: RetryPolicy = RetryPolicy()
    outlier_detection: OutlierDetection = OutlierDetection()
    health_check_interval_seconds: float = pydantic.Field(1.0, gt=0, le=60)


class ServiceSpec(Strict):
    """One service: its work model, replicas and calls (see services/common/settings.py)."""

    replicas: int = pydantic.Field(1, ge=1, le=32)
    servers: int | None = pydantic.Field(None, ge=1, le=256)
    queue_limit: int | None = pydantic.Field(None, ge=0, le=100_000)
    service_time: service_settings.ServiceTime | None = None
    work: Literal["wait", "cpu", "gpu"] | None = None
    gpu: service_settings.GpuSettings | None = None
    """The emulated GPU for ``work: gpu`` (profile, model, tensor parallelism, time scale)."""
    shards: int | None = pydantic.Field(None, ge=1, le=64)
    calls: tuple[service_settings.Call, ...] | None = None
    ready_after_seconds: float = pydantic.Field(0.0, ge=0, le=600)
    envoy: EnvoySettings | None = None
    """Overrides the scenario-wide ``envoy`` block for this service's proxy."""


MAX_RATE_PER_SECOND = 5000.0
"""The highest arrival rate a stage may ask for (what `make bench-generator` shows the generator carries)."""
MAX_TRACE_ARRIVALS = 500_000


class Ramp(Strict):
    """λ rises (or falls) linearly from ``from_per_second`` at the stage's start to ``to_per_second`` at its end."""

    from_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)
    to_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)


class Spike(Strict):
    """λ is ``base_per_second``, and ``peak_per_second`` during [at_seconds, at_seconds + length_seconds)."""

    base_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)
    peak_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)
    at_seconds: float = pydantic.Field(ge=0)
    length_seconds: float = pydantic.Field(gt=0)


class Sine(Strict):
    """Diurnal: λ(t) = mean + amplitude · sin(2π (t + phase) / period), t from the stage's start."""

    mean_per_second: float = pydantic.Field(gt=0, le=MAX_RATE_PER_SECOND)
    amplitude_per_second: float = pydantic.Field(ge=0)
    period_seconds: float = pydantic.Field(gt=0)
    phase_seconds: float = 0.0

    @pydantic.model_validator(mode="after")
    def _rate_stays_in_range(self) -> "Sine":
        if self.amplitude_per_second > self.mean_per_second:
            raise ValueError(f"amplitude_per_second {self.amplitude_per_second:g} exceeds mean_per_second "
                             f"{self.mean_per_second:g}: the rate would go negative; lower the amplitude")
        if self.mean_per_second + self.amplitude_per_second > MAX_RATE_PER_SECOND:
            raise ValueError(f"mean + amplitude exceeds {MAX_RATE_PER_SECOND:g} req/s; lower one of them")
        return self


class Square(Strict):
    """Oscillating load (HPA thrashing): ``high_per_second`` for the first half of each period, then
    ``low_per_second`` for the second half."""

    low_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)
    high_per_second: float = pydantic.Field(ge=0, le=MAX_RATE_PER_SECOND)
    period_seconds: float = pydantic.Field(gt=0)


class Burst(Strict):
    """``requests`` requests all at once at ``at_seconds`` (on top of ``base_per_second``)."""

    requests: int = pydantic.Field(ge=1, le=100_000)
    at_seconds: float = pydantic.Field(0.0, ge=0)
    base_per_second: float = pydantic.Field(0.0, ge=0, le=MAX_RATE_PER_SECOND)


class Trace(Strict):
    """Replay of a recorded arrival trace: a CSV whose first column is each arrival's time in seconds
    from the stage's start (one row per arrival; a header row is allowed). ``path`` is relative to
    the scenario file. The loader reads it into ``offsets_seconds``, so the resolved scenario of a run
    carries the trace it replayed."""

    path: str = pydantic.Field(min_length=1)
    offsets_seconds: tuple[float, ...] = ()

    @pydantic.model_validator(mode="before")
    @classmethod
    def _read_the_file(cls, data: typing.Any, info: pydantic.ValidationInfo) -> typing.Any:
        if not isinstance(data, dict) or data.get("offsets_seconds") or "path" not in data:
            return data
        directory = (info.context or {}).get("scenario_dir")
        if directory is None:
            raise ValueError("a trace is read relative to its scenario file; load the scenario with load_scenario")
        return {**data, "offsets_seconds": read_trace(pathlib.Path(directory) / data["path"])}


def read_trace(path: pathlib.Path) -> tuple[float, ...]:
    """The arrival offsets of a trace CSV, sorted; ValueError naming the file and row otherwise."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise ValueError(f"cannot read the trace {path}: {exc.strerror or exc}; the path is relative to "
                         "the scenario file") from None
    offsets = []
    for number, row in enumerate(rows, start=1):
        if not row or not row[0].strip():
            continue
        try:
            offset = float(row[0])
        except ValueError:
            if number == 1:
                continue  # a header
            raise ValueError(f"{path} row {number}: {row[0]!r} is not a time in seconds") from None
        if not math.isfinite(offset) or offset < 0:
            raise ValueError(f"{path} row {number}: {row[0]!r} must be a finite time >= 0 seconds from the start")
        offsets.append(offset)
    if not offsets:
        raise ValueError(f"{path} holds no arrival times; put one time in seconds per row")
    if len(offsets) > MAX_TRACE_ARRIVALS:
        raise ValueError(f"{path} holds {len(offsets)} arrivals, more than {MAX_TRACE_ARRIVALS}; split it over stages")
    return tuple(sorted(offsets))


class Stage(Strict):
    """A load stage, like locust's ``StagesShape.stages`` but open-loop: a rate, not users.

    The rate is a constant ``arrival_rate_per_second`` or one of the blocks ``ramp``, ``spike``,
    ``sine``, ``square``, ``burst``, ``trace`` (loadtests/shapes.py generates the arrivals). A
    closed-loop client's stages give no rate: its users send as fast as the answers come back.
    """

    name: str = pydantic.Field(min_length=1)
    duration_seconds: float = pydantic.Field(gt=0, le=3600)
    arrival_rate_per_second: float | None = pydantic.Field(None, ge=0, le=MAX_RATE_PER_SECOND)
    """The constant rate; for a stage with a rate block, its mean rate (filled in: leave it out)."""
    arrivals: Literal["poisson", "constant"] = "poisson"
    """``poisson``: exponential gaps (thinned for a time-varying rate); ``constant``: evenly spaced
    in expected arrivals. Bursts and traces have their own times."""
    ramp: Ramp | None = None
    spike: Spike | None = None
    sine: Sine | None = None
    square: Square | None = None
    burst: Burst | None = None
    trace: Trace | None = None

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _mean_rate_filled_in(cls, data: typing.Any, handler) -> "Stage":
        stage = handler(data)
        blocks = [name for name in shapes_module().SHAPES if getattr(stage, name) is not None]
        if len(blocks) > 1:
            raise ValueError(f"stage {stage.name!r} has the rate blocks {', '.join(blocks)}; give one per stage "
                             "(make more stages for a sequence)")
        if not blocks:
            return stage
        stage.fits_its_duration()
        mean = shapes_module().mean_rate_per_second(stage.model_dump(mode="json"))
        given = stage.arrival_rate_per_second
        if given is not None and not math.isclose(given, mean, rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(f"stage {stage.name!r}: arrival_rate_per_second {given:g} is not the mean rate "
                             f"{mean:g} of its {blocks[0]}; leave arrival_rate_per_second out, it is computed")
        return stage.model_copy(update={"arrival_rate_per_second": mean})

    def fits_its_duration(self) -> None:
        """Times inside a block must fall inside the stage."""
        duration = self.duration_seconds
        if self.spike and self.spike.at_seconds + self.spike.length_seconds > duration:
            raise ValueError(f"stage {self.name!r}: the spike ends at {self.spike.at_seconds + self.spike.length_seconds:g} s, "
                             f"after the stage's {duration:g} s; shorten it or lengthen the stage")
        if self.burst and self.burst.at_seconds >= duration:
            raise ValueError(f"stage {self.name!r}: the burst at {self.burst.at_seconds:g} s is not inside the "
                             f"stage's {duration:g} s")
        if self.trace and self.trace.offsets_seconds[-1] >= duration:
            late = sum(1 for t in self.trace.offsets_seconds if t >= duration)
            raise ValueError(f"stage {self.name!r}: {late} arrival(s) of the trace {self.trace.path} fall at or after "
                             f"the stage's {duration:g} s; lengthen the stage or cut the trace")
        if self.arrivals == "constant" and self.trace:
            raise ValueError(f"stage {self.name!r}: a trace is replayed at its recorded times; remove "
                             "arrivals: constant")

    @property
    def has_rate(self) -> bool:
        return self.arrival_rate_per_second is not None

    def peak_rate_per_second(self) -> float:
        return shapes_module().peak_rate_per_second(self.model_dump(mode="json"))


def shapes_module():
    """loadtests/shapes.py, pure and stdlib-only: what a stage's rate block means (one home for it)."""
    from loadtests import shapes  # noqa: PLC0415 (as the HPA codec below: only needed to validate)
    return shapes


class Client(Strict):
    """How Locust behaves.

    ``open``: arrivals at the stages' rates whatever the latency, each request timed from its
    intended send time. ``closed``: ``users`` users each send a request, wait for its answer, think
    for an exponential time of mean ``think_time_seconds``, and repeat; the rate then follows the
    system's speed (coordinated omission: a stall holds back the requests it would have delayed),
    and the report says so.
    """

    kind: Literal["open", "closed"] = "open"
    users: int | None = pydantic.Field(None, ge=1, le=10_000)
    """Closed loop only: the number of users (each at most one request outstanding)."""
    think_time_seconds: float = pydantic.Field(0.0, ge=0, le=3600)
    """Closed loop only: mean think time between an answer and the user's next request."""
    workers: int = pydantic.Field(1, ge=1, le=64)
    """Locust worker processes (a master plus this many workers when above 1), each generating an
    independent share of the schedule; the runner refuses more than the machine has cores."""
    timeout_seconds: float = pydantic.Field(5.0, gt=0, le=300)
    retries: int = pydantic.Field(0, ge=0, le=10)
    max_in_flight: int = pydantic.Field(512, ge=1, le=10_000)
    """Bound on outstanding requests; arrivals beyond it are logged as client overflow, not sent."""
    prompt_tokens: int = pydantic.Field(128, ge=1)
    output_tokens: int = pydantic.Field(64, ge=1)

    @pydantic.model_validator(mode="after")
    def _users_only_when_closed(self) -> "Client":
        if self.kind == "closed" and self.users is None:
            raise ValueError("client.users: a closed-loop client needs its number of users")
        if self.kind == "open" and (self.users is not None or self.think_time_seconds):
            raise ValueError("client.users, client.think_time_seconds: only a closed-loop client has users; "
                             "set client.kind: closed, or give the stages' rates instead")
        return self


class Window(Strict):
    """Measurement window inside each phase: the first/last seconds are excluded (Ciw practice)."""

    warmup_seconds: float = pydantic.Field(5.0, ge=0)
    cooldown_seconds: float = pydantic.Field(2.0, ge=0)


class Predictions(Strict):
    """Relative tolerances of the measured-vs-predicted checks (analysis/verdicts/checks.py)."""

    littles_law: float = pydantic.Field(0.15, gt=0, le=1)
    mean_response_time: float = pydantic.Field(0.15, gt=0, le=1)
    """M/M/c (or M/M/c/K) mean response time of each service."""
    response_time_quantile: float = pydantic.Field(0.25, gt=0, le=1)
    """Quantiles from histograms with two buckets per doubling: allow for ±19 % interpolation."""
    blocking_probability: float = pydantic.Field(0.25, gt=0, le=1)
    """M/M/c/K blocking: a service's own sheds and Envoy's breaker overflow."""
    retry_amplification: float = pydantic.Field(0.15, gt=0, le=1)
    seed_models: float = pydantic.Field(0.25, gt=0, le=1)
    """The seed lab's toy constants (p99 ≈ 4.6·W, shed 0.8, cascade 0.3, 30 s HPA lag)."""


class LatencySlo(Strict):
    """A latency threshold: a request violates the SLO when it takes longer (or fails)."""

    latency_seconds: float = pydantic.Field(gt=0, le=300)


class Slo(Strict):
    """Latency SLOs per service and end to end, for the SLO-composition check.

    A service's latency here is its *own* part — queueing and work, without its downstream calls —
    so that the per-service shares compose as 1 − ∏(1 − p_i) (analysis/tables/measures.py says how each is
    measured). The end-to-end latency is the client's, from each request's intended start.
    """

    objective: float = pydantic.Field(0.99, gt=0, lt=1)
    """Share of requests that must meet each threshold (per service and end to end)."""
    end_to_end: LatencySlo
    services: dict[service_settings.ServiceName, LatencySlo] = {}


class PodTiming(Strict):
    """Emulated pod start-up of replicas the local backend adds at run time (kubelet-like).

    Defaults are the kind/cluster figures of docs/hpa-decide.md (the reaction-lag stages 4–6) and
    the Kubernetes API defaults for probes. They were not re-measured on this machine: kind cannot
    run where they were written (no Docker engine or cluster there), so a cluster run should
    confirm or replace them.
    """

    scheduling_delay_seconds: float = pydantic.Field(0.5, ge=0, le=600)
    """Pod created → PodScheduled: API objects + scheduler bind on a node with room, docs/hpa-decide.md stage 4
    ("about 0.1–1 s" each); 0.5 s is the middle of that range."""
    container_start_seconds: float = pydantic.Field(2.0, ge=0, le=600)
    """PodScheduled → container running: cached image, sandbox + container start, docs/hpa-decide.md stage 5
    ("about 1–3 s"). The application's own boot is the service's ``ready_after_seconds``."""
    readiness_initial_delay_seconds: float = pydantic.Field(0.0, ge=0, le=600)
    """``readinessProbe.initialDelaySeconds`` (API default 0)."""
    readiness_period_seconds: float = pydantic.Field(10.0, gt=0, le=300)
    """``readinessProbe.periodSeconds`` (API default 10); successThreshold is 1 (the default)."""
    readiness_timeout_seconds: float = pydantic.Field(1.0, gt=0, le=60)
    """``readinessProbe.timeoutSeconds`` (API default 1)."""


class AutoscalerController(Strict):
    """The ``--horizontal-pod-autoscaler-*`` flags of the local autoscaler (upstream defaults)."""

    sync_period_seconds: float = pydantic.Field(15.0, gt=0, le=600)
    tolerance: float = pydantic.Field(0.1, ge=0, le=1)
    cpu_initialization_period_seconds: float = pydantic.Field(300.0, ge=0, le=3600)
    initial_readiness_delay_seconds: float = pydantic.Field(30.0, ge=0, le=3600)
    downscale_stabilization_seconds: int = pydantic.Field(300, ge=0, le=3600)
    metric_window_seconds: float = pydantic.Field(15.0, ge=2, le=600)
    """The window the served metrics cover: metrics-server's resolution for cpu (15 s in the
    upstream manifest), and the default ``avg_over_time`` window of a Pods metric's PromQL."""


class Autoscaling(Strict):
    """One service's HorizontalPodAutoscaler. ``minReplicas``, ``maxReplicas``, ``metrics`` and
    ``behavior`` are autoscaling/v2 ``HorizontalPodAutoscalerSpec`` fields, spelled as in a manifest
    and validated like the API server does (controllers/hpa/codec.py); the rest is the testbed's."""

    minReplicas: int = pydantic.Field(1, ge=1, le=32)
    maxReplicas: int = pydantic.Field(ge=1, le=32)
    metrics: tuple[dict, ...] = pydantic.Field(min_length=1)
    behavior: dict | None = None
    controller: AutoscalerController = AutoscalerController()
    cpu_request: str = "500m"
    """The replica's container ``resources.requests.cpu``: the denominator of cpu Utilization."""
    queries: dict[str, str] = {}
    """Pods metric name → PromQL giving one series per replica (label ``replica``), as a metrics
    adapter would serve it. Default: ``avg_over_time(<name>{service="<service>"}[<window>s])``."""

    @pydantic.model_validator(mode="after")
    def _is_a_valid_hpa_spec(self) -> "Autoscaling":
        from controllers.hpa import codec  # noqa: PLC0415 (pure; only needed to validate this block)
        try:
            codec.decode_state({"now": 0, "currentReplicas": 1, "spec": self.hpa_spec()})
        except codec.InputError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def hpa_spec(self) -> dict:
        """The ``HorizontalPodAutoscalerSpec`` as the decision input (docs/hpa-decide.md) takes it."""
        spec = {"minReplicas": self.minReplicas, "maxReplicas": self.maxReplicas, "metrics": list(self.metrics)}
        if self.behavior is not None:
            spec["behavior"] = self.behavior
        return spec


class Scenario(Strict):
    name: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seed: int = 1
    entry: service_settings.ServiceName = "gateway"
    services: dict[service_settings.ServiceName, ServiceSpec]
    envoy: EnvoySettings = EnvoySettings()
    client: Client = Client()
    stages: tuple[Stage, ...] = pydantic.Field(min_length=1)
    window: Window = Window()
    predictions: Predictions = Predictions()
    slo: Slo | None = None
    pods: PodTiming = PodTiming()
    autoscaling: dict[service_settings.ServiceName, Autoscaling] = {}

    @pydantic.model_validator(mode="after")
    def _graph_is_closed(self) -> "Scenario":
        for name in self.autoscaling:
            if name not in self.services:
                raise ValueError(f"autoscaling.{name}: {name!r} is not under services")
        if self.entry not in self.services:
            raise ValueError(f"entry service {self.entry!r} is not under services")
        for name, spec in self.services.items():
            for call in spec.calls or ():
                if call.service == name:
                    raise ValueError(f"services.{name}.calls: {name} calls itself; a request would never finish, "
                                     "remove that call")
                if call.service not in self.services:
                    raise ValueError(f"services.{name}.calls: {call.service!r} is not under services")
        cycle = find_cycle({name: [c.service for c in spec.calls or ()] for name, spec in self.services.items()})
        if cycle:
            raise ValueError(f"services: the calls form a cycle {' → '.join(cycle)}; each request would go round "
                             "until it timed out, so remove one of these calls")
        for name in (self.slo.services if self.slo else {}):
            if name not in self.services:
                raise ValueError(f"slo.services: {name!r} is not under services")
        return self

    @pydantic.model_validator(mode="after")
    def _stages_can_be_measured(self) -> "Scenario":
        trimmed = self.window.warmup_seconds + self.window.cooldown_seconds
        for stage in self.stages:
            if stage.duration_seconds <= trimmed:
                raise ValueError(f"window: warmup_seconds + cooldown_seconds ({trimmed:g} s) leave nothing of stage "
                                 f"{stage.name!r} ({stage.duration_seconds:g} s) to measure; lengthen the stage or "
                                 "shorten the window")
        return self

    @pydantic.model_validator(mode="after")
    def _stages_match_the_client(self) -> "Scenario":
        for stage in self.stages:
            if self.client.kind == "open" and not stage.has_rate:
                raise ValueError(f"stages: stage {stage.name!r} gives no rate; an open-loop client needs "
                                 "arrival_rate_per_second or a rate block (ramp, spike, sine, square, burst, trace)")
            if self.client.kind == "closed" and stage.has_rate:
                raise ValueError(f"stages: stage {stage.name!r} gives a rate, but a closed-loop client's users send "
                                 "as fast as the answers come back; remove the rate, or set client.kind: open")
        return self

    @pydantic.model_validator(mode="after")
    def _client_can_carry_the_load(self) -> "Scenario":
        least = least_latency_seconds(self)
        for stage in self.stages if self.client.kind == "open" else ():
            peak = stage.peak_rate_per_second()
            needed = in_flight_needed(peak, least)
            if stage.burst:  # its requests are all in flight at once
                needed = max(needed, stage.burst.requests + in_flight_needed(stage.burst.base_per_second, least))
            if needed > self.client.max_in_flight:
                raise ValueError(
                    f"client.max_in_flight: {self.client.max_in_flight} cannot carry stage {stage.name!r} at "
                    f"{peak:g} req/s: even with no queueing a request takes at least "
                    f"{least * 1000:.0f} ms (the service times along the chain), so the client would drop arrivals "
                    f"of a healthy system; raise max_in_flight to at least {needed}")
        return self

    @property
    def duration_seconds(self) -> float:
        return sum(stage.duration_seconds for stage in self.stages)

    def envoy_for(self, service: str) -> EnvoySettings:
        return self.services[service].envoy or self.envoy

    def replica_settings(self, service: str) -> dict:
        """What the scenario sets for ``service``'s replicas, as plain data; the service's own
        defaults fill the rest (``services.common.settings.effective``). Calls carry no ``url``:
        each backend points them at the callee's proxy."""
        spec = self.services[service]
        settings = {"service": service, "ready_after_seconds": spec.ready_after_seconds}
        settings.update(spec.model_dump(include={"servers", "queue_limit", "work", "shards", "service_time", "gpu"},
                                        exclude_none=True, mode="json"))
        if spec.calls is not None:
            settings["calls"] = [call.model_dump(exclude={"url"}) for call in spec.calls]
        return settings

    def expected_arrivals(self) -> list[list[list[float]] | None]:
        """Per stage, [[offset, expected arrivals before it], …] (loadtests/shapes.py ``expected_curve``)
        for the run's ``scenario.json``: the analysis judges the arrival count of any window from it
        without knowing the shapes; None for a closed-loop stage, which has no schedule."""
        if self.client.kind == "closed":
            return [None for _ in self.stages]
        return [shapes_module().expected_curve(stage.model_dump(mode="json")) for stage in self.stages]

    def effective_services(self) -> dict[str, dict]:
        """Per service, the work model its replicas run (defaults included), for the run's
        ``scenario.json``: the analysis reads queue limits and service times there, never guesses."""
        effective = {name: service_settings.effective(name, {k: v for k, v in self.replica_settings(name).items()
                                                              if k != "calls"}) for name in self.services}
        return {name: s.model_dump(include={"servers", "queue_limit", "work", "shards", "service_time"}, mode="json")
                for name, s in effective.items()}


def find_cycle(calls: dict[str, list[str]]) -> list[str] | None:
    """A cycle of the call graph as [a, b, …, a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1  # on the current path
        path.append(node)
        for callee in calls.get(node, []):
            if state.get(callee) == 1:
                return path[path.index(callee):] + [callee]
            if state.get(callee) is None and (found := visit(callee)):
                return found
        path.pop()
        state[node] = 2  # done
        return None

    for start in calls:
        if state.get(start) is None and (found := visit(start)):
            return found
    return None


def least_latency_seconds(scenario: "Scenario") -> float:
    """A lower bound of one request's latency: the mean service times along the call graph from the
    entry (each call step counted once, parallel or not). Services without a ``service_time`` count
    0, so the bound never exceeds the truth."""
    def least(name: str) -> float:
        spec = scenario.services[name]
        own = spec.service_time.mean_seconds if spec.service_time else 0.0
        return own + sum(least(call.service) for call in spec.calls or ())
    return least(scenario.entry)


def in_flight_needed(arrival_rate_per_second: float, latency_seconds: float) -> int:
    """Client slots a healthy system needs at this rate: requests in flight are Poisson with mean
    λ·L (M/G/∞), so the mean plus four standard deviations, and at least one."""
    mean = arrival_rate_per_second * latency_seconds
    return max(1, math.ceil(mean + 4 * math.sqrt(mean)))


def load_scenario(name_or_path: str | pathlib.Path) -> Scenario:
    """Load a scenario by catalog name (``chaos-spike``) or path; raise ScenarioError on any problem."""
    path = resolve_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    try:
        scenario = Scenario.model_validate(data, context={"scenario_dir": path.parent})
    except pydantic.ValidationError as exc:
        raise ScenarioError(f"{path}: invalid scenario:\n" + describe_errors(exc)) from exc
    if scenario.name != path.stem:
        raise ScenarioError(f"{path}: name: {scenario.name!r} must equal the file name {path.stem!r}")
    return scenario


def resolve_path(name_or_path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(f"{name_or_path}: no such scenario file; catalog: {known}")
    return path


def describe_errors(exc: pydantic.ValidationError) -> str:
    """One line per problem: the dotted field, what is wrong and what is allowed."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        if not error["loc"]:  # a rule across fields: its message names the fields itself
            lines.append(f"  {error['msg'].removeprefix('Value error, ')}")
        elif error["type"] == "extra_forbidden":
            allowed = allowed_keys(Scenario, error["loc"][:-1])
            lines.append(f"  {field}: unknown key; allowed here: {', '.join(allowed) or '(none)'}")
        else:
            lines.append(f"  {field}: {error['msg']} (got {error.get('input')!r})")
    return "\n".join(lines)


def allowed_keys(model: type[pydantic.BaseModel], loc: tuple) -> list[str]:
    """The field names accepted at ``loc`` (walking models, dicts and tuples by annotation)."""
    annotation: typing.Any = model
    for part in loc:
        annotation = step_into(annotation, part)
        if annotation is None:
            return []
    annotation = unwrap(annotation)
    return sorted(annotation.model_fields) if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel) else []


def step_into(annotation: typing.Any, part: object) -> typing.Any:
    annotation = unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is dict and args:
        return args[1]
    if origin is tuple and args:
        return args[0]
    return None


def unwrap(annotation: typing.Any) -> typing.Any:
    """Strip ``X | None`` down to X."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType")) and len(args) == 1:
        return args[0]
    return annotation
