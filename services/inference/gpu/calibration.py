"""Published serving measurements, a fit on half of them, and the emulator's error on both halves.

The rows live in ``published.toml`` (one file of data, every row with its source, engine version
and configuration). Before any fitting, each row was put in the *fit* or the *held-out* half by a
fixed rule (``assign_split``: alternate within each source, in table order); the file records the
result and ``check_split`` fails if anyone edits it. ``fit`` tunes the free parameters
(``Parameters``: MFU for BF16 and FP8 GEMMs, the two memory-stream MBUs, and each serving stack's
per-step overhead and all-reduce latency) on the fit half only, by coordinate descent on the mean
|log(emulated / measured)|. The fitted values are the defaults in ``roofline`` and ``stacks``.
``docs/gpu-emulator.md`` publishes ``format_table`` of both halves; a test recomputes them from
this file and fails if the docs differ.

Each row's benchmark is replayed on the emulator with its own method:

- ``static``: the whole batch arrives at once and is prefilled in one step, then decodes together
  (TensorRT-LLM ``gptSessionBenchmark``, vLLM ``benchmark_latency``; ``workloads.run_burst``).
  Throughput = batch x output / time to the last token; e2e = that time.
- ``closed``: ``concurrency`` clients, each sending its next request when the previous finishes
  (genai-perf; ``workloads.run_closed_loop``), ``CLOSED_LOOP_REQUESTS_PER_CLIENT`` requests per
  client, the first round left out as warm-up; throughput by Little's law.

Relative error = (emulated - measured) / measured. No H200 row of a TensorRT-LLM or NIM table is
in the set; the H200 rows are vLLM's (BF16). No row comes from a GPU measured for this task.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import statistics
import tomllib
from collections.abc import Callable, Iterable

from services.inference.gpu import engine as engine_module
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module
from services.inference.gpu import roofline
from services.inference.gpu import stacks
from services.inference.gpu import workloads

DATA_FILE = pathlib.Path(__file__).with_name("published.toml")
"""The published rows."""

CLOSED_LOOP_REQUESTS_PER_CLIENT = 12
"""Requests per client in a closed-loop replay: enough for the clients to drift out of the phase
of their common start (identical requests would otherwise keep arriving in clumps)."""

SPLITS = ("fit", "held-out")
"""The two halves of the data set."""

METHODS = ("static", "closed")
"""Benchmark methods a row can be replayed with."""

QUANTITIES = {"ttft_ms": ("ttft", 1e-3), "tpot_ms": ("tpot", 1e-3), "e2e_ms": ("e2e", 1e-3),
              "throughput": ("throughput", 1.0)}
"""Published quantity field -> (short name, factor to seconds or tokens/s)."""


class DataError(ValueError):
    """A row or source of the data file is malformed; the message names the row and field."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a set of rows was published."""

    key: str
    """Short key rows refer to."""

    title: str
    """Document, section and table."""

    engine: str
    """Serving engine and version."""

    method: str
    """How the numbers were taken."""


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One published configuration and what was measured on it (seconds, tokens/s)."""

    id: str
    source: str
    stack: str
    hardware: str
    model: str
    kv_bytes_per_value: int
    tensor_parallel_size: int
    method: str
    concurrency: int
    prompt_tokens: int
    output_tokens: int
    split: str
    measured: dict[str, float]
    """Short quantity name (ttft, tpot, e2e, throughput) -> published value in seconds or tokens/s."""
    throughput_per_gpu: bool = False
    """Whether the published throughput is per GPU (the table's unit)."""

    def model_profile(self) -> models_module.ModelProfile:
        """The served model with this row's KV precision."""
        return models_module.with_kv_bytes(models_module.get_model(self.model), self.kv_bytes_per_value)


def load(path: pathlib.Path = DATA_FILE) -> tuple[dict[str, Source], tuple[Measurement, ...]]:
    """Sources and rows of the data file, validated (``DataError`` names the row and field)."""
    data = tomllib.loads(path.read_text())
    sources = {entry["key"]: Source(**entry) for entry in data.get("source", [])}
    rows = tuple(_measurement(entry, sources) for entry in data.get("row", []))
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path.name}: row ids must be unique.")
    return sources, rows


