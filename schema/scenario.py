"""Scenario schema and loader: one YAML file describes one experiment for either backend.

A scenario declares the topology (services, their work models and calls), Envoy resilience
settings, client behaviour, load stages, the fault schedule, the measurement window and the
predictions to check. The schema rejects unknown keys and bad values; :func:`load_scenario` turns
every problem into a :class:`ScenarioError` naming the file, the field and what is allowed. This
module depends on pydantic and PyYAML only, so analysis may import it.
"""
from __future__ import annotations

import copy
import csv
import math
import pathlib
import typing
from typing import Literal

import pydantic
import yaml

from schema import expressions
from services.common import settings as service_settings

SCENARIO_DIR = pathlib.Path(__file__).parents[1] / "loadtests" / "scenarios"
"""The catalog: scenario files are data of load generation, read by every part through this schema."""


class ScenarioError(Exception):
    """A scenario file cannot be used; the message names the file, the field and the fix."""


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class EnvoyRetryBudget(Strict):
    """Envoy ``circuit_breakers.thresholds[].retry_budget``: the mesh's retry budget. A retry is
    made only while the cluster's active retries stay below max(min_retry_concurrency,
    budget_percent % of its active + pending requests); one over it is not made
    (``upstream_rq_retry_overflow``) and the failure is passed on."""

    budget_percent: float = pydantic.Field(20.0, ge=0, le=100)
    """Share of the active and pending requests that may be retries at once (Envoy's default 20 %)."""
    min_retry_concurrency: int = pydantic.Field(3, ge=0)
    """Concurrent retries allowed whatever the traffic (Envoy's default 3)."""


class CircuitBreaker(Strict):
    """Envoy ``circuit_breakers.thresholds[DEFAULT]`` of the callee's cluster (Envoy's defaults)."""

    max_connections: int = pydantic.Field(1024, ge=1)
    max_pending_requests: int = pydantic.Field(1024, ge=1)
    max_requests: int = pydantic.Field(1024, ge=1)
    max_retries: int = pydantic.Field(3, ge=0)
    """Concurrent retries to the cluster; Envoy ignores it when ``retry_budget`` is set."""
    retry_budget: EnvoyRetryBudget | None = None
    """Envoy's retry budget in place of the fixed ``max_retries`` (none: the fixed limit)."""


class RetryPolicy(Strict):
    """Envoy route ``retry_policy``; ``num_retries: 0`` disables Envoy retries. Envoy backs off with
    full jitter, U[0, (2^N − 1) × 25 ms) capped at 250 ms (its defaults); the retries it may have in
    flight at once are the breaker's ``max_retries`` or its ``retry_budget``."""

    retry_on: str = "connect-failure,reset"
    num_retries: int = pydantic.Field(0, ge=0, le=10)
    per_try_timeout_seconds: float | None = pydantic.Field(None, gt=0)
    hedge_on_per_try_timeout: bool = False
    """Envoy's ``hedge_policy``: when an attempt passes ``per_try_timeout_seconds`` send another one
    *without* cancelling the first, and take whichever answers first (the tail-at-scale hedged
    request). Needs ``num_retries`` ≥ 1 and a ``per_try_timeout_seconds``."""

    @pydantic.model_validator(mode="after")
    def _hedging_has_a_trigger(self) -> "RetryPolicy":
        if self.hedge_on_per_try_timeout and (not self.num_retries or self.per_try_timeout_seconds is None):
            raise ValueError("hedge_on_per_try_timeout needs num_retries >= 1 (the hedges allowed) and "
                             "per_try_timeout_seconds (when to hedge)")
        return self


class OutlierDetection(Strict):
    """Envoy ``outlier_detection`` (passive ejection of failing replicas)."""

    consecutive_5xx: int = pydantic.Field(5, ge=1)
    interval_seconds: float = pydantic.Field(2.0, gt=0)
    base_ejection_time_seconds: float = pydantic.Field(10.0, gt=0)
    max_ejection_percent: int = pydantic.Field(50, ge=0, le=100)


