"""Serving stacks: what differs between vLLM, TensorRT-LLM and NIM on the same GPU and model.

The roofline (``roofline``) is the GPU's side of a step and is the same whoever launches the
kernels. Two things are the serving software's and differ between stacks:

- **The fixed cost of a step** (``step_overhead_seconds``): scheduling the batch, preparing its
  inputs, launching the kernels, sampling and handing tokens back, whatever of it is not hidden
  behind the GPU's work. vLLM schedules in Python between steps; its own profile of v0.5.3 (Llama 3
  8B, one H100) found the GPU busy only 38 % of the time, with 33 % spent in the HTTP server and
  29 % in scheduling and preparing steps, and v0.6 removed much of it with multi-step scheduling and
  asynchronous output processing (vLLM blog, "vLLM v0.6.0: 2.7x Throughput Improvement and 5x
  Latency Reduction", 2024-09-05). TensorRT-LLM's executor is C++ and overlaps the next step's
  scheduling with the current step (in-flight batching, CUDA graphs), so less of it shows. NIM runs
  a TensorRT-LLM engine behind an HTTP front end that tokenizes and streams every token, which
  costs more than the bare executor. The 2023 TensorRT-LLM (v0.5/v0.6, ``gptSessionBenchmark``
  static batching, no CUDA graphs) launched every layer's kernels per step. None of these is
  published as a number; each value below is fitted on its stack's rows of the fit half of the
  calibration set (``calibration``) and the docs give the table it came from.
- **How the KV pool is sized** (``kv_pool_rule``): vLLM takes ``gpu_memory_utilization`` of the
  whole GPU and gives the KV cache what weights and buffers leave of it (``vllm`` rule);
  TensorRT-LLM gives the KV cache ``kv_cache_free_gpu_mem_fraction`` (default 0.9) of the memory
  left free after weights and buffers (``trtllm`` rule; TensorRT-LLM docs, "KV cache" / LLM API
  ``KvCacheConfig.free_gpu_memory_fraction``).
"""
from __future__ import annotations

import dataclasses

from services.inference.gpu import engine as engine_module
from services.inference.gpu import roofline

# Fitted per stack on the fit half of calibration.MEASUREMENTS (calibration.fit; docs/gpu-emulator.md).
FITTED_NIM_STEP_OVERHEAD_SECONDS = 0.0025
FITTED_NIM_PREFILL_OVERHEAD_SECONDS = 0.003
FITTED_NIM_ALLREDUCE_LATENCY_SECONDS = 20e-6
FITTED_TRTLLM_STATIC_STEP_OVERHEAD_SECONDS = 0.0028
FITTED_TRTLLM_STATIC_PREFILL_OVERHEAD_SECONDS = 0.001
FITTED_TRTLLM_STATIC_ALLREDUCE_LATENCY_SECONDS = 55e-6


@dataclasses.dataclass(frozen=True)
class ServingStack:
    """One serving stack's per-step fixed cost and KV-pool rule."""

    name: str
    """Command-line key."""

    description: str
    """What it stands for."""

    step_overhead_seconds: float
    """Fixed cost per step not hidden behind GPU work, seconds (fitted, see the module docstring)."""

    prefill_overhead_seconds: float
    """Extra fixed cost of a step with a prefill chunk, which no CUDA graph covers (fitted)."""

    allreduce_latency_seconds: float
    """Fixed latency of one tensor-parallel all-reduce as this stack's communication library runs it (fitted)."""

    kv_pool_rule: str
    """``vllm`` or ``trtllm`` (``roofline.Deployment.kv_pool_rule``)."""

    gqa_kv_reuse: bool = True
    """Whether decode attention reads a KV head once per query-head group (``roofline.Deployment.gqa_kv_reuse``)."""

    def efficiency(self, base: roofline.Efficiency | None = None) -> roofline.Efficiency:
        """``base`` (default: the fitted kernel efficiencies) with this stack's fixed costs."""
        return dataclasses.replace(base or roofline.Efficiency(), step_overhead_seconds=self.step_overhead_seconds,
                                   prefill_overhead_seconds=self.prefill_overhead_seconds,
                                   allreduce_latency_seconds=self.allreduce_latency_seconds)

    def engine_settings(self, *, efficiency: roofline.Efficiency | None = None,
                        **settings: object) -> engine_module.EngineSettings:
        """``EngineSettings`` of this stack: its efficiency (or ``efficiency`` as given), KV-pool rule, GQA reuse."""
        return engine_module.EngineSettings(
            efficiency=efficiency or self.efficiency(), kv_pool_rule=self.kv_pool_rule,
            gqa_kv_reuse=self.gqa_kv_reuse, **settings)  # type: ignore[arg-type]


VLLM = ServingStack(
    name="vllm", description="vLLM (V0 >= 0.6 / V1): Python scheduler, CUDA graphs for decode",
    step_overhead_seconds=roofline.FITTED_VLLM_STEP_OVERHEAD_SECONDS,
    prefill_overhead_seconds=roofline.FITTED_VLLM_PREFILL_OVERHEAD_SECONDS,
    allreduce_latency_seconds=roofline.FITTED_ALLREDUCE_LATENCY_SECONDS, kv_pool_rule="vllm")
"""The stack the testbed's inference service imitates (its scheduler and metrics are vLLM's)."""

NIM = ServingStack(
    name="nim", description="NVIDIA NIM for LLMs with a TensorRT-LLM profile behind its HTTP front end",
    step_overhead_seconds=FITTED_NIM_STEP_OVERHEAD_SECONDS, prefill_overhead_seconds=FITTED_NIM_PREFILL_OVERHEAD_SECONDS,
    allreduce_latency_seconds=FITTED_NIM_ALLREDUCE_LATENCY_SECONDS, kv_pool_rule="trtllm")
"""NIM 1.x TensorRT-LLM profiles, as benchmarked with genai-perf."""

TRTLLM_STATIC = ServingStack(
    name="trtllm-0.5", description="TensorRT-LLM v0.5/v0.6 static batching (gptSessionBenchmark, 2023)",
    step_overhead_seconds=FITTED_TRTLLM_STATIC_STEP_OVERHEAD_SECONDS,
    prefill_overhead_seconds=FITTED_TRTLLM_STATIC_PREFILL_OVERHEAD_SECONDS,
    allreduce_latency_seconds=FITTED_TRTLLM_STATIC_ALLREDUCE_LATENCY_SECONDS, kv_pool_rule="trtllm",
    gqa_kv_reuse=False)
"""The 2023 TensorRT-LLM releases whose static-batching tables are in the calibration set."""

STACKS: dict[str, ServingStack] = {stack.name: stack for stack in (VLLM, NIM, TRTLLM_STATIC)}
"""Every serving stack by its command-line key."""


def get_stack(name: str) -> ServingStack:
    """Return the serving stack called ``name``; raise ``KeyError`` with the known names."""
    try:
        return STACKS[name]
    except KeyError:
        raise KeyError(f"unknown serving stack {name!r}; known: {', '.join(STACKS)}") from None
