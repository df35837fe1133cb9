"""``tailstorm run`` with a scheduled fault, end to end on the local backend.

Aspects: a kill fault in the scenario kills half the inference replicas at its time (``pod_died``)
and replaces them when it ends; its start and end are ``fault`` events, its window is in the
validity verdict, the plots' fault windows and the report's fault table; and the run stays valid:
the replica it killed and the requests lost with it are the experiment, not a defect.
"""
import json
import pathlib
import subprocess
import sys

from analysis.presentation import plotting
from analysis.tables import extract
from schema import events as events_module

ROOT = pathlib.Path(__file__).resolve().parents[2]
KILL_CHAIN = pathlib.Path(__file__).parent / "data" / "kill-chain.yaml"


def test_a_run_whose_only_damage_is_a_scheduled_kill_stays_valid(tmp_path):
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "run", str(KILL_CHAIN), "--runs-dir",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "faults: kill 50% of inference at 4 s" in result.stdout
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = events_module.read_events(run_dir / "events.jsonl")
    start, end = [e for e in events if e["type"] == "fault"]
    (killed,) = start["pods"]
    assert (start["phase"], end["phase"], start["kind"]) == ("start", "end", "kill")
    phase = next(e for e in events if e["type"] == "phase")
    assert start["scheduled_time"] == phase["time"] + 4
    assert end["time"] >= start["scheduled_time"] + 3  # due 3 s after the start was due
    died = [e for e in events if e["type"] == "pod_died"]
    assert [e["pod"] for e in died] == [killed] and start["time"] <= died[0]["time"] <= end["time"]
    assert [e["service"] for e in events if e["type"] == "pod_created" and e["time"] >= start["time"]] == ["inference"]
    verdict = json.loads((run_dir / "summary.json").read_text())["run"]["validity"]
    # the kill is the experiment: nothing but the generator's timing (this machine's load) may mark the run
    assert [r for r in verdict["reasons"] if r["severity"] != "valid" and r["check"] != "generator"] == []
    assert verdict["status"] in ("valid", "degraded")
    (window,) = verdict["faults"]
    assert (window["label"], window["pods"], window["ended"]) == ("kill 50% of inference", [killed], True)
    run = extract.load_run(run_dir)
    assert plotting.fault_windows(run) == [(start["time"], end["time"], "kill 50% of inference")]
    assert "## Scheduled faults" in (run_dir / "report.md").read_text()
