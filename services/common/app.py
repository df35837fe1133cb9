"""The app factory all five services share.

``create_app(settings, registry)`` builds one replica: ``POST /v1/work`` (admit → queue → work →
downstream calls → answer), ``/healthz`` (liveness: the process serves), ``/readyz`` (readiness:
started, past its emulated start time, not faulted unready), ``/metrics`` and the fault admin API.
Each service module supplies its defaults and, if it has one, its own kind of work
(``work_model``, a ``working.WorkModel``: the inference service's emulated GPU); this module names
no service. Run one with ``uvicorn --factory services.<name>.app:create_app``.
"""
from __future__ import annotations

import contextlib
import logging
import random
import time

import typing

import aiohttp
import fastapi
import prometheus_client
import pydantic
from fastapi import responses

from services.common import calling, faults, retrying, working
from services.common import metrics as metrics_module
from services.common import settings as settings_module

logger = logging.getLogger(__name__)
ROUTE = "/v1/work"


class WorkRequest(pydantic.BaseModel):
    """The body of ``POST /v1/work`` (all fields optional; an empty body means the defaults).

    Every service passes it on to its callees unchanged, so the class a client gave a request (its
    tenant and priority) reaches every hop: each replica's tenant bulkhead reads the tenant, the GPU
    work model reads the token counts and the priority. A body that does not fit is answered 422
    naming the field, never 500.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    prompt_tokens: int = pydantic.Field(128, ge=1, le=1_000_000)
    """Prompt length the GPU work model prefills."""
    output_tokens: int = pydantic.Field(64, ge=1, le=100_000)
    """Tokens the GPU work model decodes."""
    priority: typing.Literal["interactive", "batch"] = "interactive"
    """Admission class on the GPU engine's waiting queue (``policy: priority``)."""
    tenant: str | None = pydantic.Field(None, pattern=settings_module.TENANT_PATTERN)
    """Who sent the request, for per-tenant bulkheads (``tenant_limits``); None: no tenant, not
    bulkheaded. Lower case letters, digits and dashes, as a Prometheus label value stays readable."""


