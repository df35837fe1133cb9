"""``tailstorm gpu`` (``services.inference.gpu.cli.main``).

We test these aspects:
- ``--json`` reports roofline and engine numbers for the configuration, which agree at batch 1;
- the text table shows both columns;
- ``--list`` names every profile and model;
- bad input exits 2 with a sentence that names the flag.
"""
from __future__ import annotations

import io
import json

import pytest

from services.inference.gpu import cli
from services.inference.gpu import hardware
from services.inference.gpu import models


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(argv, out=out), out.getvalue()


def test_json_reports_roofline_and_engine_numbers_that_agree_at_batch_one() -> None:
    status, text = run(["--json", "--profile", "h200-sxm", "--model", "llama-3-70b-fp8", "--tp", "2",
                        "--prompt-tokens", "256", "--output-tokens", "32"])
    report = json.loads(text)
    assert status == 0
    assert (report["profile"], report["model"], report["tensor_parallel_size"]) == ("h200-sxm", "llama-3-70b-fp8", 2)
    for key in ("ttft_seconds", "tpot_seconds", "throughput_tokens_per_second", "max_concurrent_sequences"):
        assert report["engine"][key] == pytest.approx(report["roofline"][key], rel=0.01)
    assert report["roofline"]["decode_bound"] == "memory"
    assert report["kv_capacity_tokens"] > 0


def test_json_at_a_large_batch_runs_the_engine_on_the_whole_burst() -> None:
    status, text = run(["--json", "--batch", "64", "--prompt-tokens", "128", "--output-tokens", "16"])
    engine = json.loads(text)["engine"]
    assert status == 0
    assert engine["peak_running"] == 64
    assert engine["throughput_tokens_per_second"] > 0


def test_the_text_table_shows_both_columns() -> None:
    status, text = run(["--batch", "4", "--output-tokens", "8"])
    assert status == 0
    assert "roofline" in text and "engine" in text and "TPOT (ms)" in text


def test_list_names_every_profile_and_model() -> None:
    status, text = run(["--list"])
    assert status == 0
    assert all(name in text for name in [*hardware.PROFILES, *models.MODELS])


@pytest.mark.parametrize(("argv", "flag"), [
    pytest.param(["--batch", "0"], "--batch", id="zero-batch"),
    pytest.param(["--prompt-tokens", "many"], "--prompt-tokens", id="not-a-number"),
    pytest.param(["--profile", "a100"], "--profile", id="unknown-profile"),
    pytest.param(["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization", id="memory-share-above-one"),
    pytest.param(["--model", "llama-3-70b", "--tp", "3"], "--tp", id="tp-not-dividing-heads"),
    pytest.param(["--model", "llama-3-70b"], "--tp", id="model-does-not-fit"),
    pytest.param(["--prompt-tokens", "900000"], "--prompt-tokens", id="longer-than-the-kv-cache"),
])
def test_bad_input_exits_2_with_a_sentence_naming_the_flag(argv: list[str], flag: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run(argv)
    assert status == 2
    assert flag in capsys.readouterr().err
