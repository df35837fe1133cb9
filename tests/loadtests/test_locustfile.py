"""The locustfile as a process: its request log under SIGTERM, and its worker processes.

Aspects, each on the real locustfile against the real uvicorn stall app (no stall here):

- SIGTERM in the middle of a run (as the runner and PDEATHSIG send it): the buffered request log
  keeps every request the server answered (but those in flight at the kill), and no row is torn;
- two worker processes behind a master on an allocated port: each writes its own log, and the
  merged arrivals are exactly the single-process schedule (constant spacing interleaved by
  offset), timed from one common start recorded as the phase's start.
"""
import csv
import json
import pathlib
import urllib.request

import pytest

from analysis.tables import extract
from deploy.local import ports, processes
from orchestration import runner
from tests.loadtests.test_stall import ROOT, scenario_json, target  # noqa: F401 (a fixture)


def locust_process(tmp_path: pathlib.Path, url: str, scenario: pathlib.Path, *, workers: int = 1,
                   master_port: int | None = None) -> tuple[processes.ManagedProcess, pathlib.Path]:
    out = tmp_path / "locust"
    out.mkdir()
    return processes.ManagedProcess(
        name="locust", log_path=out / "locust.log", cwd=ROOT, env=runner.locust_env(scenario, out, workers=workers),
        argv=runner.locust_argv(url, out, safety_seconds=90, workers=workers, master_port=master_port)), out


SLOTS = 2
"""The client's max_in_flight: at most this many requests the server answered can be lost with the
client killed (the rest of 400 req/s is logged as overflow), far fewer than the ~40 rows a lost
100 ms buffer would hold."""


def answered_rows(log: pathlib.Path) -> int:
    """Complete rows of requests that got their answer (a half-written last line is not counted)."""
    if not log.exists():
        return 0
    lines = log.read_text().splitlines(keepends=True)
    return sum(1 for row in csv.DictReader(line for line in lines if line.endswith("\n")) if row["outcome"] == "ok")


def served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/served", timeout=5) as response:
        return json.loads(response.read())["requests"]


def test_sigterm_mid_run_keeps_every_request_the_server_answered(tmp_path, target):  # noqa: F811
    scenario = scenario_json(tmp_path, {"max_in_flight": SLOTS}, {"arrival_rate_per_second": 400.0, "duration_seconds": 60})
    locust, out = locust_process(tmp_path, target, scenario)
    try:
        processes.wait_until(lambda: answered_rows(out / "requests.csv") >= 60, timeout_seconds=60,
                             what="60 answered requests logged",
                             failed=lambda: None if locust.is_running() else locust.log_tail())
        locust.terminate()
        locust.popen.wait(timeout=60)
    finally:
        locust.stop(grace_seconds=5)
    text = (out / "requests.csv").read_text()
    assert text.endswith("\n")
    rows = list(csv.DictReader(text.splitlines()))
    assert all(len(row) == len(rows[0]) and None not in row.values() for row in rows)
    sent = [row for row in rows if row["outcome"] != "client_overflow"]
    answered = served(target)
    assert answered - SLOTS <= len(sent) <= answered
    assert len(sent) >= 60


def test_two_workers_split_the_schedule_and_their_merged_arrivals_are_the_scenarios(tmp_path, target):  # noqa: F811
    rate, seconds = 100.0, 4
    scenario = scenario_json(tmp_path, {"max_in_flight": 100, "workers": 2},
                             {"arrival_rate_per_second": rate, "arrivals": "constant", "duration_seconds": seconds})
    allocator = ports.PortAllocator()
    try:
        locust, out = locust_process(tmp_path, target, scenario, workers=2,
                                     master_port=allocator.allocate(what="the Locust master"))
        try:
            locust.popen.wait(timeout=90)
        finally:
            locust.stop(grace_seconds=5)
    finally:
        allocator.close()
    assert locust.returncode == 0, locust.log_tail()
    assert sorted(p.name for p in out.glob("requests*.csv")) == ["requests-1.csv", "requests.csv"]
    shares = [extract.read_request_log(path) for path in sorted(out.glob("requests*.csv"))]
    assert [len(share) for share in shares] == [rate * seconds / 2] * 2
    (phase,) = [json.loads(line) for line in (out / "phases.jsonl").read_text().splitlines()]
    merged = sorted(r.intended_start - phase["time"] for share in shares for r in share)
    assert merged == pytest.approx([(k + 0.5) / rate for k in range(int(rate * seconds))], abs=1e-6)
    assert all(r.ok for share in shares for r in share)
