"""Roofline step times, KV-cache capacity, closed-form serving predictions, and the roofline made visible.

One engine step (one forward pass over the batch) on each of the ``tp`` GPUs takes

    compute = FLOPs / (peak x MFU x clock)
    memory  = weight bytes / (bandwidth x MBU_weights x clock) + KV bytes / (bandwidth x MBU_kv x clock)
    step    = (compute^p + memory^p)^(1/p)
              + 2 x layers x (all-reduce latency + 2 (tp - 1) / tp x new_tokens x hidden x 2 B
                              / (link bandwidth x link utilisation))        [tp > 1 only]
              + step overhead + prefill overhead [steps that run a prefill chunk]

- FLOPs = 2 x active layer weights x new tokens + 2 x vocab x hidden x sampled sequences
  + 4 x layers x heads x head_dim x (query, key) pairs, split over the tp GPUs; MFU is the one of
  the weights' precision (FP8 and BF16 GEMMs reach different shares of their peaks);
- weight bytes = the dense layers and LM head once per step, plus the experts the step's tokens
  touch (``models.ModelProfile.weights_read_per_step``), at the weight precision;
- KV bytes = the KV cache of every scheduled sequence's context plus the KV written for the new
  tokens, at the KV precision; read once per query head instead of once per KV head when the
  stack's attention kernel does not reuse KV across a GQA group (``Deployment.gqa_kv_reuse``);
- the two memory streams have their own MBU (GEMMs stream weights, paged attention reads
  scattered KV blocks), which is what keeps large-batch decode of a small model, where KV reads
  are several times the weight reads, right;
- p (``Efficiency.overlap_exponent``) rounds the roofline's corner: near the ridge point real
  kernels overlap loads and math only partly; p -> infinity is max(compute, memory);
- tensor parallelism (Megatron-style) costs two all-reduces per layer (after attention and after
  the MLP) of new_tokens x hidden activations, as a ring over the interconnect with a latency term;
- the clock factor (thermal throttling, 1.0 = nominal) scales compute and memory throughput alike;
  overheads and interconnect are not throttled.

Decode at small batch is memory-bound (the weight read dominates, so step time barely grows with
batch until the batch's FLOPs or KV reads catch up); prefill of hundreds of tokens is compute-bound.

KV capacity follows the serving stack: vLLM's memory profiler (HBM x gpu_memory_utilization -
weights - non-torch memory - activation peak) or TensorRT-LLM's (a share of what weights and
buffers leave free), divided into 16-token blocks.

The fitted constants below come from ``calibration.fit`` on the fit half of ``published.toml``;
docs/gpu-emulator.md has the tables, the method and what was and was not blind.
"""
from __future__ import annotations

import dataclasses
import math

from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module

