"""Edges of the roofline: domain boundaries, step shapes, and the closed form's corner cases.

We test these aspects:
- every efficiency share is accepted at exactly 1 and refused at 0 or above 1, an overlap exponent
  of exactly 1 (no overlap) is accepted, each refusal with the sentence a user reads;
- a deployment is refused with its sentence for zero GPUs, an unknown KV pool rule, no room for a
  KV cache (exactly zero bytes left) or a memory share of 0, and accepted at a share of 1 and with
  a single byte of KV pool;
- a non-positive clock factor is refused before any division by it;
- a step's cost carries the deployment's overlap exponent into its kernel time;
- decode and prefill shapes, block counts and whole KV blocks are exact integers;
- the closed form: a sequence holds prompt + output - 1 tokens of KV; the default block size is
  vLLM's 16; every argument below 1 is refused by name; a prefill chunk that completes several
  prompts gives each of them its first token; a burst larger than the KV cache runs in waves,
  each after the previous wave has decoded; throttling slows every step; two output tokens have
  one decode step;
- the batch at which decode turns compute-bound is the smallest such batch, a whole number, over
  a sweep of MFUs down to batch 1, and None once it lies beyond the search limit;
- a sequence's KV bytes over all GPUs are the model's per-token KV bytes times its tokens.
"""
from __future__ import annotations

import pytest

from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline

SHARES = ("compute_utilization", "fp8_compute_utilization", "weight_bandwidth_utilization",
          "kv_bandwidth_utilization", "interconnect_utilization")


def deployment(**overrides: object) -> roofline.Deployment:
    fields: dict[str, object] = {"hardware": hardware.H100_SXM, "model": models.LLAMA_3_8B}
    fields.update(overrides)
    return roofline.Deployment(**fields)  # type: ignore[arg-type]


def small_pool(kv_tokens: int) -> roofline.Deployment:
    """Llama-3-8B on an H100 with a reserve that leaves exactly ``kv_tokens`` tokens of KV pool."""
    d = deployment()
    kv_bytes = kv_tokens * d.kv_bytes_per_token_per_gpu
    return deployment(reserved_bytes_per_gpu=d.budget_bytes_per_gpu - d.weight_bytes_per_gpu - kv_bytes)


def seconds(d: roofline.Deployment, shape: roofline.StepShape, *, clock_factor: float = 1.0) -> float:
    return roofline.step_cost(d, shape, clock_factor=clock_factor).total_seconds


# --- domains -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", SHARES)
@pytest.mark.parametrize("value", [0.0, 1.01])
def test_an_efficiency_share_outside_zero_to_one_is_refused_with_its_range(field: str, value: float) -> None:
    with pytest.raises(ValueError) as raised:
        roofline.Efficiency(**{field: value})
    assert str(raised.value) == f"{field} must be in (0, 1]: it is a share of a datasheet peak, got {value}."


def test_every_efficiency_share_may_be_exactly_one_and_the_overlap_exponent_exactly_one() -> None:
    full = roofline.Efficiency(**dict.fromkeys(SHARES, 1.0), overlap_exponent=1.0)
    assert all(getattr(full, field) == 1.0 for field in SHARES)
    cost = roofline.step_cost(deployment(efficiency=full), roofline.decode_shape(batch=8, context_tokens=64))
    assert cost.kernel_seconds == pytest.approx(cost.compute_seconds + cost.memory_seconds)


def test_an_overlap_exponent_below_one_is_refused_with_its_meaning() -> None:
    with pytest.raises(ValueError) as raised:
        roofline.Efficiency(overlap_exponent=0.99)
    assert str(raised.value) == ("overlap_exponent must be at least 1 (1: compute and memory never overlap), "
                                 "got 0.99.")


