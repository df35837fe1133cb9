"""Continuous-batching LLM engine in emulated time, scheduled the way vLLM V1 schedules.

Nothing here reads the wall clock: ``step()`` runs one scheduler iteration and advances the
emulated clock by the roofline duration of that forward pass, so a run is a pure function of its
inputs and ``EngineSettings.seed``. ``serving.AsyncEngine`` stretches it onto the wall clock.

One step (vLLM ``v1/core/sched/scheduler.py``, ``Scheduler.schedule``):

1. Running requests first, in admission order. Each asks for the tokens it still lacks: one for
   a decoding sequence, the rest of its prompt (capped by the token budget
   ``max_num_batched_tokens``) for a chunked prefill. If the paged KV cache cannot grow to hold
   them, the scheduler *preempts by recompute*: under FIFO it pops the most recently admitted
   running request (``self.running.pop()``), under the priority policy the one with the largest
   (priority, arrival); the victim's blocks are freed, its computed tokens are forgotten
   (``num_computed_tokens = 0``) and it goes back to the *front* of the waiting queue. It keeps
   the tokens it already generated and will re-prefill prompt + generated tokens when readmitted.
   If the victim is the request being scheduled, scheduling of running requests stops.
2. Only if nothing was preempted this step, waiting requests are admitted from the queue head
   (FIFO: arrival order, preempted ones first; priority: smallest (priority, arrival)) while the
   budget, ``max_num_seqs`` and the free KV blocks for their first prefill chunk allow. A head
   that does not fit blocks the queue (no skipping), as in vLLM.
3. The step's duration is the roofline cost of what was scheduled. A sequence whose computed
   tokens catch up with its tokens samples one new token at the end of the step (the end of a
   prefill gives the first token). A sequence that has produced ``output_tokens`` finishes and
   frees its blocks.

``run_decode_stretch`` runs the coming steps that can only be pure decodes in one call, with the
same arithmetic as ``step()``: workload drivers use it to replay long outputs cheaply.

Faults: ``set_clock_factor`` (thermal throttling scales compute and memory throughput), ``stall``
(no progress until ``clear_stall``; time still passes and counts as busy, as DCGM shows a hung
kernel at 100 %), ``inject_ecc_error`` (the next step fails every in-flight request and raises
``errors.EccError``; the engine stays dead).
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import math
import random
from collections.abc import Iterator

from services.inference.gpu import errors
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import kvcache
from services.inference.gpu import models as models_module
from services.inference.gpu import roofline

# vllm/engine/arg_utils.py (EngineArgs batch defaults, V1): on GPUs with >= 70 GiB that are not
# A100 (H100, H200) the OpenAI API server uses max_num_batched_tokens 8192 and max_num_seqs 1024;
# on smaller GPUs, and on A100, 2048 and 256.
LARGE_GPU_BYTES = 70 * hardware_module.GIB
"""Device memory from which vLLM picks its larger batch defaults."""

SMALL_LIMIT_GPUS = ("a100-sxm",)
"""Profiles vLLM gives the smaller defaults whatever their memory (it checks for "a100" in the name)."""

LARGE_GPU_LIMITS = (8192, 1024)
"""(max_num_batched_tokens, max_num_seqs) of the vLLM API server on H100/H200-class GPUs."""

SMALL_GPU_LIMITS = (2048, 256)
"""(max_num_batched_tokens, max_num_seqs) of the vLLM API server on other GPUs."""


class Priority(enum.IntEnum):
    """Request class; smaller is more important (vLLM's priority semantics)."""

    INTERACTIVE = 0
    BATCH = 1


class AdmissionPolicy(enum.StrEnum):
    """Order of admission from the waiting queue (vLLM ``--scheduling-policy``)."""

    FIFO = "fifo"
    PRIORITY = "priority"


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """Server configuration of one emulated engine (one model replica on tp GPUs)."""

    tensor_parallel_size: int = 1
    """GPUs the model is split over."""

    gpu_memory_utilization: float = 0.9
    """Share of each GPU's memory the engine may use (vLLM default 0.9)."""

    block_size_tokens: int = 16
    """Tokens per KV block (vLLM default 16)."""

    max_num_batched_tokens: int | None = None
    """Token budget per step; None: vLLM's API-server default for the GPU (8192 or 2048)."""

    max_num_seqs: int | None = None
    """Most sequences running at once; None: vLLM's default for the GPU (1024 or 256)."""

    policy: AdmissionPolicy = AdmissionPolicy.FIFO
    """Waiting-queue order and preemption victim choice."""

    efficiency: roofline.Efficiency = roofline.Efficiency()
    """MFU, MBU and fixed costs of the roofline."""

    kv_capacity_tokens: int | None = None
    """Override of the KV pool size in tokens (to make KV pressure cheap to reach); None: roofline."""

    kv_pool_rule: str = "vllm"
    """How the KV pool is sized from free memory (``roofline.KV_POOL_RULES``; see ``stacks``)."""

    gqa_kv_reuse: bool = True
    """Whether decode attention reads a KV head once per query-head group (``roofline.Deployment``)."""

    step_jitter: float = 0.0
    """Sigma of a log-normal multiplicative noise on each step's duration; 0: exact roofline."""

    seed: int = 0
    """Seed of the step-jitter random stream; same seed, same run."""

    def __post_init__(self) -> None:
        for field in ("block_size_tokens", "max_num_batched_tokens", "max_num_seqs", "kv_capacity_tokens"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field} must be at least 1, got {value}.")
        if self.step_jitter < 0:
            raise ValueError(f"step_jitter must not be negative, got {self.step_jitter}.")


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One finished request, all times in emulated seconds."""

    request_id: int
    """Engine-assigned id, in submission order."""

    priority: Priority
    """Request class."""

    prompt_tokens: int
    """Prompt length."""

    output_tokens: int
    """Tokens generated."""

    arrival_seconds: float
    """When the request reached the engine."""

    first_scheduled_seconds: float
    """Start of the first step that ran any of its prompt."""

    first_token_seconds: float
    """End of the step that produced its first token."""

    finish_seconds: float
    """End of the step that produced its last token."""

    preemptions: int
    """How often it was preempted (recomputed)."""

    @property
    def ttft_seconds(self) -> float:
        """Time to first token: first token - arrival."""
        return self.first_token_seconds - self.arrival_seconds

    @property
    def tpot_seconds(self) -> float:
        """Time per output token after the first: (finish - first token) / (output - 1); 0 for one token."""
        if self.output_tokens < 2:
            return 0.0
        return (self.finish_seconds - self.first_token_seconds) / (self.output_tokens - 1)

    @property
    def e2e_seconds(self) -> float:
        """End-to-end latency: finish - arrival."""
        return self.finish_seconds - self.arrival_seconds

    @property
    def queue_seconds(self) -> float:
        """Waiting before the first step that ran it: first scheduled - arrival."""
        return self.first_scheduled_seconds - self.arrival_seconds


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one step did; the asyncio driver turns this into metrics."""

    start_seconds: float
    """Emulated time the step began."""

    duration_seconds: float
    """Emulated duration (roofline, with jitter if configured)."""

    cost: roofline.StepCost
    """The roofline terms of the step."""

    scheduled_tokens: int
    """Tokens run through the model (prefill chunks + decodes)."""

    decode_tokens: int
    """Of those, single decode tokens of sequences that already produced output."""

    generated_tokens: int
    """Tokens sampled at the end of the step."""

    prompt_tokens: int
    """Prompt tokens of the requests that got their first token this step."""

    ttft_seconds: tuple[float, ...]
    """Time to first token of each request that got its first token."""

    inter_token_seconds: tuple[float, ...]
    """For every other generated token, the time since the same request's previous token."""

    finished: tuple[RequestRecord, ...]
    """Requests that produced their last token."""

    preempted_request_ids: tuple[int, ...]
    """Requests preempted (sent back to waiting) while scheduling this step."""

    lost_tokens: int
    """Computed tokens the preemptions threw away (to be recomputed)."""

    running: int
    """Running requests after the step."""

    waiting: int
    """Waiting requests after the step."""

    kv_usage: float
    """KV blocks held after the step, 0..1."""

    @property
    def end_seconds(self) -> float:
        """Emulated time the step ended."""
        return self.start_seconds + self.duration_seconds


@dataclasses.dataclass(frozen=True)
class DecodeStretch:
    """Consecutive pure-decode steps run in one call (``Engine.run_decode_stretch``)."""

    steps: int
    """Steps run."""

    start_seconds: float
    """Emulated time the first step began."""

    end_seconds: float
    """Emulated time the last step ended."""

    running: int
    """Sequences decoding in every step (none finished, none was admitted or preempted)."""

    kv_usage: float
    """KV blocks held after the last step, 0..1."""

    @property
    def scheduled_tokens(self) -> int:
        """Tokens run through the model: one per running sequence per step."""
        return self.steps * self.running


class _Sequence:
    """Mutable scheduler state of one request."""

    __slots__ = ("request_id", "priority", "prompt_tokens", "output_tokens", "arrival_seconds",
                 "computed_tokens", "generated_tokens", "first_scheduled_seconds", "first_token_seconds",
                 "last_token_seconds", "preemptions")

    def __init__(self, *, request_id: int, priority: Priority, prompt_tokens: int, output_tokens: int,
                 arrival_seconds: float) -> None:
        self.request_id = request_id
        self.priority = priority
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.arrival_seconds = arrival_seconds
        self.computed_tokens = 0
        self.generated_tokens = 0
        self.first_scheduled_seconds: float | None = None
        self.first_token_seconds: float | None = None
        self.last_token_seconds = 0.0
        self.preemptions = 0

    @property
    def known_tokens(self) -> int:
        """Prompt plus tokens generated so far: what the KV cache must catch up with."""
        return self.prompt_tokens + self.generated_tokens

    @property
    def sort_key(self) -> tuple[int, float, int]:
        """(priority, arrival, id): smaller is admitted first under the priority policy."""
        return (int(self.priority), self.arrival_seconds, self.request_id)

    def record(self, *, finish_seconds: float) -> RequestRecord:
        assert self.first_scheduled_seconds is not None and self.first_token_seconds is not None
        return RequestRecord(
            request_id=self.request_id, priority=self.priority, prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens, arrival_seconds=self.arrival_seconds,
            first_scheduled_seconds=self.first_scheduled_seconds,
            first_token_seconds=self.first_token_seconds, finish_seconds=finish_seconds,
            preemptions=self.preemptions)


class _FifoQueue:
    """Waiting queue in arrival order; preempted requests go back to the front (vLLM FCFS)."""

    def __init__(self) -> None:
        self._items: collections.deque[_Sequence] = collections.deque()

    def push(self, sequence: _Sequence) -> None:
        self._items.append(sequence)

    def push_front(self, sequence: _Sequence) -> None:
        self._items.appendleft(sequence)

    def peek(self) -> _Sequence:
        return self._items[0]

    def pop(self) -> _Sequence:
        return self._items.popleft()

    def remove(self, sequence: _Sequence) -> None:
        self._items.remove(sequence)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[_Sequence]:
        return iter(self._items)


class _PriorityQueue:
    """Waiting queue ordered by (priority, arrival); preempted requests re-enter by the same key."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, float, int], _Sequence]] = []

    def push(self, sequence: _Sequence) -> None:
        heapq.heappush(self._heap, (sequence.sort_key, sequence))

    push_front = push

    def peek(self) -> _Sequence:
        return self._heap[0][1]

    def pop(self) -> _Sequence:
        return heapq.heappop(self._heap)[1]

    def remove(self, sequence: _Sequence) -> None:
        self._heap = [item for item in self._heap if item[1] is not sequence]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[_Sequence]:
        return (sequence for _, sequence in self._heap)


@dataclasses.dataclass
class _Plan:
    """What the scheduler picked for one step."""

    scheduled: dict[int, tuple[_Sequence, int]]
    preempted: list[_Sequence]
    lost_tokens: int


@dataclasses.dataclass
class _Outcome:
    """What a step's completion produced, accumulated sequence by sequence."""

    scheduled_tokens: int = 0
    decode_tokens: int = 0
    generated_tokens: int = 0
    prompt_tokens: int = 0
    ttfts: list[float] = dataclasses.field(default_factory=list)
    intervals: list[float] = dataclasses.field(default_factory=list)
    finished: list[RequestRecord] = dataclasses.field(default_factory=list)


def batch_limits(hardware: hardware_module.HardwareProfile) -> tuple[int, int]:
    """vLLM's API-server defaults (max_num_batched_tokens, max_num_seqs) for this GPU."""
    large = hardware.memory_bytes >= LARGE_GPU_BYTES and hardware.name not in SMALL_LIMIT_GPUS
    return LARGE_GPU_LIMITS if large else SMALL_GPU_LIMITS


class Engine:
    """One emulated model replica: waiting queue, running batch, paged KV cache, emulated clock."""

    def __init__(self, *, hardware: hardware_module.HardwareProfile, model: models_module.ModelProfile,
                 settings: EngineSettings | None = None) -> None:
        self.settings = settings = settings or EngineSettings()
        self.deployment = roofline.Deployment(
            hardware=hardware, model=model, tensor_parallel_size=settings.tensor_parallel_size,
            gpu_memory_utilization=settings.gpu_memory_utilization, efficiency=settings.efficiency,
            kv_pool_rule=settings.kv_pool_rule, gqa_kv_reuse=settings.gqa_kv_reuse)
        default_tokens, default_seqs = batch_limits(hardware)
        self.max_num_batched_tokens = settings.max_num_batched_tokens or default_tokens
        self.max_num_seqs = settings.max_num_seqs or default_seqs
        capacity = settings.kv_capacity_tokens or self.deployment.kv_capacity_tokens
        self.allocator = kvcache.BlockAllocator(total_blocks=capacity // settings.block_size_tokens,
                                                block_size_tokens=settings.block_size_tokens)
        self._waiting: _FifoQueue | _PriorityQueue = (
            _PriorityQueue() if settings.policy is AdmissionPolicy.PRIORITY else _FifoQueue())
        self._running: list[_Sequence] = []
        self._random = random.Random(settings.seed)
        self._now = 0.0
        self._busy_seconds = 0.0
        self._next_id = 0
        self._clock_factor = 1.0
        self._stalled = False
        self._ecc_pending = False
        self._failure: errors.EccError | None = None
        self.records: dict[int, RequestRecord] = {}
        """Finished requests by id."""

    # --- state -------------------------------------------------------------------------------

    @property
    def now_seconds(self) -> float:
        """The emulated clock."""
        return self._now

    @property
    def busy_seconds(self) -> float:
        """Emulated time spent running steps or stalled (what DCGM counts as utilised)."""
        return self._busy_seconds

    @property
    def running_count(self) -> int:
        """Requests in the running batch."""
        return len(self._running)

    @property
    def waiting_count(self) -> int:
        """Requests in the waiting queue."""
        return len(self._waiting)

    @property
    def has_work(self) -> bool:
        """Whether any request is running or waiting."""
        return bool(self._running) or bool(self._waiting)

    @property
    def kv_usage(self) -> float:
        """Share of KV blocks held, 0..1."""
        return self.allocator.usage

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens the KV pool holds, in whole blocks."""
        return self.allocator.total_blocks * self.allocator.block_size_tokens

    @property
    def clock_factor(self) -> float:
        """Current throughput factor (1.0 nominal, < 1 throttled)."""
        return self._clock_factor

    @property
    def is_stalled(self) -> bool:
        """Whether a stall fault holds the GPU."""
        return self._stalled

    @property
    def is_failed(self) -> bool:
        """Whether an ECC error has killed the engine (or will at the next step)."""
        return self._failure is not None or self._ecc_pending

    def in_flight_ids(self) -> tuple[int, ...]:
        """Ids of running and waiting requests."""
        return tuple(s.request_id for s in self._running) + tuple(s.request_id for s in self._waiting)

    # --- faults ------------------------------------------------------------------------------

    def set_clock_factor(self, factor: float) -> None:
        """Throttle (factor < 1) or restore (1.0) compute and memory throughput."""
        if not (math.isfinite(factor) and 0 < factor <= 1):
            raise ValueError(f"clock factor must be in (0, 1] (1.0 is nominal clocks), got {factor}.")
        self._clock_factor = factor

    def stall(self) -> None:
        """Hang the GPU: steps make no progress until ``clear_stall``."""
        self._stalled = True

    def clear_stall(self) -> None:
        """Let steps run again."""
        self._stalled = False

    def inject_ecc_error(self) -> None:
        """Make the next step die with an uncorrectable ECC error (Xid 48)."""
        self._ecc_pending = True

    # --- requests and time -------------------------------------------------------------------

    def submit(self, *, prompt_tokens: int, output_tokens: int, priority: Priority = Priority.INTERACTIVE,
               arrival_seconds: float | None = None) -> int:
        """Queue a request; returns its id. ``arrival_seconds`` defaults to now and may not be later."""
        self._raise_if_failed()
        if prompt_tokens < 1 or output_tokens < 1:
            raise errors.RequestRejected("prompt_tokens and output_tokens must each be at least 1.")
        if prompt_tokens + output_tokens - 1 > self.kv_capacity_tokens:
            raise errors.RequestRejected(
                f"a request of {prompt_tokens} + {output_tokens} tokens can never fit the KV cache of "
                f"{self.kv_capacity_tokens} tokens.")
        arrival = self._now if arrival_seconds is None else arrival_seconds
        if arrival > self._now + 1e-12:
            raise ValueError(f"arrival_seconds {arrival} is after the engine clock {self._now}.")
        sequence = _Sequence(request_id=self._next_id, priority=Priority(priority), prompt_tokens=prompt_tokens,
                             output_tokens=output_tokens, arrival_seconds=arrival)
        self._next_id += 1
        self._waiting.push(sequence)
        return sequence.request_id

    def abort(self, request_id: int) -> bool:
        """Drop an in-flight request (client went away) and free its blocks; False if not in flight."""
        for sequence in self._running:
            if sequence.request_id == request_id:
                self._running.remove(sequence)
                self.allocator.free(request_id)
                return True
        for sequence in self._waiting:
            if sequence.request_id == request_id:
                self._waiting.remove(sequence)
                self.allocator.free(request_id)
                return True
        return False

    def advance_to(self, *, seconds: float) -> None:
        """Let emulated time pass without a step (idle, or stalled, which counts as busy)."""
        if seconds <= self._now:
            return
        if self._stalled:
            self._busy_seconds += seconds - self._now
        self._now = seconds

    def step(self) -> StepResult | None:
        """Run one scheduler iteration; None when there is no work or the GPU is stalled."""
        self._raise_if_failed()
        if self._ecc_pending:
            self._fail()
        if self._stalled or not self.has_work:
            return None
        plan = self._schedule()
        if not plan.scheduled:
            return None
        cost = roofline.step_cost(self.deployment, self._shape(plan), clock_factor=self._clock_factor)
        duration = self._jittered(cost.total_seconds)
        start = self._now
        self._now += duration
        self._busy_seconds += duration
        return self._complete(plan, start=start, duration=duration, cost=cost)

    def run_decode_stretch(self, *, max_steps: int, until_seconds: float = math.inf) -> DecodeStretch | None:
        """Run the coming pure-decode steps in one go, exactly as ``step()`` would; None if there are none.

        A stretch is a run of steps in which every running sequence decodes one token and nothing
        else can happen: no sequence finishes (the stretch stops one step before the first finish),
        the KV cache grows without preempting anyone, and the head of the waiting queue cannot be
        admitted (the batch is full or its first chunk does not fit even now, and free blocks only
        shrink while decoding). Each step's duration is the same roofline cost and jitter draw that
        ``step()`` computes, added to the clock in the same order, so records are identical to
        stepping one by one; only the per-step results are not built. A step starts only while the
        clock is before ``until_seconds`` (the next arrival of an open-loop driver).
        """
        window = min(max_steps, self._decode_window())
        if window < 1:
            return None
        steps = self._growth_limited(window)
        if steps < 1:
            return None
        start, context = self._now, sum(s.computed_tokens for s in self._running)
        count, done = len(self._running), 0
        while done < steps and (done == 0 or self._now < until_seconds):
            shape = roofline.StepShape(new_tokens=count, sampled_sequences=count,
                                       attention_pairs=context + count, context_tokens=context)
            cost = roofline.step_cost(self.deployment, shape, clock_factor=self._clock_factor)
            duration = self._jittered(cost.total_seconds)
            self._now += duration
            self._busy_seconds += duration
            context += count
            done += 1
        for sequence in self._running:
            sequence.computed_tokens += done
            sequence.generated_tokens += done
            sequence.last_token_seconds = self._now
            self.allocator.grow_to(sequence.request_id, tokens=sequence.computed_tokens)
        return DecodeStretch(steps=done, start_seconds=start, end_seconds=self._now, running=count,
                             kv_usage=self.allocator.usage)

    # --- internals ---------------------------------------------------------------------------

    def _decode_window(self) -> int:
        """Steps before anything but decoding could happen (0 if the next step is not a pure decode)."""
        if self._failure is not None or self._ecc_pending or self._stalled or not self._running:
            return 0
        if len(self._running) > self.max_num_batched_tokens:
            return 0
        if any(s.generated_tokens < 1 or s.known_tokens - s.computed_tokens != 1 for s in self._running):
            return 0
        if self._head_admissible():
            return 0
        return min(s.output_tokens - s.generated_tokens for s in self._running) - 1

    def _head_admissible(self) -> bool:
        """Whether the next step would admit the waiting head (after the running batch grows by a token)."""
        budget = self.max_num_batched_tokens - len(self._running)
        if not self._waiting or budget <= 0 or len(self._running) >= self.max_num_seqs:
            return False
        head = self._waiting.peek()
        chunk = min(head.known_tokens - head.computed_tokens, budget)
        head_blocks = self.allocator.blocks_needed(head.computed_tokens + chunk) - self.allocator.held_by(head.request_id)
        return head_blocks <= self.allocator.free_blocks - self._extra_blocks(1)

    def _extra_blocks(self, steps: int) -> int:
        """Blocks the running batch needs beyond what it holds after ``steps`` more decode tokens each."""
        allocator = self.allocator
        return sum(max(0, allocator.blocks_needed(s.computed_tokens + steps) - allocator.held_by(s.request_id))
                   for s in self._running)

    def _growth_limited(self, window: int) -> int:
        """The most steps (up to ``window``) the running batch can grow through without a preemption."""
        free = self.allocator.free_blocks
        if self._extra_blocks(window) <= free:
            return window
        low, high = 0, window  # extra(low) fits, extra(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self._extra_blocks(middle) <= free else (low, middle)
        return low

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise errors.EccError("the GPU failed with an uncorrectable ECC error (Xid 48) and needs a reset.")

    def _fail(self) -> None:
        failed = self.in_flight_ids()
        for sequence in self._running:
            self.allocator.free(sequence.request_id)
        self._running.clear()
        self._waiting = _FifoQueue()
        self._ecc_pending = False
        self._failure = errors.EccError(
            f"uncorrectable ECC error (Xid 48): {len(failed)} in-flight requests failed.",
            failed_request_ids=failed)
        raise self._failure

    def _jittered(self, seconds: float) -> float:
        if self.settings.step_jitter == 0:
            return seconds
        return seconds * math.exp(self._random.gauss(0.0, self.settings.step_jitter))

    def _victim(self) -> _Sequence:
        if self.settings.policy is AdmissionPolicy.PRIORITY:
            return max(self._running, key=lambda s: s.sort_key)
        return self._running[-1]

    def _preempt(self, victim: _Sequence, plan: _Plan) -> None:
        self._running.remove(victim)
        if victim.request_id in plan.scheduled:
            del plan.scheduled[victim.request_id]
        self.allocator.free(victim.request_id)
        plan.lost_tokens += victim.computed_tokens
        victim.computed_tokens = 0
        victim.preemptions += 1
        plan.preempted.append(victim)
        self._waiting.push_front(victim)

    def _schedule_running(self, plan: _Plan, budget: int) -> int:
        index = 0
        while index < len(self._running) and budget > 0:
            sequence = self._running[index]
            tokens = min(sequence.known_tokens - sequence.computed_tokens, budget)
            target = sequence.computed_tokens + tokens
            while not self.allocator.grow_to(sequence.request_id, tokens=target):
                victim = self._victim()
                victim_index = self._running.index(victim)
                refund = plan.scheduled.get(victim.request_id, (victim, 0))[1]
                self._preempt(victim, plan)
                budget += refund
                if victim is sequence:
                    return budget
                if victim_index < index:
                    index -= 1
            plan.scheduled[sequence.request_id] = (sequence, tokens)
            budget -= tokens
            index += 1
        return budget

    def _admit_waiting(self, plan: _Plan, budget: int) -> None:
        while self._waiting and budget > 0 and len(self._running) < self.max_num_seqs:
            sequence = self._waiting.peek()
            tokens = min(sequence.known_tokens - sequence.computed_tokens, budget)
            if not self.allocator.grow_to(sequence.request_id, tokens=sequence.computed_tokens + tokens):
                return
            self._waiting.pop()
            self._running.append(sequence)
            if sequence.first_scheduled_seconds is None:
                sequence.first_scheduled_seconds = self._now
            plan.scheduled[sequence.request_id] = (sequence, tokens)
            budget -= tokens

    def _schedule(self) -> _Plan:
        plan = _Plan(scheduled={}, preempted=[], lost_tokens=0)
        budget = self._schedule_running(plan, self.max_num_batched_tokens)
        if not plan.preempted:
            self._admit_waiting(plan, budget)
        return plan

    @staticmethod
    def _shape(plan: _Plan) -> roofline.StepShape:
        new_tokens = sampled = pairs = context = 0
        for sequence, tokens in plan.scheduled.values():
            before = sequence.computed_tokens
            new_tokens += tokens
            pairs += tokens * before + tokens * (tokens + 1) // 2
            context += before
            sampled += before + tokens == sequence.known_tokens
        return roofline.StepShape(new_tokens=new_tokens, sampled_sequences=sampled,
                                  attention_pairs=pairs, context_tokens=context)

    def _complete(self, plan: _Plan, *, start: float, duration: float, cost: roofline.StepCost) -> StepResult:
        outcome = _Outcome()
        for sequence, tokens in plan.scheduled.values():
            self._advance(sequence, tokens, outcome)
        if outcome.finished:
            done = {record.request_id for record in outcome.finished}
            self._running = [s for s in self._running if s.request_id not in done]
        return StepResult(
            start_seconds=start, duration_seconds=duration, cost=cost, scheduled_tokens=outcome.scheduled_tokens,
            decode_tokens=outcome.decode_tokens, generated_tokens=outcome.generated_tokens,
            prompt_tokens=outcome.prompt_tokens, ttft_seconds=tuple(outcome.ttfts),
            inter_token_seconds=tuple(outcome.intervals), finished=tuple(outcome.finished),
            preempted_request_ids=tuple(s.request_id for s in plan.preempted), lost_tokens=plan.lost_tokens,
            running=len(self._running), waiting=len(self._waiting), kv_usage=self.allocator.usage)

    def _advance(self, sequence: _Sequence, tokens: int, outcome: _Outcome) -> None:
        """Credit ``tokens`` computed tokens to ``sequence``; sample a token if it caught up."""
        outcome.scheduled_tokens += tokens
        is_decode = tokens == 1 and sequence.generated_tokens > 0
        outcome.decode_tokens += is_decode and sequence.computed_tokens + 1 == sequence.known_tokens
        sequence.computed_tokens += tokens
        if sequence.computed_tokens < sequence.known_tokens:
            return
        end = self._now
        outcome.generated_tokens += 1
        sequence.generated_tokens += 1
        if sequence.first_token_seconds is None:
            sequence.first_token_seconds = end
            outcome.ttfts.append(end - sequence.arrival_seconds)
            outcome.prompt_tokens += sequence.prompt_tokens
        else:
            outcome.intervals.append(end - sequence.last_token_seconds)
        sequence.last_token_seconds = end
        if sequence.generated_tokens == sequence.output_tokens:
            outcome.finished.append(self._finish(sequence, end))

    def _finish(self, sequence: _Sequence, end: float) -> RequestRecord:
        self.allocator.free(sequence.request_id)
        record = sequence.record(finish_seconds=end)
        self.records[sequence.request_id] = record
        return record