class EnvoySettings(Strict):
    """Resilience settings of the Envoy in front of a service."""

    route_timeout_seconds: float = pydantic.Field(5.0, gt=0)
    lb_policy: Literal["least_request", "round_robin", "random"] = "least_request"
    """How the proxy picks a replica: ``least_request`` (power of two choices: the fewer outstanding
    requests of two random hosts) keeps replicas' queues even, nearer one shared queue;
    ``round_robin`` ignores how busy a replica is, so one slow replica keeps getting its share."""
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
    """Per-attempt timeout: an attempt without an answer by then fails (status 0, ``timeout``)."""
    retries: int = pydantic.Field(0, ge=0, le=10)
    """Retries per request on a failed attempt (5xx, timeout, connection error); 0: none."""
    retry: service_settings.Retry = service_settings.Retry()
    """How the retries are scheduled and limited: back-off, retry budget, adaptive throttling
    (the same keys as a call's ``retry``; services/common/settings.py ``Retry``)."""
    deadline_seconds: float | None = pydantic.Field(None, gt=0, le=3600)
    """Overall deadline of a request, from its intended start: no attempt or back-off after it, and
    each attempt tells the server the time left (``x-tailstorm-deadline-ms``). None: attempts are
    bounded by ``timeout_seconds`` each and nothing more."""
    propagate_deadline: bool = True
    """Tell the server each attempt's time left (``x-tailstorm-deadline-ms``), so a replica drops
    work whose caller has given up (a 504 when it leaves the queue too late). False: the naive client
    of a retry storm, whose server keeps working on attempts nobody waits for (the entry then
    assumes its ``default_deadline_seconds``)."""
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
    """Attempts per request at each retrying layer; also the slack above the worst case ∏(r_k + 1)."""
    adaptive_throttling: float = pydantic.Field(0.25, gt=0, le=1)
    """The share of attempts adaptive throttling rejected, against the SRE formula on the window's counts
    (the throttle decides on its own sliding window, so phase totals stand in for it)."""
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


FAULT_KINDS: dict[str, dict] = {
    # kind: what it does, its parameters (required, optional), whether it picks replicas
    "kill": {"does": "SIGKILL the chosen replicas; replacements are created when the fault ends",
             "required": (), "optional": (), "replicas": "required"},
    "latency": {"does": "add extra_latency_seconds to every request's work on the chosen replicas",
                "required": ("extra_latency_seconds",), "optional": (), "replicas": "optional"},
    "error-rate": {"does": "answer error_probability of admitted requests 503 at once",
                   "required": ("error_probability",), "optional": (), "replicas": "optional"},
    "gpu-slow": {"does": "run the emulated GPU at gpu_clock_factor of full clocks (work: gpu only)",
                 "required": ("gpu_clock_factor",), "optional": (), "replicas": "optional"},
    "gpu-stall": {"does": "the emulated GPU makes no progress (work: gpu only)",
                  "required": (), "optional": (), "replicas": "optional"},
    "cpu-hog": {"does": "burn cpu_hog_cores of CPU in background threads of the replica",
                "required": ("cpu_hog_cores",), "optional": (), "replicas": "optional"},
    "dependency-abort": {"does": "the service's Envoy answers percent % of requests with http_status itself",
                         "required": ("percent",), "optional": ("http_status",), "replicas": "none"},
    "dependency-delay": {"does": "the service's Envoy holds percent % of requests for delay_seconds first",
                         "required": ("percent", "delay_seconds"), "optional": (), "replicas": "none"},
    "partition": {"does": "take the chosen replicas out of their Envoy's endpoints while they keep running",
                  "required": (), "optional": (), "replicas": "required"},
}
"""The fault vocabulary (one home: the executor, both backends and the docs follow it). Parameters
named like a field of the replica's ``FaultState`` (services/common/faults.py) are set through the
replica's admin API; ``dependency-*`` act in the service's Envoy (its fault filter)."""
PROXY_FAULT_KINDS = ("dependency-abort", "dependency-delay")
SELECTORS = ("replicas", "replica_share")
FAULT_PARAMETERS = ("extra_latency_seconds", "error_probability", "gpu_clock_factor", "cpu_hog_cores", "percent",
                    "http_status", "delay_seconds")


