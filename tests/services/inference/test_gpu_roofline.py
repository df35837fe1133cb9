"""Roofline step times, KV capacity and closed-form predictions.

We test these aspects:
- KV capacity reproduces vLLM's memory profile of Llama-3-8B on an H100 (53.29 GiB); tensor
  parallelism adds the NCCL buffers to the reserve (subtracting them from the KV pool);
  TensorRT-LLM's rule takes its share of the memory left after weights and buffers;
- decode at batch 1 is memory-bound (weights / bandwidth) and prefill is compute-bound;
- the weight and KV-cache streams have their own MBU, KV precision is independent of the weights';
- a mixture-of-experts step reads the experts its tokens touch and computes only the active ones;
- the 405B model needs FP8 to fit on 8 x H100, and then does;
- FLOPs count the LM head once per sampled sequence; a prefill step pays the prefill overhead;
- the rounded roofline corner lies between max(compute, memory) and their sum;
- without GQA reuse decode reads each KV head once per query head of its group;
- the roofline made visible: ridge points, the batch where decode turns compute-bound, MFU/MBU;
- TPOT stays nearly flat while decode is memory-bound, then rises once compute-bound;
- decode throughput saturates as the batch grows;
- H200 beats H100 on memory-bound decode by the bandwidth ratio 4.8 / 3.35 (diluted by the
  fixed overhead) and not on compute-bound prefill;
- tensor parallelism costs two ring all-reduces per layer with a latency term;
- the clock factor scales the kernel time, not the overhead;
- bad deployments and efficiencies are rejected with a reason;
- the closed form at batch 1 is one prefill step then output - 1 decode steps; a partial last
  prefill chunk is costed as the partial chunk; one output token has no TPOT; a request larger
  than the KV cache is refused with the documented error.
"""
from __future__ import annotations

import dataclasses

import pytest

from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline

LLAMA_3_8B_FP8 = models.get_model("llama-3-8b-fp8")
LLAMA_3_70B_FP8 = models.get_model("llama-3-70b-fp8")


def deployment(**overrides: object) -> roofline.Deployment:
    fields: dict[str, object] = {"hardware": hardware.H100_SXM, "model": models.LLAMA_3_8B}
    fields.update(overrides)
    return roofline.Deployment(**fields)  # type: ignore[arg-type]


def decode_seconds(d: roofline.Deployment, *, batch: int, context_tokens: int = 128) -> float:
    return roofline.step_cost(d, roofline.decode_shape(batch=batch, context_tokens=context_tokens)).total_seconds


def test_kv_capacity_reproduces_vllms_profile_of_llama_3_8b_on_h100() -> None:
    # vLLM PR #10511: 79.22 GiB x 0.90 - 14.96 weights - 1.79 non-torch - 1.26 activations = 53.29 GiB.
    d = deployment()
    assert d.weight_bytes_per_gpu / hardware.GIB == pytest.approx(14.96, abs=0.01)
    assert d.kv_bytes_per_gpu / hardware.GIB == pytest.approx(53.29, abs=0.02)
    assert d.kv_capacity_tokens == d.kv_bytes_per_gpu // (2 * 32 * 8 * 128 * 2)


def test_decode_at_batch_one_is_memory_bound_at_weight_bytes_over_bandwidth() -> None:
    d = deployment()
    cost = roofline.step_cost(d, roofline.decode_shape(batch=1, context_tokens=128))
    weights = (d.model.layer_parameters + d.model.lm_head_parameters) * 2
    kv = 129 * d.model.kv_bytes_per_token
    e = d.efficiency
    assert cost.bound == "memory"
    assert cost.weight_bytes_per_gpu == weights and cost.kv_bytes_per_gpu == kv
    assert cost.memory_seconds == pytest.approx(
        weights / (3.35e12 * e.weight_bandwidth_utilization) + kv / (3.35e12 * e.kv_bandwidth_utilization))


def test_tensor_parallelism_adds_the_nccl_buffers_to_the_reserve_and_takes_them_from_the_kv_pool() -> None:
    one, two = deployment(model=LLAMA_3_70B_FP8), deployment(model=LLAMA_3_70B_FP8,
                                                                      tensor_parallel_size=2)
    assert two.reserve_bytes_per_gpu - one.reserve_bytes_per_gpu == roofline.NCCL_BYTES > 0
    assert one.kv_bytes_per_gpu - two.kv_bytes_per_gpu == pytest.approx(
        roofline.NCCL_BYTES - (one.weight_bytes_per_gpu - two.weight_bytes_per_gpu), abs=1)


