"""GPU hardware profiles: the datasheet constants the roofline is built from (A100, H100, H200, L4).

Peak tensor throughput is the *dense* figure. NVIDIA datasheets headline the 2:4 structured
sparsity number (H100 SXM BF16 "1,979 TFLOPS*", footnote "with sparsity"), which is twice the dense
rate that a transformer's dense GEMMs can reach; the seed lab used the sparse figure and made
compute-bound steps twice too fast (docs/gpu-emulator.md).

Memory capacities are the datasheet's "GB", which are GiB-sized HBM stacks (H100: 5 x 16 GiB);
CUDA sees a little less, see ``DRIVER_RESERVED_BYTES``.
"""
from __future__ import annotations

import dataclasses

GIB = 2**30
"""Bytes in a GiB."""

TERA = 1e12
"""FLOP/s or bytes/s in a tera-unit."""

# vLLM's memory profiler on an "80 GB" H100 reports total_gpu_memory 79.22 GiB
# (vllm-project/vllm PR #10511, "Memory profiling results", Llama-3-8B on H100, Dec 2024);
# the remaining 0.78 GiB is held by the driver. Assumed the same on H200 and L4.
DRIVER_RESERVED_BYTES = int(0.78 * GIB)
"""Bytes of device memory CUDA applications cannot allocate."""


@dataclasses.dataclass(frozen=True)
class HardwareProfile:
    """One GPU model as the roofline sees it (per GPU; tensor parallelism multiplies GPUs)."""

    name: str
    """Short key used on the command line, e.g. ``h100-sxm``."""

    dcgm_model_name: str
    """The ``modelName`` label dcgm-exporter puts on this GPU's series."""

    dense_bf16_flops_per_second: float
    """Peak dense BF16/FP16 tensor-core throughput, FLOP/s, without 2:4 sparsity."""

    dense_fp8_flops_per_second: float | None
    """Peak dense FP8 tensor-core throughput, FLOP/s, without 2:4 sparsity; None: no FP8 tensor cores."""

    memory_bytes: int
    """Device memory capacity in bytes, as the datasheet states it."""

    memory_bandwidth_bytes_per_second: float
    """Peak device-memory bandwidth, bytes/s."""

    interconnect_bytes_per_second: float
    """GPU-to-GPU bandwidth per GPU and per direction, bytes/s, that a ring all-reduce can use."""

    interconnect_name: str
    """What the GPU-to-GPU link is (NVLink 4, PCIe Gen4), for reports."""

    def __post_init__(self) -> None:
        for field in ("dense_bf16_flops_per_second", "dense_fp8_flops_per_second",
                      "memory_bandwidth_bytes_per_second", "interconnect_bytes_per_second"):
            value = getattr(self, field)
            if value is not None and value <= 0:
                raise ValueError(f"{field} of {self.name} must be positive: it is a rate.")
        if self.memory_bytes <= DRIVER_RESERVED_BYTES:
            raise ValueError(f"memory_bytes of {self.name} must exceed the driver's reservation.")

    @property
    def usable_memory_bytes(self) -> int:
        """Device memory a CUDA process can allocate (capacity minus the driver's reservation)."""
        return self.memory_bytes - DRIVER_RESERVED_BYTES

    def dense_flops_per_second(self, *, bytes_per_value: int) -> float:
        """Peak dense tensor throughput for weights of ``bytes_per_value`` (2: BF16, 1: FP8)."""
        if bytes_per_value == 1:
            if self.dense_fp8_flops_per_second is None:
                raise ValueError(f"{self.name} has no FP8 tensor cores: serve the BF16 model on it.")
            return self.dense_fp8_flops_per_second
        if bytes_per_value == 2:
            return self.dense_bf16_flops_per_second
        raise ValueError(f"bytes_per_value {bytes_per_value} is not 1 (FP8) or 2 (BF16).")


