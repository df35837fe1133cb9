"""Drive an ``engine.Engine`` through a workload in emulated time (no wall clock, no asyncio).

- ``run_burst``: ``batch`` identical requests arrive together (static batching benchmarks such as
  TensorRT-LLM's ``gptSessionBenchmark``, and the closed-form ``roofline.predict``);
- ``run_closed_loop``: ``concurrency`` clients each send the next request the moment the previous
  one finishes (NIM/genai-perf "concurrency N" benchmarks);
- ``run_open_loop``: Poisson arrivals at a fixed rate, whatever the engine does (load tests).

Every runner stops with ``RuntimeError`` after ``max_steps`` and raises ``errors.EngineStalled``
if the engine is stalled with work to do, so no run can spin forever. Runs of pure decode steps go
through ``Engine.run_decode_stretch`` (same records, a fraction of the Python work), which is what
keeps long-output replays of hundreds of concurrent requests fast enough for the tests.

Latency summaries (``WorkloadResult.summary``) give the mean and the 50th, 90th and 99th
percentiles of TTFT, TPOT and end-to-end latency over the measured requests; percentiles
interpolate linearly between order statistics (``percentile``).
"""
from __future__ import annotations

import dataclasses
import math
import random
import statistics

from services.inference.gpu import engine as engine_module
from services.inference.gpu import errors

DEFAULT_MAX_STEPS = 2_000_000
"""Upper bound on steps per run; a run needing more is a bug or a mistake in its arguments."""

PERCENTILES = (50, 90, 99)
"""Percentiles every latency summary reports."""


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly between order statistics."""
    if not values:
        raise ValueError("percentile of no values: the run finished no measured request.")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in 0..100, got {q}.")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclasses.dataclass(frozen=True)
class WorkloadResult:
    """Finished requests of a run and what the engine did meanwhile."""

    records: tuple[engine_module.RequestRecord, ...]
    """Finished requests, in submission order."""

    measured_from: int
    """Index of the first record that counts for the means (earlier ones are warm-up)."""

    start_seconds: float
    """Emulated time of the first arrival."""

    end_seconds: float
    """Emulated time of the last finish."""

    steps: int
    """Steps the engine ran."""

    max_running: int
    """Largest running batch seen after a step."""

    max_kv_usage: float
    """Largest share of KV blocks held after a step."""

    scheduled_tokens: int
    """Tokens run through the model over the whole run (prefill, recompute and decode)."""

    lost_tokens: int
    """Computed tokens thrown away by preemptions."""

    throughput_tokens_per_second: float
    """Output tokens per emulated second (see each runner for the window it uses)."""

    @property
    def measured(self) -> tuple[engine_module.RequestRecord, ...]:
        """Records after the warm-up."""
        return self.records[self.measured_from:]

    @property
    def mean_ttft_seconds(self) -> float:
        """Mean time to first token of the measured requests."""
        return statistics.fmean(r.ttft_seconds for r in self.measured)

    @property
    def mean_tpot_seconds(self) -> float:
        """Mean time per output token of the measured requests."""
        return statistics.fmean(r.tpot_seconds for r in self.measured)

    @property
    def mean_e2e_seconds(self) -> float:
        """Mean end-to-end latency of the measured requests."""
        return statistics.fmean(r.e2e_seconds for r in self.measured)

    @property
    def preemptions(self) -> int:
        """Preemptions summed over all requests."""
        return sum(r.preemptions for r in self.records)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and ``PERCENTILES`` of TTFT, TPOT and end-to-end latency (seconds) of the measured requests."""
        measured = self.measured
        columns = {"ttft_seconds": [r.ttft_seconds for r in measured],
                   "e2e_seconds": [r.e2e_seconds for r in measured],
                   "tpot_seconds": [r.tpot_seconds for r in measured if r.output_tokens > 1]}
        return {name: {"mean": statistics.fmean(values), **{f"p{q}": percentile(values, q) for q in PERCENTILES}}
                for name, values in columns.items() if values}


@dataclasses.dataclass
class _Tally:
    steps: int = 0
    max_running: int = 0
    max_kv_usage: float = 0.0
    scheduled_tokens: int = 0
    lost_tokens: int = 0

    def add(self, result: engine_module.StepResult) -> None:
        self.steps += 1
        self.max_running = max(self.max_running, result.running + len(result.finished))
        self.max_kv_usage = max(self.max_kv_usage, result.kv_usage)
        self.scheduled_tokens += result.scheduled_tokens
        self.lost_tokens += result.lost_tokens

    def add_stretch(self, stretch: engine_module.DecodeStretch) -> None:
        self.steps += stretch.steps
        self.max_running = max(self.max_running, stretch.running)
        self.max_kv_usage = max(self.max_kv_usage, stretch.kv_usage)
        self.scheduled_tokens += stretch.scheduled_tokens


def _step(engine: engine_module.Engine, tally: _Tally, max_steps: int) -> engine_module.StepResult:
    if tally.steps >= max_steps:
        raise RuntimeError(f"the run needed more than {max_steps} steps.")
    result = engine.step()
    if result is None:
        if engine.is_stalled:
            raise errors.EngineStalled("the GPU is stalled; an emulated-time run cannot progress.")
        raise RuntimeError("the scheduler made no progress although requests are in flight.")
    tally.add(result)
    return result


