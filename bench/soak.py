"""Soak: ten minutes of a retry-heavy storm; memory, file descriptors and lost requests.

``make soak`` (``python bench/soak.py``) runs ``bench/soak.yaml`` through ``tailstorm run`` and,
every ``--interval`` seconds, reads each replica's and each Envoy's resident memory (RSS) and open
file descriptors from the kernel, by PID and start time (``pids.json``). After the run it prints,
per process, RSS at the end of the warm-up and at the end with the growth in per cent (goal: at
most 5 %), the largest descriptor count, and the run's flow-conservation table: what the client
sent, what each proxy received and forwarded and what each service counted, which must agree (no
request lost). Prometheus is left out of the RSS table: its head block grows with every sample by
design. Exit status 1 when a goal is missed.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.local import processes  # noqa: E402

GROWTH_GOAL = 0.05


def sample(run_dir: pathlib.Path) -> dict[str, tuple[float, int]]:
    """name → (RSS bytes, open descriptors) of every replica and Envoy alive now."""
    _, children = processes.read_record(run_dir / "pids.json")
    readings = {}
    for name, identity in children.items():
        if name in ("prometheus", "locust") or not identity.is_alive():
            continue
        try:
            process = psutil.Process(identity.pid)
            readings[name] = (float(process.memory_info().rss), process.num_fds())
        except psutil.Error:
            continue
    return readings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "bench" / "soak.yaml"))
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    args = parser.parse_args(argv)
    scenario = json.loads(subprocess.run([sys.executable, "-c", "import json, sys; from schema import scenario; "
                                          "print(scenario.load_scenario(sys.argv[1]).model_dump_json())", args.scenario],
                                         cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    warmup = scenario["window"]["warmup_seconds"]
    runs = pathlib.Path(args.runs_dir).resolve()
    before = set(runs.glob("*")) if runs.exists() else set()
    runner = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "run", args.scenario, "--runs-dir", str(runs)],
                              cwd=ROOT)
    run_dir = None
    series: dict[str, list[tuple[float, float, int]]] = {}
    started = None
    while runner.poll() is None:
        time.sleep(args.interval)
        if run_dir is None:
            fresh = [p for p in runs.glob("*") if p not in before and p.is_dir()]
            run_dir = fresh[0] if fresh else None
        if run_dir is None or not (run_dir / "locust" / "requests.csv").exists():
            continue
        started = started or time.monotonic()
        now = time.monotonic() - started
        for name, (rss, fds) in sample(run_dir).items():
            series.setdefault(name, []).append((now, rss, fds))
    if runner.returncode != 0 or run_dir is None:
        print(f"soak: the run failed (exit {runner.returncode})")
        return 1
    return report(run_dir, series, warmup)


def report(run_dir: pathlib.Path, series: dict, warmup: float) -> int:
    missed = []
    print(f"\nsoak of {run_dir.name}: RSS per process after the {warmup:.0f} s warm-up and at the end")
    print(f"{'process':<22} {'RSS after warm-up':>18} {'RSS at end':>12} {'growth':>8} {'max fds':>8}")
    for name, points in sorted(series.items()):
        after = [p for p in points if p[0] >= warmup]
        if len(after) < 2:
            continue
        first, last = after[0][1], after[-1][1]
        growth = (last - first) / first
        fds = max(p[2] for p in points)
        flag = "" if growth <= GROWTH_GOAL else "  > 5 %"
        print(f"{name:<22} {first / 2**20:15.1f} MiB {last / 2**20:9.1f} MiB {100 * growth:7.1f}% {fds:8d}{flag}")
        if flag:
            missed.append(f"{name} grew {100 * growth:.1f} %")
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = summary["run"]["validity"]
    print("\nrequests along each hop (whole run): sent → proxy received → forwarded → service counted")
    for row in verdict["flow"]:
        print(f"  {row['service']:<13} {row['sent_high']:9.0f} → {row['proxy_received']:9.0f} → "
              f"{row['proxy_forwarded']:9.0f} (+{row['proxy_answered_itself']:.0f} answered by the proxy) → "
              f"{row['replicas_counted']:9.0f}")
    lost = [r["message"] for r in verdict["reasons"] if r["check"] == "flow"]
    missed += lost
    print(f"\nrun validity: {verdict['status']}" + "".join(f"\n  - {r['message']}" for r in verdict["reasons"]))
    print("soak: " + ("every goal met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
