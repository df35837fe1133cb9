"""Published H100 measurements and the emulator's error against each.

Every row names its source and configuration. The emulator replays the row's benchmark method in
emulated time: TensorRT-LLM v0.5 numbers are static batches (``workloads.run_burst``, the whole
batch prefilled in one step), NIM numbers are closed loops of ``concurrency`` clients measured by
genai-perf (``workloads.run_closed_loop``, vLLM-default 8192-token chunks). Relative error is
(emulated - measured) / measured. ``docs/gpu-emulator.md`` prints this table and explains the gaps;
``tests/services/inference/test_gpu_calibration.py`` keeps each error within its stated bound.

No H200 row exists: this task had no GPU and the H200 profile is datasheet-only.
"""
from __future__ import annotations

import dataclasses

from services.inference.gpu import engine as engine_module
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module
from services.inference.gpu import roofline
from services.inference.gpu import workloads

TRTLLM_V05 = ("TensorRT-LLM v0.5 docs/source/performance.md (NVIDIA/TensorRT-LLM, release/0.5.0), "
              "H100 FP8 with FP8 KV cache, gptSessionBenchmark static batching")
"""Source of the TensorRT-LLM rows."""

NIM_LLAMA_33_70B = ("NVIDIA NIM LLM benchmarking guide, 'Performance' page (docs.nvidia.com/nim/benchmarking/"
                    "llm), Llama-3.3-70b-instruct NIM 1.8.0, 2 x H100 80G, fp8, TP2, genai-perf")
"""Source of the NIM rows."""

CLOSED_LOOP_REQUESTS_PER_CLIENT = 12
"""Requests per client in a closed-loop replay: enough for the clients to drift out of the phase
of their common start (identical requests would otherwise keep arriving in clumps)."""


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One published benchmark result and the configuration it was taken in."""

    label: str
    """Short row name."""

    source: str
    """Where the numbers were published."""

    hardware: str
    """Hardware profile key."""

    model: str
    """Model profile key (the measured checkpoint's shape and precision)."""

    tensor_parallel_size: int
    """GPUs the model was split over."""

    method: str
    """``"static"`` (one burst, whole batch prefilled at once) or ``"closed"`` (closed loop)."""

    concurrency: int
    """Batch size (static) or concurrent clients (closed)."""

    prompt_tokens: int
    """Input sequence length."""

    output_tokens: int
    """Output sequence length."""

    ttft_seconds: float | None = None
    """Published time to first token, if any."""

    tpot_seconds: float | None = None
    """Published time per output token (NIM's ITL), if any."""

    throughput_tokens_per_second: float | None = None
    """Published output tokens per second (whole system), if any."""


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(label="TRT-LLM Llama-2-7B FP8 b1 ISL128 TTFT", source=TRTLLM_V05, hardware="h100-sxm",
                model="llama-2-7b-fp8", tensor_parallel_size=1, method="static", concurrency=1,
                prompt_tokens=128, output_tokens=1, ttft_seconds=0.007),
    Measurement(label="TRT-LLM Llama-2-7B FP8 b1 ISL2048 TTFT", source=TRTLLM_V05, hardware="h100-sxm",
                model="llama-2-7b-fp8", tensor_parallel_size=1, method="static", concurrency=1,
                prompt_tokens=2048, output_tokens=1, ttft_seconds=0.036),
    Measurement(label="TRT-LLM Llama-2-70B FP8 TP4 b1 ISL128 TTFT", source=TRTLLM_V05, hardware="h100-sxm",
                model="llama-2-70b-fp8", tensor_parallel_size=4, method="static", concurrency=1,
                prompt_tokens=128, output_tokens=1, ttft_seconds=0.026),
    Measurement(label="TRT-LLM Llama-2-70B FP8 TP4 b1 ISL2048 TTFT", source=TRTLLM_V05, hardware="h100-sxm",
                model="llama-2-70b-fp8", tensor_parallel_size=4, method="static", concurrency=1,
                prompt_tokens=2048, output_tokens=1, ttft_seconds=0.109),
    Measurement(label="TRT-LLM Llama-2-7B FP8 b64 128/128 throughput", source=TRTLLM_V05, hardware="h100-sxm",
                model="llama-2-7b-fp8", tensor_parallel_size=1, method="static", concurrency=64,
                prompt_tokens=128, output_tokens=128, throughput_tokens_per_second=9193.0),
    Measurement(label="TRT-LLM Llama-2-70B FP8 TP4 b64 128/128 throughput", source=TRTLLM_V05,
                hardware="h100-sxm", model="llama-2-70b-fp8", tensor_parallel_size=4, method="static",
                concurrency=64, prompt_tokens=128, output_tokens=128, throughput_tokens_per_second=3317.0),
    Measurement(label="NIM Llama-3.3-70B FP8 TP2 c1 5000/500", source=NIM_LLAMA_33_70B, hardware="h100-sxm",
                model="llama-3-70b-fp8", tensor_parallel_size=2, method="closed", concurrency=1,
                prompt_tokens=5000, output_tokens=500, ttft_seconds=0.40677, tpot_seconds=0.01858,
                throughput_tokens_per_second=51.67),
    Measurement(label="NIM Llama-3.3-70B FP8 TP2 c1 500/2000", source=NIM_LLAMA_33_70B, hardware="h100-sxm",
                model="llama-3-70b-fp8", tensor_parallel_size=2, method="closed", concurrency=1,
                prompt_tokens=500, output_tokens=2000, ttft_seconds=0.04777, tpot_seconds=0.01891,
                throughput_tokens_per_second=52.85),
    Measurement(label="NIM Llama-3.3-70B FP8 TP2 c25 5000/500", source=NIM_LLAMA_33_70B, hardware="h100-sxm",
                model="llama-3-70b-fp8", tensor_parallel_size=2, method="closed", concurrency=25,
                prompt_tokens=5000, output_tokens=500, ttft_seconds=0.68869, tpot_seconds=0.03875,
                throughput_tokens_per_second=623.4),
    Measurement(label="NIM Llama-3.3-70B FP8 TP2 c50 5000/500", source=NIM_LLAMA_33_70B, hardware="h100-sxm",
                model="llama-3-70b-fp8", tensor_parallel_size=2, method="closed", concurrency=50,
                prompt_tokens=5000, output_tokens=500, ttft_seconds=0.83451, tpot_seconds=0.05973,
                throughput_tokens_per_second=814.37),
)
"""The calibration set: H100 only (no published H200 row is used)."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The emulator's numbers for one measurement."""

    measurement: Measurement
    """What was measured."""

    ttft_seconds: float
    """Emulated mean time to first token."""

    tpot_seconds: float
    """Emulated mean time per output token."""

    throughput_tokens_per_second: float
    """Emulated output throughput."""

    def errors(self) -> dict[str, float]:
        """Relative error (emulated - measured) / measured of every published quantity."""
        pairs = (("ttft", self.ttft_seconds, self.measurement.ttft_seconds),
                 ("tpot", self.tpot_seconds, self.measurement.tpot_seconds),
                 ("throughput", self.throughput_tokens_per_second, self.measurement.throughput_tokens_per_second))
        return {name: (emulated - measured) / measured for name, emulated, measured in pairs if measured}