class Fault(Strict):
    """One scheduled fault: ``kind`` (FAULT_KINDS) on ``service`` from ``at_seconds`` after the first
    stage began, for ``duration_seconds``. Replica faults pick ``replicas`` (a count) or
    ``replica_share`` (a share, rounded up) of the replicas running when the fault starts; without
    either they hit all of them. Replicas started later come up without the fault."""

    kind: Literal[tuple(FAULT_KINDS)]  # type: ignore[valid-type]
    service: service_settings.ServiceName
    at_seconds: float = pydantic.Field(ge=0, le=36_000)
    """Seconds from the first stage's start."""
    duration_seconds: float = pydantic.Field(ge=0, le=36_000)
    """How long it holds; for ``kill``, how long the killed replicas stay missing before their
    replacements are created (0: at once, as a ReplicaSet replaces a deleted pod)."""
    replicas: int | None = pydantic.Field(None, ge=1, le=32)
    """How many of the service's running replicas (capped at the number running)."""
    replica_share: float | None = pydantic.Field(None, gt=0, le=1)
    """Which share of the running replicas, rounded up (1: all of them)."""
    extra_latency_seconds: float | None = pydantic.Field(None, gt=0, le=60)
    """``latency``: added to every request's work, holding its server."""
    error_probability: float | None = pydantic.Field(None, gt=0, le=1)
    """``error-rate``: share of admitted requests answered 503 at once."""
    gpu_clock_factor: float | None = pydantic.Field(None, gt=0, lt=1)
    """``gpu-slow``: the share of full clocks the GPU runs at (thermal throttling)."""
    cpu_hog_cores: float | None = pydantic.Field(None, gt=0, le=8)
    """``cpu-hog``: cores of CPU burnt by background threads of each chosen replica."""
    percent: int | None = pydantic.Field(None, ge=1, le=100)
    """``dependency-*``: the whole percent of requests the proxy faults (Envoy's runtime takes integers)."""
    http_status: int | None = pydantic.Field(None, ge=200, le=599)
    """``dependency-abort``: the status the proxy answers with (default 503)."""
    delay_seconds: float | None = pydantic.Field(None, ge=0.001, le=60)
    """``dependency-delay``: how long the proxy holds a request before forwarding it (whole ms)."""

    @pydantic.model_validator(mode="after")
    def _parameters_fit_the_kind(self) -> "Fault":
        spec = FAULT_KINDS[self.kind]
        allowed = spec["required"] + spec["optional"] + (SELECTORS if spec["replicas"] != "none" else ())
        given = [name for name in SELECTORS + FAULT_PARAMETERS if getattr(self, name) is not None]
        stray = [name for name in given if name not in allowed]
        if stray:
            raise ValueError(f"{self.kind} takes {', '.join(allowed) or 'no parameters'}, not {', '.join(stray)}")
        missing = [name for name in spec["required"] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.kind} needs {', '.join(missing)}")
        if self.replicas is not None and self.replica_share is not None:
            raise ValueError("give replicas (a count) or replica_share (a share), not both")
        if spec["replicas"] == "required" and self.replicas is None and self.replica_share is None:
            raise ValueError(f"{self.kind} needs replicas (a count) or replica_share (1 for all of them)")
        if self.duration_seconds == 0 and self.kind != "kill":
            raise ValueError(f"{self.kind}: duration_seconds must be positive (only a kill may last 0 s)")
        if self.delay_seconds is not None and abs(self.delay_seconds * 1000 - round(self.delay_seconds * 1000)) > 1e-6:
            raise ValueError(f"delay_seconds: Envoy's fault delay takes whole milliseconds; got {self.delay_seconds:g}")
        return self

    @property
    def end_seconds(self) -> float:
        return self.at_seconds + self.duration_seconds

    @property
    def parameters(self) -> dict:
        """The kind's parameters that are set (selection included), as plain data."""
        return {name: getattr(self, name) for name in SELECTORS + FAULT_PARAMETERS if getattr(self, name) is not None}

    @property
    def label(self) -> str:
        """A short caption for plots and reports: ``kill 1 inference replica``, ``formatter's proxy aborts 30% (503)``."""
        if self.replicas is not None:
            who = f"{self.replicas} {self.service} replica{'s' if self.replicas > 1 else ''}"
        elif self.replica_share not in (None, 1):
            who = f"{self.replica_share:.0%} of {self.service}"
        else:
            who = self.service
        captions = {
            "kill": lambda: f"kill {who}",
            "latency": lambda: f"+{self.extra_latency_seconds:g} s latency on {who}",
            "error-rate": lambda: f"{self.error_probability:.0%} errors on {who}",
            "gpu-slow": lambda: f"GPU at {self.gpu_clock_factor:.0%} clocks on {who}",
            "gpu-stall": lambda: f"GPU stalled on {who}",
            "cpu-hog": lambda: f"CPU hog of {self.cpu_hog_cores:g} cores on {who}",
            "dependency-abort": lambda: f"{self.service}'s proxy aborts {self.percent}% ({self.http_status or 503})",
            "dependency-delay": lambda: f"{self.service}'s proxy delays {self.percent}% by {self.delay_seconds:g} s",
            "partition": lambda: f"partition {who} from its proxy",
        }
        return captions[self.kind]()


