"""``tailstorm run`` end to end on the local backend (real Locust, Envoy, Prometheus, uvicorn).

Aspects: a run writes every artefact of the run directory with numbers from that run, and a clean
run is valid; Ctrl-C or SIGTERM in the middle keeps what was measured, still writes the report
marked interrupted, exits 130 / 143 and leaves no process behind (checked by PID), and ``make
clean`` during the live run stops nothing of it; the inference Envoy SIGKILLed and then Prometheus
SIGKILLed mid-run: both are restarted, the run finishes degraded with each outage an event, the
Prometheus gap marked and no point drawn inside it; a hop bypassed through its EDS file makes the
run invalid, naming the hop; the orphans of a SIGKILLed runner are stopped by the next run, and
``tailstorm report`` on that run measures over the time it ran; a busy port, an unwritable runs
directory and a folder that is not a run are one sentence each.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import psutil
import pytest
import yaml

from schema import events as events_module
from deploy.envoy import render as envoy_render
from deploy.local import processes

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHORT_CHAIN = pathlib.Path(__file__).parent / "data" / "short-chain.yaml"


def tailstorm(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def only_run_dir(runs: pathlib.Path) -> pathlib.Path:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def recorded_pids(run_dir: pathlib.Path) -> list[int]:
    return [entry["pid"] for entry in json.loads((run_dir / "pids.json").read_text())["processes"].values()]


def recorded_pid(run_dir: pathlib.Path, name: str) -> int:
    return json.loads((run_dir / "pids.json").read_text())["processes"][name]["pid"]


def events_of(run_dir: pathlib.Path, kind: str) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [e for e in events_module.read_events(path) if e["type"] == kind] if path.exists() else []


def wait_for_run_dir(runs: pathlib.Path, *, until, what: str, timeout_seconds: float = 90) -> pathlib.Path:
    """The single run directory under ``runs`` once ``until(run_dir)`` holds."""
    found = {}

    def ready() -> bool:
        dirs = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []
        if dirs and until(dirs[0]):
            found["dir"] = dirs[0]
            return True
        return False
    processes.wait_until(ready, timeout_seconds=timeout_seconds, what=what)
    return found["dir"]


def load_flowing(run_dir: pathlib.Path, rows: int = 30) -> bool:
    log = run_dir / "locust" / "requests.csv"
    return log.exists() and log.read_text().count("\n") > rows


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
    # a clean run conserves every request at every hop and was scraped throughout; only the
    # generator's timing depends on how busy this machine is, so it alone may mark the run
    verdict = summary["run"]["validity"]
    assert [r for r in verdict["reasons"] if r["check"] != "generator"] == []
    sent = verdict["flow"][0]["sent_high"]  # every attempt the client made, whole run
    assert sent > phase["client"]["requests"]  # more than the measurement window holds
    assert [row["replicas_counted"] for row in verdict["flow"]] == [sent] * 5
    assert "[" in out and "rps" in out  # progress lines were printed
    assert recorded_pids(run_dir) == []  # every process was stopped and struck off


@pytest.mark.parametrize("sig, code", [pytest.param(signal.SIGINT, 130, id="ctrl-c"),
                                       pytest.param(signal.SIGTERM, 143, id="sigterm")])
def test_an_interrupted_run_keeps_its_measurements_and_tears_everything_down(tmp_path, sig, code):
    process = tailstorm("run", str(SHORT_CHAIN), "--runs-dir", str(tmp_path))
    run_dir = wait_for_run_dir(tmp_path, until=load_flowing, what="requests being logged")
    started = recorded_pids(run_dir)
    # `make clean` while the run is live: its runner lives, so nothing of it is touched
    cleaned = subprocess.run([sys.executable, "-m", "deploy.local.cleanup", str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert cleaned.stdout.splitlines() == [f"left alone: {run_dir.name} is still running",
                                           "stopped 0 leftover process(es)"]
    assert all(psutil.pid_exists(pid) for pid in started)
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert f"interrupted ({signal.Signals(sig).name})" in out
    assert "Traceback" not in out + err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    assert summary["phases"][0]["client"]["requests"] > 0
    assert (run_dir / "report.html").is_file()
    assert len(started) >= 12  # 5 replicas, 5 Envoys, Prometheus, Locust
    assert [pid for pid in started if psutil.pid_exists(pid)] == []


def test_a_dead_envoy_and_a_dead_prometheus_are_restarted_and_the_run_is_marked_degraded(tmp_path):
    process = tailstorm("run", str(SHORT_CHAIN), "--runs-dir", str(tmp_path))
    run_dir = wait_for_run_dir(tmp_path, until=load_flowing, what="requests being logged")
    os.kill(recorded_pid(run_dir, "envoy-inference"), signal.SIGKILL)
    processes.wait_until(lambda: events_of(run_dir, "process_recovered"), timeout_seconds=30,
                         what="the inference Envoy serving again")
    os.kill(recorded_pid(run_dir, "prometheus"), signal.SIGKILL)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    died = {e["process"] for e in events_of(run_dir, "process_died")}
    recovered = {e["process"] for e in events_of(run_dir, "process_recovered")}
    assert died == recovered == {"envoy-inference", "prometheus"}
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = summary["run"]["validity"]
    assert verdict["status"] == "degraded", verdict["reasons"]
    reasons = " | ".join(r["message"] for r in verdict["reasons"])
    assert "envoy-inference died at" in reasons and "prometheus died at" in reasons
    assert {w["process"] for w in verdict["outages"]} == {"envoy-inference", "prometheus"}
    (gap,) = [g for g in verdict["gaps"] if g["target"] == "prometheus"]
    assert "Prometheus scraped nothing for" in reasons
    # no point drawn inside the gap: the dumps hold no sample there, not a zero and not a carried value
    for series in json.loads((run_dir / "prometheus" / "in_flight.json").read_text())["result"]:
        inside = [t for t, _ in series["values"] if gap["start"] < t < gap["end"]]
        assert inside == [], series["metric"]
    assert "DEGRADED" in (run_dir / "report.md").read_text().split("\n")[2]
    assert summary["phases"][0]["client"]["requests"] > 150  # the run went on through both outages


def test_a_bypassed_hop_makes_the_run_invalid_naming_the_hop(tmp_path):
    process = tailstorm("run", str(SHORT_CHAIN), "--runs-dir", str(tmp_path))
    run_dir = wait_for_run_dir(tmp_path, until=lambda d: bool(events_of(d, "phase")), what="the load to start")
    # inference's proxy now sends its traffic straight to the formatter replica
    eds = run_dir / "backend" / "eds"
    formatter_port = yaml.safe_load((eds / "formatter.yaml").read_text())["resources"][0]["endpoints"][0][
        "lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"]
    envoy_render.write_eds(eds / "inference.yaml", service="inference", endpoints=[("127.0.0.1", formatter_port)],
                           version="bypass")
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = summary["run"]["validity"]
    assert verdict["status"] == "invalid"
    assert any(r["message"].startswith("flow not conserved at inference:") for r in verdict["reasons"])
    assert {p["verdict"] for p in summary["predictions"]} <= {"withheld"}
    assert (run_dir / "report.md").read_text().split("\n")[2].startswith("**Run validity: INVALID")


def test_the_orphans_of_a_killed_runner_are_stopped_and_its_report_covers_what_ran(tmp_path):
    process = tailstorm("run", str(SHORT_CHAIN), "--runs-dir", str(tmp_path))
    run_dir = wait_for_run_dir(tmp_path, until=lambda d: load_flowing(d, rows=120), what="12 s of load")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    # no run_finished, no dumps; the report comes from the request log and the TSDB
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "report", str(run_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "dumping them from its TSDB" in result.stdout
    assert [pid for pid in recorded_pids(run_dir) if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []
    summary = json.loads((run_dir / "summary.json").read_text())
    (phase,) = summary["phases"]
    ran = phase["end"] - phase["start"]
    assert ran < 20  # cut at the last measurement, not the stage's 24 s
    assert phase["client"]["offered_rate_per_second"] == pytest.approx(10, rel=0.35)
    assert phase["server"]["gateway"]["arrival_rate_per_second"] > 5  # recovered from the TSDB
    assert any(r["message"].startswith("the runner never finished") for r in summary["run"]["validity"]["reasons"])


def test_an_unusable_runs_directory_and_a_folder_that_is_not_a_run_are_one_sentence(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    process = tailstorm("run", "smoke", "--runs-dir", str(blocker / "runs"))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.startswith(f"tailstorm: cannot write to the runs directory {blocker / 'runs'}: ")
    assert err.rstrip().endswith("pass --runs-dir with a writable folder") and err.count("\n") == 1
    report = tailstorm("report", str(tmp_path))
    out, err = report.communicate(timeout=60)
    assert report.returncode == 2
    assert err == (f"tailstorm: {tmp_path} is not a tailstorm run directory (no scenario.json); pass one such as "
                   "runs/<time>-<scenario>\n")


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


@pytest.mark.parametrize("url, allowed, refused", [
    pytest.param("http://127.0.0.1:8080", (), False, id="loopback"),
    pytest.param("http://[::1]:8080", (), False, id="loopback-v6"),
    pytest.param("http://localhost:8080", (), False, id="localhost"),
    pytest.param("http://10.20.30.40:8080", (), True, id="private-address"),
    pytest.param("http://example.invalid", (), True, id="a-name"),
    pytest.param("http://10.20.30.40:8080", ("10.20.30.40",), False, id="named-by-the-flag"),
])
def test_load_goes_to_loopback_only_unless_a_flag_names_the_host(url, allowed, refused):
    from orchestration import runner
    if refused:
        host = url.split("//")[1].split(":")[0].strip("[]")
        with pytest.raises(runner.RunError, match=f"refusing to send load to {host} .*pass --allow-target {host}"):
            runner.guard_target(url, allowed_hosts=allowed)
    else:
        runner.guard_target(url, allowed_hosts=allowed)


def test_the_runner_refuses_a_remote_entry_before_starting_locust(tmp_path):
    from orchestration import runner
    from schema import scenario

    class RemoteBackend:  # what a cluster backend without a port-forward would hand over
        def endpoints(self):
            return {"entry_url": "http://192.0.2.7:80"}

    table = processes.ProcessTable(tmp_path / "pids.json")
    events = events_module.EventLog(tmp_path / "events.jsonl")
    with pytest.raises(runner.RunError, match="refusing to send load to 192.0.2.7"):
        runner.drive_load(scenario.load_scenario("smoke"), tmp_path, RemoteBackend(), events, table=table, write=print)
    events.close()
    assert table.all() == [] and not (tmp_path / "locust").exists()


def test_a_nearly_full_runs_directory_is_refused_before_anything_starts(tmp_path):
    from orchestration import runner

    class Usage:
        free = 50 * 1024**2

    with pytest.raises(runner.RunError, match=r"has 50 MiB free, a run needs at least 200 MiB; free some space or "
                                              r"pass --runs-dir on another disk"):
        runner.prepare_runs_dir(tmp_path / "runs", disk_usage=lambda path: Usage())
    assert runner.prepare_runs_dir(tmp_path / "other") == (tmp_path / "other").resolve()


def test_the_runner_process_never_imports_locust_or_gevent():
    probe = ("import sys; from orchestration import cli, runner; "
             "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_unexpected_error_is_one_sentence_with_the_traceback_in_a_file():
    from orchestration import cli
    try:
        raise RuntimeError("the disk spoke in tongues")
    except RuntimeError as exc:
        message, code = cli.explain(exc)
    assert code == 70
    assert message.startswith("unexpected error (RuntimeError: the disk spoke in tongues); this is a bug in "
                              "tailstorm, the traceback is in ")
    saved = pathlib.Path(message.rsplit(" ", 1)[1])
    assert "RuntimeError: the disk spoke in tongues" in saved.read_text()
    saved.unlink()