@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"tensor_parallel_size": 0}, "tensor_parallel_size must be at least 1, got 0.", id="no-gpus"),
    pytest.param({"kv_pool_rule": "sglang"}, "kv_pool_rule must be one of vllm, trtllm, got 'sglang'.",
                 id="unknown-pool-rule"),
    pytest.param({"gpu_memory_utilization": 0.0}, "gpu_memory_utilization must be in (0, 1], got 0.0.",
                 id="no-memory"),
    pytest.param({"model": models.LLAMA_3_70B},
                 "llama-3-70b does not fit on 1 x h100-sxm: 131.4 GiB of weights per GPU leave no room for "
                 "a KV cache in 71.3 GiB.", id="70b-on-one-h100"),
])
def test_an_impossible_deployment_is_refused_with_its_sentence(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        deployment(**overrides)
    assert str(raised.value) == message


def test_a_deployment_may_use_all_of_each_gpu_s_memory() -> None:
    d = deployment(gpu_memory_utilization=1.0)
    assert d.budget_bytes_per_gpu == hardware.H100_SXM.usable_memory_bytes


def test_no_byte_left_for_the_kv_cache_is_refused_and_a_single_byte_is_accepted() -> None:
    d = deployment()
    room = d.budget_bytes_per_gpu - d.weight_bytes_per_gpu
    with pytest.raises(ValueError, match="leave no room for a KV cache"):
        deployment(reserved_bytes_per_gpu=room)
    assert deployment(reserved_bytes_per_gpu=room - 1).kv_bytes_per_gpu == 1


@pytest.mark.parametrize("factor", [0.0, -0.5])
def test_a_non_positive_clock_factor_is_refused_with_its_sentence(factor: float) -> None:
    with pytest.raises(ValueError) as raised:
        roofline.step_cost(deployment(), roofline.decode_shape(batch=1, context_tokens=8), clock_factor=factor)
    assert str(raised.value) == f"clock_factor must be positive, got {factor}."


# --- one step ----------------------------------------------------------------------------------


def test_a_step_s_kernel_time_rounds_the_roofline_corner_with_the_deployment_s_exponent() -> None:
    d = deployment()
    cost = roofline.step_cost(d, roofline.decode_shape(batch=300, context_tokens=128))
    p = d.efficiency.overlap_exponent
    assert cost.overlap_exponent == p == roofline.FITTED_OVERLAP_EXPONENT
    assert cost.kernel_seconds == pytest.approx((cost.compute_seconds ** p + cost.memory_seconds ** p) ** (1 / p))
    assert cost.kernel_seconds > 1.2 * max(cost.compute_seconds, cost.memory_seconds)  # near the ridge point


def test_step_shapes_count_whole_tokens_and_pairs() -> None:
    assert roofline.decode_shape(batch=3, context_tokens=10) == roofline.StepShape(
        new_tokens=3, sampled_sequences=3, attention_pairs=33, context_tokens=30)
    # a chunk of 3 from prompts of 4 attends to (4 + 1) / 2 positions on average: 7 pairs, rounded down
    assert roofline.prefill_shape(tokens=3, prompt_tokens=4, completed_prompts=1) == roofline.StepShape(
        new_tokens=3, sampled_sequences=1, attention_pairs=7, context_tokens=0)


@pytest.mark.parametrize(("tokens", "blocks"), [(0, 0), (1, 1), (16, 1), (17, 2), (33, 3)])
def test_blocks_round_tokens_up_to_whole_blocks(tokens: int, blocks: int) -> None:
    assert roofline.blocks_for(tokens, block_size_tokens=16) == blocks


def test_the_kv_pool_holds_whole_blocks_only() -> None:
    d = deployment()
    assert d.kv_capacity_tokens == 436_555  # 53.29 GiB / 128 KiB per token
    assert d.kv_capacity_blocks(block_size_tokens=16) == 27_284
    assert type(d.kv_capacity_blocks(block_size_tokens=16)) is int


def test_a_sequence_s_kv_over_all_gpus_is_the_model_s_kv_per_token_times_its_tokens() -> None:
    d = deployment(model=models.get_model("llama-3-70b-fp8"), tensor_parallel_size=4)
    assert roofline.kv_bytes_per_sequence(d, tokens=1000) == 1000 * d.model.kv_bytes_per_token


# --- the closed form ---------------------------------------------------------------------------


def test_a_finished_sequence_holds_prompt_plus_output_minus_one_tokens_of_kv() -> None:
    d = deployment()
    # 10 + 8 - 1 = 17 tokens: two blocks per sequence, so half as many sequences as blocks
    assert roofline.max_concurrent_sequences(d, prompt_tokens=10, output_tokens=8, block_size_tokens=16,
                                             max_num_seqs=10**9) == 27_284 // 2
    assert roofline.max_concurrent_sequences(d, prompt_tokens=10, output_tokens=7, block_size_tokens=16,
                                             max_num_seqs=10**9) == 27_284


def test_the_closed_form_uses_vllm_s_16_token_blocks_by_default() -> None:
    d = deployment()
    p = roofline.predict(d, batch=1, prompt_tokens=1000, output_tokens=24, max_num_batched_tokens=8192,
                         max_num_seqs=10**9)
    assert p.max_concurrent_sequences == 27_284 // 64  # 1023 tokens are 64 blocks of 16
    assert p.kv_capacity_tokens == d.kv_capacity_tokens == 436_555


@pytest.mark.parametrize("name", ["batch", "prompt_tokens", "output_tokens", "max_num_batched_tokens",
                                  "max_num_seqs"])
def test_every_closed_form_argument_below_one_is_refused_by_name(name: str) -> None:
    arguments = {"batch": 1, "prompt_tokens": 8, "output_tokens": 8, "max_num_batched_tokens": 64,
                 "max_num_seqs": 4, name: 0}
    with pytest.raises(ValueError) as raised:
        roofline.predict(deployment(), **arguments)
    assert str(raised.value) == f"{name} must be at least 1, got 0."


def test_a_prefill_chunk_that_completes_several_prompts_gives_each_its_first_token() -> None:
    d = deployment()
    p = roofline.predict(d, batch=3, prompt_tokens=100, output_tokens=1, max_num_batched_tokens=150,
                         max_num_seqs=1024)
    first = seconds(d, roofline.prefill_shape(tokens=150, prompt_tokens=100, completed_prompts=1))
    second = first + seconds(d, roofline.prefill_shape(tokens=150, prompt_tokens=100, completed_prompts=2))
    assert p.ttft_seconds == pytest.approx((first + 2 * second) / 3, rel=1e-12)
    assert p.throughput_tokens_per_second == pytest.approx(3 / second, rel=1e-12)


def test_a_burst_larger_than_the_kv_cache_runs_in_waves_each_after_the_previous_decode() -> None:
    d = small_pool(3000)  # 187 blocks; one request of 1500 + 101 tokens needs 100 of them
    p = roofline.predict(d, batch=2, prompt_tokens=1500, output_tokens=101, max_num_batched_tokens=8192,
                         max_num_seqs=1024)
    prefill = seconds(d, roofline.prefill_shape(tokens=1500, prompt_tokens=1500, completed_prompts=1))
    decode = seconds(d, roofline.decode_shape(batch=1, context_tokens=1550))
    one_wave = prefill + 100 * decode
    assert p.max_concurrent_sequences == 1
    assert p.ttft_seconds == pytest.approx((prefill + one_wave + prefill) / 2, rel=1e-12)
    assert p.tpot_seconds == pytest.approx(decode, rel=1e-12)
    assert p.throughput_tokens_per_second == pytest.approx(2 * 101 / (2 * one_wave), rel=1e-12)


def test_throttling_slows_every_prefill_and_decode_step_of_the_closed_form() -> None:
    d = deployment()
    p = roofline.predict(d, batch=2, prompt_tokens=512, output_tokens=11, max_num_batched_tokens=8192,
                         max_num_seqs=1024, clock_factor=0.5)
    prefill = seconds(d, roofline.prefill_shape(tokens=1024, prompt_tokens=512, completed_prompts=2),
                      clock_factor=0.5)
    decode = seconds(d, roofline.decode_shape(batch=2, context_tokens=517), clock_factor=0.5)
    assert p.ttft_seconds == pytest.approx(prefill, rel=1e-12)
    assert p.tpot_seconds == pytest.approx(decode, rel=1e-12)
    assert p.throughput_tokens_per_second == pytest.approx(22 / (prefill + 10 * decode), rel=1e-12)


def test_two_output_tokens_have_one_decode_step() -> None:
    d = deployment()
    p = roofline.predict(d, batch=1, prompt_tokens=64, output_tokens=2, max_num_batched_tokens=8192,
                         max_num_seqs=1024)
    decode = seconds(d, roofline.decode_shape(batch=1, context_tokens=65))
    assert p.tpot_seconds == pytest.approx(decode, rel=1e-12)
    assert p.throughput_tokens_per_second == pytest.approx(2 / (p.ttft_seconds + decode), rel=1e-12)


# --- where decode turns compute-bound ---------------------------------------------------------


def _bound(d: roofline.Deployment, batch: int) -> str:
    return roofline.step_cost(d, roofline.decode_shape(batch=batch, context_tokens=128)).bound


def test_decode_turns_compute_bound_at_the_smallest_such_batch_over_a_sweep_of_mfus() -> None:
    found = set()
    for step in range(60):
        mfu = 0.0005 * 1.13 ** step
        d = deployment(efficiency=roofline.Efficiency(compute_utilization=mfu))
        batch = roofline.decode_compute_bound_batch(d, context_tokens=128)
        assert type(batch) is int
        assert _bound(d, batch) == "compute"
        assert batch == 1 or _bound(d, batch - 1) == "memory"
        found.add(batch)
    assert {1, 2, 3, 5, 6, 7}.issubset(found), sorted(found)  # the sweep reaches the small batches


def _with_threshold_batch(target: float) -> roofline.Deployment:
    """Llama-3-8B on an H100 with a KV MBU that makes decode turn compute-bound at about ``target``.

    Compute and KV reads both grow linearly with the batch and the weight read does not, so decode
    turns compute-bound at weight time / (compute - KV time per sequence).
    """
    one = roofline.step_cost(deployment(), roofline.decode_shape(batch=1, context_tokens=128))
    kv_seconds = one.compute_seconds - one.weight_memory_seconds / target
    mbu = one.kv_bytes_per_gpu / (hardware.H100_SXM.memory_bandwidth_bytes_per_second * kv_seconds)
    return deployment(efficiency=roofline.Efficiency(kv_bandwidth_utilization=mbu))


def test_a_compute_bound_batch_beyond_the_search_limit_is_reported_as_none() -> None:
    limit = roofline.DECODE_BATCH_SEARCH_LIMIT
    within = _with_threshold_batch(0.7 * limit)
    batch = roofline.decode_compute_bound_batch(within, context_tokens=128)
    assert batch is not None and abs(batch - 0.7 * limit) < 2
    assert roofline.decode_compute_bound_batch(_with_threshold_batch(1.4 * limit), context_tokens=128) is None
