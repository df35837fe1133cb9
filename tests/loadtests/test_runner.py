"""``tailstorm run`` end to end on the local backend (real Locust, Envoy, Prometheus, uvicorn).

Aspects: a run writes every artefact of the run directory with numbers from that run; Ctrl-C in
the middle keeps what was measured, still writes the report, exits 130 and leaves no process
behind (checked by PID); a busy port is one sentence and exit 1.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import psutil

from deploy.local import processes

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tailstorm(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loadtests.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def only_run_dir(runs: pathlib.Path) -> pathlib.Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def recorded_pids(run_dir: pathlib.Path) -> list[int]:
    return [entry["pid"] for entry in json.loads((run_dir / "pids.json").read_text())["processes"].values()]


def test_a_run_writes_every_artefact_with_measured_numbers(tmp_path):
    # a relative --runs-dir, as `make chaos-spike` passes it: every tool must still find its files
    process = tailstorm("run", "smoke", "--runs-dir", "runs", cwd=tmp_path)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    run_dir = only_run_dir(tmp_path / "runs")
    for name in ("report.md", "report.html", "summary.json", "events.jsonl", "environment.json", "scenario.yaml",
                 "locust/requests.csv", "locust/locust_stats_history.csv", "prometheus/request_bucket.json",
                 "plots/latency.png"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    (phase,) = summary["phases"]
    assert phase["client"]["requests"] > 20 and phase["client"]["error_rate"] == 0
    assert phase["server"]["inference"]["throughput_per_second"] > 5  # scraped from the real replicas
    assert {p["check"] for p in summary["predictions"]} >= {"littles_law"}
    assert "[" in out and "rps" in out  # progress lines were printed
    assert recorded_pids(run_dir) == []  # every process was stopped and struck off


def test_ctrl_c_keeps_the_measurements_and_tears_everything_down(tmp_path):
    process = tailstorm("run", "chaos-spike", "--runs-dir", str(tmp_path))
    requests_csv = None

    def load_is_flowing() -> bool:
        nonlocal requests_csv
        dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
        requests_csv = dirs[0] / "locust" / "requests.csv" if dirs else None
        return bool(requests_csv and requests_csv.exists() and requests_csv.read_text().count("\n") > 30)

    processes.wait_until(load_is_flowing, timeout_seconds=90, what="requests being logged")
    run_dir = requests_csv.parents[1]
    started = [pid for pid in recorded_pids(run_dir)]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    assert summary["phases"][0]["client"]["requests"] > 0
    assert (run_dir / "report.html").is_file()
    assert len(started) >= 12  # 6 replicas, 5 Envoys, Prometheus, Locust
    assert [pid for pid in started if psutil.pid_exists(pid)] == []


def test_a_busy_port_is_one_sentence_and_exit_1(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        process = tailstorm("run", "smoke", "--runs-dir", str(tmp_path), "--prometheus-port", str(port))
        out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.strip() == (f"tailstorm: port {port} on 127.0.0.1 for Prometheus is already in use by another process; "
                           f"pass another with --prometheus-port, or leave --prometheus-port out to take a free one")
