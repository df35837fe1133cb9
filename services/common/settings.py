"""Typed settings every tailstorm service reads at start-up.

One ``ServiceSettings`` object describes one replica: who it is, its work model (the queue the
textbooks describe: ``servers`` in parallel, a service-time distribution, a bounded admission
queue) and its place in the call graph (``calls``). The local backend and the Helm chart pass it as
environment variables with the ``TAILSTORM_`` prefix; structured fields (``service_time``,
``calls``) are JSON. Impossible values fail at start-up with the field named, never at request
time.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import typing
from typing import Literal

import pydantic
import pydantic_settings

ServiceName = Literal["gateway", "auth", "featurestore", "inference", "formatter"]
"""The five services, in chain order: the one place their names are spelled (scenarios, settings
and the chart take them from here; a run's own files carry them as data)."""
SERVICE_NAMES: tuple[str, ...] = typing.get_args(ServiceName)
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""A tenant's name: what a request body's ``tenant`` and a ``tenant_limits`` key must look like
(lower case letters, digits and dashes, at most 63: readable as a Prometheus label value)."""
Tenant = typing.Annotated[str, pydantic.StringConstraints(pattern=TENANT_PATTERN)]


class ServiceTime(pydantic.BaseModel):
    """Distribution of the time one server spends on one request (one shard lookup)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    distribution: Literal["exponential", "deterministic", "lognormal"] = "exponential"
    """exponential: M/M/c; deterministic: M/D/c; lognormal: heavy-ish tail (set ``sigma``)."""
    mean_seconds: float = pydantic.Field(0.005, gt=0, le=60)
    """Mean service time in seconds; the service rate per server is 1 / mean_seconds."""
    sigma: float = pydantic.Field(0.5, gt=0, le=3)
    """Lognormal only: standard deviation of the underlying normal (0.5 → SCV ≈ 0.28)."""

    @property
    def scv(self) -> float:
        """Squared coefficient of variation of the service time (Kingman's c_s²)."""
        if self.distribution == "exponential":
            return 1.0
        if self.distribution == "deterministic":
            return 0.0
        return math.exp(self.sigma**2) - 1.0


class GpuSettings(pydantic.BaseModel):
    """The emulated GPU behind ``work: gpu`` (services/inference/gpu; profiles and models listed by
    ``tailstorm gpu --list``)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    profile: str = "h100-sxm"
    """Hardware profile (datasheet constants)."""
    model: str = "llama-3-8b"
    """Served model profile."""
    tensor_parallel_size: int = pydantic.Field(1, ge=1, le=16)
    """GPUs the model is split over."""
    policy: Literal["fifo", "priority"] = "fifo"
    """Admission order from the engine's waiting queue."""
    time_scale: float = pydantic.Field(1.0, gt=0, le=1000)
    """Wall seconds per emulated second (> 1 stretches time for slow machines; reports state it)."""
    kv_capacity_tokens: int | None = pydantic.Field(None, ge=16)
    """Shrink the KV cache to reach KV pressure at laptop-scale load; None: from the roofline."""


class RetryBudget(pydantic.BaseModel):
    """The SRE book's per-client retry budget ("Handling Overload"): a retry is made only while the
    retries sent over the last ``window_seconds`` stay within ``ratio`` × the requests sent over it,
    plus a floor of ``min_retries_per_second`` (Finagle's ``RetryBudget``) so a client with little
    traffic can still retry. Requests are first attempts; retries are every later attempt."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    ratio: float = pydantic.Field(0.1, ge=0, le=10)
    """Retries allowed per request over the window (the SRE book's 10 %: at most 1.1 attempts per request)."""
    min_retries_per_second: float = pydantic.Field(0.0, ge=0, le=10_000)
    """Retries allowed on top, per second of window, whatever the request count (0: the book's rule alone)."""
    window_seconds: float = pydantic.Field(10.0, gt=0, le=600)
    """The sliding window the two counts cover (Finagle's default TTL, 10 s)."""


class AdaptiveThrottle(pydantic.BaseModel):
    """The SRE book's client-side adaptive throttling ("Handling Overload"): before each attempt the
    client rejects it locally with probability max(0, (requests − K·accepts)/(requests + 1)), the
    counts taken over the last ``window_seconds`` (every attempt asked for is a request, rejected ones
    included; an accept is an answer below 500). A rejected attempt is not sent; its request fails."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    multiplier: float = pydantic.Field(2.0, ge=1, le=100)
    """K: the client may send about K times what the backend accepts (the book's 2)."""
    window_seconds: float = pydantic.Field(120.0, gt=0, le=600)
    """The sliding window of the two counts (the book's two minutes)."""


class Retry(pydantic.BaseModel):
    """How a caller schedules and limits its retries (``retries`` says how many it may make).

    The policies of the testbed are combinations of these keys: ``retries: 0`` is *none*;
    ``backoff: none`` retries *immediately*; ``backoff: full_jitter`` (the default) waits a capped
    exponential back-off with full jitter; ``budget`` adds the SRE per-client *retry budget*;
    ``throttle`` adds *adaptive throttling*. Every policy honours the deadline: no attempt (and no
    back-off) once the request's time is up. The schedule is services/common/retrying.py.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    backoff: Literal["none", "full_jitter"] = "full_jitter"
    """none: retry at once; full_jitter: retry N waits U[0, min(cap, (2^N − 1)·base)), Envoy's schedule."""
    base_seconds: float = pydantic.Field(0.025, gt=0, le=60)
    """Back-off base interval (Envoy's default 25 ms)."""
    cap_seconds: float = pydantic.Field(0.25, gt=0, le=60)
    """Back-off cap (Envoy's default max_interval, 10 × the base)."""
    budget: RetryBudget | None = None
    """The SRE per-client retry budget; none: every failure may be retried up to ``retries``."""
    throttle: AdaptiveThrottle | None = None
    """Client-side adaptive throttling of every attempt; none: nothing is rejected locally."""

    @pydantic.model_validator(mode="after")
    def _cap_is_not_below_the_base(self) -> "Retry":
        if self.cap_seconds < self.base_seconds:
            raise ValueError(f"cap_seconds ({self.cap_seconds:g}) is below base_seconds ({self.base_seconds:g}): "
                             "the first back-off would already be capped; raise cap_seconds")
        return self


class Call(pydantic.BaseModel):
    """One step of a service's call graph: an HTTP call through the callee's Envoy."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    service: str
    """Callee name (one of the topology's services)."""
    url: str = ""
    """Base URL of the callee's Envoy listener; filled in by the backend, not by scenarios."""
    timeout_seconds: float = pydantic.Field(2.0, gt=0, le=300)
    """Per-attempt timeout; the propagated deadline shortens it when less time is left."""
    retries: int = pydantic.Field(0, ge=0, le=10)
    """Application-level retries on 5xx, timeouts and connection errors (Envoy may retry too)."""
    retry: Retry = Retry()
    """How those retries are scheduled and limited (back-off, retry budget, adaptive throttling)."""
    parallel: int = pydantic.Field(1, ge=1, le=64)
    """Fan-out: this many identical calls in parallel; the step ends when all have answered."""


class ServiceSettings(pydantic_settings.BaseSettings):
    """Settings of one replica, read from ``TAILSTORM_*`` environment variables."""

    model_config = pydantic_settings.SettingsConfigDict(
        env_prefix="TAILSTORM_", extra="ignore", frozen=True
    )

    service: ServiceName
    """Which of the five services this replica is; also the metric label and the Envoy cluster."""
    replica: str = "r0"
    """Replica id, unique within the service (a pod name on Kubernetes)."""
    servers: int = pydantic.Field(1, ge=1, le=256)
    """Parallel servers per replica (a FIFO semaphore): the c of M/M/c is replicas × servers."""
    queue_limit: int = pydantic.Field(64, ge=0, le=100_000)
    """Requests that may wait for a server; the next one is shed with 503 (M/M/c/K, K = c + this)."""
    service_time: ServiceTime = ServiceTime()
    work: Literal["wait", "cpu", "gpu"] = "wait"
    """wait: the server sleeps (I/O-like, invisible to CPU autoscaling); cpu: it burns CPU; gpu: the
    request runs on the emulated GPU (continuous batching; ``servers`` bounds what is submitted)."""
    gpu: GpuSettings = GpuSettings()
    """The emulated GPU, used when ``work`` is ``gpu``."""
    shards: int = pydantic.Field(1, ge=1, le=64)
    """Parallel shard lookups per request (featurestore's fan-out); the request waits for the slowest."""
    calls: tuple[Call, ...] = ()
    """Downstream calls made in sequence after this service's own work."""
    tenant_limits: dict[Tenant, pydantic.PositiveInt] = {}
    """Per-tenant bulkheads: tenant → the most of that tenant's requests this replica holds at once
    (queued, working or calling downstream); one more is answered 429 at once, without taking a
    queue slot or a server (``working.TenantBulkhead`` says why 429). Empty: no bulkheads."""
    tenant_limit_default: pydantic.PositiveInt | None = None
    """The cap of every tenant not under ``tenant_limits``; None: such tenants are not capped.
    Requests without a tenant are never capped."""
    default_deadline_seconds: float = pydantic.Field(10.0, gt=0, le=600)
    """Budget for a request that arrives without a propagated deadline (at the entry service)."""
    ready_after_seconds: float = pydantic.Field(0.0, ge=0, le=600)
    """Emulated application start: /readyz fails for this long after start-up."""
    admin_token: str = ""
    """Token for the fault-injection admin API; empty disables the API."""
    seed: int | None = None
    """Seed for service-time sampling; None draws from the OS."""

    @pydantic.model_validator(mode="after")
    def _calls_name_known_services(self) -> "ServiceSettings":
        for call in self.calls:
            if call.service not in SERVICE_NAMES:
                raise ValueError(f"calls: unknown service {call.service!r}; known: {', '.join(SERVICE_NAMES)}")
            if not call.url:
                raise ValueError(f"calls: the call to {call.service!r} has no url")
        return self

    @property
    def histogram_buckets(self) -> tuple[float, ...]:
        """Request-duration buckets sized to this service's own service time.

        Log-spaced, two per factor of two (±19% worst-case interpolation error), from mean/20 up to
        mean×400 and at least 60 s (longer than any client timeout of the catalog, so an overloaded
        GPU's 30 s answers do not fall into +Inf), so that quantiles from the 1st to beyond the 99.9th percentile
        of queueing plus service time fall inside fine buckets rather than being bucket artefacts.
        """
        return log_buckets(low=self.service_time.mean_seconds / 20, high=max(60.0, self.service_time.mean_seconds * 400))


def log_buckets(*, low: float, high: float, per_doubling: int = 2) -> tuple[float, ...]:
    """Geometric bucket bounds from ``low`` to at least ``high``, ``per_doubling`` per factor 2."""
    if not 0 < low < high:
        raise ValueError(f"bucket range must satisfy 0 < low < high, got low={low} high={high}")
    ratio = 2 ** (1 / per_doubling)
    count = math.ceil(math.log(high / low, ratio)) + 1
    return tuple(float(f"{low * ratio**i:.6g}") for i in range(count))


def load_settings(*, defaults: dict | None = None, **overrides: object) -> ServiceSettings:
    """Read settings from the environment, with keyword overrides (used by tests).

    ``defaults`` are a service's own defaults: they apply only where no ``TAILSTORM_*`` variable
    is set, so the backend's environment always wins over them and ``overrides`` win over both.

    A bad value raises ``SystemExit`` with every offending field named, so a replica that cannot
    start says why in its log instead of a pydantic traceback.
    """
    unset_defaults = {key: value for key, value in (defaults or {}).items()
                      if f"TAILSTORM_{key.upper()}" not in os.environ}
    try:
        return ServiceSettings(**{**unset_defaults, **overrides})  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        lines = [f"  TAILSTORM_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise SystemExit("invalid service settings:\n" + "\n".join(lines)) from exc


def environment(settings: dict) -> dict[str, str]:
    """``TAILSTORM_*`` variables for settings given as plain data (structured ones as JSON): what
    both backends hand a replica, and what :class:`ServiceSettings` reads back."""
    return {f"TAILSTORM_{key.upper()}": json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
            for key, value in settings.items() if value is not None}


def effective(service: str, overrides: dict) -> ServiceSettings:
    """The settings a replica of ``service`` runs with: the service's own ``DEFAULTS`` (its
    ``services/<name>/app.py``), then ``overrides``, as :func:`load_settings` combines them."""
    defaults = importlib.import_module(f"services.{service}.app").DEFAULTS
    return ServiceSettings(**{**defaults, **overrides})