def _measurement(entry: dict, sources: dict[str, Source]) -> Measurement:
    fields = dict(entry)
    row = fields.get("id", "?")
    measured = {QUANTITIES[key][0]: float(fields.pop(key)) * QUANTITIES[key][1]
                for key in list(fields) if key in QUANTITIES}
    try:
        measurement = Measurement(measured=measured, **fields)
    except TypeError as error:
        raise DataError(f"row {row}: {error}") from None
    checks = ((measurement.source in sources, "source", f"one of {', '.join(sources)}"),
              (measurement.stack in stacks.STACKS, "stack", f"one of {', '.join(stacks.STACKS)}"),
              (measurement.hardware in hardware_module.PROFILES, "hardware", "a profile of hardware.PROFILES"),
              (measurement.model in models_module.MODELS, "model", "a profile of models.MODELS"),
              (measurement.method in METHODS, "method", f"one of {', '.join(METHODS)}"),
              (measurement.split in SPLITS, "split", f"one of {', '.join(SPLITS)}"),
              (bool(measured), "ttft_ms/tpot_ms/e2e_ms/throughput", "at least one published quantity"))
    for ok, field, expected in checks:
        if not ok:
            raise DataError(f"row {row}: {field} must be {expected}.")
    return measurement


def assign_split(rows: Iterable[Measurement]) -> dict[str, str]:
    """The split rule: within each source, rows in file order alternate fit, held-out, ... from fit."""
    seen: dict[str, int] = {}
    split = {}
    for row in rows:
        index = seen.get(row.source, 0)
        split[row.id] = SPLITS[index % 2]
        seen[row.source] = index + 1
    return split


def check_split(rows: Iterable[Measurement]) -> list[str]:
    """Ids of rows whose recorded split differs from ``assign_split`` (empty when the file is honest)."""
    rows = tuple(rows)
    rule = assign_split(rows)
    return [row.id for row in rows if row.split != rule[row.id]]


@dataclasses.dataclass(frozen=True)
class Parameters:
    """Everything the fit tunes: kernel efficiencies and each stack's fixed costs."""

    compute_utilization: float = roofline.FITTED_COMPUTE_UTILIZATION
    fp8_compute_utilization: float = roofline.FITTED_FP8_COMPUTE_UTILIZATION
    weight_bandwidth_utilization: float = roofline.FITTED_WEIGHT_BANDWIDTH_UTILIZATION
    kv_bandwidth_utilization: float = roofline.FITTED_KV_BANDWIDTH_UTILIZATION
    overlap_exponent: float = roofline.FITTED_OVERLAP_EXPONENT
    step_overhead_seconds: dict[str, float] = dataclasses.field(
        default_factory=lambda: {name: stack.step_overhead_seconds for name, stack in stacks.STACKS.items()})
    prefill_overhead_seconds: dict[str, float] = dataclasses.field(
        default_factory=lambda: {name: stack.prefill_overhead_seconds for name, stack in stacks.STACKS.items()})
    allreduce_latency_seconds: dict[str, float] = dataclasses.field(
        default_factory=lambda: {name: stack.allreduce_latency_seconds for name, stack in stacks.STACKS.items()})

    def efficiency(self, stack: str) -> roofline.Efficiency:
        """The ``Efficiency`` of one serving stack under these parameters."""
        return roofline.Efficiency(
            compute_utilization=self.compute_utilization, fp8_compute_utilization=self.fp8_compute_utilization,
            weight_bandwidth_utilization=self.weight_bandwidth_utilization,
            kv_bandwidth_utilization=self.kv_bandwidth_utilization, overlap_exponent=self.overlap_exponent,
            step_overhead_seconds=self.step_overhead_seconds[stack],
            prefill_overhead_seconds=self.prefill_overhead_seconds[stack],
            allreduce_latency_seconds=self.allreduce_latency_seconds[stack])


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The emulator's numbers for one measurement."""

    measurement: Measurement
    """What was measured."""

    emulated: dict[str, float]
    """Short quantity name -> emulated value (seconds, tokens/s), for every published quantity."""

    def errors(self) -> dict[str, float]:
        """Relative error (emulated - measured) / measured of every published quantity."""
        return {name: (self.emulated[name] - value) / value for name, value in self.measurement.measured.items()}