# Fitted on the fit half of the published rows (calibration.fit; docs/gpu-emulator.md, "Calibration"),
# rounded to two or three digits; the per-stack overheads of the other stacks are in stacks.py.
FITTED_COMPUTE_UTILIZATION = 0.65
FITTED_FP8_COMPUTE_UTILIZATION = 0.55
FITTED_WEIGHT_BANDWIDTH_UTILIZATION = 0.80
FITTED_KV_BANDWIDTH_UTILIZATION = 0.88
FITTED_VLLM_STEP_OVERHEAD_SECONDS = 0.0027
FITTED_VLLM_PREFILL_OVERHEAD_SECONDS = 0.0025
FITTED_ALLREDUCE_LATENCY_SECONDS = 20e-6
FITTED_OVERLAP_EXPONENT = 1.7

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
    """How far below datasheet peaks real kernels run, and the fixed costs of a step.

    The defaults are this emulator's fit to the fit half of the published rows
    (``calibration``; table and method in docs/gpu-emulator.md). The per-step overhead depends on
    the serving stack (``stacks``); the value here is vLLM's.
    """

    compute_utilization: float = FITTED_COMPUTE_UTILIZATION
    """MFU of BF16/FP16 GEMMs: share of the dense BF16 peak a compute-bound step reaches (0..1]."""

    fp8_compute_utilization: float = FITTED_FP8_COMPUTE_UTILIZATION
    """MFU of FP8 GEMMs: share of the (twice as high) dense FP8 peak they reach (0..1]."""

    weight_bandwidth_utilization: float = FITTED_WEIGHT_BANDWIDTH_UTILIZATION
    """MBU of weight reads: share of peak memory bandwidth the GEMMs reach streaming weights (0..1]."""

    kv_bandwidth_utilization: float = FITTED_KV_BANDWIDTH_UTILIZATION
    """MBU of KV-cache reads: share of peak bandwidth the attention kernels reach on paged KV (0..1]."""

    step_overhead_seconds: float = FITTED_VLLM_STEP_OVERHEAD_SECONDS
    """Fixed cost per step: scheduler, input preparation, kernel launches, sampling, seconds."""

    prefill_overhead_seconds: float = FITTED_VLLM_PREFILL_OVERHEAD_SECONDS
    """Extra fixed cost of a step that runs a prefill chunk (launched eagerly, not from a CUDA graph), seconds."""

    allreduce_latency_seconds: float = FITTED_ALLREDUCE_LATENCY_SECONDS
    """Latency of one tensor-parallel all-reduce independent of its size, seconds."""

    interconnect_utilization: float = 0.8
    """Share of the per-direction link bandwidth an all-reduce ring achieves (0..1); assumed, not fitted."""

    overlap_exponent: float = FITTED_OVERLAP_EXPONENT
    """p of the kernel time (compute^p + memory^p)^(1/p): infinity is the ideal roofline max(compute,
    memory), 1 is no overlap at all. Real kernels near the ridge point overlap their loads and their
    math only partly, so the corner of the roofline is rounded."""

    def __post_init__(self) -> None:
        for field in ("compute_utilization", "fp8_compute_utilization", "weight_bandwidth_utilization",
                      "kv_bandwidth_utilization", "interconnect_utilization"):
            value = getattr(self, field)
            if not 0 < value <= 1:
                raise ValueError(f"{field} must be in (0, 1]: it is a share of a datasheet peak, got {value}.")
        for field in ("step_overhead_seconds", "prefill_overhead_seconds", "allreduce_latency_seconds"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must not be negative: it is a duration.")
        if not self.overlap_exponent >= 1:
            raise ValueError(f"overlap_exponent must be at least 1 (1: compute and memory never overlap), "
                             f"got {self.overlap_exponent}.")


KV_POOL_RULES = ("vllm", "trtllm")
"""How a serving stack sizes its KV pool (``Deployment.kv_pool_rule``)."""


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
    """vLLM: share of each GPU's memory the server may use (``--gpu-memory-utilization``, default
    0.9). TensorRT-LLM: share of the memory left after weights and buffers that becomes KV cache
    (``kv_cache_free_gpu_mem_fraction``, default 0.9)."""

    efficiency: Efficiency = Efficiency()
    """Achieved shares of the datasheet peaks and fixed costs."""

    reserved_bytes_per_gpu: int | None = None
    """Non-KV, non-weight memory per GPU; None: vLLM's profile (non-torch + activation peak [+ NCCL])."""

    kv_pool_rule: str = "vllm"
    """``vllm``: KV = usable x share - weights - reserve; ``trtllm``: KV = share x (usable - weights - reserve)."""

    gqa_kv_reuse: bool = True
    """Whether decode attention reads each KV head once for its whole group of query heads (every
    current kernel); False: once per query head, as TensorRT-LLM's pre-XQA kernels did (``stacks``)."""

    def __post_init__(self) -> None:
        tp = self.tensor_parallel_size
        if tp < 1:
            raise ValueError(f"tensor_parallel_size must be at least 1, got {tp}.")
        if self.model.attention_heads % tp:
            raise ValueError(f"tensor_parallel_size {tp} does not divide the "
                             f"{self.model.attention_heads} attention heads of {self.model.name}.")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}.")
        if self.kv_pool_rule not in KV_POOL_RULES:
            raise ValueError(f"kv_pool_rule must be one of {', '.join(KV_POOL_RULES)}, got {self.kv_pool_rule!r}.")
        self.peak_flops_per_second  # noqa: B018 - raises for FP8 weights on a GPU without FP8 tensor cores
        if self.kv_bytes_per_gpu <= 0:
            raise ValueError(
                f"{self.model.name} does not fit on {tp} x {self.hardware.name}: "
                f"{self.weight_bytes_per_gpu / hardware_module.GIB:.1f} GiB of weights per GPU leave no "
                f"room for a KV cache in {self.budget_bytes_per_gpu / hardware_module.GIB:.1f} GiB.")

    @property
    def peak_flops_per_second(self) -> float:
        """Dense tensor peak of one GPU in the precision of the model's weights."""
        return self.hardware.dense_flops_per_second(bytes_per_value=self.model.weight_bytes_per_value)

    @property
    def compute_utilization(self) -> float:
        """MFU for the model's weight precision (FP8 GEMMs and BF16 GEMMs reach different shares)."""
        e = self.efficiency
        return e.fp8_compute_utilization if self.model.weight_bytes_per_value == 1 else e.compute_utilization

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
        """KV-cache pool per GPU, by the stack's rule (vLLM's available_kv_cache_memory, or TRT-LLM's)."""
        if self.kv_pool_rule == "trtllm":
            free = self.hardware.usable_memory_bytes - self.weight_bytes_per_gpu - self.reserve_bytes_per_gpu
            return int(free * self.gpu_memory_utilization)
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

    @property
    def has_prefill(self) -> bool:
        """Whether the step runs a prefill chunk: more tokens than sampled sequences (decodes are 1 : 1)."""
        return self.new_tokens > self.sampled_sequences