class Criterion(Strict):
    """One pass criterion: a measured expression (schema/expressions.py) and the bound it must meet.

    ``says`` is the sentence the report prints first, with ``{value}`` (a format spec allowed,
    e.g. ``{value:.1f}``) standing for the measurement.
    """

    name: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    says: str = pydantic.Field(min_length=1)
    measure: str
    """e.g. ``spike.server.inference.arrival_rate_per_second / spike.client.offered_rate_per_second``."""
    at_least: float | None = None
    at_most: float | None = None

    @pydantic.model_validator(mode="after")
    def _is_a_bounded_expression(self) -> "Criterion":
        try:
            expressions.parse(self.measure)
        except expressions.ExpressionError as exc:
            raise ValueError(f"measure: {exc}") from None
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least, at_most or both: the bound the measurement must meet")
        try:
            self.says.format(value=0.0)
        except (KeyError, ValueError, IndexError) as exc:
            raise ValueError(f"says: {exc!r}; only {{value}} (with a format spec) may be filled in") from None
        return self


class Story(Strict):
    """What a catalog scenario is for: the report opens with it, then each criterion's verdict."""

    question: str = pydantic.Field(min_length=1)
    """The one question the scenario answers, as a learner would ask it."""
    teaches: str = pydantic.Field(min_length=1)
    """What a run shows, in one or two sentences."""
    criteria: tuple[Criterion, ...] = ()


