"""``AsyncEngine``: the emulated-time engine stretched onto the wall clock for an asyncio server.

A background task runs engine steps and *sleeps* until each step's wall-clock end, with
emulated seconds x ``time_scale`` = wall seconds (``time_scale`` < 1 runs faster than a real GPU,
> 1 slower, for laptops). Steps shorter than ``COALESCE_WALL_SECONDS`` of wall time are run back
to back and slept off together, so the event loop wakes at most about a thousand times a second.
The process therefore uses little CPU while ``DCGM_FI_DEV_GPU_UTIL`` reads high, which is the
point: CPU-based autoscaling cannot see this load, as with a real LLM server.

``generate`` submits a request at the current emulated time and returns after its last token,
with TTFT, TPOT and end-to-end latency in emulated seconds. Cancelling it (a client that goes
away) aborts the request in the engine, as vLLM does on disconnect.

Faults: ``set_clock_factor`` (throttling), ``stall``/``clear_stall`` (no progress; the GPU reads
100 % busy, like a hung kernel), ``inject_ecc_error`` (every in-flight ``generate`` raises
``errors.EccError``, as do new ones until ``recover``, which stands for a pod restart).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import math
import threading

import prometheus_client

from services.inference.gpu import engine as engine_module
from services.inference.gpu import errors
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import metrics as metrics_module
from services.inference.gpu import models as models_module

COALESCE_WALL_SECONDS = 0.001
"""Steps are run back to back until their wall-clock length reaches this, then slept off at once."""

MIB = 2**20
"""Bytes in a MiB (DCGM reports framebuffer memory in MiB)."""


@dataclasses.dataclass(frozen=True)
class GenerationResult:
    """A finished generation, times in emulated seconds."""

    request_id: int
    """Engine request id."""

    prompt_tokens: int
    """Prompt length."""

    output_tokens: int
    """Tokens generated."""

    ttft_seconds: float
    """Time to first token."""

    tpot_seconds: float
    """Time per output token after the first."""

    e2e_seconds: float
    """Arrival to last token."""

    queue_seconds: float
    """Arrival to the first step that ran the request."""

    preemptions: int
    """Times the request was preempted and recomputed."""


def _result_of(record: engine_module.RequestRecord) -> GenerationResult:
    return GenerationResult(
        request_id=record.request_id, prompt_tokens=record.prompt_tokens, output_tokens=record.output_tokens,
        ttft_seconds=record.ttft_seconds, tpot_seconds=record.tpot_seconds, e2e_seconds=record.e2e_seconds,
        queue_seconds=record.queue_seconds, preemptions=record.preemptions)


class AsyncEngine:
    """One emulated GPU server (model replica on tp GPUs) driven in real time."""

    def __init__(self, hardware: hardware_module.HardwareProfile, model: models_module.ModelProfile,
                 settings: engine_module.EngineSettings | None = None, *, time_scale: float = 1.0,
                 registry: prometheus_client.CollectorRegistry | None = None,
                 utilization_window_seconds: float = 1.0) -> None:
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time_scale must be a positive number of wall seconds per emulated second, "
                             f"got {time_scale}.")
        if utilization_window_seconds <= 0:
            raise ValueError("utilization_window_seconds must be positive.")
        self.hardware = hardware
        self.model = model
        self.settings = settings or engine_module.EngineSettings()
        self.time_scale = time_scale
        self.utilization_window_seconds = utilization_window_seconds
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.metrics = metrics_module.create_metrics(registry=self.registry)
        self.engine = engine_module.Engine(hardware=hardware, model=model, settings=self.settings)
        # Futures are keyed by (engine generation, request id): ids restart when recover() builds a
        # new engine, and a step of the old one may still be published after that.
        self._generation = 0
        self._futures: dict[tuple[int, int], asyncio.Future[GenerationResult]] = {}
        # Busy intervals are read by the gauge callback, which a metrics thread may call.
        self._busy_lock = threading.Lock()
        self._busy: collections.deque[tuple[float, float]] = collections.deque()
        self._stall_started: float | None = None
        self._failure: errors.EccError | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_origin = 0.0
        self._emulated_origin = 0.0
        self._bind_gauges()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background stepping task on the running event loop."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._rebase()
        self._task = self._loop.create_task(self._run(), name="gpu-emulator")

    async def stop(self) -> None:
        """Stop stepping; requests still in flight raise ``errors.EngineStopped``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_futures(list(self._futures), errors.EngineStopped("the GPU emulator was stopped."))

    async def __aenter__(self) -> AsyncEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- requests ----------------------------------------------------------------------------

    async def generate(self, *, prompt_tokens: int, output_tokens: int,
                       priority: engine_module.Priority = engine_module.Priority.INTERACTIVE) -> GenerationResult:
        """Serve one request; returns after its last token (emulated times in the result)."""
        if self._task is None or self._loop is None or self._wake is None:
            raise RuntimeError("AsyncEngine.start() must be awaited before generate().")
        if self._failure is not None:
            raise errors.EccError("the GPU failed with an uncorrectable ECC error (Xid 48); call recover().")
        now = self._emulated_now()
        if not self.engine.has_work:
            # An idle GPU's clock follows the wall clock; a busy one runs step after step in emulated
            # time, so event-loop lateness never inflates a step.
            self.engine.advance_to(seconds=now)
        engine = self.engine
        request_id = engine.submit(prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                   priority=priority, arrival_seconds=min(now, engine.now_seconds))
        key = (self._generation, request_id)
        future: asyncio.Future[GenerationResult] = self._loop.create_future()
        self._futures[key] = future
        self._wake.set()
        try:
            return await future
        except asyncio.CancelledError:
            self._futures.pop(key, None)
            if not engine.is_failed:
                engine.abort(request_id)
            raise

    # --- faults ------------------------------------------------------------------------------

    def set_clock_factor(self, factor: float) -> None:
        """Throttle compute and memory throughput (1.0 nominal, e.g. 0.5 for a hot GPU)."""
        self.engine.set_clock_factor(factor)

    def stall(self) -> None:
        """Hang the GPU: nothing progresses until ``clear_stall``; utilisation reads 100 %."""
        if self.engine.is_stalled:
            return
        self.engine.stall()
        with self._busy_lock:
            self._stall_started = self._wall_now()

    def clear_stall(self) -> None:
        """Resume stepping after a stall."""
        if not self.engine.is_stalled:
            return
        self.engine.advance_to(seconds=self._emulated_now())
        self.engine.clear_stall()
        with self._busy_lock:
            if self._stall_started is not None:
                self._busy.append((self._stall_started, self._wall_now()))
                self._stall_started = None
        self._poke()

    def inject_ecc_error(self) -> None:
        """Crash the GPU with an uncorrectable ECC error at the next step."""
        self.engine.inject_ecc_error()
        self._poke()

    def recover(self) -> None:
        """Replace the engine with a fresh one (empty KV cache), as a pod restart would.

        Requests still in flight on the old engine raise ``errors.EngineStopped``.
        """
        self._fail_futures(list(self._futures), errors.EngineStopped("the GPU was reset."))
        self.engine = engine_module.Engine(hardware=self.hardware, model=self.model, settings=self.settings)
        self._generation += 1
        self._failure = None
        with self._busy_lock:
            self._stall_started = None
        self._rebase()
        self._poke()

    # --- observation -------------------------------------------------------------------------

    @property
    def is_failed(self) -> bool:
        """Whether an ECC error has killed the engine (until ``recover``)."""
        return self._failure is not None or self.engine.is_failed

    def gpu_utilization(self) -> float:
        """Share of the last ``utilization_window_seconds`` of wall time the GPU was busy, 0..1."""
        now = self._wall_now()
        horizon = now - self.utilization_window_seconds
        with self._busy_lock:
            self._forget_busy_before(horizon)
            busy = sum(max(0.0, min(end, now) - max(start, horizon)) for start, end in self._busy)
            if self._stall_started is not None:
                busy += now - max(self._stall_started, horizon)
        return min(1.0, busy / self.utilization_window_seconds)

    # --- internals ---------------------------------------------------------------------------

    def _bind_gauges(self) -> None:
        m = self.metrics
        model_labels = {"model_name": self.model.served_name}
        m.requests_running.labels(**model_labels).set_function(lambda: self.engine.running_count)
        m.requests_waiting.labels(**model_labels).set_function(lambda: self.engine.waiting_count)
        m.gpu_cache_usage.labels(**model_labels).set_function(lambda: self.engine.kv_usage)
        m.kv_cache_usage.labels(**model_labels).set_function(lambda: self.engine.kv_usage)
        used_mib = self.engine.deployment.budget_bytes_per_gpu / MIB
        for gpu in range(self.settings.tensor_parallel_size):
            gpu_labels = {"gpu": str(gpu), "modelName": self.hardware.dcgm_model_name}
            m.gpu_utilization_percent.labels(**gpu_labels).set_function(lambda: 100.0 * self.gpu_utilization())
            m.framebuffer_used_mib.labels(**gpu_labels).set(used_mib)
        for family in (m.prompt_tokens, m.generation_tokens, m.preemptions):
            family.labels(**model_labels)

    def _forget_busy_before(self, horizon: float) -> None:
        """Drop busy intervals that ended before ``horizon``; call with ``_busy_lock`` held."""
        while self._busy and self._busy[0][1] <= horizon:
            self._busy.popleft()

    def _wall_now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    def _rebase(self) -> None:
        self._wall_origin = self._wall_now()
        self._emulated_origin = self.engine.now_seconds

    def _emulated_now(self) -> float:
        return self._emulated_origin + (self._wall_now() - self._wall_origin) / self.time_scale

    def _to_wall(self, emulated_seconds: float) -> float:
        return self._wall_origin + (emulated_seconds - self._emulated_origin) * self.time_scale

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _can_step(self) -> bool:
        engine = self.engine
        return self._failure is None and not engine.is_stalled and (engine.has_work or engine.is_failed)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            if not (self._can_step() and await self._run_steps()):
                await self._wake.wait()

    async def _run_steps(self) -> bool:
        """Run steps worth about ``COALESCE_WALL_SECONDS`` of wall time, sleep until they end, publish.

        Returns whether any step ran (so the caller waits for news instead of spinning).
        """
        engine, generation = self.engine, self._generation
        start = engine.now_seconds
        results: list[engine_module.StepResult] = []
        failure: errors.EccError | None = None
        try:
            while self._can_step() and (engine.now_seconds - start) * self.time_scale < COALESCE_WALL_SECONDS:
                result = engine.step()
                if result is None:
                    break
                results.append(result)
        except errors.EccError as crash:
            failure = crash
        if results:
            wall_end = self._to_wall(engine.now_seconds)
            with self._busy_lock:
                self._forget_busy_before(self._wall_now() - self.utilization_window_seconds)
                self._busy.append((self._to_wall(start), wall_end))
            await asyncio.sleep(max(0.0, wall_end - self._wall_now()))
            for result in results:
                self._publish(result, engine=engine, generation=generation)
        if failure is not None and generation == self._generation:
            self._failure = failure
            self._fail_futures([(generation, i) for i in failure.failed_request_ids], failure)
        return bool(results)

    def _publish(self, result: engine_module.StepResult, *, engine: engine_module.Engine, generation: int) -> None:
        """Observe a step's metrics and resolve the requests it finished (of ``engine``, ``generation``)."""
        m = self.metrics
        name = self.model.served_name
        ttft = m.time_to_first_token.labels(model_name=name)
        for seconds in result.ttft_seconds:
            ttft.observe(seconds)
        tpot = m.time_per_output_token.labels(model_name=name)
        for seconds in result.inter_token_seconds:
            tpot.observe(seconds)
        m.prompt_tokens.labels(model_name=name).inc(result.prompt_tokens)
        m.generation_tokens.labels(model_name=name).inc(result.generated_tokens)
        m.preemptions.labels(model_name=name).inc(len(result.preempted_request_ids))
        e2e = m.e2e_request_latency.labels(model_name=name)
        for record in result.finished:
            e2e.observe(record.e2e_seconds)
            engine.records.pop(record.request_id, None)  # a long-running server keeps no history
            future = self._futures.pop((generation, record.request_id), None)
            if future is not None and not future.done():
                future.set_result(_result_of(record))

    def _fail_futures(self, keys: list[tuple[int, int]], failure: Exception) -> None:
        for key in keys:
            future = self._futures.pop(key, None)
            if future is not None and not future.done():
                future.set_exception(failure)
