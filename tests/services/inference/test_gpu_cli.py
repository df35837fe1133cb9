"""``tailstorm gpu`` (``services.inference.gpu.cli.main``).

We test these aspects:
- each load mode (fixed batch, closed-loop clients, Poisson rate) runs the engine under that load
  and reports TTFT, TPOT and end-to-end percentiles and throughput, as JSON and as text;
- at batch 1 the engine agrees with the closed-form roofline printed beside it;
- the roofline report: ridge points, the decode batch where compute takes over, MFU/MBU per
  phase, KV bytes per sequence and the largest batch the KV cache holds; ``--plot`` writes a PNG;
- ``--kv-cache-dtype`` and ``--stack`` change what they should and nothing else;
- ``--list`` names every profile, model and stack;
- bad input exits 2 with a sentence that names the flag.
"""
from __future__ import annotations

import io
import json
import pathlib

import pytest

from services.inference.gpu import cli
from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline
from services.inference.gpu import stacks


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(argv, out=out), out.getvalue()


def report(argv: list[str]) -> dict:
    status, text = run(["--json", *argv])
    assert status == 0
    return json.loads(text)


def test_at_batch_one_the_engine_agrees_with_the_closed_form_roofline() -> None:
    r = report(["--profile", "h200-sxm", "--model", "llama-3-70b-fp8", "--tp", "2", "--prompt-tokens", "256",
                "--output-tokens", "32"])
    assert (r["configuration"]["profile"], r["configuration"]["model"]) == ("h200-sxm", "llama-3-70b-fp8")
    assert r["load"] == {"mode": "batch", "batch": 1, "requests": 1, "warmup_requests": 0}
    latency, closed = r["latency"], r["closed_form"]
    assert latency["ttft_seconds"]["mean"] == pytest.approx(closed["ttft_seconds"], rel=0.01)
    assert latency["tpot_seconds"]["mean"] == pytest.approx(closed["tpot_seconds"], rel=0.01)
    assert r["throughput_tokens_per_second"] == pytest.approx(closed["throughput_tokens_per_second"], rel=0.01)


def test_closed_loop_clients_report_percentiles_over_the_requests_after_warm_up() -> None:
    r = report(["--concurrency", "16", "--requests", "64", "--prompt-tokens", "256", "--output-tokens", "64"])
    assert r["load"] == {"mode": "concurrency", "concurrency": 16, "requests": 64, "warmup_requests": 16}
    assert r["engine"]["finished_requests"] == 64 and r["engine"]["peak_running"] == 16
    for quantity in ("ttft_seconds", "tpot_seconds", "e2e_seconds"):
        stats = r["latency"][quantity]
        assert 0 < stats["p50"] <= stats["p90"] <= stats["p99"]
    # Little's law over the measured requests: 16 clients x 64 tokens / mean e2e.
    assert r["throughput_tokens_per_second"] == pytest.approx(16 * 64 / r["latency"]["e2e_seconds"]["mean"])
    assert "closed_form" not in r


def test_a_poisson_rate_run_is_seeded_and_its_tail_grows_with_the_rate() -> None:
    argv = ["--requests", "120", "--prompt-tokens", "512", "--output-tokens", "64", "--profile", "l4"]
    light, again = report(["--rate", "1", *argv]), report(["--rate", "1", *argv])
    heavy = report(["--rate", "20", *argv])
    assert light == again
    assert report(["--rate", "1", "--seed", "7", *argv])["latency"] != light["latency"]
    assert heavy["latency"]["ttft_seconds"]["p99"] > 5 * light["latency"]["ttft_seconds"]["p99"]
    assert light["load"]["mode"] == "rate" and light["engine"]["finished_requests"] == 120


