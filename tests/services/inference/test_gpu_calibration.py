"""The emulator against published serving measurements (``published.toml``, ``calibration``).

We test these aspects:
- the data file: at least 16 rows, every row's source named with its engine version and method,
  and the fit/held-out split is the rule's (alternate within each source), not hand-picked;
- the fit refuses held-out rows, and a malformed row is refused with its id and field named;
- on the held-out half the median |error| is at most 10 % and no quantity is off by more than 25 %;
- large-batch decode of a small model, where KV-cache reads dominate the step, is within 15 %;
- the closed-loop replay reproduces the published concurrency sweep: throughput rises then
  flattens, TTFT and TPOT rise, every point's throughput and TPOT within 25 %;
- docs/gpu-emulator.md publishes exactly the tables this code computes (both halves);
- ``tailstorm gpu --calibrate --json`` reports both halves.

Method: every row is replayed once (module fixture) with the fitted defaults; deterministic.
"""
from __future__ import annotations

import io
import json
import pathlib
import re

import pytest

from services.inference.gpu import calibration
from services.inference.gpu import cli
from services.inference.gpu import engine as engine_module
from services.inference.gpu import roofline

DOCS = pathlib.Path(__file__).parents[3] / "docs" / "gpu-emulator.md"


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, calibration.Source], tuple[calibration.Measurement, ...]]:
    return calibration.load()


@pytest.fixture(scope="module")
def comparisons(data) -> list[calibration.Comparison]:  # type: ignore[no-untyped-def]
    return calibration.replay_all(data[1])


def half(comparisons: list[calibration.Comparison], split: str) -> list[calibration.Comparison]:
    return [c for c in comparisons if c.measurement.split == split]


def test_the_data_file_has_at_least_16_rows_each_with_a_described_source(data) -> None:  # type: ignore[no-untyped-def]
    sources, rows = data
    assert len(rows) >= 16
    assert {row.source for row in rows} == set(sources)
    assert all(source.title and source.engine and source.method for source in sources.values())
    assert {"vllm", "nim", "trtllm-0.5"} <= {row.stack for row in rows}


def test_the_split_is_the_rule_s_and_both_halves_are_populated(data) -> None:  # type: ignore[no-untyped-def]
    rows = data[1]
    assert calibration.check_split(rows) == []
    assert len(calibration.in_split(rows, "fit")) >= 8 and len(calibration.in_split(rows, "held-out")) >= 8


def test_a_hand_edited_split_is_caught(data) -> None:  # type: ignore[no-untyped-def]
    rows = list(data[1])
    rows[1] = calibration.dataclasses.replace(rows[1], split="fit")
    assert calibration.check_split(rows) == [rows[1].id]


def test_the_fit_refuses_held_out_rows(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="held-out"):
        calibration.fit(data[1], passes=1)


def test_a_malformed_row_is_refused_with_its_id_and_field(tmp_path: pathlib.Path) -> None:
    text = calibration.DATA_FILE.read_text().replace('stack = "nim"', 'stack = "tgi"', 1)
    path = tmp_path / "published.toml"
    path.write_text(text)
    with pytest.raises(calibration.DataError, match=r"row nim18-h100-l33-70b-tp2-c1-5000-500: stack"):
        calibration.load(path)


def test_the_held_out_half_is_within_10_percent_median_and_25_percent_everywhere(comparisons) -> None:  # type: ignore[no-untyped-def]
    held_out = half(comparisons, "held-out")
    assert calibration.median_abs_error(held_out) <= 0.10
    misses = {(c.measurement.id, q): round(e, 3) for c in held_out for q, e in c.errors().items() if abs(e) > 0.25}
    assert misses == {}


def test_large_batch_decode_on_a_small_model_where_kv_reads_dominate_is_within_15_percent(comparisons) -> None:  # type: ignore[no-untyped-def]
    checked = []
    for c in comparisons:
        row = c.measurement
        model = row.model_profile()
        if model.parameters > 10e9 or row.concurrency < 32 or row.output_tokens < 1024:
            continue
        stack = calibration.stacks.get_stack(row.stack)
        deployment = roofline.Deployment(
            hardware=calibration.hardware_module.get_profile(row.hardware), model=model,
            tensor_parallel_size=row.tensor_parallel_size, gqa_kv_reuse=stack.gqa_kv_reuse)
        mid = roofline.decode_shape(batch=row.concurrency, context_tokens=row.prompt_tokens + row.output_tokens // 2)
        cost = roofline.step_cost(deployment, mid)
        if cost.kv_bytes_per_gpu > 2 * cost.weight_bytes_per_gpu:
            checked.append(row.id)
            assert abs(c.errors()["throughput"]) <= 0.15, row.id
    assert len(checked) >= 3


def test_the_closed_loop_replay_reproduces_the_published_concurrency_sweep(comparisons) -> None:  # type: ignore[no-untyped-def]
    sweep = sorted((c for c in comparisons if c.measurement.source == "nim-1.8-llama-3.3-70b"
                    and c.measurement.prompt_tokens == 5000), key=lambda c: c.measurement.concurrency)
    assert [c.measurement.concurrency for c in sweep] == [1, 5, 25, 50, 100, 150, 200, 250]
    for values in ([c.emulated for c in sweep], [c.measurement.measured for c in sweep]):
        throughput = [v["throughput"] for v in values]
        assert all(b > a for a, b in zip(throughput[:4], throughput[1:5]))  # rising up to c = 100 ...
        assert throughput[4] / throughput[3] < 1.2 < throughput[1] / throughput[0]  # ... ever more slowly
        assert max(throughput[4:]) < 1.05 * min(throughput[4:])  # flat once the KV cache is full
        assert all(b >= a for a, b in zip([v["ttft"] for v in values], [v["ttft"] for v in values][1:]))
        assert [v["tpot"] for v in values][-1] > 4 * [v["tpot"] for v in values][0]
    assert all(abs(c.errors()[q]) <= 0.25 for c in sweep for q in ("throughput", "tpot"))


def test_the_replayed_static_rows_ran_without_preemption(data) -> None:  # type: ignore[no-untyped-def]
    for row in data[1]:
        if row.method == "static" and row.concurrency > 1:
            engine = calibration._engine(row, calibration.Parameters())
            run = calibration.workloads.run_burst(engine, batch=row.concurrency, prompt_tokens=row.prompt_tokens,
                                                  output_tokens=row.output_tokens)
            assert (run.preemptions, run.max_running) == (0, row.concurrency), row.id
            assert isinstance(engine, engine_module.Engine)


def docs_table(split: str) -> str:
    text = DOCS.read_text()
    match = re.search(rf"<!-- calibration-table: {split} -->\n(.*?)\n<!-- /calibration-table -->", text, re.S)
    assert match, f"docs/gpu-emulator.md has no {split} table block"
    return match.group(1)


@pytest.mark.parametrize("split", calibration.SPLITS)
def test_the_docs_publish_exactly_the_tables_this_code_computes(comparisons, split: str) -> None:  # type: ignore[no-untyped-def]
    assert docs_table(split) == calibration.format_table(half(comparisons, split))


def test_the_cli_reports_both_halves_as_json(data, comparisons, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(calibration, "replay_all", lambda *args, **kwargs: comparisons)  # already replayed above
    out = io.StringIO()
    assert cli.main(["--calibrate", "--json"], out=out) == 0
    report = json.loads(out.getvalue())
    assert set(report) == set(calibration.SPLITS)
    assert [row["id"] for split in calibration.SPLITS for row in report[split]["rows"]] == [
        row.id for split in calibration.SPLITS for row in calibration.in_split(data[1], split)]