class Replica:
    """Everything a request handler needs, created once per app."""

    def __init__(self, settings: settings_module.ServiceSettings, metrics: metrics_module.ServiceMetrics,
                 work_model: working.WorkModel | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.work_model = work_model if work_model is not None and work_model.kind == settings.work else None
        self.station = working.Station(servers=settings.servers, queue_limit=settings.queue_limit)
        self.bulkhead = working.TenantBulkhead(settings.tenant_limits, default=settings.tenant_limit_default)
        self.rng = random.Random(settings.seed)
        self.retry_states = [calling.client_state(call) for call in settings.calls]
        self.state = {"faults": faults.FaultState()}
        self.cpu_hog = faults.CpuHog()
        self.started_monotonic = time.monotonic()
        self.client: aiohttp.ClientSession | None = None
        self.worker = None  # what work_model.start() yielded (the inference service's emulated GPU)

    @property
    def faults(self) -> faults.FaultState:
        return self.state["faults"]

    def is_ready(self) -> bool:
        started_for = time.monotonic() - self.started_monotonic
        return started_for >= self.settings.ready_after_seconds and not self.faults.unready and self.is_alive()

    def is_alive(self) -> bool:
        return not (self.worker is not None and self.work_model.is_failed(self.worker))

    def apply_faults(self, state: faults.FaultState) -> None:
        self.cpu_hog.set(state.cpu_hog_cores)
        if self.worker is not None:
            self.work_model.apply_faults(self.worker, state)

    def update_gauges(self) -> None:
        service = self.settings.service
        self.metrics.queue_depth.labels(service).set(self.station.waiting)
        self.metrics.busy_servers.labels(service).set(self.station.busy)

    async def serve(self, body: dict, deadline: calling.Deadline) -> responses.JSONResponse:
        """The tenant's bulkhead first (a request over its tenant's cap is answered 429 at once, before
        it takes a queue slot or a server), then admit, queue, work, call downstream."""
        tenant = body.get("tenant")
        if not self.bulkhead.try_enter(tenant):
            self.metrics.tenant_rejected.labels(self.settings.service, tenant).inc()
            return error_response(429, f"{self.settings.service}: tenant {tenant} is at its limit of "
                                       f"{self.bulkhead.limit_of(tenant)} concurrent requests on this replica",
                                  headers={working.BULKHEAD_HEADER: tenant})
        try:
            return await self.serve_admitted(body, deadline)
        finally:
            self.bulkhead.leave(tenant)

    async def serve_admitted(self, body: dict, deadline: calling.Deadline) -> responses.JSONResponse:
        """Admit, queue, work, call downstream; the answer's status tells what happened."""
        service = self.settings.service
        try:
            granted_at = await self.station.acquire()
        except working.Shed:
            self.metrics.shed.labels(service, "queue_full").inc()
            return error_response(503, f"{service}: admission queue full", shed=True)
        try:
            self.update_gauges()
            if deadline.remaining_seconds <= 0:
                self.metrics.shed.labels(service, "deadline").inc()
                return error_response(504, f"{service}: deadline expired while queued")
            if self.faults.injects_error(self.rng):
                self.metrics.faults.labels(service, "error").inc()
                return error_response(503, f"{service}: injected fault", headers={faults.FAULT_HEADER: "injected"})
            if self.worker is not None:
                failure = await self.work_model.serve(self.worker, body)
                if failure is not None:
                    return error_response(503, f"{service}: {failure}",
                                          headers={faults.FAULT_HEADER: self.work_model.kind})
            else:
                await self.work(granted_at)
        finally:
            self.station.release()
            self.update_gauges()
        return await self.call_downstream(body, deadline)

    async def work(self, granted_at: float) -> None:
        spec, faulted = self.settings.service_time, self.faults
        draws = [working.sample_service_time_seconds(spec, self.rng) for _ in range(self.settings.shards)]
        # shards are looked up in parallel: the request holds its server until the slowest answers
        seconds = max(draws) * faulted.slowdown_factor + faulted.extra_latency_seconds
        await working.perform_work(seconds, self.settings.work, granted_at=granted_at)
        self.metrics.work_duration.labels(self.settings.service).observe(time.monotonic() - granted_at)

    async def call_downstream(self, body: dict, deadline: calling.Deadline) -> responses.JSONResponse:
        hops = [self.settings.service]
        for call, state in zip(self.settings.calls, self.retry_states):
            try:
                results = await calling.call_step(
                    self.client, call, service=self.settings.service, deadline=deadline, body=body,
                    metrics=self.metrics, rng=self.rng, state=state)
            except calling.DownstreamFailed as exc:
                return error_response(exc.status, f"{self.settings.service}: {exc}",
                                      headers={"x-tailstorm-failed-hop": exc.target})
            for result in results:
                hops.extend(result)
        return responses.JSONResponse({"service": self.settings.service, "replica": self.settings.replica,
                                       "hops": hops})


def error_response(status: int, detail: str, *, shed: bool = False,
                   headers: dict[str, str] | None = None) -> responses.JSONResponse:
    headers = dict(headers or {})
    if shed:
        headers["x-tailstorm-shed"] = "1"
    return responses.JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(
    settings: settings_module.ServiceSettings | None = None,
    registry: prometheus_client.CollectorRegistry | None = None,
    *,
    work_model: working.WorkModel | None = None,
) -> fastapi.FastAPI:
    """One replica; ``work_model`` serves ``work`` settings beyond wait and cpu (its ``kind``)."""
    settings = settings or settings_module.load_settings()
    if settings.work not in ("wait", "cpu") and (work_model is None or work_model.kind != settings.work):
        raise SystemExit(f"invalid service settings:\n  TAILSTORM_WORK: {settings.work!r} work needs the work model "
                         f"of a service that has one, and the {settings.service} service has none; use 'wait' or "
                         f"'cpu'.")
    registry = registry or prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    replica = Replica(settings, metrics_module.create_metrics(settings, registry), work_model)

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI):
        # keep-alive below uvicorn's 5 s so a pooled connection is never one the callee is closing
        connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=3.0)
        async with contextlib.AsyncExitStack() as stack:
            replica.client = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            if replica.work_model is not None:
                replica.worker = await stack.enter_async_context(replica.work_model.start(settings, registry))
            replica.started_monotonic = time.monotonic()
            logger.info("%s/%s serving with %d servers", settings.service, settings.replica, settings.servers)
            yield
            replica.cpu_hog.set(0)

    app = fastapi.FastAPI(title=f"tailstorm {settings.service}", lifespan=lifespan)
    app.state.replica = replica
    app.include_router(faults.create_router(state_holder=replica.state, token=settings.admin_token,
                                            on_change=replica.apply_faults))

    @app.post(ROUTE)
    async def handle(request: fastapi.Request,
                     work: typing.Annotated[WorkRequest | None, fastapi.Body()] = None) -> responses.JSONResponse:
        """Do this service's work, then its downstream calls."""
        started = time.perf_counter()
        deadline = calling.Deadline.from_header(request.headers.get(retrying.DEADLINE_HEADER),
                                                default_seconds=settings.default_deadline_seconds)
        in_flight = replica.metrics.in_flight.labels(settings.service)
        in_flight.inc()
        if not replica.is_ready():
            replica.metrics.unready_requests.labels(settings.service).inc()
        response = error_response(500, f"{settings.service}: internal error")
        try:
            body = work.model_dump(exclude_unset=True) if work is not None else {}
            response = await replica.serve(body, deadline)
            return response
        finally:
            in_flight.dec()
            replica.metrics.request_duration.labels(settings.service, ROUTE, str(response.status_code)).observe(
                time.perf_counter() - started)

    @app.get("/metrics")
    async def metrics() -> responses.Response:
        """Prometheus exposition of this replica's registry (no redirect to /metrics/)."""
        return responses.Response(prometheus_client.generate_latest(registry),
                                  media_type=prometheus_client.CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> responses.JSONResponse:
        """Liveness: the process answers and its GPU (if any) has not failed."""
        alive = replica.is_alive()
        return responses.JSONResponse({"alive": alive}, status_code=200 if alive else 503)

    @app.get("/readyz")
    async def readyz() -> responses.JSONResponse:
        """Readiness: started, past the emulated start time and not faulted unready."""
        ready = replica.is_ready()
        replica.metrics.ready.labels(settings.service).set(1 if ready else 0)
        return responses.JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    return app
