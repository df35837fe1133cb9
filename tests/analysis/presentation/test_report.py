"""The run report built from a recorded run: summary.json, tables, plots, markdown and HTML.

Aspects: summary.json is strict JSON (no NaN) with every prediction row carrying check, subject,
phase, formula, measured, predicted, error, tolerance and verdict; textbook and seed rows are
apart; tidy tables are written; every plot (old and new) is a PNG embedded in report.html;
``tailstorm report`` rebuilds from the artefacts and names a missing file in one sentence; the
HPA-lag waterfall joins the report only for a run that scaled up; a run with request classes gets
the per-class table (each class's rows add up to the phase's), the bulkhead table for a service
with tenant limits, and the per-class plot, and a run without classes gets none of them.
"""
import json
import math
import pathlib
import shutil

import pytest

from analysis.presentation import plotting, report
from analysis.verdicts import validity
from orchestration import cli

SMOKE_RUN = pathlib.Path(__file__).parents[1] / "data" / "smoke-run"

ROW_FIELDS = {"check", "subject", "phase", "formula", "measured", "predicted", "error", "tolerance", "verdict"}


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The recorded smoke run with a report built once for this module."""
    run = tmp_path_factory.mktemp("runs") / "20261123T161623Z-smoke"
    shutil.copytree(SMOKE_RUN, run)
    return run, report.build(run)


def test_the_summary_is_strict_json_with_complete_prediction_rows(built):
    run, _ = built
    summary = strict_json((run / "summary.json").read_text())
    rows = summary["predictions"]
    assert {r["check"] for r in rows} >= {"littles_law", "mmc_mean_response"}
    assert all(ROW_FIELDS <= set(r) and r["verdict"] in ("pass", "fail", "inconclusive") for r in rows)
    assert {r["model"] for r in rows} <= {"textbook", "seed"}
    inference = summary["phases"][0]["server"]["inference"]
    assert inference["servers"] == 4 and inference["service_rate_per_second"] > 0
    assert summary["cost"]["cost_per_1000_successful"] > 0


def test_the_report_writes_tidy_tables_and_every_plot(built):
    run, paths = built
    header = (run / "tables" / "requests.csv").read_text().splitlines()[0]
    assert header == ("intended_start,finished,latency_seconds,status,attempts,phase,outcome,send_lag_seconds,"
                      "answered_attempts,accepted_attempts,withheld,request_class")
    assert (run / "tables" / "service_series.csv").read_text().count("\n") > 100
    for name in ("latency", "throughput", "in_flight", "replicas", "utilisation", "retries", "overflow"):
        assert paths[f"plot_{name}"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (run / "report.html").read_text()
    assert page.count("<figure class='plot'") == page.count("data:image/png;base64,") >= 7
    markdown = (run / "report.md").read_text()
    for title in ("## Phases (client side)", "## Services (server side)", "## Measured against predicted", "## Cost"):
        assert title in markdown


def test_the_waterfall_joins_only_a_report_whose_run_scaled_up(built, tmp_path):
    run, paths = built
    assert "plot_hpa_lag" not in paths and not (run / "plots" / "hpa_lag.png").exists()  # smoke never scales
    summary = {"hpa_lag_timeline": {"scale_ups": [{
        "service": "inference", "from_replicas": 1, "to_replicas": 3,
        "intervals": [("load_step → hpa_decision", 0.0, 19.5), ("hpa_decision → pod_ready", 19.5, 32.1)],
        "comparison": [{"term": "total (step → ready)", "model (this run's settings)": 24.1,
                        "model (cluster defaults)": 33.5}]}]}}
    assert plotting.waterfall.draw(summary, tmp_path / "hpa_lag.png")
    assert (tmp_path / "hpa_lag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tailstorm_report_rebuilds_and_names_a_missing_file(smoke_run, tmp_path, capsys):
    assert cli.main(["report", str(smoke_run)]) == 0
    assert "report:" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert report.main([str(tmp_path / "empty")]) == 2
    assert "scenario.json is missing" in capsys.readouterr().err


@pytest.mark.parametrize("value, expected", [
    pytest.param(math.nan, None, id="nan"), pytest.param(math.inf, None, id="inf"), pytest.param(1.5, 1.5, id="finite"),
    pytest.param((1.0, math.nan), [1.0, None], id="tuple"),
])
def test_jsonable_writes_non_finite_numbers_as_null(value, expected):
    assert report.jsonable(value) == expected


def test_a_gpu_scenario_states_profile_model_and_time_scale_first():
    gpu = {"profile": "h100-sxm", "model": "llama-3-8b", "tensor_parallel_size": 2, "policy": "priority",
           "time_scale": 4.0, "kv_capacity_tokens": None}
    summary = {"run": {"gpu": {"inference": gpu}, "environment": {}, "scenario": "gpu-spike", "backend": "local",
                       "interrupted": False, "complete": True}}
    first = report.intro(summary)[0]
    assert first.startswith("GPU: inference emulates `llama-3-8b` on `h100-sxm` × 2 (tensor parallel")
    assert "priority admission; time scale 4: every GPU time in this report is emulated time × 4" in first
    assert not report.gpu_lines({"run": {"gpu": {}}})


def test_a_run_with_request_classes_gets_the_class_table_the_bulkhead_table_and_plot(smoke_run):
    scenario = json.loads((smoke_run / "scenario.json").read_text())
    scenario["client"]["classes"] = [{"name": "a", "share": 0.5, "tenant": "a", "priority": "interactive"},
                                     {"name": "b", "share": 0.5, "tenant": "b", "priority": None}]
    scenario["effective_services"]["inference"].update(tenant_limits={"b": 3}, tenant_limit_default=None)
    (smoke_run / "scenario.json").write_text(json.dumps(scenario))
    log = smoke_run / "locust" / "requests.csv"
    header, *rows = log.read_text().splitlines()
    log.write_text("\n".join([header + ",request,class"] + [f"{row},{i},{'ab'[i % 2]}" for i, row in enumerate(rows)])
                   + "\n")
    paths = report.build(smoke_run)
    summary = strict_json(paths["summary"].read_text())
    (phase,) = summary["phases"]
    classes = phase["client"]["classes"]
    assert classes["a"]["requests"] + classes["b"]["requests"] == phase["client"]["requests"]
    assert abs(classes["a"]["requests"] - classes["b"]["requests"]) <= 1
    assert summary["run"]["bulkheads"] == {"inference": {"tenant_limits": {"b": 3}, "tenant_limit_default": None}}
    markdown = paths["report_md"].read_text()
    assert "## Request classes (client side)" in markdown and "## Tenant bulkheads" in markdown
    assert f"| steady | a | a | interactive | {classes['a']['arrival_share'] * 100:.1f} |" in markdown
    assert "| steady | inference | b | 3 | 0 |" in markdown
    assert paths["plot_classes"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_without_classes_has_no_class_table_and_no_class_plot(built):
    run, paths = built
    markdown = (run / "report.md").read_text()
    assert "Request classes" not in markdown and "Tenant bulkheads" not in markdown
    assert "plot_classes" not in paths


def test_an_explained_reason_reads_as_a_note_and_a_defect_by_its_severity():
    verdict = {"status": validity.DEGRADED, "reasons": [
        validity.reason(validity.VALID, "flow", "flow not conserved at inference: 27 lost (accounted for by a kill)"),
        validity.reason(validity.DEGRADED, "generator", "the load generator fell behind in spike")]}
    first, note, defect = report.validity_lines({"run": {"validity": verdict}})
    assert first.startswith("Run validity: DEGRADED — ")
    assert note == "Noted, no defect: flow not conserved at inference: 27 lost (accounted for by a kill)"
    assert defect == "DEGRADED: the load generator fell behind in spike"