def _engine(row: Measurement, parameters: Parameters) -> engine_module.Engine:
    stack = stacks.get_stack(row.stack)
    static = row.method == "static"
    settings = stack.engine_settings(
        tensor_parallel_size=row.tensor_parallel_size, efficiency=parameters.efficiency(row.stack),
        max_num_batched_tokens=max(row.concurrency * row.prompt_tokens, 8192) if static else None,
        max_num_seqs=row.concurrency if static else None)
    return engine_module.Engine(hardware=hardware_module.get_profile(row.hardware), model=row.model_profile(),
                                settings=settings)


def replay(row: Measurement, parameters: Parameters | None = None) -> Comparison:
    """Run the row's benchmark on the emulator (default: the fitted parameters) and return its numbers."""
    engine = _engine(row, parameters or Parameters())
    if row.method == "static":
        result = workloads.run_burst(engine, batch=row.concurrency, prompt_tokens=row.prompt_tokens,
                                     output_tokens=row.output_tokens)
    else:
        result = workloads.run_closed_loop(
            engine, concurrency=row.concurrency, requests=CLOSED_LOOP_REQUESTS_PER_CLIENT * row.concurrency,
            prompt_tokens=row.prompt_tokens, output_tokens=row.output_tokens)
    throughput = result.throughput_tokens_per_second
    if row.throughput_per_gpu:
        throughput /= row.tensor_parallel_size
    values = {"ttft": result.mean_ttft_seconds, "tpot": result.mean_tpot_seconds,
              "e2e": result.end_seconds - result.start_seconds if row.method == "static" else result.mean_e2e_seconds,
              "throughput": throughput}
    return Comparison(measurement=row, emulated={name: values[name] for name in row.measured})


def replay_all(rows: Iterable[Measurement] | None = None, parameters: Parameters | None = None) -> list[Comparison]:
    """Every row (default: the whole data file), replayed."""
    rows = load()[1] if rows is None else rows
    return [replay(row, parameters) for row in rows]


def in_split(rows: Iterable[Measurement], split: str) -> tuple[Measurement, ...]:
    """The rows of one half."""
    return tuple(row for row in rows if row.split == split)


def all_errors(comparisons: Iterable[Comparison]) -> list[float]:
    """Every published quantity's relative error."""
    return [error for c in comparisons for error in c.errors().values()]


def median_abs_error(comparisons: Iterable[Comparison]) -> float:
    """Median |relative error| over every published quantity of ``comparisons``."""
    return statistics.median(abs(error) for error in all_errors(comparisons))


def objective(comparisons: Iterable[Comparison]) -> float:
    """What the fit minimises: mean |log(emulated / measured)| over every published quantity."""
    return statistics.fmean(abs(math.log1p(error)) for error in all_errors(comparisons))


# One coordinate at a time, each over a grid around its current value: shares by factors (capped
# at 1), durations by absolute steps (floored at 0), so a duration can leave zero.
_SHARE_FACTORS = (0.7, 0.8, 0.9, 0.95, 1.05, 1.1, 1.25, 1.4)
_DURATION_STEPS_SECONDS = {"step_overhead_seconds": (-2e-3, -1e-3, -5e-4, -2e-4, 2e-4, 5e-4, 1e-3, 2e-3, 4e-3),
                           "prefill_overhead_seconds": (-4e-3, -2e-3, -1e-3, -5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3),
                           "allreduce_latency_seconds": (-2e-5, -1e-5, -5e-6, 5e-6, 1e-5, 2e-5, 4e-5, 8e-5)}


def _coordinates(stack_names: Iterable[str]) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = [
        ("compute_utilization", None), ("fp8_compute_utilization", None),
        ("weight_bandwidth_utilization", None), ("kv_bandwidth_utilization", None), ("overlap_exponent", None)]
    for stack in stack_names:
        names += [(name, stack) for name in _DURATION_STEPS_SECONDS]
    return names


def _candidates(name: str, current: float) -> list[float]:
    if name == "overlap_exponent":
        return sorted({max(1.0, current * factor) for factor in (0.5, 0.7, 0.85, 1.2, 1.5, 2.0)} - {current})
    if name in _DURATION_STEPS_SECONDS:
        return sorted({max(0.0, current + step) for step in _DURATION_STEPS_SECONDS[name]} - {current})
    return sorted({min(1.0, current * factor) for factor in _SHARE_FACTORS} - {current})