def test_tensorrt_llm_gives_the_kv_cache_its_share_of_the_memory_left_after_weights() -> None:
    d = deployment(kv_pool_rule="trtllm")
    free = d.hardware.usable_memory_bytes - d.weight_bytes_per_gpu - d.reserve_bytes_per_gpu
    assert d.kv_bytes_per_gpu == int(0.9 * free)
    assert d.kv_bytes_per_gpu > deployment().kv_bytes_per_gpu


def test_weight_and_kv_reads_have_their_own_bandwidth_utilization() -> None:
    shape = roofline.decode_shape(batch=256, context_tokens=2048)
    base = roofline.step_cost(deployment(), shape)
    slow_kv = roofline.step_cost(deployment(efficiency=roofline.Efficiency(kv_bandwidth_utilization=0.44)), shape)
    slow_weights = roofline.step_cost(
        deployment(efficiency=roofline.Efficiency(weight_bandwidth_utilization=0.4)), shape)
    assert base.kv_memory_seconds > 3 * base.weight_memory_seconds  # KV reads dominate this step
    assert slow_kv.kv_memory_seconds == pytest.approx(2 * base.kv_memory_seconds)
    assert slow_kv.weight_memory_seconds == base.weight_memory_seconds
    assert slow_weights.weight_memory_seconds == pytest.approx(2 * base.weight_memory_seconds)
    assert slow_weights.kv_memory_seconds == base.kv_memory_seconds


def test_fp8_weights_with_a_16_bit_kv_cache_read_fp8_weights_and_bf16_kv() -> None:
    shape = roofline.decode_shape(batch=64, context_tokens=1024)
    fp8 = deployment(model=LLAMA_3_8B_FP8)
    kv16 = deployment(model=models.with_kv_bytes(LLAMA_3_8B_FP8, 2))
    assert roofline.step_cost(kv16, shape).weight_bytes_per_gpu == roofline.step_cost(fp8, shape).weight_bytes_per_gpu
    assert roofline.step_cost(kv16, shape).kv_bytes_per_gpu == 2 * roofline.step_cost(fp8, shape).kv_bytes_per_gpu
    assert kv16.peak_flops_per_second == fp8.peak_flops_per_second == hardware.H100_SXM.dense_fp8_flops_per_second
    assert kv16.kv_capacity_tokens == pytest.approx(fp8.kv_capacity_tokens / 2, abs=1)


def test_a_moe_decode_step_reads_the_experts_its_batch_touches_and_computes_only_the_active_ones() -> None:
    d = deployment(model=models.MIXTRAL_8X7B, tensor_parallel_size=2)
    model = d.model
    one = roofline.step_cost(d, roofline.decode_shape(batch=1, context_tokens=0))
    many = roofline.step_cost(d, roofline.decode_shape(batch=64, context_tokens=0))
    dense = model.dense_layer_parameters + model.lm_head_parameters
    assert one.weight_bytes_per_gpu == pytest.approx((dense + 32 * 2 * model.expert_parameters) * 2 / 2)
    assert many.weight_bytes_per_gpu == pytest.approx((dense + 32 * 8 * model.expert_parameters) * 2 / 2, rel=1e-6)
    per_token = 2.0 * model.active_layer_parameters + 2.0 * model.lm_head_parameters
    assert many.flops_per_gpu == pytest.approx((64 * per_token + 4.0 * 32 * 4096 * 64) / 2)


def test_the_405b_model_needs_fp8_to_fit_on_8_h100s_and_then_does() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        deployment(model=models.LLAMA_31_405B, tensor_parallel_size=8)
    d = deployment(model=models.get_model("llama-3.1-405b-fp8"), tensor_parallel_size=8)
    assert d.weight_bytes_per_gpu / 1e9 == pytest.approx(405.85 / 8, rel=0.01)
    assert d.kv_capacity_tokens > 500_000


def test_fp8_weights_on_a_gpu_without_fp8_tensor_cores_are_rejected() -> None:
    with pytest.raises(ValueError, match="no FP8 tensor cores"):
        deployment(hardware=hardware.A100_SXM, model=LLAMA_3_8B_FP8)


