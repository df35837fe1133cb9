"""Roofline step times, KV-cache capacity and closed-form serving predictions.

One engine step (one forward pass over the batch) on each of the ``tp`` GPUs takes

    step = max(FLOPs / (peak x MFU x clock), bytes / (bandwidth x MBU x clock))
           + 2 x layers x (all-reduce latency + 2 (tp - 1) / tp x new_tokens x hidden x 2 B
                           / (link bandwidth x link utilisation))        [tp > 1 only]
           + fixed per-step overhead

- FLOPs = 2 x layer weights x new tokens + 2 x vocab x hidden x sampled sequences
  + 4 x layers x heads x head_dim x (query, key) pairs, split over the tp GPUs;
- bytes = all weights once (read once per step whatever the batch) + the KV cache of every
  scheduled sequence's context + the KV written for the new tokens, split over the tp GPUs;
- tensor parallelism (Megatron-style) costs two all-reduces per layer (after attention and after
  the MLP) of new_tokens x hidden activations, as a ring over the interconnect with a latency term;
- the clock factor (thermal throttling, 1.0 = nominal) scales compute and memory throughput alike;
  overhead and interconnect are not throttled.

Decode at small batch is memory-bound (the weight read dominates, so step time barely grows with
batch until the batch's FLOPs catch up); prefill of hundreds of tokens is compute-bound.

KV capacity follows vLLM's memory profiler: HBM x gpu_memory_utilization - weights - non-torch
memory - activation peak, divided into 16-token blocks.
"""
from __future__ import annotations

import dataclasses

from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module

# vllm-project/vllm PR #10511 "Memory profiling results", Meta-Llama-3-8B on H100 (Dec 2024):
# non_torch_memory 1.79 GiB at TP1 and 3.58 GiB at TP2 (NCCL buffers), PyTorch activation peak
# 1.26 GiB; 79.22 x 0.90 - 14.96 - 1.79 - 1.26 = 53.29 GiB available for the KV cache.
NON_TORCH_BYTES = int(1.79 * hardware_module.GIB)
"""CUDA context, cuBLAS workspaces and the like, per GPU."""

NCCL_BYTES = int(1.79 * hardware_module.GIB)
"""Extra non-torch memory per GPU once tensor parallelism starts NCCL."""

ACTIVATION_PEAK_BYTES = int(1.26 * hardware_module.GIB)
"""Peak activation memory of vLLM's profiling forward pass, per GPU."""