@dataclasses.dataclass(frozen=True)
class StepCost:
    """The roofline terms of one step, per GPU."""

    flops_per_gpu: float
    """Floating-point operations each GPU performs."""

    weight_bytes_per_gpu: float
    """Weight bytes each GPU reads (its shard of the dense layers, LM head and touched experts)."""

    kv_bytes_per_gpu: float
    """KV-cache bytes each GPU reads (context) and writes (new tokens)."""

    compute_seconds: float
    """FLOPs / (peak x MFU x clock)."""

    weight_memory_seconds: float
    """Weight bytes / (bandwidth x weight MBU x clock)."""

    kv_memory_seconds: float
    """KV bytes / (bandwidth x KV MBU x clock)."""

    communication_seconds: float
    """Tensor-parallel all-reduces (0 on one GPU)."""

    overhead_seconds: float
    """Fixed per-step overhead (plus the prefill overhead when the step runs a prefill chunk)."""

    overlap_exponent: float = math.inf
    """p of the rounded roofline corner (``Efficiency.overlap_exponent``); infinity: max(compute, memory)."""

    @property
    def bytes_per_gpu(self) -> float:
        """Device-memory bytes each GPU moves (weights + KV)."""
        return self.weight_bytes_per_gpu + self.kv_bytes_per_gpu

    @property
    def memory_seconds(self) -> float:
        """Time of the two memory streams, one after the other: weights then KV."""
        return self.weight_memory_seconds + self.kv_memory_seconds

    @property
    def kernel_seconds(self) -> float:
        """The kernel time: (compute^p + memory^p)^(1/p), which is max(compute, memory) as p grows."""
        high, low = max(self.compute_seconds, self.memory_seconds), min(self.compute_seconds, self.memory_seconds)
        if high == 0 or math.isinf(self.overlap_exponent):
            return high
        return high * (1.0 + (low / high) ** self.overlap_exponent) ** (1.0 / self.overlap_exponent)

    @property
    def total_seconds(self) -> float:
        """Step duration: max(compute, memory) + communication + overhead."""
        return self.kernel_seconds + self.communication_seconds + self.overhead_seconds

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which roofline term sets the kernel time."""
        return "compute" if self.compute_seconds >= self.memory_seconds else "memory"


def step_flops(model: models_module.ModelProfile, shape: StepShape) -> float:
    """FLOPs of one step on all GPUs together: active weights, LM head for sampled rows, attention."""
    weights = 2.0 * model.active_layer_parameters * shape.new_tokens
    lm_head = 2.0 * model.lm_head_parameters * shape.sampled_sequences
    attention = 4.0 * model.layers * model.attention_width * shape.attention_pairs
    return weights + lm_head + attention


def step_weight_bytes_per_gpu(deployment: Deployment, shape: StepShape) -> float:
    """Weight bytes one GPU reads in a step: its shard of the dense layers, LM head and touched experts."""
    model = deployment.model
    read = model.weights_read_per_step(shape.new_tokens)
    return read * model.weight_bytes_per_value / deployment.tensor_parallel_size


def step_kv_bytes_per_gpu(deployment: Deployment, shape: StepShape) -> float:
    """KV bytes one GPU moves in a step: its KV heads of every scheduled context (read), plus the new tokens.

    Without GQA reuse (``Deployment.gqa_kv_reuse`` False) the context is read once per query head
    of a group, attention_heads / kv_heads times.
    """
    model = deployment.model
    rereads = 1 if deployment.gqa_kv_reuse else model.attention_heads // model.kv_heads
    return deployment.kv_bytes_per_token_per_gpu * (shape.context_tokens * rereads + shape.new_tokens)


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
    weight_bytes = step_weight_bytes_per_gpu(deployment, shape)
    kv_bytes = step_kv_bytes_per_gpu(deployment, shape)
    bandwidth = deployment.hardware.memory_bandwidth_bytes_per_second * clock_factor
    compute_rate = deployment.peak_flops_per_second * deployment.compute_utilization * clock_factor
    return StepCost(
        flops_per_gpu=flops, weight_bytes_per_gpu=weight_bytes, kv_bytes_per_gpu=kv_bytes,
        compute_seconds=flops / compute_rate,
        weight_memory_seconds=weight_bytes / (bandwidth * efficiency.weight_bandwidth_utilization),
        kv_memory_seconds=kv_bytes / (bandwidth * efficiency.kv_bandwidth_utilization),
        communication_seconds=allreduce_seconds(deployment, tokens=shape.new_tokens),
        overhead_seconds=efficiency.step_overhead_seconds
        + (efficiency.prefill_overhead_seconds if shape.has_prefill else 0.0),
        overlap_exponent=efficiency.overlap_exponent)


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


# --- The roofline made visible ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhaseReport:
    """One step of a phase (prefill or decode) placed on the roofline, per GPU."""

    cost: StepCost
    """The step's roofline terms."""

    peak_flops_per_second: float
    """Datasheet dense peak in the weights' precision."""

    memory_bandwidth_bytes_per_second: float
    """Datasheet memory bandwidth."""

    @property
    def arithmetic_intensity_flops_per_byte(self) -> float:
        """FLOPs per byte of device memory moved."""
        return self.cost.flops_per_gpu / self.cost.bytes_per_gpu

    @property
    def achieved_flops_per_second(self) -> float:
        """FLOPs over the whole step time (overhead and communication included)."""
        return self.cost.flops_per_gpu / self.cost.total_seconds

    @property
    def mfu(self) -> float:
        """Model FLOPs utilisation of the step: achieved FLOP/s over the datasheet peak."""
        return self.achieved_flops_per_second / self.peak_flops_per_second

    @property
    def mbu(self) -> float:
        """Model bandwidth utilisation of the step: bytes moved per second over the datasheet bandwidth."""
        return self.cost.bytes_per_gpu / self.cost.total_seconds / self.memory_bandwidth_bytes_per_second