def _with(parameters: Parameters, name: str, stack: str | None, value: float) -> Parameters:
    if stack is None:
        return dataclasses.replace(parameters, **{name: value})
    table = dict(getattr(parameters, name))
    table[stack] = value
    return dataclasses.replace(parameters, **{name: table})


def _get(parameters: Parameters, name: str, stack: str | None) -> float:
    return getattr(parameters, name) if stack is None else getattr(parameters, name)[stack]


def _row_losses(rows: Iterable[Measurement], parameters: Parameters) -> dict[str, list[float]]:
    return {c.measurement.id: [abs(math.log1p(e)) for e in c.errors().values()]
            for c in replay_all(rows, parameters)}


def _score(losses: dict[str, list[float]]) -> float:
    return statistics.fmean(loss for row in losses.values() for loss in row)


def fit(rows: Iterable[Measurement], *, start: Parameters | None = None, passes: int = 4,
        progress: Callable[[str], None] | None = None) -> Parameters:
    """Coordinate descent of ``objective`` over the rows given (pass the fit half only).

    A stack's own coordinates change only that stack's rows, so only those are replayed for them.
    """
    rows = tuple(rows)
    if any(row.split != "fit" for row in rows):
        raise ValueError("fit() takes fit-half rows only: the held-out half must stay unseen.")
    best = start or Parameters()
    losses = _row_losses(rows, best)
    used_stacks = sorted({row.stack for row in rows})
    for number in range(passes):
        improved = False
        for name, stack in _coordinates(used_stacks):
            subset = rows if stack is None else tuple(row for row in rows if row.stack == stack)
            for value in _candidates(name, _get(best, name, stack)):
                candidate = _with(best, name, stack, value)
                trial = {**losses, **_row_losses(subset, candidate)}
                if _score(trial) < _score(losses) - 1e-7:
                    best, losses, improved = candidate, trial, True
        if progress:
            progress(f"pass {number + 1}: mean |log error| {_score(losses):.4f} {best}")
        if not improved:
            break
    return best


def _cell(comparison: Comparison, name: str, *, scale: float, digits: int) -> str:
    measured = comparison.measurement.measured.get(name)
    if measured is None:
        return "- | - | -"
    emulated = comparison.emulated[name]
    error = (emulated - measured) / measured
    return f"{emulated * scale:,.{digits}f} | {measured * scale:,.{digits}f} | {error:+.0%}"


def _configuration(row: Measurement) -> str:
    kv = "FP8" if row.kv_bytes_per_value == 1 else "BF16"
    load = f"b{row.concurrency}" if row.method == "static" else f"c{row.concurrency}"
    return (f"{row.stack} {row.hardware} {row.model} KV {kv} TP{row.tensor_parallel_size} "
            f"{load} {row.prompt_tokens}/{row.output_tokens}")


def format_table(comparisons: list[Comparison]) -> str:
    """A markdown table of one half: configuration, then emulated, measured, error per quantity, and medians.

    Only published quantities are filled; "-" marks what the source did not report. Per-GPU
    throughputs are compared per GPU, as published.
    """
    lines = ["| row | configuration | TTFT ms emu | meas | err | TPOT ms emu | meas | err "
             "| e2e ms emu | meas | err | tok/s emu | meas | err |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        cells = (_cell(c, "ttft", scale=1000, digits=1), _cell(c, "tpot", scale=1000, digits=2),
                 _cell(c, "e2e", scale=1000, digits=0), _cell(c, "throughput", scale=1, digits=0))
        lines.append(f"| {c.measurement.id} | {_configuration(c.measurement)} | " + " | ".join(cells) + " |")
    per_quantity = {name: [abs(e) for c in comparisons for q, e in c.errors().items() if q == name]
                    for name in ("ttft", "tpot", "e2e", "throughput")}
    medians = " | ".join(f"- | - | {statistics.median(v):.1%}" if v else "- | - | -"
                         for v in per_quantity.values())
    lines.append(f"| **median \\|error\\|** | all {len(all_errors(comparisons))} quantities: "
                 f"**{median_abs_error(comparisons):.1%}** | {medians} |")
    return "\n".join(lines)