def test_the_lm_head_is_computed_once_per_sampled_sequence() -> None:
    model = models.LLAMA_3_8B
    shape = roofline.StepShape(new_tokens=100, sampled_sequences=0, attention_pairs=0, context_tokens=0)
    sampled = dataclasses.replace(shape, sampled_sequences=3)
    assert roofline.step_flops(model, sampled) - roofline.step_flops(model, shape) == 3 * 2 * 128256 * 4096
    assert roofline.step_flops(model, shape) == 2 * model.layer_parameters * 100


def test_a_step_with_a_prefill_chunk_pays_the_prefill_overhead_and_a_pure_decode_does_not() -> None:
    d = deployment(efficiency=roofline.Efficiency(step_overhead_seconds=0.002, prefill_overhead_seconds=0.003))
    decode = roofline.step_cost(d, roofline.decode_shape(batch=8, context_tokens=100))
    prefill = roofline.step_cost(d, roofline.prefill_shape(tokens=64, prompt_tokens=64, completed_prompts=1))
    assert (decode.overhead_seconds, prefill.overhead_seconds) == (0.002, 0.005)


@pytest.mark.parametrize("batch", [1, 200, 800, 4000])
def test_the_rounded_roofline_corner_lies_between_the_max_and_the_sum(batch: int) -> None:
    cost = roofline.step_cost(deployment(), roofline.decode_shape(batch=batch, context_tokens=128))
    ideal = dataclasses.replace(cost, overlap_exponent=float("inf"))
    serial = dataclasses.replace(cost, overlap_exponent=1.0)
    assert ideal.kernel_seconds == max(cost.compute_seconds, cost.memory_seconds)
    assert serial.kernel_seconds == pytest.approx(cost.compute_seconds + cost.memory_seconds)
    assert ideal.kernel_seconds <= cost.kernel_seconds <= serial.kernel_seconds


def test_without_gqa_reuse_decode_reads_each_kv_head_once_per_query_head() -> None:
    shape = roofline.decode_shape(batch=16, context_tokens=1000)
    reuse = roofline.step_kv_bytes_per_gpu(deployment(model=LLAMA_3_70B_FP8, tensor_parallel_size=4), shape)
    no_reuse = roofline.step_kv_bytes_per_gpu(
        deployment(model=LLAMA_3_70B_FP8, tensor_parallel_size=4, gqa_kv_reuse=False), shape)
    per_token = LLAMA_3_70B_FP8.kv_bytes_per_token_per_gpu(tensor_parallel_size=4)
    assert reuse == per_token * (16_000 + 16)
    assert no_reuse == per_token * (16_000 * 8 + 16)


def test_the_ridge_points_are_peak_over_bandwidth_datasheet_and_achievable() -> None:
    d = deployment()
    e = d.efficiency
    assert roofline.ridge_point_flops_per_byte(d) == pytest.approx(989.4e12 / 3.35e12)
    assert roofline.effective_ridge_point_flops_per_byte(d) == pytest.approx(
        989.4e12 * e.compute_utilization / (3.35e12 * e.weight_bandwidth_utilization))


def test_decode_turns_compute_bound_exactly_at_the_reported_batch() -> None:
    d = deployment()
    batch = roofline.decode_compute_bound_batch(d, context_tokens=128)
    assert batch is not None and 64 < batch < 1024
    at = roofline.step_cost(d, roofline.decode_shape(batch=batch, context_tokens=128))
    before = roofline.step_cost(d, roofline.decode_shape(batch=batch - 1, context_tokens=128))
    assert (at.bound, before.bound) == ("compute", "memory")


def test_decode_never_turns_compute_bound_when_each_sequence_s_kv_read_outlasts_its_flops() -> None:
    # Llama 2 7B has no GQA: at 4k context a sequence reads 2 GiB of KV per step for 14 GFLOP.
    assert roofline.decode_compute_bound_batch(deployment(model=models.LLAMA_2_7B), context_tokens=4096) is None


def test_the_phase_report_divides_flops_and_bytes_by_the_whole_step_time() -> None:
    d = deployment()
    report = roofline.phase_report(d, roofline.decode_shape(batch=32, context_tokens=512))
    cost = report.cost
    assert report.mfu == pytest.approx(cost.flops_per_gpu / cost.total_seconds / 989.4e12)
    assert report.mbu == pytest.approx(cost.bytes_per_gpu / cost.total_seconds / 3.35e12)
    assert report.arithmetic_intensity_flops_per_byte == pytest.approx(cost.flops_per_gpu / cost.bytes_per_gpu)
    assert roofline.kv_bytes_per_sequence(d, tokens=639) == 639 * 131072