def _engine_for(measurement: Measurement, efficiency: roofline.Efficiency) -> engine_module.Engine:
    static = measurement.method == "static"
    settings = engine_module.EngineSettings(
        tensor_parallel_size=measurement.tensor_parallel_size, efficiency=efficiency,
        max_num_batched_tokens=(measurement.concurrency * measurement.prompt_tokens if static else None))
    return engine_module.Engine(hardware=hardware_module.get_profile(measurement.hardware),
                                model=models_module.get_model(measurement.model), settings=settings)


def replay(measurement: Measurement, *, efficiency: roofline.Efficiency | None = None) -> Comparison:
    """Run the measurement's benchmark on the emulator (default ``Efficiency``) and return its numbers."""
    engine = _engine_for(measurement, efficiency or roofline.Efficiency())
    if measurement.method == "static":
        result = workloads.run_burst(engine, batch=measurement.concurrency,
                                     prompt_tokens=measurement.prompt_tokens, output_tokens=measurement.output_tokens)
    else:
        requests = CLOSED_LOOP_REQUESTS_PER_CLIENT * measurement.concurrency
        result = workloads.run_closed_loop(
            engine, concurrency=measurement.concurrency, requests=requests,
            prompt_tokens=measurement.prompt_tokens, output_tokens=measurement.output_tokens)
    return Comparison(measurement=measurement, ttft_seconds=result.mean_ttft_seconds,
                      tpot_seconds=result.mean_tpot_seconds,
                      throughput_tokens_per_second=result.throughput_tokens_per_second)


def replay_all(*, efficiency: roofline.Efficiency | None = None) -> list[Comparison]:
    """Every calibration row, replayed."""
    return [replay(measurement, efficiency=efficiency) for measurement in MEASUREMENTS]


def _cell(emulated: float, measured: float | None, *, scale: float, digits: int) -> str:
    if measured is None:
        return "- | - | -"
    error = (emulated - measured) / measured
    return f"{emulated * scale:.{digits}f} | {measured * scale:.{digits}f} | {error:+.0%}"


def format_table(comparisons: list[Comparison]) -> str:
    """A markdown table: emulated vs measured TTFT (ms), TPOT (ms), throughput (tok/s) with errors.

    Only published quantities are shown; "-" marks what the source did not report.
    """
    lines = ["| row | TTFT ms emu | meas | err | TPOT ms emu | meas | err | tok/s emu | meas | err |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        m = c.measurement
        lines.append(" | ".join((
            f"| {m.label}", _cell(c.ttft_seconds, m.ttft_seconds, scale=1000, digits=1),
            _cell(c.tpot_seconds, m.tpot_seconds, scale=1000, digits=2),
            _cell(c.throughput_tokens_per_second, m.throughput_tokens_per_second, scale=1, digits=0))) + " |")
    return "\n".join(lines)