@dataclasses.dataclass(frozen=True)
class Efficiency:
    """How far below datasheet peaks real kernels run; calibrated in docs/gpu-emulator.md."""

    # Defaults fitted to the published H100 rows in calibration.MEASUREMENTS (table and method in
    # docs/gpu-emulator.md); they are this emulator's fit, not measurements of their own.

    compute_utilization: float = 0.5
    """MFU: share of peak dense tensor FLOP/s a compute-bound step reaches (0..1]."""

    bandwidth_utilization: float = 0.8
    """MBU: share of peak memory bandwidth a memory-bound step reaches (0..1]."""

    step_overhead_seconds: float = 0.0025
    """Fixed cost per step: scheduler, input preparation, kernel launches, sampling, seconds."""

    allreduce_latency_seconds: float = 20e-6
    """Latency of one tensor-parallel all-reduce independent of its size, seconds."""

    interconnect_utilization: float = 0.8
    """Share of the per-direction link bandwidth an all-reduce ring achieves (0..1); assumed."""

    def __post_init__(self) -> None:
        for field in ("compute_utilization", "bandwidth_utilization", "interconnect_utilization"):
            value = getattr(self, field)
            if not 0 < value <= 1:
                raise ValueError(f"{field} must be in (0, 1]: it is a share of a datasheet peak, got {value}.")
        for field in ("step_overhead_seconds", "allreduce_latency_seconds"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must not be negative: it is a duration.")


@dataclasses.dataclass(frozen=True)
class Deployment:
    """A model served on ``tensor_parallel_size`` GPUs of one hardware profile."""

    hardware: hardware_module.HardwareProfile
    """The GPU every shard runs on."""

    model: models_module.ModelProfile
    """The model and its precision."""

    tensor_parallel_size: int = 1
    """GPUs the model is split over (Megatron tensor parallelism)."""

    gpu_memory_utilization: float = 0.9
    """Share of each GPU's memory the server may use (vLLM ``--gpu-memory-utilization``, default 0.9)."""

    efficiency: Efficiency = Efficiency()
    """Achieved shares of the datasheet peaks and fixed costs."""

    reserved_bytes_per_gpu: int | None = None
    """Non-KV, non-weight memory per GPU; None: vLLM's profile (non-torch + activation peak [+ NCCL])."""

    def __post_init__(self) -> None:
        tp = self.tensor_parallel_size
        if tp < 1:
            raise ValueError(f"tensor_parallel_size must be at least 1, got {tp}.")
        if self.model.attention_heads % tp:
            raise ValueError(f"tensor_parallel_size {tp} does not divide the "
                             f"{self.model.attention_heads} attention heads of {self.model.name}.")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}.")
        if self.kv_bytes_per_gpu <= 0:
            raise ValueError(
                f"{self.model.name} does not fit on {tp} x {self.hardware.name}: "
                f"{self.weight_bytes_per_gpu / hardware_module.GIB:.1f} GiB of weights per GPU leave no "
                f"room for a KV cache in {self.budget_bytes_per_gpu / hardware_module.GIB:.1f} GiB.")

    @property
    def peak_flops_per_second(self) -> float:
        """Dense tensor peak of one GPU in the model's precision."""
        return self.hardware.dense_flops_per_second(bytes_per_value=self.model.bytes_per_value)

    @property
    def weight_bytes_per_gpu(self) -> int:
        """Weight bytes each GPU holds (every matrix, embedding and LM head are split over tp)."""
        return -(-self.model.weight_bytes // self.tensor_parallel_size)

    @property
    def budget_bytes_per_gpu(self) -> int:
        """Memory the server may use per GPU: usable memory x gpu_memory_utilization."""
        return int(self.hardware.usable_memory_bytes * self.gpu_memory_utilization)

    @property
    def reserve_bytes_per_gpu(self) -> int:
        """Memory per GPU that is neither weights nor KV cache."""
        if self.reserved_bytes_per_gpu is not None:
            return self.reserved_bytes_per_gpu
        nccl = NCCL_BYTES if self.tensor_parallel_size > 1 else 0
        return NON_TORCH_BYTES + nccl + ACTIVATION_PEAK_BYTES

    @property
    def kv_bytes_per_gpu(self) -> int:
        """KV-cache pool per GPU: budget - weights - reserve (vLLM's available_kv_cache_memory)."""
        return self.budget_bytes_per_gpu - self.weight_bytes_per_gpu - self.reserve_bytes_per_gpu

    @property
    def kv_bytes_per_token_per_gpu(self) -> int:
        """KV bytes one token of context occupies on each GPU."""
        return self.model.kv_bytes_per_token_per_gpu(tensor_parallel_size=self.tensor_parallel_size)

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens of context the KV pool holds (before rounding into blocks)."""
        return self.kv_bytes_per_gpu // self.kv_bytes_per_token_per_gpu

    def kv_capacity_blocks(self, *, block_size_tokens: int) -> int:
        """Whole KV blocks of ``block_size_tokens`` the pool holds."""
        return self.kv_capacity_tokens // block_size_tokens


@dataclasses.dataclass(frozen=True)
class StepShape:
    """What one engine step computes, summed over the sequences scheduled in it."""

    new_tokens: int
    """Tokens run through the model this step: prefill chunk tokens plus one per decoding sequence."""

    sampled_sequences: int
    """Sequences that produce a token this step (finished prefill or decode): LM-head rows."""

    attention_pairs: int
    """Sum over new tokens of the context each attends to (query, key pairs), causal."""

    context_tokens: int
    """KV-cache tokens read: the context each scheduled sequence had before the step."""


@dataclasses.dataclass(frozen=True)
class StepCost:
    """The roofline terms of one step, per GPU."""

    flops_per_gpu: float
    """Floating-point operations each GPU performs."""

    bytes_per_gpu: float
    """Device-memory bytes each GPU reads or writes (weights + KV)."""

    compute_seconds: float
    """FLOPs / (peak x MFU x clock)."""

    memory_seconds: float
    """Bytes / (bandwidth x MBU x clock)."""

    communication_seconds: float
    """Tensor-parallel all-reduces (0 on one GPU)."""

    overhead_seconds: float
    """Fixed per-step overhead."""

    @property
    def total_seconds(self) -> float:
        """Step duration: max(compute, memory) + communication + overhead."""
        return max(self.compute_seconds, self.memory_seconds) + self.communication_seconds + self.overhead_seconds

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which roofline term sets the kernel time."""
        return "compute" if self.compute_seconds >= self.memory_seconds else "memory"


def step_flops(model: models_module.ModelProfile, shape: StepShape) -> float:
    """FLOPs of one step on all GPUs together: weights, LM head for sampled rows, attention."""
    weights = 2.0 * model.layer_parameters * shape.new_tokens
    lm_head = 2.0 * model.lm_head_parameters * shape.sampled_sequences
    attention = 4.0 * model.layers * model.attention_width * shape.attention_pairs
    return weights + lm_head + attention


def step_bytes_per_gpu(deployment: Deployment, shape: StepShape) -> float:
    """Bytes one GPU moves in a step: its weight shard (decoder + LM head) and its KV heads."""
    model = deployment.model
    tp = deployment.tensor_parallel_size
    weights = (model.layer_parameters + model.lm_head_parameters) * model.bytes_per_value / tp
    kv = deployment.kv_bytes_per_token_per_gpu * (shape.context_tokens + shape.new_tokens)
    return weights + kv


def allreduce_seconds(deployment: Deployment, *, tokens: int) -> float:
    """All tensor-parallel all-reduces of one step: 2 per layer, ring over the interconnect."""
    tp = deployment.tensor_parallel_size
    if tp == 1:
        return 0.0
    model = deployment.model
    efficiency = deployment.efficiency
    message_bytes = tokens * model.hidden_size * model.activation_bytes_per_value
    link = deployment.hardware.interconnect_bytes_per_second * efficiency.interconnect_utilization
    one = efficiency.allreduce_latency_seconds + 2.0 * (tp - 1) / tp * message_bytes / link
    return 2 * model.layers * one


def step_cost(deployment: Deployment, shape: StepShape, *, clock_factor: float = 1.0) -> StepCost:
    """The roofline cost of one step of ``shape``; ``clock_factor`` < 1 models throttling."""
    if clock_factor <= 0:
        raise ValueError(f"clock_factor must be positive, got {clock_factor}.")
    efficiency = deployment.efficiency
    flops = step_flops(deployment.model, shape) / deployment.tensor_parallel_size
    moved = step_bytes_per_gpu(deployment, shape)
    compute_rate = deployment.peak_flops_per_second * efficiency.compute_utilization * clock_factor
    memory_rate = (deployment.hardware.memory_bandwidth_bytes_per_second
                   * efficiency.bandwidth_utilization * clock_factor)
    return StepCost(
        flops_per_gpu=flops, bytes_per_gpu=moved,
        compute_seconds=flops / compute_rate, memory_seconds=moved / memory_rate,
        communication_seconds=allreduce_seconds(deployment, tokens=shape.new_tokens),
        overhead_seconds=efficiency.step_overhead_seconds)


def decode_shape(*, batch: int, context_tokens: int) -> StepShape:
    """A pure decode step: ``batch`` sequences, each with ``context_tokens`` of context."""
    return StepShape(new_tokens=batch, sampled_sequences=batch,
                     attention_pairs=batch * (context_tokens + 1), context_tokens=batch * context_tokens)


def prefill_shape(*, tokens: int, prompt_tokens: int, completed_prompts: int) -> StepShape:
    """A prefill chunk of ``tokens`` from prompts of ``prompt_tokens``; attention averages half a prompt."""
    return StepShape(new_tokens=tokens, sampled_sequences=completed_prompts,
                     attention_pairs=tokens * (prompt_tokens + 1) // 2, context_tokens=0)


def blocks_for(tokens: int, *, block_size_tokens: int) -> int:
    """KV blocks needed to hold ``tokens`` (rounded up)."""
    return -(-tokens // block_size_tokens)


def max_concurrent_sequences(deployment: Deployment, *, prompt_tokens: int, output_tokens: int,
                             block_size_tokens: int, max_num_seqs: int) -> int:
    """Sequences of prompt + output whose full KV fits at once, capped by ``max_num_seqs``.

    A finished sequence has held prompt + output - 1 tokens of KV (the last token is never fed
    back), rounded up to whole blocks.
    """
    per_sequence = blocks_for(prompt_tokens + output_tokens - 1, block_size_tokens=block_size_tokens)
    fitting = deployment.kv_capacity_blocks(block_size_tokens=block_size_tokens) // per_sequence
    return min(fitting, max_num_seqs)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Closed-form serving numbers for a burst of identical requests."""

    ttft_seconds: float
    """Mean time to first token over the burst (queueing behind earlier prefills included)."""

    tpot_seconds: float
    """Time per output token after the first, at the largest concurrent batch."""

    throughput_tokens_per_second: float
    """Output tokens of the whole burst divided by the time until the last one finishes."""

    max_concurrent_sequences: int
    """Sequences whose complete KV fits at once (capped by max_num_seqs)."""

    kv_capacity_tokens: int
    """Tokens the KV pool holds."""

    decode_bound: str
    """Which roofline term limits the decode step: ``"memory"`` or ``"compute"``."""

    prefill_bound: str
    """Which roofline term limits a full prefill chunk."""


def _prefill_finish_times(deployment: Deployment, *, batch: int, prompt_tokens: int,
                          max_num_batched_tokens: int, clock_factor: float) -> tuple[list[float], str]:
    """Seconds from burst start until each request's prompt is prefilled, in FCFS chunks."""
    total = batch * prompt_tokens
    finish_times: list[float] = []
    elapsed = 0.0
    done_tokens = 0
    bound = "memory"
    while done_tokens < total:
        tokens = min(max_num_batched_tokens, total - done_tokens)
        completed = (done_tokens + tokens) // prompt_tokens - done_tokens // prompt_tokens
        shape = prefill_shape(tokens=tokens, prompt_tokens=prompt_tokens, completed_prompts=completed)
        cost = step_cost(deployment, shape, clock_factor=clock_factor)
        if done_tokens == 0:
            bound = cost.bound
        elapsed += cost.total_seconds
        done_tokens += tokens
        finish_times.extend([elapsed] * completed)
    return finish_times, bound


def predict(deployment: Deployment, *, batch: int, prompt_tokens: int, output_tokens: int,
            max_num_batched_tokens: int, max_num_seqs: int, block_size_tokens: int = 16,
            clock_factor: float = 1.0) -> Prediction:
    """Closed-form TTFT, TPOT, throughput and concurrency for ``batch`` requests arriving together.

    Static-batching view: requests run in waves of as many as fit in the KV cache; each wave
    prefills its prompts in FCFS chunks of ``max_num_batched_tokens`` and then decodes
    ``output_tokens - 1`` steps at its batch size, with the mean context (prompt + output / 2).
    """
    for name, value in (("batch", batch), ("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens),
                        ("max_num_batched_tokens", max_num_batched_tokens), ("max_num_seqs", max_num_seqs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")
    concurrent = max_concurrent_sequences(deployment, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                          block_size_tokens=block_size_tokens, max_num_seqs=max_num_seqs)
    if concurrent < 1:
        raise ValueError(f"one request of {prompt_tokens} + {output_tokens} tokens does not fit in the KV cache "
                         f"of {deployment.kv_capacity_tokens} tokens.")
    wave = min(batch, concurrent)
    context = prompt_tokens + output_tokens // 2
    decode = step_cost(deployment, decode_shape(batch=wave, context_tokens=context), clock_factor=clock_factor)
    ttft_sum, start, remaining, prefill_bound = 0.0, 0.0, batch, "compute"
    while remaining:
        size = min(wave, remaining)
        finishes, prefill_bound = _prefill_finish_times(
            deployment, batch=size, prompt_tokens=prompt_tokens,
            max_num_batched_tokens=max_num_batched_tokens, clock_factor=clock_factor)
        wave_decode = step_cost(deployment, decode_shape(batch=size, context_tokens=context),
                                clock_factor=clock_factor).total_seconds
        ttft_sum += sum(start + finish for finish in finishes)
        start += finishes[-1] + (output_tokens - 1) * wave_decode
        remaining -= size
    return Prediction(
        ttft_seconds=ttft_sum / batch, tpot_seconds=decode.total_seconds if output_tokens > 1 else 0.0,
        throughput_tokens_per_second=batch * output_tokens / start,
        max_concurrent_sequences=concurrent, kv_capacity_tokens=deployment.kv_capacity_tokens,
        decode_bound=decode.bound, prefill_bound=prefill_bound)
