"""Hardware and model profiles of the GPU emulator.

We test these aspects:
- peak tensor throughput is the dense datasheet figure, not the 2:4-sparsity one;
- H200 has H100's compute and more, faster memory; A100 has a third of the BF16 peak and no FP8;
- parameter counts derived from the shapes match the model cards, active parameters of the MoE too;
- KV bytes per token follow 2 x layers x kv_heads x head_dim x bytes, and the KV precision is
  independent of the weights' (FP8 weights with a 16-bit KV cache);
- a mixture-of-experts step touches E (1 - (1 - k/E)^n) experts: k at one token, nearly all at many;
- KV heads are split over tensor-parallel GPUs and replicated when there are fewer;
- unknown names are rejected with the known ones listed.
"""
from __future__ import annotations

import pytest

from services.inference.gpu import hardware
from services.inference.gpu import models


def test_h100_peak_is_the_dense_figure_not_the_sparse_one() -> None:
    assert hardware.H100_SXM.dense_bf16_flops_per_second == pytest.approx(989.4e12)
    assert hardware.H100_SXM.dense_fp8_flops_per_second == pytest.approx(2 * 989.4e12, rel=1e-3)
    assert hardware.H100_SXM.dense_bf16_flops_per_second < 1979e12 / 1.9


def test_h200_has_h100_compute_with_more_and_faster_memory() -> None:
    h100, h200 = hardware.H100_SXM, hardware.H200_SXM
    assert h200.dense_bf16_flops_per_second == h100.dense_bf16_flops_per_second
    assert (h100.memory_bytes, h200.memory_bytes) == (80 * hardware.GIB, 141 * hardware.GIB)
    assert (h100.memory_bandwidth_bytes_per_second, h200.memory_bandwidth_bytes_per_second) == (3.35e12, 4.8e12)


def test_usable_memory_leaves_the_drivers_reservation_out() -> None:
    assert hardware.H100_SXM.usable_memory_bytes / hardware.GIB == pytest.approx(79.22, abs=0.01)


@pytest.mark.parametrize("model", [pytest.param(m, id=m.name) for m in models.MODELS.values()])
def test_parameter_count_derived_from_the_shape_matches_the_model_card(model: models.ModelProfile) -> None:
    assert model.parameters == pytest.approx(model.published_parameters, rel=0.01)


@pytest.mark.parametrize(("name", "kv_bytes"), [
    pytest.param("llama-3-8b", 2 * 32 * 8 * 128 * 2, id="llama-3-8b"),
    pytest.param("llama-3-70b", 2 * 80 * 8 * 128 * 2, id="llama-3-70b"),
    pytest.param("llama-3-70b-fp8", 2 * 80 * 8 * 128 * 1, id="llama-3-70b-fp8"),
    pytest.param("llama-2-7b", 2 * 32 * 32 * 128 * 2, id="llama-2-7b-no-gqa"),
])
def test_kv_bytes_per_token_follow_the_formula(name: str, kv_bytes: int) -> None:
    assert models.get_model(name).kv_bytes_per_token == kv_bytes


def test_fp8_variant_halves_weight_bytes_and_keeps_the_shape() -> None:
    bf16, fp8 = models.get_model("llama-3-8b"), models.get_model("llama-3-8b-fp8")
    assert fp8.weight_bytes * 2 == bf16.weight_bytes
    assert (fp8.layers, fp8.kv_heads, fp8.parameters) == (bf16.layers, bf16.kv_heads, bf16.parameters)


def test_kv_heads_are_split_over_gpus_and_replicated_when_fewer() -> None:
    model = models.LLAMA_3_70B
    per_head = 2 * model.layers * model.head_dim * model.kv_bytes_per_value
    assert model.kv_bytes_per_token_per_gpu(tensor_parallel_size=4) == 2 * per_head
    assert model.kv_bytes_per_token_per_gpu(tensor_parallel_size=16) == per_head


def test_a100_has_a_third_of_h100s_bf16_peak_and_no_fp8_tensor_cores() -> None:
    a100 = hardware.A100_SXM
    assert a100.dense_bf16_flops_per_second == pytest.approx(312e12)
    assert a100.memory_bandwidth_bytes_per_second == pytest.approx(2.039e12)
    with pytest.raises(ValueError, match="no FP8 tensor cores"):
        a100.dense_flops_per_second(bytes_per_value=1)


def test_the_moe_model_runs_its_card_s_active_parameters_per_token() -> None:
    mixtral = models.MIXTRAL_8X7B
    assert mixtral.active_parameters == pytest.approx(mixtral.published_active_parameters, rel=0.01)
    assert mixtral.active_layer_parameters == mixtral.dense_layer_parameters + 32 * 2 * mixtral.expert_parameters


@pytest.mark.parametrize(("tokens", "experts"), [
    pytest.param(0, 0.0, id="no-token"), pytest.param(1, 2.0, id="one-token-touches-k"),
    pytest.param(3, 8 * (1 - (6 / 8) ** 3), id="three-tokens"),
])
def test_a_moe_step_touches_the_expected_number_of_distinct_experts(tokens: int, experts: float) -> None:
    assert models.MIXTRAL_8X7B.experts_touched(tokens) == pytest.approx(experts)


def test_a_large_batch_touches_nearly_every_expert_and_a_dense_model_has_none() -> None:
    assert models.MIXTRAL_8X7B.experts_touched(64) == pytest.approx(8, abs=1e-6)
    assert models.LLAMA_3_8B.experts_touched(64) == 0.0


def test_kv_precision_is_independent_of_weight_precision() -> None:
    fp8 = models.get_model("llama-3-70b-fp8")
    fp8_weights_bf16_kv = models.with_kv_bytes(fp8, 2)
    assert fp8_weights_bf16_kv.weight_bytes == fp8.weight_bytes == models.LLAMA_3_70B.weight_bytes // 2
    assert fp8_weights_bf16_kv.kv_bytes_per_token == 2 * fp8.kv_bytes_per_token == models.LLAMA_3_70B.kv_bytes_per_token
    assert fp8_weights_bf16_kv.name == "llama-3-70b-fp8-kv16"


def test_peak_for_an_unsupported_precision_is_rejected() -> None:
    with pytest.raises(ValueError, match="bytes_per_value"):
        hardware.H100_SXM.dense_flops_per_second(bytes_per_value=4)


@pytest.mark.parametrize(("lookup", "name"), [
    pytest.param(hardware.get_profile, "b200", id="profile"),
    pytest.param(models.get_model, "gpt-5", id="model"),
])
def test_unknown_names_are_rejected_with_the_known_ones(lookup, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="known: "):
        lookup(name)