def test_prefill_of_a_long_prompt_is_compute_bound() -> None:
    shape = roofline.prefill_shape(tokens=2048, prompt_tokens=2048, completed_prompts=1)
    assert roofline.step_cost(deployment(), shape).bound == "compute"


def test_tpot_is_nearly_flat_while_memory_bound_then_rises() -> None:
    d = deployment()
    single = decode_seconds(d, batch=1)
    assert decode_seconds(d, batch=16) / single < 1.1
    assert roofline.step_cost(d, roofline.decode_shape(batch=16, context_tokens=128)).bound == "memory"
    assert roofline.step_cost(d, roofline.decode_shape(batch=1024, context_tokens=128)).bound == "compute"
    assert decode_seconds(d, batch=1024) / single > 2.5


def test_decode_throughput_saturates_as_the_batch_grows() -> None:
    d = deployment()
    throughput = {b: b / decode_seconds(d, batch=b) for b in (1, 2, 512, 1024, 2048)}
    assert throughput[2] / throughput[1] > 1.9
    assert throughput[2048] / throughput[1024] < 1.1
    assert throughput[1024] >= throughput[512] >= throughput[2]


def test_h200_decode_beats_h100_by_the_bandwidth_ratio_once_overhead_is_removed() -> None:
    no_overhead = roofline.Efficiency(step_overhead_seconds=0.0)
    h100 = deployment(efficiency=no_overhead)
    h200 = deployment(hardware=hardware.H200_SXM, efficiency=no_overhead)
    shape = roofline.decode_shape(batch=1, context_tokens=1024)
    ratio = roofline.step_cost(h100, shape).total_seconds / roofline.step_cost(h200, shape).total_seconds
    assert ratio == pytest.approx(4.8 / 3.35, rel=0.01)


def test_h200_decode_speedup_with_overhead_lies_between_one_and_the_bandwidth_ratio() -> None:
    ratio = decode_seconds(deployment(), batch=8) / decode_seconds(deployment(hardware=hardware.H200_SXM), batch=8)
    assert 1.2 < ratio < 4.8 / 3.35


def test_h200_prefill_is_no_faster_than_h100_because_compute_is_the_same() -> None:
    shape = roofline.prefill_shape(tokens=4096, prompt_tokens=4096, completed_prompts=1)
    h100 = roofline.step_cost(deployment(), shape).total_seconds
    h200 = roofline.step_cost(deployment(hardware=hardware.H200_SXM), shape).total_seconds
    assert h200 == pytest.approx(h100, rel=0.01)


def test_tensor_parallelism_costs_two_ring_allreduces_per_layer() -> None:
    d = deployment(model=models.LLAMA_3_70B, tensor_parallel_size=4)
    e = d.efficiency
    one = e.allreduce_latency_seconds + 2 * 3 / 4 * 64 * 8192 * 2 / (450e9 * e.interconnect_utilization)
    assert roofline.allreduce_seconds(d, tokens=64) == pytest.approx(2 * 80 * one)
    assert roofline.allreduce_seconds(deployment(), tokens=64) == 0.0


def test_clock_factor_scales_the_kernel_time_but_not_the_overhead() -> None:
    d = deployment()
    shape = roofline.decode_shape(batch=4, context_tokens=256)
    nominal, throttled = roofline.step_cost(d, shape), roofline.step_cost(d, shape, clock_factor=0.5)
    assert throttled.memory_seconds == pytest.approx(2 * nominal.memory_seconds)
    assert throttled.compute_seconds == pytest.approx(2 * nominal.compute_seconds)
    assert throttled.overhead_seconds == nominal.overhead_seconds