class Variant(Strict):
    """Another version of the scenario for a side-by-side run: the same file with ``set`` applied
    (``tailstorm run SCENARIO --variant NAME``; ``make SCENARIO`` runs the base and every variant)."""

    description: str = pydantic.Field(min_length=1)
    """What the variant changes and why, in one sentence (its report says it)."""
    set: dict[str, typing.Any] = pydantic.Field(min_length=1)
    """Dotted path (``services.inference.envoy.lb_policy``) → the value it takes there; a list or a
    block is replaced whole (``story.criteria`` gives the variant its own pass criteria)."""


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
    faults: tuple[Fault, ...] = ()
    """The fault schedule (controllers/chaos.py runs it); times from the first stage's start."""
    story: Story | None = None
    """The question the scenario answers and its pass criteria (the report's first section)."""
    variants: dict[typing.Annotated[str, pydantic.StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")], Variant] = {}
    """Named versions for side-by-side runs; each must itself be a valid scenario (checked at load)."""
    variant: str | None = None
    """Which variant this is (set by the loader; None: the base scenario)."""

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
    def _variant_is_declared(self) -> "Scenario":
        if self.variant is not None and self.variant not in self.variants:
            raise ValueError(f"variant: {self.variant!r} is not under variants (the loader sets it; leave it out)")
        return self

    @pydantic.model_validator(mode="after")
    def _criteria_read_known_phases(self) -> "Scenario":
        roots = {stage.name for stage in self.stages} | {"hpa", "checks"}
        for criterion in (self.story.criteria if self.story else ()):
            for path in expressions.paths(expressions.parse(criterion.measure)):
                if path.parts[0] not in roots:
                    raise ValueError(f"story.criteria.{criterion.name}.measure: {'.'.join(path.parts)!r} starts with "
                                     f"{path.parts[0]!r}, which is no stage; start with one of {', '.join(sorted(roots))}")
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

    @pydantic.model_validator(mode="after")
    def _faults_fit_the_run(self) -> "Scenario":
        works = {}
        for index, fault in enumerate(self.faults):
            where = f"faults.{index} ({fault.kind})"
            if fault.service not in self.services:
                raise ValueError(f"{where}: {fault.service!r} is not under services")
            if fault.end_seconds > self.duration_seconds:
                raise ValueError(f"{where}: ends at {fault.end_seconds:g} s, after the last stage "
                                 f"({self.duration_seconds:g} s); start it earlier or shorten it")
            if fault.kind in ("gpu-slow", "gpu-stall", "latency") and not works:
                works = {name: spec["work"] for name, spec in self.effective_services().items()}
            work = works.get(fault.service)
            if fault.kind.startswith("gpu-") and work != "gpu":
                raise ValueError(f"{where}: {fault.service} runs work: {work}, and only an emulated GPU "
                                 "(work: gpu) can be slowed or stalled; use latency instead")
            if fault.kind == "latency" and work == "gpu":
                raise ValueError(f"{where}: {fault.service} runs work: gpu, whose time comes from the emulated GPU, "
                                 "not a sampled service time; use gpu-slow or gpu-stall instead")
            for other_index, other in enumerate(self.faults[:index]):
                if (other.kind, other.service) == (fault.kind, fault.service) and \
                        fault.at_seconds < other.end_seconds and other.at_seconds < fault.end_seconds:
                    raise ValueError(f"{where} overlaps faults.{other_index}: both are {fault.kind} on "
                                     f"{fault.service}; merge them into one fault or let one end first")
        return self

    def proxy_fault_services(self) -> frozenset[str]:
        """Services whose Envoy needs the fault filter (a ``dependency-*`` fault on them)."""
        return frozenset(f.service for f in self.faults if f.kind in PROXY_FAULT_KINDS)

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


def load_scenario(name_or_path: str | pathlib.Path, *, variant: str | None = None) -> Scenario:
    """Load a scenario by catalog name (``chaos-spike``) or path, as its ``variant`` if given; raise
    ScenarioError on any problem. Every variant of the file is checked too, so a broken one is found
    by ``tailstorm validate`` rather than by a run."""
    path = resolve_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    base = validate(path, data)
    for name in base.variants:
        checked = validate(path, with_variant(path, data, name), label=f"variant {name}: ")
        if name == variant:
            return checked
    if variant is not None:
        known = ", ".join(base.variants) or "none"
        raise ScenarioError(f"{path}: no variant {variant!r}; its variants: {known}")
    return base


def validate(path: pathlib.Path, data: dict, *, label: str = "") -> Scenario:
    try:
        scenario = Scenario.model_validate(data, context={"scenario_dir": path.parent})
    except pydantic.ValidationError as exc:
        raise ScenarioError(f"{path}: {label}invalid scenario:\n" + describe_errors(exc)) from exc
    if scenario.name != path.stem:
        raise ScenarioError(f"{path}: name: {scenario.name!r} must equal the file name {path.stem!r}")
    return scenario


def with_variant(path: pathlib.Path, data: dict, name: str) -> dict:
    """The scenario document with variant ``name``'s ``set`` applied (a deep copy)."""
    document = copy.deepcopy(data)
    for dotted, value in data["variants"][name]["set"].items():
        node = document
        keys = dotted.split(".")
        for key in keys[:-1]:
            child = node.get(key) if isinstance(node, dict) else None
            if child is None and isinstance(node, dict):
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ScenarioError(f"{path}: variants.{name}.set: {dotted!r} goes through {key!r}, which is no block")
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    document["variant"] = name
    return document


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
    errors = exc.errors()
    for error in errors:
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "too_short" and any(other["loc"][:len(error["loc"])] == error["loc"] and
                                                len(other["loc"]) > len(error["loc"]) for other in errors):
            continue  # pydantic counts the length without the items that failed: not a problem of its own
        if not error["loc"]:  # a rule across fields: its message names the fields itself
            lines.append(f"  {error['msg'].removeprefix('Value error, ')}")
        elif error["type"] == "value_error":  # a rule of one block: its sentence, not the whole block back
            lines.append(f"  {field}: {error['msg'].removeprefix('Value error, ')}")
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
