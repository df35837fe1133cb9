"""The asyncio driver ``serving.AsyncEngine``.

We test these aspects:
- with a tiny time scale it completes requests and exports the vLLM and DCGM metrics on the
  registry it was given (token counters, TTFT/TPOT histograms, gauges);
- a lone request on an idle GPU takes exactly the roofline time (no wall-clock leakage);
- in real time the GPU utilisation gauge reads high while the process uses little CPU;
- a stall holds requests (GPU reads 100 % busy) until cleared;
- an ECC error fails in-flight and new requests until ``recover``;
- throttling stretches decode steps by the roofline factor;
- cancelling ``generate`` aborts the request; ``stop`` fails what is still in flight;
- misuse (generate before start, non-positive time scale) is rejected.

Tests use ``asyncio.run`` and wait for conditions with deadlines, never for a fixed hope.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import prometheus_client
import pytest

from services.inference.gpu import engine
from services.inference.gpu import errors
from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline
from services.inference.gpu import serving

VLLM_LABELS = {"model_name": models.LLAMA_3_8B.served_name}
DCGM_LABELS = {"gpu": "0", "modelName": hardware.H100_SXM.dcgm_model_name}


def make_gpu(*, time_scale: float, registry: prometheus_client.CollectorRegistry | None = None,
             **options: float) -> serving.AsyncEngine:
    return serving.AsyncEngine(hardware.H100_SXM, models.LLAMA_3_8B, engine.EngineSettings(),
                               time_scale=time_scale, registry=registry or prometheus_client.CollectorRegistry(),
                               **options)


async def eventually(predicate: Callable[[], bool], *, timeout_seconds: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, failing after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_seconds} s")
        await asyncio.sleep(0.002)


def test_the_driver_completes_requests_and_exports_vllm_and_dcgm_metrics() -> None:
    registry = prometheus_client.CollectorRegistry()

    async def scenario() -> list[serving.GenerationResult]:
        async with make_gpu(time_scale=0.001, registry=registry) as gpu:
            requests = [gpu.generate(prompt_tokens=256, output_tokens=32) for _ in range(6)]
            return await asyncio.wait_for(asyncio.gather(*requests), timeout=10)

    results = asyncio.run(scenario())
    sample = registry.get_sample_value
    assert all(r.output_tokens == 32 and 0 < r.ttft_seconds < r.e2e_seconds for r in results)
    assert all(r.e2e_seconds == pytest.approx(r.ttft_seconds + 31 * r.tpot_seconds) for r in results)
    assert sample("vllm:prompt_tokens_total", VLLM_LABELS) == 6 * 256
    assert sample("vllm:generation_tokens_total", VLLM_LABELS) == 6 * 32
    assert sample("vllm:time_to_first_token_seconds_count", VLLM_LABELS) == 6
    assert sample("vllm:time_per_output_token_seconds_count", VLLM_LABELS) == 6 * 31
    assert sample("vllm:e2e_request_latency_seconds_count", VLLM_LABELS) == 6
    assert sample("vllm:num_preemptions_total", VLLM_LABELS) == 0
    assert sample("vllm:num_requests_running", VLLM_LABELS) == 0
    assert sample("vllm:num_requests_waiting", VLLM_LABELS) == 0
    assert sample("vllm:kv_cache_usage_perc", VLLM_LABELS) == sample("vllm:gpu_cache_usage_perc", VLLM_LABELS) == 0
    assert sample("DCGM_FI_DEV_FB_USED", DCGM_LABELS) == pytest.approx(79.22 * 0.9 * 1024, rel=0.01)


def test_a_lone_request_on_an_idle_gpu_takes_exactly_the_roofline_time() -> None:
    async def scenario() -> tuple[serving.GenerationResult, roofline.Prediction]:
        async with make_gpu(time_scale=0.001) as gpu:
            result = await asyncio.wait_for(gpu.generate(prompt_tokens=300, output_tokens=40), timeout=5)
            e = gpu.engine
            return result, roofline.predict(e.deployment, batch=1, prompt_tokens=300, output_tokens=40,
                                            max_num_batched_tokens=e.max_num_batched_tokens,
                                            max_num_seqs=e.max_num_seqs)

    result, closed = asyncio.run(scenario())
    assert result.ttft_seconds == pytest.approx(closed.ttft_seconds, rel=1e-6)
    assert result.tpot_seconds == pytest.approx(closed.tpot_seconds, rel=1e-3)
    assert result.queue_seconds == 0


def test_gpu_utilization_reads_high_while_the_process_uses_little_cpu() -> None:
    registry = prometheus_client.CollectorRegistry()
    sample = registry.get_sample_value

    async def scenario() -> tuple[float, float, float]:
        async with make_gpu(time_scale=1.0, registry=registry, utilization_window_seconds=0.1) as gpu:
            wall, cpu = time.perf_counter(), time.process_time()
            requests = asyncio.gather(*(gpu.generate(prompt_tokens=128, output_tokens=48) for _ in range(4)))
            await eventually(lambda: (sample("vllm:generation_tokens_total", VLLM_LABELS) or 0) >= 80)
            utilization = sample("DCGM_FI_DEV_GPU_UTIL", DCGM_LABELS) or 0.0
            await asyncio.wait_for(requests, timeout=10)
            return utilization, time.process_time() - cpu, time.perf_counter() - wall

    utilization, cpu_seconds, wall_seconds = asyncio.run(scenario())
    assert utilization > 80
    assert wall_seconds > 0.3
    assert cpu_seconds < 0.3 * wall_seconds


def test_a_stall_holds_requests_until_cleared_and_reads_fully_busy() -> None:
    registry = prometheus_client.CollectorRegistry()

    async def scenario() -> serving.GenerationResult:
        async with make_gpu(time_scale=0.001, registry=registry, utilization_window_seconds=0.05) as gpu:
            gpu.stall()
            request = asyncio.ensure_future(gpu.generate(prompt_tokens=64, output_tokens=4))
            await eventually(lambda: gpu.engine.waiting_count == 1)
            await asyncio.sleep(0.06)  # however long we wait, a stalled GPU makes no progress
            assert not request.done()
            assert registry.get_sample_value("DCGM_FI_DEV_GPU_UTIL", DCGM_LABELS) == pytest.approx(100)
            gpu.clear_stall()
            return await asyncio.wait_for(request, timeout=5)

    result = asyncio.run(scenario())
    assert result.ttft_seconds > 0.05 / 0.001


def test_an_ecc_error_fails_in_flight_and_new_requests_until_recover() -> None:
    async def scenario() -> serving.GenerationResult:
        async with make_gpu(time_scale=1.0) as gpu:
            request = asyncio.ensure_future(gpu.generate(prompt_tokens=64, output_tokens=500))
            await eventually(lambda: gpu.engine.running_count == 1)
            gpu.inject_ecc_error()
            with pytest.raises(errors.EccError):
                await asyncio.wait_for(request, timeout=5)
            assert gpu.is_failed
            with pytest.raises(errors.EccError):
                await gpu.generate(prompt_tokens=16, output_tokens=2)
            gpu.recover()
            return await asyncio.wait_for(gpu.generate(prompt_tokens=16, output_tokens=2), timeout=5)

    assert asyncio.run(scenario()).output_tokens == 2


def test_throttling_stretches_decode_steps_by_the_roofline_factor() -> None:
    async def scenario() -> tuple[serving.GenerationResult, serving.GenerationResult]:
        async with make_gpu(time_scale=0.001) as gpu:
            nominal = await asyncio.wait_for(gpu.generate(prompt_tokens=64, output_tokens=20), timeout=5)
            gpu.set_clock_factor(0.5)
            throttled = await asyncio.wait_for(gpu.generate(prompt_tokens=64, output_tokens=20), timeout=5)
            return nominal, throttled

    nominal, throttled = asyncio.run(scenario())
    overhead = engine.EngineSettings().efficiency.step_overhead_seconds
    assert throttled.tpot_seconds - overhead == pytest.approx(2 * (nominal.tpot_seconds - overhead), rel=0.01)


def test_cancelling_generate_aborts_the_request_in_the_engine() -> None:
    async def scenario() -> None:
        async with make_gpu(time_scale=1.0) as gpu:
            request = asyncio.ensure_future(gpu.generate(prompt_tokens=64, output_tokens=1000))
            await eventually(lambda: gpu.engine.running_count == 1)
            request.cancel()
            await eventually(lambda: gpu.engine.running_count == 0 and gpu.engine.kv_usage == 0)

    asyncio.run(scenario())


def test_stop_fails_requests_still_in_flight() -> None:
    async def scenario() -> None:
        gpu = make_gpu(time_scale=1.0)
        await gpu.start()
        request = asyncio.ensure_future(gpu.generate(prompt_tokens=64, output_tokens=1000))
        await eventually(lambda: gpu.engine.running_count == 1)
        await gpu.stop()
        with pytest.raises(errors.EngineStopped):
            await request

    asyncio.run(scenario())


def test_generate_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(make_gpu(time_scale=1.0).generate(prompt_tokens=8, output_tokens=8))


def test_a_non_positive_time_scale_is_rejected() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        make_gpu(time_scale=0.0)
