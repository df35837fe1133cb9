"""The emulator against published H100 measurements (``calibration.MEASUREMENTS``).

We test these aspects:
- every published quantity stays within the error bound docs/gpu-emulator.md states for it
  (20 % unless the doc explains a larger gap), so the calibration table cannot silently drift;
- batch-1 and large-batch rows of the modern serving stack (NIM) are within 10 %;
- ``tailstorm gpu --calibrate --json`` reports the same rows.

Method: each row's benchmark is replayed in emulated time with the default ``Efficiency``; the
relative error is (emulated - measured) / measured. Deterministic, no tolerance for noise needed.
"""
from __future__ import annotations

import io
import json

import pytest

from services.inference.gpu import calibration
from services.inference.gpu import cli

DEFAULT_BOUND = 0.20
"""Largest |relative error| accepted for a published quantity unless listed below."""

# Gaps explained in docs/gpu-emulator.md ("Where the emulator misses"): TensorRT-LLM v0.5's
# batch-1 first-token latency on short prompts is dominated by fixed costs of that 2023 release,
# and its TP4 decode used NCCL all-reduces slower than the 20 us the emulator assumes.
EXPLAINED_BOUNDS = {
    ("TRT-LLM Llama-2-7B FP8 b1 ISL128 TTFT", "ttft"): 0.35,
    ("TRT-LLM Llama-2-70B FP8 TP4 b1 ISL128 TTFT", "ttft"): 0.55,
    ("TRT-LLM Llama-2-70B FP8 TP4 b64 128/128 throughput", "throughput"): 0.25,
}


@pytest.fixture(scope="module")
def comparisons() -> list[calibration.Comparison]:
    return calibration.replay_all()


def test_every_published_quantity_is_within_its_stated_bound(comparisons: list[calibration.Comparison]) -> None:
    misses = {(c.measurement.label, quantity): round(error, 3)
              for c in comparisons for quantity, error in c.errors().items()
              if abs(error) > EXPLAINED_BOUNDS.get((c.measurement.label, quantity), DEFAULT_BOUND)}
    assert misses == {}


def test_modern_serving_rows_at_batch_one_and_at_a_large_batch_are_within_ten_percent(
        comparisons: list[calibration.Comparison]) -> None:
    nim = [c for c in comparisons if c.measurement.source == calibration.NIM_LLAMA_33_70B]
    assert {c.measurement.concurrency for c in nim} >= {1, 50}
    assert all(abs(error) <= 0.10 for c in nim for error in c.errors().values())


def test_there_is_no_h200_row_because_the_h200_profile_is_datasheet_only() -> None:
    assert {m.hardware for m in calibration.MEASUREMENTS} == {"h100-sxm"}


def test_the_cli_reports_the_same_rows_as_json() -> None:
    out = io.StringIO()
    assert cli.main(["--calibrate", "--json"], out=out) == 0
    rows = json.loads(out.getvalue())
    assert [row["label"] for row in rows] == [m.label for m in calibration.MEASUREMENTS]