def phase_report(deployment: Deployment, shape: StepShape) -> PhaseReport:
    """``shape``'s step placed on the roofline of ``deployment``."""
    return PhaseReport(cost=step_cost(deployment, shape), peak_flops_per_second=deployment.peak_flops_per_second,
                       memory_bandwidth_bytes_per_second=deployment.hardware.memory_bandwidth_bytes_per_second)


def ridge_point_flops_per_byte(deployment: Deployment) -> float:
    """Datasheet ridge point: peak FLOP/s over peak bytes/s; a kernel below it is memory-bound."""
    return deployment.peak_flops_per_second / deployment.hardware.memory_bandwidth_bytes_per_second


def effective_ridge_point_flops_per_byte(deployment: Deployment) -> float:
    """Ridge point of the achievable roofline: (peak x MFU) / (bandwidth x weight MBU)."""
    return (deployment.peak_flops_per_second * deployment.compute_utilization
            / (deployment.hardware.memory_bandwidth_bytes_per_second
               * deployment.efficiency.weight_bandwidth_utilization))


DECODE_BATCH_SEARCH_LIMIT = 1 << 20
"""Largest batch ``decode_compute_bound_batch`` looks at."""


def decode_compute_bound_batch(deployment: Deployment, *, context_tokens: int) -> int | None:
    """Smallest decode batch whose compute term reaches its memory term, at ``context_tokens`` each.

    None if no batch up to ``DECODE_BATCH_SEARCH_LIMIT`` gets there: each sequence adds its KV
    reads as well as its FLOPs, and when a sequence's KV read takes longer than its FLOPs (long
    contexts, no GQA) decode stays memory-bound at any batch.
    """
    def compute_bound(batch: int) -> bool:
        return step_cost(deployment, decode_shape(batch=batch, context_tokens=context_tokens)).bound == "compute"

    if compute_bound(1):
        return 1
    high = 2
    while not compute_bound(high):
        if high >= DECODE_BATCH_SEARCH_LIMIT:
            return None
        high *= 2
    low = high // 2  # memory-bound at low, compute-bound at high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if compute_bound(middle) else (middle, high)
    return high


def kv_bytes_per_sequence(deployment: Deployment, *, tokens: int) -> int:
    """KV bytes of one sequence of ``tokens`` on all GPUs together (replicated heads counted per GPU)."""
    return deployment.kv_bytes_per_token_per_gpu * deployment.tensor_parallel_size * tokens