def test_the_roofline_report_places_prefill_and_decode_on_the_roofline() -> None:
    r = report(["--batch", "32", "--prompt-tokens", "512", "--output-tokens", "256"])["roofline"]
    d = roofline.Deployment(hardware=hardware.H100_SXM, model=models.LLAMA_3_8B,
                            efficiency=stacks.VLLM.efficiency())
    assert r["ridge_point_flops_per_byte"] == pytest.approx(989.4 / 3.35)
    assert r["effective_ridge_point_flops_per_byte"] == pytest.approx(roofline.effective_ridge_point_flops_per_byte(d))
    assert r["decode_compute_bound_batch"] == roofline.decode_compute_bound_batch(d, context_tokens=512 + 128)
    assert (r["prefill"]["bound"], r["decode"]["bound"], r["decode"]["batch"]) == ("compute", "memory", 32)
    assert r["decode"]["mbu"] > 5 * r["decode"]["mfu"] and r["prefill"]["mfu"] > r["prefill"]["mbu"]
    assert r["kv_bytes_per_sequence"] == (512 + 256 - 1) * 131072
    blocks_per_sequence = -(-(512 + 256 - 1) // 16)
    assert r["max_batch_by_kv_cache"] == (r["kv_capacity_tokens"] // 16) // blocks_per_sequence
    assert r["max_batch"] == min(r["max_batch_by_kv_cache"], 1024)


def test_the_text_report_shows_latency_percentiles_and_the_roofline() -> None:
    status, text = run(["--concurrency", "4", "--output-tokens", "16"])
    assert status == 0
    for needle in ("4 closed-loop clients", "TTFT (ms)", "TPOT (ms)", "e2e (ms)", "p99", "output tok/s",
                   "ridge point", "compute-bound", "prefill (512 tokens)", "decode (batch 4)", "MFU", "MBU",
                   "KV cache"):
        assert needle in text


def test_plot_writes_a_roofline_png(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "roofline.png"
    status, _ = run(["--model", "mixtral-8x7b", "--tp", "2", "--output-tokens", "8", "--plot", str(path)])
    assert status == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_a_16_bit_kv_cache_with_fp8_weights_doubles_kv_bytes_and_keeps_the_fp8_peak() -> None:
    base = ["--model", "llama-3-70b-fp8", "--tp", "2", "--output-tokens", "8"]
    fp8, kv16 = report(base)["roofline"], report([*base, "--kv-cache-dtype", "bf16"])["roofline"]
    assert kv16["kv_bytes_per_token"] == 2 * fp8["kv_bytes_per_token"]
    assert kv16["kv_capacity_tokens"] == pytest.approx(fp8["kv_capacity_tokens"] / 2, rel=0.001)
    assert kv16["peak_flops_per_second"] == fp8["peak_flops_per_second"] == hardware.H100_SXM.dense_fp8_flops_per_second
    assert kv16["weight_bytes_per_gpu"] == fp8["weight_bytes_per_gpu"]


def test_the_serving_stack_sets_the_step_overhead() -> None:
    argv = ["--output-tokens", "32"]
    vllm, nim = report(["--stack", "vllm", *argv]), report(["--stack", "nim", *argv])
    assert vllm["efficiency"]["step_overhead_seconds"] == stacks.VLLM.step_overhead_seconds
    assert nim["efficiency"]["step_overhead_seconds"] == stacks.NIM.step_overhead_seconds
    difference = stacks.VLLM.step_overhead_seconds - stacks.NIM.step_overhead_seconds
    assert vllm["latency"]["tpot_seconds"]["mean"] - nim["latency"]["tpot_seconds"]["mean"] == pytest.approx(difference)


def test_list_names_every_profile_model_and_stack() -> None:
    status, text = run(["--list"])
    assert status == 0
    assert all(name in text for name in [*hardware.PROFILES, *models.MODELS, *stacks.STACKS])


@pytest.mark.parametrize(("argv", "flag"), [
    pytest.param(["--batch", "0"], "--batch", id="zero-batch"),
    pytest.param(["--prompt-tokens", "many"], "--prompt-tokens", id="not-a-number"),
    pytest.param(["--profile", "b200"], "--profile", id="unknown-profile"),
    pytest.param(["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization", id="memory-share-above-one"),
    pytest.param(["--model", "llama-3-70b", "--tp", "3"], "--tp", id="tp-not-dividing-heads"),
    pytest.param(["--model", "llama-3-70b"], "--tp", id="model-does-not-fit"),
    pytest.param(["--prompt-tokens", "900000"], "--prompt-tokens", id="longer-than-the-kv-cache"),
    pytest.param(["--profile", "a100-sxm", "--model", "llama-3-8b-fp8"], "--profile", id="fp8-on-a100"),
    pytest.param(["--batch", "2", "--concurrency", "2"], "--concurrency", id="two-load-modes"),
    pytest.param(["--batch", "2", "--requests", "8"], "--requests", id="requests-with-a-batch"),
    pytest.param(["--concurrency", "8", "--requests", "4"], "--requests", id="fewer-requests-than-clients"),
    pytest.param(["--rate", "0"], "--rate", id="zero-rate"),
    pytest.param(["--kv-cache-dtype", "int4"], "--kv-cache-dtype", id="unknown-kv-dtype"),
    pytest.param(["--output-tokens", "2", "--plot", "/nonexistent-dir/roofline.png"], "--plot", id="unwritable-plot"),
])
def test_bad_input_exits_2_with_a_sentence_naming_the_flag(argv: list[str], flag: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run(argv)
    assert status == 2
    assert flag in capsys.readouterr().err
