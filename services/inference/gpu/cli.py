"""``tailstorm gpu``: serving numbers for a model on an emulated GPU, under three kinds of load.

One configuration (GPU profile, model and its weight/KV precision, tensor parallelism, serving
stack, prompt and output lengths) under one load:

- ``--batch N`` (default 1): N identical requests arrive together (static-batch benchmarks); the
  closed-form roofline (``roofline.predict``) is printed beside the engine for comparison;
- ``--concurrency N``: N closed-loop clients, each sending its next request when its previous one
  finishes (genai-perf, ``vllm bench serve --max-concurrency``; most published sweeps); the first
  N requests are warm-up and left out;
- ``--rate R``: Poisson arrivals at R requests per second (open loop, seeded).

Each prints TTFT, TPOT and end-to-end latency (mean, p50, p90, p99), output throughput, and the
roofline: datasheet and effective ridge point, the batch at which decode turns compute-bound,
MFU and MBU of a prefill step and of a decode step, KV bytes per sequence and the largest batch
the KV cache holds. ``--json`` prints the same as JSON; ``--plot FILE`` draws the roofline (PNG).

    tailstorm gpu --profile h100-sxm --model llama-3-8b --concurrency 64 --prompt-tokens 512 --output-tokens 256
    tailstorm gpu --model llama-3.1-405b-fp8 --tp 8 --rate 2 --json
    tailstorm gpu --model llama-3-70b-fp8 --kv-cache-dtype bf16 --tp 2 --plot roofline.png
    tailstorm gpu --list            # profiles, models, serving stacks
    tailstorm gpu --calibrate       # the published rows, fit and held-out halves, with errors
    tailstorm gpu --fit             # refit the parameters on the fit half (minutes)

Exit status: 0 on success, 2 on bad input (with a sentence naming the flag).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any, TextIO

from services.inference.gpu import calibration
from services.inference.gpu import engine as engine_module
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module
from services.inference.gpu import roofline
from services.inference.gpu import stacks
from services.inference.gpu import workloads

REQUESTS_PER_CLIENT = 8
"""Default requests per closed-loop client (``--concurrency`` without ``--requests``)."""

OPEN_LOOP_REQUESTS = 200
"""Default requests of a ``--rate`` run."""

KV_DTYPES = {"auto": None, "bf16": 2, "fp8": 1}
"""``--kv-cache-dtype`` choices and their bytes per value (auto: the model key's own)."""

PLOT_BATCHES = (1, 8, 64, 512)
"""Decode batches drawn on the roofline plot besides the run's own."""


class UsageError(Exception):
    """Bad command-line input; the message names the flag."""


def _number(kind: type, low: float, text: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number, got {text!r}") from None
    if not value >= low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


_positive_int = functools.partial(_number, int, 1)
_seed = functools.partial(_number, int, 0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tailstorm gpu``."""
    parser = argparse.ArgumentParser(
        prog="tailstorm gpu", description="Emulated LLM serving on a GPU: latency, throughput and the roofline.")
    parser.add_argument("--list", action="store_true", help="list GPU profiles, models and serving stacks, then exit")
    parser.add_argument("--calibrate", action="store_true",
                        help="replay the published rows (fit and held-out halves) and print the errors, then exit")
    parser.add_argument("--fit", action="store_true",
                        help="refit the parameters on the fit half of the published rows (minutes), then exit")
    config = parser.add_argument_group("configuration")
    config.add_argument("--profile", default="h100-sxm", choices=sorted(hardware_module.PROFILES),
                        help="GPU profile (default h100-sxm)")
    config.add_argument("--model", default="llama-3-8b", choices=sorted(models_module.MODELS),
                        help="model profile; -fp8 has FP8 weights and KV cache (default llama-3-8b, BF16)")
    config.add_argument("--kv-cache-dtype", default="auto", choices=sorted(KV_DTYPES),
                        help="KV-cache precision, independent of the weights (default auto: the model's)")
    config.add_argument("--tp", type=_positive_int, default=1, help="tensor-parallel GPUs (default 1)")
    config.add_argument("--stack", default="vllm", choices=sorted(stacks.STACKS),
                        help="serving stack: per-step overhead and KV-pool rule (default vllm)")
    config.add_argument("--prompt-tokens", type=_positive_int, default=512, help="prompt length (default 512)")
    config.add_argument("--output-tokens", type=_positive_int, default=128, help="output length (default 128)")
    config.add_argument("--gpu-memory-utilization", type=_fraction, default=0.9,
                        help="share of GPU memory the server may use (default 0.9)")
    config.add_argument("--max-num-batched-tokens", type=_positive_int, default=None,
                        help="token budget per step (default: vLLM's for the GPU)")
    config.add_argument("--max-num-seqs", type=_positive_int, default=None,
                        help="most running sequences (default: vLLM's for the GPU)")
    load = parser.add_argument_group("load (one of)").add_mutually_exclusive_group()
    load.add_argument("--batch", type=_positive_int, default=None, help="requests arriving together (default 1)")
    load.add_argument("--concurrency", type=_positive_int, default=None, help="closed-loop clients")
    load.add_argument("--rate", type=_positive_float, default=None, help="Poisson arrivals per second")
    parser.add_argument("--requests", type=_positive_int, default=None,
                        help=f"requests of a --concurrency run (default {REQUESTS_PER_CLIENT} per client) or a "
                             f"--rate run (default {OPEN_LOOP_REQUESTS})")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the --rate arrivals (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--plot", type=pathlib.Path, default=None, metavar="FILE",
                        help="also draw the roofline with this run's steps on it (PNG)")
    return parser


# --- configuration ---------------------------------------------------------------------------


def _model(args: argparse.Namespace) -> models_module.ModelProfile:
    model = models_module.get_model(args.model)
    kv_bytes = KV_DTYPES[args.kv_cache_dtype]
    return model if kv_bytes is None else models_module.with_kv_bytes(model, kv_bytes)


def _engine(args: argparse.Namespace) -> engine_module.Engine:
    hardware = hardware_module.get_profile(args.profile)
    model = _model(args)
    if model.attention_heads % args.tp:
        raise UsageError(f"--tp {args.tp} does not divide the {model.attention_heads} attention heads of "
                         f"{model.name}; use a divisor such as 1, 2, 4 or 8.")
    if model.weight_bytes_per_value == 1 and hardware.dense_fp8_flops_per_second is None:
        raise UsageError(f"--profile {hardware.name} has no FP8 tensor cores: choose a --model without -fp8.")
    settings = stacks.get_stack(args.stack).engine_settings(
        tensor_parallel_size=args.tp, gpu_memory_utilization=args.gpu_memory_utilization,
        max_num_batched_tokens=args.max_num_batched_tokens, max_num_seqs=args.max_num_seqs)
    try:
        engine = engine_module.Engine(hardware=hardware, model=model, settings=settings)
    except ValueError as error:
        raise UsageError(f"--model {model.name} with --tp {args.tp} on --profile {hardware.name}: {error} "
                         f"Raise --tp, use an -fp8 model or a larger GPU.") from None
    if args.prompt_tokens + args.output_tokens - 1 > engine.kv_capacity_tokens:
        raise UsageError(f"--prompt-tokens {args.prompt_tokens} + --output-tokens {args.output_tokens} exceed the "
                         f"KV cache of {engine.kv_capacity_tokens} tokens.")
    return engine


def _load(args: argparse.Namespace) -> dict[str, Any]:
    if args.concurrency is not None:
        requests = args.requests or REQUESTS_PER_CLIENT * args.concurrency
        if requests < args.concurrency:
            raise UsageError(f"--requests {requests} must be at least --concurrency {args.concurrency}.")
        return {"mode": "concurrency", "concurrency": args.concurrency, "requests": requests,
                "warmup_requests": args.concurrency}
    if args.rate is not None:
        return {"mode": "rate", "rate_per_second": args.rate, "requests": args.requests or OPEN_LOOP_REQUESTS,
                "seed": args.seed, "warmup_requests": 0}
    if args.requests is not None:
        raise UsageError("--requests applies to --concurrency or --rate runs; a --batch run sends the batch.")
    return {"mode": "batch", "batch": args.batch or 1, "requests": args.batch or 1, "warmup_requests": 0}


def _run(engine: engine_module.Engine, load: dict[str, Any], args: argparse.Namespace) -> workloads.WorkloadResult:
    lengths = {"prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens}
    if load["mode"] == "concurrency":
        return workloads.run_closed_loop(engine, concurrency=load["concurrency"], requests=load["requests"],
                                         **lengths)
    if load["mode"] == "rate":
        arrivals = workloads.poisson_arrivals(arrival_rate_per_second=load["rate_per_second"],
                                              requests=load["requests"], seed=load["seed"])
        return workloads.run_open_loop(engine, arrival_seconds=arrivals, **lengths)
    return workloads.run_burst(engine, batch=load["batch"], **lengths)


# --- report ----------------------------------------------------------------------------------


def _phase(report: roofline.PhaseReport, **extra: Any) -> dict[str, Any]:
    cost = report.cost
    return {**extra, "bound": cost.bound, "flops_per_gpu": cost.flops_per_gpu,
            "weight_bytes_per_gpu": cost.weight_bytes_per_gpu, "kv_bytes_per_gpu": cost.kv_bytes_per_gpu,
            "arithmetic_intensity_flops_per_byte": report.arithmetic_intensity_flops_per_byte,
            "step_seconds": cost.total_seconds, "mfu": report.mfu, "mbu": report.mbu}


def _prefill_shape(engine: engine_module.Engine, prompt_tokens: int) -> roofline.StepShape:
    chunk = min(prompt_tokens, engine.max_num_batched_tokens)
    return roofline.StepShape(new_tokens=chunk, sampled_sequences=int(chunk == prompt_tokens),
                              attention_pairs=chunk * (chunk + 1) // 2, context_tokens=0)


def _roofline(engine: engine_module.Engine, args: argparse.Namespace, decode_batch: int) -> dict[str, Any]:
    deployment = engine.deployment
    context = args.prompt_tokens + args.output_tokens // 2
    sequence_tokens = args.prompt_tokens + args.output_tokens - 1
    per_sequence_blocks = engine.allocator.blocks_needed(sequence_tokens)
    kv_batch = engine.allocator.total_blocks // per_sequence_blocks
    decode = roofline.phase_report(deployment, roofline.decode_shape(batch=decode_batch, context_tokens=context))
    return {
        "peak_flops_per_second": deployment.peak_flops_per_second,
        "memory_bandwidth_bytes_per_second": deployment.hardware.memory_bandwidth_bytes_per_second,
        "ridge_point_flops_per_byte": roofline.ridge_point_flops_per_byte(deployment),
        "effective_ridge_point_flops_per_byte": roofline.effective_ridge_point_flops_per_byte(deployment),
        "decode_compute_bound_batch": roofline.decode_compute_bound_batch(deployment, context_tokens=context),
        "decode_context_tokens": context,
        "prefill": _phase(roofline.phase_report(deployment, _prefill_shape(engine, args.prompt_tokens)),
                          tokens=min(args.prompt_tokens, engine.max_num_batched_tokens)),
        "decode": _phase(decode, batch=decode_batch, context_tokens=context),
        "weight_bytes_per_gpu": deployment.weight_bytes_per_gpu,
        "kv_bytes_per_token": deployment.model.kv_bytes_per_token,
        "kv_bytes_per_token_per_gpu": deployment.kv_bytes_per_token_per_gpu,
        "kv_bytes_per_sequence": roofline.kv_bytes_per_sequence(deployment, tokens=sequence_tokens),
        "kv_capacity_tokens": engine.kv_capacity_tokens,
        "max_batch_by_kv_cache": kv_batch,
        "max_batch": min(kv_batch, engine.max_num_seqs),
    }


def _closed_form(engine: engine_module.Engine, args: argparse.Namespace, batch: int) -> dict[str, Any]:
    closed = roofline.predict(
        engine.deployment, batch=batch, prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens,
        max_num_batched_tokens=engine.max_num_batched_tokens, max_num_seqs=engine.max_num_seqs,
        block_size_tokens=engine.settings.block_size_tokens)
    return {"ttft_seconds": closed.ttft_seconds, "tpot_seconds": closed.tpot_seconds,
            "throughput_tokens_per_second": closed.throughput_tokens_per_second,
            "max_concurrent_sequences": closed.max_concurrent_sequences,
            "decode_bound": closed.decode_bound, "prefill_bound": closed.prefill_bound}


def predict(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-ready report of one configuration under one load."""
    engine = _engine(args)
    load = _load(args)
    model = engine.deployment.model
    configuration = {
        "profile": args.profile, "model": args.model, "weight_bytes_per_value": model.weight_bytes_per_value,
        "kv_bytes_per_value": model.kv_bytes_per_value, "tensor_parallel_size": args.tp, "stack": args.stack,
        "prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "max_num_batched_tokens": engine.max_num_batched_tokens, "max_num_seqs": engine.max_num_seqs}
    closed_form = _closed_form(engine, args, load["batch"]) if load["mode"] == "batch" else None
    run = _run(engine, load, args)
    report = {
        "configuration": configuration, "load": load, "latency": run.summary(),
        "throughput_tokens_per_second": run.throughput_tokens_per_second,
        "engine": {"steps": run.steps, "peak_running": run.max_running, "preemptions": run.preemptions,
                   "max_kv_usage": run.max_kv_usage, "finished_requests": len(run.records)},
        "roofline": _roofline(engine, args, decode_batch=max(1, run.max_running)),
        "efficiency": dataclasses.asdict(engine.deployment.efficiency),
    }
    if closed_form is not None:
        report["closed_form"] = closed_form
    return report


# --- text ------------------------------------------------------------------------------------


def _load_line(report: dict[str, Any]) -> str:
    load = report["load"]
    if load["mode"] == "concurrency":
        return (f"load: {load['concurrency']} closed-loop clients, {load['requests']} requests "
                f"(the first {load['warmup_requests']} left out as warm-up)")
    if load["mode"] == "rate":
        return f"load: Poisson arrivals at {load['rate_per_second']:g}/s, {load['requests']} requests, seed {load['seed']}"
    return f"load: a batch of {load['batch']} requests arriving together"


def _print_latency(report: dict[str, Any], out: TextIO) -> None:
    columns = ("mean", "p50", "p90", "p99")
    print(f"{'':<12}" + "".join(f"{c:>11}" for c in columns), file=out)
    for key, name in (("ttft_seconds", "TTFT (ms)"), ("tpot_seconds", "TPOT (ms)"), ("e2e_seconds", "e2e (ms)")):
        stats = report["latency"].get(key)
        if stats:
            print(f"{name:<12}" + "".join(f"{stats[c] * 1e3:>11.2f}" for c in columns), file=out)
    engine = report["engine"]
    print(f"throughput {report['throughput_tokens_per_second']:,.0f} output tok/s; engine: {engine['steps']:,} steps, "
          f"peak batch {engine['peak_running']}, {engine['preemptions']} preemptions, "
          f"KV peak {engine['max_kv_usage']:.0%}", file=out)
    closed = report.get("closed_form")
    if closed:
        emulated = report["latency"]
        print(f"closed-form roofline vs engine (means): TTFT {closed['ttft_seconds'] * 1e3:.1f} vs "
              f"{emulated['ttft_seconds']['mean'] * 1e3:.1f} ms, TPOT {closed['tpot_seconds'] * 1e3:.2f} vs "
              f"{emulated.get('tpot_seconds', {'mean': 0.0})['mean'] * 1e3:.2f} ms, throughput "
              f"{closed['throughput_tokens_per_second']:,.0f} vs {report['throughput_tokens_per_second']:,.0f} tok/s",
              file=out)


def _print_roofline(report: dict[str, Any], out: TextIO) -> None:
    r = report["roofline"]
    efficiency = report["efficiency"]
    batch = r["decode_compute_bound_batch"]
    turn = (f"at batch {batch}" if batch is not None
            else "never: each sequence's KV read takes at least as long as its FLOPs")
    print(f"roofline per GPU: {r['peak_flops_per_second'] / 1e12:,.1f} TFLOP/s, "
          f"{r['memory_bandwidth_bytes_per_second'] / 1e12:.2f} TB/s; ridge point "
          f"{r['ridge_point_flops_per_byte']:.0f} FLOP/B (datasheet), {r['effective_ridge_point_flops_per_byte']:.0f} "
          f"FLOP/B achievable (weight MBU {efficiency['weight_bandwidth_utilization']:.2f})", file=out)
    print(f"decode turns compute-bound {turn} (context {r['decode_context_tokens']} tokens)", file=out)
    print(f"{'phase':<26}{'bound':>9}{'FLOP/B':>9}{'step ms':>10}{'MFU':>7}{'MBU':>7}", file=out)
    for name, phase in (("prefill", r["prefill"]), ("decode", r["decode"])):
        label = f"{name} ({phase['tokens']} tokens)" if name == "prefill" else f"decode (batch {phase['batch']})"
        print(f"{label:<26}{phase['bound']:>9}{phase['arithmetic_intensity_flops_per_byte']:>9.1f}"
              f"{phase['step_seconds'] * 1e3:>10.2f}{phase['mfu']:>7.0%}{phase['mbu']:>7.0%}", file=out)
    print(f"KV cache: {r['kv_bytes_per_token']:,} B/token ({r['kv_bytes_per_token_per_gpu']:,} per GPU), "
          f"{r['kv_bytes_per_sequence'] / 1e6:,.1f} MB per sequence; pool {r['kv_capacity_tokens']:,} tokens holds "
          f"{r['max_batch_by_kv_cache']:,} sequences (max batch {r['max_batch']:,} with max_num_seqs)", file=out)


def _print_prediction(report: dict[str, Any], out: TextIO) -> None:
    c = report["configuration"]
    precision = {1: "FP8", 2: "BF16"}
    print(f"{c['model']} (weights {precision[c['weight_bytes_per_value']]}, KV {precision[c['kv_bytes_per_value']]}) "
          f"on {c['tensor_parallel_size']} x {c['profile']}, {c['stack']}: {c['prompt_tokens']} prompt + "
          f"{c['output_tokens']} output tokens", file=out)
    print(_load_line(report), file=out)
    _print_latency(report, out)
    _print_roofline(report, out)


# --- plot ------------------------------------------------------------------------------------


def plot_roofline(args: argparse.Namespace, report: dict[str, Any], path: pathlib.Path) -> None:
    """Draw the datasheet and achievable rooflines with the run's prefill and decode steps (PNG)."""
    import matplotlib  # noqa: PLC0415 - only --plot needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    engine = _engine(args)
    deployment = engine.deployment
    r = report["roofline"]
    peak, bandwidth = r["peak_flops_per_second"], r["memory_bandwidth_bytes_per_second"]
    achievable = peak * deployment.compute_utilization
    achievable_bandwidth = bandwidth * deployment.efficiency.weight_bandwidth_utilization
    intensities = [2 ** (k / 4) for k in range(-8, 60)]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.loglog(intensities, [min(peak, bandwidth * x) / 1e12 for x in intensities], color="#333",
              label="datasheet roofline")
    ax.loglog(intensities, [min(achievable, achievable_bandwidth * x) / 1e12 for x in intensities], "--",
              color="#888", label="achievable (MFU, weight MBU)")
    ax.axvline(r["ridge_point_flops_per_byte"], color="#ccc", linewidth=0.8)
    context = r["decode_context_tokens"]
    points = [("prefill", r["prefill"])]
    for batch in sorted({*PLOT_BATCHES, r["decode"]["batch"]}):
        shape = roofline.decode_shape(batch=batch, context_tokens=context)
        points.append((f"decode b{batch}", _phase(roofline.phase_report(deployment, shape))))
    for label, phase in points:
        ax.plot(phase["arithmetic_intensity_flops_per_byte"], phase["mfu"] * peak / 1e12, "o")
        ax.annotate(label, (phase["arithmetic_intensity_flops_per_byte"], phase["mfu"] * peak / 1e12),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    c = report["configuration"]
    ax.set_title(f"{c['model']} on {c['tensor_parallel_size']} x {c['profile']} ({c['stack']}), "
                 f"context {context} tokens")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of device memory)")
    ax.set_ylabel("TFLOP/s per GPU (whole step)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as error:
        raise UsageError(f"--plot {path}: cannot write the file ({error.strerror}).") from None
    finally:
        plt.close(fig)


# --- other modes -----------------------------------------------------------------------------


def _listing() -> dict[str, Any]:
    return {
        "profiles": {name: {"dense_bf16_tflops": p.dense_bf16_flops_per_second / 1e12,
                            "dense_fp8_tflops": (p.dense_fp8_flops_per_second or 0) / 1e12 or None,
                            "memory_gib": p.memory_bytes / hardware_module.GIB,
                            "bandwidth_tb_per_second": p.memory_bandwidth_bytes_per_second / 1e12,
                            "interconnect": p.interconnect_name}
                     for name, p in hardware_module.PROFILES.items()},
        "models": {name: {"parameters_billions": m.parameters / 1e9, "active_parameters_billions":
                          m.active_parameters / 1e9, "layers": m.layers, "kv_heads": m.kv_heads,
                          "weight_bytes_per_value": m.weight_bytes_per_value,
                          "kv_bytes_per_value": m.kv_bytes_per_value, "kv_bytes_per_token": m.kv_bytes_per_token,
                          "experts": m.experts, "experts_per_token": m.experts_per_token}
                   for name, m in models_module.MODELS.items()},
        "stacks": {name: {"description": s.description, "step_overhead_seconds": s.step_overhead_seconds,
                          "prefill_overhead_seconds": s.prefill_overhead_seconds,
                          "allreduce_latency_seconds": s.allreduce_latency_seconds, "kv_pool_rule": s.kv_pool_rule}
                   for name, s in stacks.STACKS.items()},
    }


def _print_listing(listing: dict[str, Any], out: TextIO) -> None:
    print("GPU profiles (dense peaks):", file=out)
    for name, p in listing["profiles"].items():
        fp8 = f"{p['dense_fp8_tflops']:7.1f}" if p["dense_fp8_tflops"] else "      -"
        print(f"  {name:<10} BF16 {p['dense_bf16_tflops']:7.1f} TFLOP/s  FP8 {fp8} TFLOP/s  "
              f"{p['memory_gib']:5.0f} GiB  {p['bandwidth_tb_per_second']:.2f} TB/s  {p['interconnect']}", file=out)
    print("Models:", file=out)
    for name, m in listing["models"].items():
        active = f" ({m['active_parameters_billions']:.1f} B active)" if m["experts"] else ""
        print(f"  {name:<20} {m['parameters_billions']:7.2f} B params{active}  {m['layers']:3d} layers  "
              f"{m['kv_heads']:2d} KV heads  weights {m['weight_bytes_per_value']} B, KV {m['kv_bytes_per_value']} B/value"
              f"  {m['kv_bytes_per_token']:,} KV B/token", file=out)
    print("Serving stacks:", file=out)
    for name, s in listing["stacks"].items():
        print(f"  {name:<11} step {s['step_overhead_seconds'] * 1e3:.2f} ms, +{s['prefill_overhead_seconds'] * 1e3:.2f}"
              f" ms with prefill, all-reduce {s['allreduce_latency_seconds'] * 1e6:.0f} us, KV pool "
              f"{s['kv_pool_rule']}: {s['description']}", file=out)


def _calibration_report(comparisons: list[calibration.Comparison]) -> dict[str, Any]:
    halves = {}
    for split in calibration.SPLITS:
        rows = [c for c in comparisons if c.measurement.split == split]
        halves[split] = {
            "median_abs_error": calibration.median_abs_error(rows),
            "rows": [{"id": c.measurement.id, "source": c.measurement.source, "emulated": c.emulated,
                      "measured": c.measurement.measured, "errors": c.errors()} for c in rows]}
    return halves


def _print_calibration(comparisons: list[calibration.Comparison], out: TextIO) -> None:
    for split in calibration.SPLITS:
        print(f"{split} half:", file=out)
        print(calibration.format_table([c for c in comparisons if c.measurement.split == split]), file=out)
        print(file=out)


def _fit_report() -> dict[str, Any]:
    _, rows = calibration.load()
    fitted = calibration.fit(calibration.in_split(rows, "fit"), progress=lambda line: print(line, file=sys.stderr))
    return {"parameters": dataclasses.asdict(fitted)}


def _print_fit(report: dict[str, Any], out: TextIO) -> None:
    for name, value in report["parameters"].items():
        print(f"{name}: {value}", file=out)


def _report(args: argparse.Namespace) -> tuple[Any, Callable[[TextIO], None]]:
    """The JSON-ready report of the chosen mode and a function printing it as text."""
    if args.list:
        listing = _listing()
        return listing, functools.partial(_print_listing, listing)
    if args.calibrate:
        comparisons = calibration.replay_all()
        return _calibration_report(comparisons), functools.partial(_print_calibration, comparisons)
    if args.fit:
        fitted = _fit_report()
        return fitted, functools.partial(_print_fit, fitted)
    prediction = predict(args)
    if args.plot is not None:
        plot_roofline(args, prediction, args.plot)
    return prediction, functools.partial(_print_prediction, prediction)


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``tailstorm gpu``; returns the exit status (2 for bad input)."""
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        # argparse has printed its sentence (naming the flag) and exits 2, or 0 for --help.
        return int(exit_.code or 0)
    try:
        report, print_text = _report(args)
    except UsageError as error:
        print(f"tailstorm gpu: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, out, indent=2)
        print(file=out)
    else:
        print_text(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
