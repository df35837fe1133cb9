"""Hardware and model profiles of the GPU emulator.

We test these aspects:
- peak tensor throughput is the dense datasheet figure, not the 2:4-sparsity one;
- H200 has H100's compute and more, faster memory (docs/gpu-emulator.md constants);
- parameter counts derived from the shapes match the model cards;
- KV bytes per token follow 2 x layers x kv_heads x head_dim x bytes, FP8 halves them;
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
    per_head = 2 * model.layers * model.head_dim * model.bytes_per_value
    assert model.kv_bytes_per_token_per_gpu(tensor_parallel_size=4) == 2 * per_head
    assert model.kv_bytes_per_token_per_gpu(tensor_parallel_size=16) == per_head


def test_peak_for_an_unsupported_precision_is_rejected() -> None:
    with pytest.raises(ValueError, match="bytes_per_value"):
        hardware.H100_SXM.dense_flops_per_second(bytes_per_value=4)


@pytest.mark.parametrize(("lookup", "name"), [
    pytest.param(hardware.get_profile, "a100", id="profile"),
    pytest.param(models.get_model, "gpt-5", id="model"),
])
def test_unknown_names_are_rejected_with_the_known_ones(lookup, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="known: "):
        lookup(name)