def _progress(engine: engine_module.Engine, tally: _Tally, max_steps: int, *,
              until_seconds: float = math.inf) -> engine_module.StepResult | None:
    """Run the coming decode stretch (None) or, if there is none, one step (its result)."""
    stretch = engine.run_decode_stretch(max_steps=max_steps - tally.steps, until_seconds=until_seconds)
    if stretch is not None:
        tally.add_stretch(stretch)
        return None
    return _step(engine, tally, max_steps)


def _result(engine: engine_module.Engine, ids: list[int], tally: _Tally, *, start: float, measured_from: int,
            throughput: float) -> WorkloadResult:
    records = tuple(engine.records[i] for i in ids)
    return WorkloadResult(
        records=records, measured_from=measured_from, start_seconds=start,
        end_seconds=max(r.finish_seconds for r in records), steps=tally.steps, max_running=tally.max_running,
        max_kv_usage=tally.max_kv_usage, scheduled_tokens=tally.scheduled_tokens, lost_tokens=tally.lost_tokens,
        throughput_tokens_per_second=throughput)


def run_burst(engine: engine_module.Engine, *, batch: int, prompt_tokens: int, output_tokens: int,
              priority: engine_module.Priority = engine_module.Priority.INTERACTIVE,
              max_steps: int = DEFAULT_MAX_STEPS) -> WorkloadResult:
    """``batch`` requests arrive at once; throughput is all output over the time to the last finish."""
    start = engine.now_seconds
    ids = [engine.submit(prompt_tokens=prompt_tokens, output_tokens=output_tokens, priority=priority)
           for _ in range(batch)]
    tally = _Tally()
    while engine.has_work:
        _progress(engine, tally, max_steps)
    duration = engine.now_seconds - start
    return _result(engine, ids, tally, start=start, measured_from=0,
                   throughput=batch * output_tokens / duration)


def run_closed_loop(engine: engine_module.Engine, *, concurrency: int, requests: int, prompt_tokens: int,
                    output_tokens: int, warmup_requests: int | None = None,
                    max_steps: int = DEFAULT_MAX_STEPS) -> WorkloadResult:
    """``concurrency`` clients, ``requests`` in all; each client resubmits when its request finishes.

    The first ``warmup_requests`` (default: ``concurrency``, the initial burst) are left out of the
    means. Throughput is Little's law over the measured requests, concurrency x output / mean e2e,
    which is what a steady closed loop delivers.
    """
    if requests < concurrency:
        raise ValueError(f"requests ({requests}) must be at least concurrency ({concurrency}).")
    start = engine.now_seconds
    ids = [engine.submit(prompt_tokens=prompt_tokens, output_tokens=output_tokens) for _ in range(concurrency)]
    tally = _Tally()
    while engine.has_work:
        result = _progress(engine, tally, max_steps)
        for _ in result.finished if result is not None else ():
            if len(ids) < requests:
                ids.append(engine.submit(prompt_tokens=prompt_tokens, output_tokens=output_tokens))
    warmup = concurrency if warmup_requests is None else warmup_requests
    measured = [engine.records[i] for i in ids[warmup:]] or [engine.records[i] for i in ids]
    mean_e2e = sum(r.e2e_seconds for r in measured) / len(measured)
    return _result(engine, ids, tally, start=start, measured_from=min(warmup, len(ids) - 1),
                   throughput=concurrency * output_tokens / mean_e2e)


def poisson_arrivals(*, arrival_rate_per_second: float, requests: int, seed: int,
                     start_seconds: float = 0.0) -> list[float]:
    """``requests`` arrival times of a Poisson process (exponential gaps), reproducible by ``seed``."""
    if arrival_rate_per_second <= 0:
        raise ValueError(f"arrival_rate_per_second must be positive, got {arrival_rate_per_second}.")
    stream = random.Random(seed)
    times, now = [], start_seconds
    for _ in range(requests):
        now += stream.expovariate(arrival_rate_per_second)
        times.append(now)
    return times


def run_open_loop(engine: engine_module.Engine, *, arrival_seconds: list[float], prompt_tokens: int,
                  output_tokens: int, priorities: list[engine_module.Priority] | None = None,
                  max_steps: int = DEFAULT_MAX_STEPS) -> WorkloadResult:
    """Submit a request at each of ``arrival_seconds`` (sorted) whatever the engine's state.

    Arrivals during a step are submitted with their own arrival time and wait for the next step.
    Throughput is all output over first arrival to last finish.
    """
    default_priorities = [engine_module.Priority.INTERACTIVE] * len(arrival_seconds)
    pending = list(zip(arrival_seconds, priorities or default_priorities, strict=True))
    ids: list[int] = []
    tally = _Tally()
    index = 0
    while index < len(pending) or engine.has_work:
        if not engine.has_work and index < len(pending):
            engine.advance_to(seconds=pending[index][0])
        while index < len(pending) and pending[index][0] <= engine.now_seconds:
            arrival, priority = pending[index]
            ids.append(engine.submit(prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                     priority=priority, arrival_seconds=arrival))
            index += 1
        if engine.has_work:
            until = pending[index][0] if index < len(pending) else math.inf
            _progress(engine, tally, max_steps, until_seconds=until)
    start = arrival_seconds[0]
    end = max(engine.records[i].finish_seconds for i in ids)
    return _result(engine, ids, tally, start=start, measured_from=0,
                   throughput=len(ids) * output_tokens / (end - start))