@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"model": models.LLAMA_3_70B}, "does not fit", id="70b-on-one-h100"),
    pytest.param({"tensor_parallel_size": 3}, "does not divide", id="tp-not-dividing-heads"),
    pytest.param({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization", id="memory-share-above-one"),
])
def test_impossible_deployments_are_rejected_with_a_reason(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deployment(**overrides)


@pytest.mark.parametrize(("field", "value"), [
    pytest.param("compute_utilization", 1.2, id="mfu-above-one"),
    pytest.param("kv_bandwidth_utilization", 0.0, id="kv-mbu-zero"),
    pytest.param("prefill_overhead_seconds", -0.001, id="negative-overhead"),
    pytest.param("overlap_exponent", 0.5, id="overlap-below-one"),
])
def test_efficiencies_outside_their_domain_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        roofline.Efficiency(**{field: value})


def test_closed_form_at_batch_one_is_a_prefill_step_then_decode_steps() -> None:
    d = deployment()
    p = roofline.predict(d, batch=1, prompt_tokens=512, output_tokens=101, max_num_batched_tokens=8192,
                         max_num_seqs=1024)
    prefill = roofline.step_cost(d, roofline.prefill_shape(tokens=512, prompt_tokens=512, completed_prompts=1))
    decode = roofline.step_cost(d, roofline.decode_shape(batch=1, context_tokens=512 + 50))
    assert p.ttft_seconds == pytest.approx(prefill.total_seconds)
    assert p.tpot_seconds == pytest.approx(decode.total_seconds)
    assert p.throughput_tokens_per_second == pytest.approx(101 / (p.ttft_seconds + 100 * p.tpot_seconds))
    assert (p.prefill_bound, p.decode_bound) == ("compute", "memory")


def test_max_concurrent_sequences_divides_kv_blocks_by_blocks_per_sequence() -> None:
    d = dataclasses.replace(deployment(), gpu_memory_utilization=0.5)
    blocks = d.kv_capacity_tokens // 16
    expected = blocks // roofline.blocks_for(1000 + 24 - 1, block_size_tokens=16)
    assert roofline.max_concurrent_sequences(d, prompt_tokens=1000, output_tokens=24, block_size_tokens=16,
                                             max_num_seqs=100_000) == expected
    assert roofline.max_concurrent_sequences(d, prompt_tokens=1000, output_tokens=24, block_size_tokens=16,
                                             max_num_seqs=7) == 7


def test_a_burst_larger_than_the_kv_cache_runs_in_waves() -> None:
    d = deployment(hardware=hardware.L4)
    kwargs = {"prompt_tokens": 1024, "output_tokens": 256, "max_num_batched_tokens": 2048, "max_num_seqs": 256}
    fitting = roofline.predict(d, batch=1, **kwargs).max_concurrent_sequences
    one_wave = roofline.predict(d, batch=fitting, **kwargs)
    two_waves = roofline.predict(d, batch=2 * fitting, **kwargs)
    # Half the requests wait for the whole first wave to decode its 255 remaining tokens.
    assert fitting < 20
    assert two_waves.ttft_seconds > one_wave.ttft_seconds + 0.4 * 255 * one_wave.tpot_seconds


def test_a_partial_last_prefill_chunk_is_costed_as_the_partial_chunk() -> None:
    d = deployment()
    p = roofline.predict(d, batch=1, prompt_tokens=1000, output_tokens=1, max_num_batched_tokens=256,
                         max_num_seqs=1024)
    chunks = [roofline.prefill_shape(tokens=256, prompt_tokens=1000, completed_prompts=0)] * 3 + [
        roofline.prefill_shape(tokens=232, prompt_tokens=1000, completed_prompts=1)]
    assert p.ttft_seconds == pytest.approx(sum(roofline.step_cost(d, c).total_seconds for c in chunks), rel=1e-12)
    full = roofline.step_cost(d, roofline.prefill_shape(tokens=256, prompt_tokens=1000, completed_prompts=1))
    partial = roofline.step_cost(d, chunks[-1])
    assert full.total_seconds > partial.total_seconds


def test_one_output_token_has_no_time_per_output_token() -> None:
    p = roofline.predict(deployment(), batch=4, prompt_tokens=128, output_tokens=1, max_num_batched_tokens=8192,
                         max_num_seqs=1024)
    assert p.tpot_seconds == 0.0
    assert p.throughput_tokens_per_second == pytest.approx(4 / p.ttft_seconds)


def test_a_request_larger_than_the_kv_cache_is_refused_with_the_documented_error() -> None:
    d = deployment()
    with pytest.raises(ValueError, match="does not fit in the KV cache"):
        roofline.predict(d, batch=2, prompt_tokens=d.kv_capacity_tokens, output_tokens=16,
                         max_num_batched_tokens=8192, max_num_seqs=1024)
