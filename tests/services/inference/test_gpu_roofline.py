"""Roofline step times, KV capacity and closed-form predictions.

We test these aspects:
- KV capacity reproduces vLLM's memory profile of Llama-3-8B on an H100 (53.29 GiB);
- decode at batch 1 is memory-bound (weights / bandwidth) and prefill is compute-bound;
- TPOT stays nearly flat while decode is memory-bound, then rises once compute-bound;
- decode throughput saturates as the batch grows;
- H200 beats H100 on memory-bound decode by the bandwidth ratio 4.8 / 3.35 (diluted by the
  fixed overhead) and not on compute-bound prefill;
- tensor parallelism costs two ring all-reduces per layer with a latency term;
- the clock factor scales the kernel time, not the overhead;
- bad deployments and efficiencies are rejected with a reason;
- the closed form at batch 1 is one prefill step then output - 1 decode steps.
"""
from __future__ import annotations

import dataclasses

import pytest

from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline


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
    assert cost.bound == "memory"
    assert cost.memory_seconds == pytest.approx(weights / (3.35e12 * d.efficiency.bandwidth_utilization), rel=0.01)


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


def test_efficiency_shares_outside_the_unit_interval_are_rejected() -> None:
    with pytest.raises(ValueError, match="compute_utilization"):
        roofline.Efficiency(compute_utilization=1.2)


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
