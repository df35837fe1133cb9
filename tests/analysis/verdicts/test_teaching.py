"""Teaching mode: predictions locked in before a run, then shown next to theory and measurement.

Aspects: ``tailstorm predict --set`` records non-interactively and prompts ask each quantity in a
terminal (an empty answer skips it); bad names and values exit 2 with the name; entries are
appended with their time; a prediction recorded before the run is "locked", one recorded after a
run of the scenario started is flagged, at recording time and in the report; the report's table
holds prediction, theory and measurement for each quantity.
"""
import argparse
import json

import pytest

from analysis.presentation import report
from analysis.verdicts import teaching
from orchestration import cli
from schema import scenario

SMOKE = scenario.load_scenario("smoke").model_dump(mode="json")


@pytest.mark.parametrize("text, message", [
    pytest.param("p99_ms", "expected name=value", id="no-equals"),
    pytest.param("p98_ms=3", "unknown quantity; known: p99_ms", id="unknown-name"),
    pytest.param("spike.p99_ms=3", "unknown phase 'spike'; phases: steady", id="unknown-phase"),
    pytest.param("p99_ms=fast", "'fast' is not a number", id="not-a-number"),
    pytest.param("slo_violation_percent=2", "unknown quantity", id="needs-an-slo-block"),
])
def test_a_bad_assignment_names_what_is_wrong(text, message):
    with pytest.raises(teaching.PredictionError, match=message):
        teaching.parse_assignment(text, scenario=SMOKE)


def test_predict_records_set_values_and_appends_entries(tmp_path, capsys):
    assert cli.main(["predict", "smoke", "--set", "p99_ms=90", "--set", "steady.error_percent=0",
                     "--runs-dir", str(tmp_path)]) == 0
    assert cli.main(["predict", "smoke", "--set", "utilisation=0.2", "--runs-dir", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "predictions" / "smoke.json").read_text())
    assert [e["values"] for e in document["entries"]] == [{"p99_ms": 90.0, "steady.error_percent": 0.0},
                                                          {"utilisation": 0.2}]
    assert "recorded 2 prediction(s) for smoke" in capsys.readouterr().out


def test_predict_exits_2_with_the_name_on_a_bad_value(tmp_path, capsys):
    assert cli.main(["predict", "smoke", "--set", "p99_ms=-3", "--runs-dir", str(tmp_path)]) == 2
    assert "'p99_ms': '-3' must be a finite number >= 0" in capsys.readouterr().err


def test_prompts_ask_each_quantity_and_skip_empty_answers(tmp_path):
    answers = iter(["120", "", "oops", "1.5", "0.3"])
    args = argparse.Namespace(scenario="smoke", assignments=[], runs_dir=tmp_path)
    assert cli.predict(args, ask=lambda prompt: next(answers), interactive=True) == 0
    (entry,) = json.loads((tmp_path / "predictions" / "smoke.json").read_text())["entries"]
    assert entry["values"] == {"p99_ms": 120.0, "error_percent": 1.5, "utilisation": 0.3}


def test_a_prediction_made_after_a_run_started_is_flagged_when_recorded(smoke_run, capsys):
    runs = smoke_run.parent
    assert cli.main(["predict", "smoke", "--set", "p99_ms=80", "--runs-dir", str(runs)]) == 0
    (entry,) = json.loads((runs / "predictions" / "smoke.json").read_text())["entries"]
    assert entry["runs_already_started"] == [smoke_run.name]
    assert "flagged" in capsys.readouterr().err


def predict(runs, *assignments, now=None) -> int:
    args = argparse.Namespace(scenario="smoke", assignments=list(assignments), runs_dir=runs)
    return cli.predict(args, now=now)


def test_the_report_shows_locked_predictions_next_to_theory_and_measurement(smoke_run):
    run_started = json.loads((smoke_run / "events.jsonl").read_text().splitlines()[0])["time"]
    assert predict(smoke_run.parent, "p99_ms=80", "mean_response_ms=5", "utilisation=0.1", now=run_started - 60) == 0
    report.build(smoke_run)
    summary = json.loads((smoke_run / "summary.json").read_text())
    table = summary["teaching"]
    assert table["locked"] and table["flag"] is None
    rows = {r["quantity"]: r for r in table["rows"]}
    assert rows["p99_ms"]["measured"] == summary["phases"][0]["client"]["p99_ms"]
    assert rows["utilisation"]["theory"] > 0
    markdown = (smoke_run / "report.md").read_text()
    assert "## Your predictions" in markdown and "locked before the run started" in markdown


def test_the_report_flags_predictions_recorded_after_the_run_started(smoke_run):
    assert predict(smoke_run.parent, "p99_ms=80", now=2_000_000_000) == 0
    report.build(smoke_run)
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert summary["teaching"]["flag"] == "recorded after this run started: not a prediction"
    assert "⚠" in (smoke_run / "report.md").read_text()