H100_SXM = HardwareProfile(
    name="h100-sxm",
    dcgm_model_name="NVIDIA H100 80GB HBM3",
    # NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), table "H100 SXM5": BF16/FP16
    # tensor 989.4 dense / 1978.9 sparse TFLOP/s; FP8 tensor 1978.9 dense / 3957.8 sparse.
    # The H100 datasheet headlines 1,979 and 3,958 "with sparsity".
    dense_bf16_flops_per_second=989.4 * TERA,
    dense_fp8_flops_per_second=1978.9 * TERA,
    # NVIDIA H100 datasheet, H100 SXM column: GPU memory 80 GB (HBM3), bandwidth 3.35 TB/s.
    memory_bytes=80 * GIB,
    memory_bandwidth_bytes_per_second=3.35 * TERA,
    # NVIDIA H100 datasheet: NVLink 900 GB/s (bidirectional, 18 links x 50 GB/s) = 450 GB/s per
    # direction, which is what one ring all-reduce step can push.
    interconnect_bytes_per_second=450e9,
    interconnect_name="NVLink 4 (900 GB/s bidirectional)",
)
"""NVIDIA H100 SXM5 80 GB."""

H200_SXM = HardwareProfile(
    name="h200-sxm",
    dcgm_model_name="NVIDIA H200",
    # NVIDIA H200 datasheet, H200 SXM column: BF16 1,979 and FP8 3,958 TFLOPS "with sparsity",
    # the same Hopper compute as H100 SXM, so the same dense figures.
    dense_bf16_flops_per_second=989.4 * TERA,
    dense_fp8_flops_per_second=1978.9 * TERA,
    # NVIDIA H200 datasheet: GPU memory 141 GB HBM3e, bandwidth 4.8 TB/s.
    memory_bytes=141 * GIB,
    memory_bandwidth_bytes_per_second=4.8 * TERA,
    # NVIDIA H200 datasheet: NVLink 900 GB/s.
    interconnect_bytes_per_second=450e9,
    interconnect_name="NVLink 4 (900 GB/s bidirectional)",
)
"""NVIDIA H200 SXM 141 GB. Datasheet-only: no published measurement is used to tune it."""

L4 = HardwareProfile(
    name="l4",
    dcgm_model_name="NVIDIA L4",
    # NVIDIA L4 datasheet: BF16 242 and FP8 485 TFLOPS "with sparsity" -> 121 and 242.5 dense.
    dense_bf16_flops_per_second=121.0 * TERA,
    dense_fp8_flops_per_second=242.5 * TERA,
    # NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s.
    memory_bytes=24 * GIB,
    memory_bandwidth_bytes_per_second=300e9,
    # NVIDIA L4 datasheet: PCIe Gen4 x16, 64 GB/s (bidirectional); no NVLink.
    interconnect_bytes_per_second=32e9,
    interconnect_name="PCIe Gen4 x16 (64 GB/s bidirectional)",
)
"""NVIDIA L4 24 GB: a small inference GPU for contrast (a twelfth of H100's bandwidth)."""

A100_SXM = HardwareProfile(
    name="a100-sxm",
    dcgm_model_name="NVIDIA A100-SXM4-80GB",
    # NVIDIA A100 Tensor Core GPU datasheet (2021), A100 80GB SXM column: BF16 tensor 312 TFLOPS,
    # 624 "with sparsity"; Ampere has no FP8 tensor cores (FP8 arrived with Hopper).
    dense_bf16_flops_per_second=312.0 * TERA,
    dense_fp8_flops_per_second=None,
    # Same datasheet: 80 GB HBM2e, 2,039 GB/s.
    memory_bytes=80 * GIB,
    memory_bandwidth_bytes_per_second=2.039 * TERA,
    # Same datasheet: NVLink 600 GB/s (third generation, bidirectional) = 300 GB/s per direction.
    interconnect_bytes_per_second=300e9,
    interconnect_name="NVLink 3 (600 GB/s bidirectional)",
)
"""NVIDIA A100 SXM4 80 GB: the previous generation, BF16 only."""

PROFILES: dict[str, HardwareProfile] = {
    profile.name: profile for profile in (A100_SXM, H100_SXM, H200_SXM, L4)
}
"""Every hardware profile by its command-line key."""


def get_profile(name: str) -> HardwareProfile:
    """Return the hardware profile called ``name``; raise ``KeyError`` with the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown GPU profile {name!r}; known: {', '.join(PROFILES)}") from None
