"""``tailstorm compare RUN_A RUN_B``: two runs' summaries side by side.

Aspects: phases match by name and metrics show A, B and the change, request classes' too; prediction rows match by
check, subject and phase and flag changed verdicts; a phase or row in only one run is kept with a
dash; the CLI prints markdown or, with --json, the same comparison as JSON; a run without a
summary is one sentence and exit 2.
"""
import copy
import json

from analysis.presentation import diffing
from orchestration import cli


def summary(p99: float, verdict: str, phases=("steady",)) -> dict:
    return {"run": {"dir": f"runs/{p99}", "scenario": "smoke"},
            "phases": [{"name": name, "client": {"offered_rate_per_second": 10.0, "throughput_per_second": 10.0,
                                                 "error_rate": 0.0, "p50_ms": 30.0, "p95_ms": 60.0, "p99_ms": p99},
                        "server": {"inference": {"arrival_rate_per_second": 10.0, "utilisation": 0.1,
                                                 "own_response_seconds": 0.01, "p99_ms": 40.0, "shed": 0.0,
                                                 "ready_replicas": 1.0}}} for name in phases],
            "predictions": [{"check": "littles_law", "subject": "inference", "phase": "steady", "measured": 0.2,
                             "predicted": 0.2, "verdict": verdict}],
            "cost": {"total_cost": 0.01, "cost_per_1000_successful": 0.1, "gpu_hours": 0.002,
                     "static_total_cost": 0.01}}


def test_metrics_and_verdicts_are_side_by_side_with_the_change():
    result = diffing.diff(summary(80.0, "pass"), summary(100.0, "fail"))
    (phase,) = result["phases"]
    p99 = next(m for m in phase["metrics"] if m["scope"] == "client" and m["metric"] == "p99 ms")
    assert (p99["a"], p99["b"], p99["delta"]) == (80.0, 100.0, 20.0) and p99["relative"] == 0.25
    (row,) = result["predictions"]
    assert row["a_verdict"] == "pass" and row["b_verdict"] == "fail" and row["verdict_changed"]


def test_each_request_class_is_compared_on_its_own():
    a, b = summary(80.0, "pass"), summary(80.0, "pass")
    a["phases"][0]["client"]["classes"] = {"interactive": {"p99_ms": 900.0, "rejected": 0}}
    b["phases"][0]["client"]["classes"] = {"interactive": {"p99_ms": 300.0, "rejected": 0}, "batch": {"p99_ms": 2e3}}
    (phase,) = diffing.diff(a, b)["phases"]
    rows = {(m["scope"], m["metric"]): m for m in phase["metrics"]}
    assert (rows["class interactive", "p99 ms"]["delta"], rows["class interactive", "p99 ms"]["relative"]) == (
        -600.0, -600.0 / 900.0)
    assert (rows["class batch", "p99 ms"]["a"], rows["class batch", "p99 ms"]["b"]) == (None, 2000.0)
    assert rows["class interactive", "refused 429"]["delta"] == 0


def test_a_phase_in_only_one_run_is_kept_with_a_dash():
    b = summary(80.0, "pass", phases=("steady", "spike"))
    result = diffing.diff(summary(80.0, "pass"), b)
    spike = next(p for p in result["phases"] if p["name"] == "spike")
    assert spike["in"] == "b"
    assert "(only in B)" in diffing.render_markdown(result) and "| –" in diffing.render_markdown(result)


def write_run(tmp_path, name: str, data: dict):
    run = tmp_path / name
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(data))
    return run


def test_the_cli_prints_markdown_or_json(tmp_path, capsys):
    a = write_run(tmp_path, "a", summary(80.0, "pass"))
    b = write_run(tmp_path, "b", copy.deepcopy(summary(90.0, "pass")))
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# tailstorm compare") and "| client | p99 ms | 80 | 90 | 10 | +12.5% |" in out
    assert cli.main(["compare", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["verdict_changed"] is False


def test_a_run_without_a_summary_is_one_sentence_and_exit_2(tmp_path, capsys):
    a = write_run(tmp_path, "a", summary(80.0, "pass"))
    (tmp_path / "b").mkdir()
    assert cli.main(["compare", str(a), str(tmp_path / "b")]) == 2
    assert "summary.json is missing; build it with `tailstorm report" in capsys.readouterr().err
