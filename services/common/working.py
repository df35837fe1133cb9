"""The work model that makes each replica a queue the textbooks can describe.

A request is *admitted* if fewer than ``servers + queue_limit`` requests are in the replica's
system, else it is shed (M/M/c/K blocking, K = servers + queue_limit). Admitted requests wait in
strict FIFO order for one of ``servers`` servers, hold it for a sampled service time, and release
it. Downstream calls happen after the server is released, so each service is its own queue and
the chain is a tandem network. ``work="wait"`` sleeps (a GPU or disk the CPU does not see);
``work="cpu"`` burns that much thread CPU time, which is what CPU-based autoscaling measures.
Any other kind of work (``work="gpu"``) is a ``WorkModel`` that the service owning it hands to the
runtime, so this shared code stays free of any one service.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import time
import typing

from services.common import settings as settings_module


class Shed(Exception):
    """Raised when the admission queue is full; the handler answers 503."""


def sample_service_time_seconds(spec: settings_module.ServiceTime, rng: random.Random) -> float:
    """One draw of the service time; every distribution has mean ``spec.mean_seconds``."""
    if spec.distribution == "deterministic":
        return spec.mean_seconds
    if spec.distribution == "exponential":
        return rng.expovariate(1.0 / spec.mean_seconds)
    # lognormal with E[X] = exp(mu + sigma²/2) = mean
    mu = math.log(spec.mean_seconds) - spec.sigma**2 / 2
    return rng.lognormvariate(mu, spec.sigma)


def burn_cpu(seconds: float) -> None:
    """Spin until this thread has used ``seconds`` of CPU time (not wall time)."""
    deadline = time.thread_time() + seconds
    x = 0
    while time.thread_time() < deadline:
        for _ in range(2000):
            x += 1


async def perform_work(seconds: float, kind: str, *, granted_at: float | None = None) -> None:
    """Hold the server for ``seconds``: burn CPU, or wait until ``granted_at + seconds``.

    Waiting work counts from the moment the server was handed over (``granted_at``, monotonic), not
    from when the event loop got round to this coroutine: the loop's scheduling lag is an artefact
    of emulating c servers in one process, and would otherwise inflate every service time.
    """
    if kind == "cpu":
        await asyncio.to_thread(burn_cpu, seconds)
        return
    start = time.monotonic() if granted_at is None else granted_at
    await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))


class Station:
    """``servers`` FIFO servers with a bounded waiting room, with counts for the gauges."""

    def __init__(self, *, servers: int, queue_limit: int) -> None:
        self.servers = servers
        self.queue_limit = queue_limit
        self.busy = 0
        self._waiters: collections.deque[asyncio.Future[float]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> float:
        """Take a server, waiting in FIFO order; return when it was granted (monotonic seconds).

        Raises :class:`Shed` if the waiting room is full.
        """
        if self.busy < self.servers and not self._waiters:
            self.busy += 1
            return time.monotonic()
        if len(self._waiters) >= self.queue_limit:
            raise Shed()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            return await future  # release() hands its server over, so busy is already counted
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the server was handed over just as we were cancelled
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(time.monotonic())  # hand the server to the next in line, now
                return
        self.busy -= 1


BULKHEAD_HEADER = "x-tailstorm-bulkhead"
"""Marks a 429 a tenant bulkhead answered (its value: the tenant), as the fault header marks injected faults."""


class TenantBulkhead:
    """Per-tenant concurrency caps of one replica: a bulkhead per tenant, so that one tenant's surge
    cannot take every queue slot and server the others need.

    A tenant may hold at most its limit of the replica's requests at once, counted from admission
    until the answer (queueing, work and downstream calls: everything a request holds of the
    replica). A request over its tenant's limit is refused at once, before it takes a queue slot or
    a server, so a refusal costs the others nothing.

    The refusal is **429 Too Many Requests**, not 503. RFC 6585 §4: 429 says *this client* sent
    too many requests; 503 says the service is unavailable — to everyone. The difference matters
    along the chain: callers retry 5xx (``retrying.py``), so a 503 would multiply the very surge
    the bulkhead refuses; Envoy's outlier detection counts consecutive 5xx, so it would eject a
    replica that is healthy for every other tenant; adaptive throttling counts a 5xx against the
    backend for all of its traffic. A 429 is none of these: an answer, not a failure. It is what
    per-tenant limits answer elsewhere too (Envoy's rate-limit filters, the Kubernetes API
    server's priority and fairness). Callers pass a callee's 4xx back unchanged
    (``calling.DownstreamRefused``), so the client sees the tenant's 429.
    """

    def __init__(self, limits: dict[str, int], *, default: int | None = None) -> None:
        self.limits = dict(limits)
        self.default = default
        self.held: dict[str, int] = {}

    def limit_of(self, tenant: str | None) -> int | None:
        """The tenant's cap; None when it is not capped (no tenant, or none set for it)."""
        if tenant is None:
            return None
        return self.limits.get(tenant, self.default)

    def try_enter(self, tenant: str | None) -> bool:
        """Count one more request of ``tenant`` if its cap allows; False when it is at its cap."""
        limit = self.limit_of(tenant)
        if limit is None:
            return True
        if self.held.get(tenant, 0) >= limit:
            return False
        self.held[tenant] = self.held.get(tenant, 0) + 1
        return True

    def leave(self, tenant: str | None) -> None:
        """One request of ``tenant`` that entered has been answered."""
        if self.limit_of(tenant) is not None:
            self.held[tenant] -= 1


class WorkModel(typing.Protocol):
    """A service's own kind of work (the inference service's ``work: gpu``), handed to the runtime.

    The shared runtime names no service: a service whose work is more than a sampled service time
    passes an object with these methods to ``app.create_app(..., work_model=...)``, and the runtime
    calls it for every request of a replica whose ``work`` setting equals ``kind``.
    """

    kind: str
    """The ``work`` setting this model serves (e.g. ``"gpu"``)."""

    def start(self, settings: settings_module.ServiceSettings,
              registry: typing.Any) -> contextlib.AbstractAsyncContextManager[typing.Any]:
        """The replica's worker (e.g. an emulated GPU) as an async context: started on enter, stopped on exit."""
        ...

    async def serve(self, worker: typing.Any, body: dict) -> str | None:
        """Do one request's work; None on success, else why it failed (answered 503)."""
        ...

    def apply_faults(self, worker: typing.Any, faults: typing.Any) -> None:
        """Make the worker match the fault state just set through the admin API."""
        ...

    def is_failed(self, worker: typing.Any) -> bool:
        """Whether the worker is dead (the replica is then neither live nor ready)."""
        ...
