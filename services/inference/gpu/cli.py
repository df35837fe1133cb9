"""``tailstorm gpu``: predicted serving numbers for a model on an emulated GPU, two ways.

For one configuration it prints TTFT, TPOT, output throughput and max concurrent sequences from
the closed-form roofline (``roofline.predict``) next to the same numbers from running the engine
on a burst of ``--batch`` identical requests in emulated time (``workloads.run_burst``). The two
differ where the closed form simplifies: the engine mixes decodes into prefill steps, rounds KV
into blocks, and admits by prompt blocks only, so it may preempt where the closed form waits.

    tailstorm gpu --profile h100-sxm --model llama-3-8b --batch 32 --prompt-tokens 512 --output-tokens 256
    tailstorm gpu --model llama-3-70b --tp 4 --json
    tailstorm gpu --list
    tailstorm gpu --calibrate

Exit status: 0 on success, 2 on bad input (with a sentence naming the flag).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from services.inference.gpu import calibration
from services.inference.gpu import engine as engine_module
from services.inference.gpu import hardware as hardware_module
from services.inference.gpu import models as models_module
from services.inference.gpu import roofline
from services.inference.gpu import workloads


class UsageError(Exception):
    """Bad command-line input; the message names the flag."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
        prog="tailstorm gpu", description="Roofline and emulated-engine predictions for an LLM on a GPU.")
    parser.add_argument("--list", action="store_true", help="list GPU profiles and models, then exit")
    parser.add_argument("--calibrate", action="store_true",
                        help="print the emulator against published H100 measurements, then exit")
    parser.add_argument("--profile", default="h100-sxm", choices=sorted(hardware_module.PROFILES),
                        help="GPU profile (default h100-sxm)")
    parser.add_argument("--model", default="llama-3-8b", choices=sorted(models_module.MODELS),
                        help="model profile (default llama-3-8b, BF16)")
    parser.add_argument("--tp", type=_positive_int, default=1, help="tensor-parallel GPUs (default 1)")
    parser.add_argument("--batch", type=_positive_int, default=1, help="requests arriving together (default 1)")
    parser.add_argument("--prompt-tokens", type=_positive_int, default=512, help="prompt length (default 512)")
    parser.add_argument("--output-tokens", type=_positive_int, default=128, help="output length (default 128)")
    parser.add_argument("--gpu-memory-utilization", type=_fraction, default=0.9,
                        help="share of GPU memory the server may use (default 0.9)")
    parser.add_argument("--max-num-batched-tokens", type=_positive_int, default=None,
                        help="token budget per step (default: vLLM's for the GPU)")
    parser.add_argument("--max-num-seqs", type=_positive_int, default=None,
                        help="most running sequences (default: vLLM's for the GPU)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _engine(args: argparse.Namespace) -> engine_module.Engine:
    settings = engine_module.EngineSettings(
        tensor_parallel_size=args.tp, gpu_memory_utilization=args.gpu_memory_utilization,
        max_num_batched_tokens=args.max_num_batched_tokens, max_num_seqs=args.max_num_seqs)
    hardware = hardware_module.get_profile(args.profile)
    model = models_module.get_model(args.model)
    if model.attention_heads % args.tp:
        raise UsageError(f"--tp {args.tp} does not divide the {model.attention_heads} attention heads of "
                         f"{model.name}; use a divisor such as 1, 2, 4 or 8.")
    try:
        return engine_module.Engine(hardware=hardware, model=model, settings=settings)
    except ValueError as error:
        raise UsageError(f"--model {model.name} with --tp {args.tp} on --profile {hardware.name}: {error} "
                         f"Raise --tp, use an -fp8 model or a larger GPU.") from None


def predict(args: argparse.Namespace) -> dict[str, Any]:
    """Closed-form and engine numbers for the parsed arguments, as a JSON-ready dict."""
    engine = _engine(args)
    if args.prompt_tokens + args.output_tokens - 1 > engine.kv_capacity_tokens:
        raise UsageError(f"--prompt-tokens {args.prompt_tokens} + --output-tokens {args.output_tokens} exceed the "
                         f"KV cache of {engine.kv_capacity_tokens} tokens.")
    closed = roofline.predict(
        engine.deployment, batch=args.batch, prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens,
        max_num_batched_tokens=engine.max_num_batched_tokens, max_num_seqs=engine.max_num_seqs,
        block_size_tokens=engine.settings.block_size_tokens)
    run = workloads.run_burst(engine, batch=args.batch, prompt_tokens=args.prompt_tokens,
                              output_tokens=args.output_tokens)
    per_sequence = engine.allocator.blocks_needed(args.prompt_tokens + args.output_tokens - 1)
    deployment = engine.deployment
    return {
        "profile": args.profile, "model": args.model, "tensor_parallel_size": args.tp, "batch": args.batch,
        "prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens,
        "max_num_batched_tokens": engine.max_num_batched_tokens, "max_num_seqs": engine.max_num_seqs,
        "kv_capacity_tokens": engine.kv_capacity_tokens,
        "kv_bytes_per_gpu": deployment.kv_bytes_per_gpu,
        "weight_bytes_per_gpu": deployment.weight_bytes_per_gpu,
        "efficiency": dataclasses.asdict(deployment.efficiency),
        "roofline": {
            "ttft_seconds": closed.ttft_seconds, "tpot_seconds": closed.tpot_seconds,
            "throughput_tokens_per_second": closed.throughput_tokens_per_second,
            "max_concurrent_sequences": closed.max_concurrent_sequences,
            "decode_bound": closed.decode_bound, "prefill_bound": closed.prefill_bound},
        "engine": {
            "ttft_seconds": run.mean_ttft_seconds, "tpot_seconds": run.mean_tpot_seconds,
            "throughput_tokens_per_second": run.throughput_tokens_per_second,
            "max_concurrent_sequences": min(engine.allocator.total_blocks // per_sequence, engine.max_num_seqs),
            "peak_running": run.max_running, "preemptions": run.preemptions, "steps": run.steps},
    }


def _print_prediction(report: dict[str, Any], out: TextIO) -> None:
    closed, emulated = report["roofline"], report["engine"]
    print(f"{report['model']} on {report['tensor_parallel_size']} x {report['profile']}: batch {report['batch']}, "
          f"{report['prompt_tokens']} prompt + {report['output_tokens']} output tokens", file=out)
    print(f"KV cache {report['kv_capacity_tokens']:,} tokens ({report['kv_bytes_per_gpu'] / hardware_module.GIB:.1f} "
          f"GiB per GPU); decode {closed['decode_bound']}-bound, prefill {closed['prefill_bound']}-bound", file=out)
    rows = (("TTFT (ms)", closed["ttft_seconds"] * 1e3, emulated["ttft_seconds"] * 1e3, ".1f"),
            ("TPOT (ms)", closed["tpot_seconds"] * 1e3, emulated["tpot_seconds"] * 1e3, ".2f"),
            ("throughput (tok/s)", closed["throughput_tokens_per_second"],
             emulated["throughput_tokens_per_second"], ",.0f"),
            ("max concurrent seqs", closed["max_concurrent_sequences"], emulated["max_concurrent_sequences"], ",d"))
    print(f"{'':<22}{'roofline':>12}{'engine':>12}", file=out)
    for name, left, right, spec in rows:
        print(f"{name:<22}{left:>12{spec}}{right:>12{spec}}", file=out)
    print(f"engine run: {emulated['steps']} steps, peak running {emulated['peak_running']}, "
          f"{emulated['preemptions']} preemptions", file=out)


def _listing() -> dict[str, Any]:
    return {
        "profiles": {name: {"dense_bf16_tflops": p.dense_bf16_flops_per_second / 1e12,
                            "dense_fp8_tflops": p.dense_fp8_flops_per_second / 1e12,
                            "memory_gib": p.memory_bytes / hardware_module.GIB,
                            "bandwidth_tb_per_second": p.memory_bandwidth_bytes_per_second / 1e12,
                            "interconnect": p.interconnect_name}
                     for name, p in hardware_module.PROFILES.items()},
        "models": {name: {"parameters_billions": m.parameters / 1e9, "layers": m.layers, "kv_heads": m.kv_heads,
                          "bytes_per_value": m.bytes_per_value, "kv_bytes_per_token": m.kv_bytes_per_token}
                   for name, m in models_module.MODELS.items()},
    }


def _print_listing(listing: dict[str, Any], out: TextIO) -> None:
    print("GPU profiles (dense peaks):", file=out)
    for name, p in listing["profiles"].items():
        print(f"  {name:<10} BF16 {p['dense_bf16_tflops']:7.1f} TFLOP/s  FP8 {p['dense_fp8_tflops']:7.1f} TFLOP/s  "
              f"{p['memory_gib']:5.0f} GiB  {p['bandwidth_tb_per_second']:.2f} TB/s  {p['interconnect']}", file=out)
    print("Models:", file=out)
    for name, m in listing["models"].items():
        print(f"  {name:<16} {m['parameters_billions']:6.2f} B params  {m['layers']:3d} layers  "
              f"{m['kv_heads']:2d} KV heads  {m['bytes_per_value']} B/value  {m['kv_bytes_per_token']:,} KV B/token",
              file=out)


def _calibration_report(comparisons: list[calibration.Comparison]) -> list[dict[str, Any]]:
    return [{"label": c.measurement.label, "source": c.measurement.source,
             "emulated": {"ttft_seconds": c.ttft_seconds, "tpot_seconds": c.tpot_seconds,
                          "throughput_tokens_per_second": c.throughput_tokens_per_second},
             "measured": {"ttft_seconds": c.measurement.ttft_seconds, "tpot_seconds": c.measurement.tpot_seconds,
                          "throughput_tokens_per_second": c.measurement.throughput_tokens_per_second},
             "errors": c.errors()} for c in comparisons]


def _print_calibration(comparisons: list[calibration.Comparison], out: TextIO) -> None:
    print(calibration.format_table(comparisons), file=out)


def _report(args: argparse.Namespace) -> tuple[Any, Callable[[TextIO], None]]:
    """The JSON-ready report of the chosen mode and a function printing it as text."""
    if args.list:
        listing = _listing()
        return listing, functools.partial(_print_listing, listing)
    if args.calibrate:
        comparisons = calibration.replay_all()
        return _calibration_report(comparisons), functools.partial(_print_calibration, comparisons)
    prediction = predict(args)
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
