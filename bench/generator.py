"""How honest and how fast tailstorm's open-loop generator is, next to independent generators.

At each target rate, against one fast endpoint (a real Envoy answering every request itself with a
``direct_response``, one worker thread), one after another in the same run:

- **tailstorm** (the real locustfile, as a run starts it) with 1 and with N Locust worker
  processes, constant spacing: the achieved rate (requests actually sent inside the measured
  window, per second) and the send-time error (actual send − intended send, p50/p99). *Open loop*:
  each request leaves at its scheduled time whatever the others do, up to max_in_flight.
- **hey** ``-q`` (Debian): rate limit per worker; each worker waits for its answer before its next
  request — *closed loop*, rate-limited; latency from the actual send (coordinated omission).
- **autocannon** ``--overallRate`` (npm): rate limit over all connections, one request outstanding
  per connection — *closed loop*, rate-limited; it corrects its latencies for coordinated omission.
- **wrk** (Debian), once: as many requests as 50 connections can do — *closed loop*: the
  endpoint's capacity on this machine, the ceiling every rate above is measured against.
- an **idle gevent timer**, once: how late a process that only sleeps wakes up here and now — the
  floor under any Python generator's send-time error while the machine is this busy.

Timing on a shared 2-core machine is noisy: the load average before and after is printed; compare
the tools within one run, not across runs.

    python bench/generator.py [--rates 250,500,1000,2000,4000] [--workers 2] [--seconds 10]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.tables import extract  # noqa: E402
from deploy.local import backend as local_backend  # noqa: E402
from deploy.local import ports, processes  # noqa: E402
from orchestration import runner  # noqa: E402
from schema import scenario as scenario_module  # noqa: E402

BODY = json.dumps({"prompt_tokens": 128, "output_tokens": 64})
WARMUP_SECONDS, COOLDOWN_SECONDS = 2.0, 1.0
GOAL_SHARE, GOAL_P99_MS, GOAL_UP_TO_PER_SECOND = 0.99, 2.0, 2000
HEY_QPS_PER_WORKER = 50.0


@dataclasses.dataclass
class Row:
    tool: str
    loop: str
    target_per_second: float | None
    achieved_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    send_error_p50_ms: float = math.nan
    send_error_p99_ms: float = math.nan
    failed: int = 0
    """Requests that got no 2xx, or (tailstorm) arrivals dropped at max_in_flight."""
    cpu_us_per_request: float = math.nan
    """CPU time (user + system, every process of the generator) per request: the cost, which
    machine noise disturbs far less than the timings (tailstorm: inside the measured window; the
    other tools: the whole run, start-up included)."""


def envoy_config(port: int) -> dict:
    """One listener answering every request itself: the cheapest real HTTP endpoint at hand.

    The buffer filter reads each request's body before the answer: a direct response to a POST
    whose body is still unread makes Envoy close the connection, and every request would then pay
    for a new one (a cost of the endpoint, not of the generator)."""
    buffer = {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 65536}}
    router = {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    manager = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                        "HttpConnectionManager",
               "stat_prefix": "fast", "http_filters": [buffer, router],
               "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                   {"match": {"prefix": "/"}, "direct_response": {"status": 200,
                                                                  "body": {"inline_string": '{"ok":true}'}}}]}]}}
    return {"static_resources": {"listeners": [{
        "name": "fast", "enable_reuse_port": False,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": manager}]}]}]}}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=BODY.encode(), method="POST"), timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def quantile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000


def children_cpu_seconds() -> float:
    """CPU time of every child process reaped so far (and of their reaped children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and its children (the Locust master and its workers)."""
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def run_tailstorm(url: str, rate: float, *, workers: int, seconds: float, tmp: pathlib.Path,
                  allocator: ports.PortAllocator) -> Row:
    """The real locustfile at ``rate`` (constant spacing) with ``workers`` processes; measured in the window."""
    out = pathlib.Path(tempfile.mkdtemp(prefix=f"tailstorm-{rate:g}-{workers}-", dir=tmp))
    loaded = scenario_module.Scenario.model_validate({
        "name": "bench-generator", "seed": 11, "entry": "formatter",
        "services": {"formatter": {"service_time": {"distribution": "exponential", "mean_seconds": 1e-4}}},
        "client": {"timeout_seconds": 5, "max_in_flight": 2000, "workers": workers},
        "stages": [{"name": "steady", "duration_seconds": seconds, "arrival_rate_per_second": rate,
                    "arrivals": "constant"}],
        "window": {"warmup_seconds": WARMUP_SECONDS, "cooldown_seconds": COOLDOWN_SECONDS}})
    scenario_json = out / "scenario.json"
    scenario_json.write_text(json.dumps(loaded.model_dump(mode="json")))
    master_port = allocator.allocate(what="the Locust master") if workers > 1 else None
    locust = processes.ManagedProcess(
        name="locust", log_path=out / "locust.log", cwd=ROOT, env=runner.locust_env(scenario_json, out, workers=workers),
        argv=runner.locust_argv(url, out, safety_seconds=seconds + 60, workers=workers, master_port=master_port))
    try:
        processes.wait_until(lambda: (out / "phases.jsonl").exists() and (out / "phases.jsonl").read_text().endswith("\n"),
                             timeout_seconds=60, what="the load to start",
                             failed=lambda: None if locust.is_running() else locust.log_tail())
        (phase,) = [json.loads(line) for line in (out / "phases.jsonl").read_text().splitlines()]
        start, end = phase["time"] + WARMUP_SECONDS, phase["time"] + seconds - COOLDOWN_SECONDS
        time.sleep(max(0.0, start - time.time()))  # a benchmark's measuring window, not a test's wait
        cpu_at_start = tree_cpu_seconds(locust.pid)
        time.sleep(max(0.0, end - time.time()))
        cpu_seconds = tree_cpu_seconds(locust.pid) - cpu_at_start
        locust.popen.wait(timeout=seconds + 120)
    finally:
        locust.stop(grace_seconds=10)
    requests = [r for path in out.glob(extract.REQUEST_LOGS) for r in extract.read_request_log(path)]
    due = [r for r in requests if start <= r.intended_start < end]
    sent = [r for r in due if r.outcome != "client_overflow"]
    actually_sent = sum(1 for r in requests if r.outcome != "client_overflow"
                        and start <= r.intended_start + r.send_lag_seconds < end)
    return Row(f"tailstorm, {workers} process{'es' if workers > 1 else ''}", "open", rate,
               actually_sent / (end - start), quantile_ms([r.latency_seconds for r in sent], 0.5),
               quantile_ms([r.latency_seconds for r in sent], 0.99),
               quantile_ms([r.send_lag_seconds for r in sent], 0.5), quantile_ms([r.send_lag_seconds for r in sent], 0.99),
               failed=sum(1 for r in due if not r.ok), cpu_us_per_request=1e6 * cpu_seconds / max(1, len(due)))


def run_tool(argv: list[str], *, seconds: float) -> tuple[str, float]:
    """The tool's output and the CPU seconds it used."""
    before = children_cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout, children_cpu_seconds() - before


def run_hey(url: str, rate: float, *, seconds: float) -> Row:
    workers = max(1, math.ceil(rate / HEY_QPS_PER_WORKER))
    out, cpu = run_tool(["hey", "-z", f"{seconds:g}s", "-c", str(workers), "-q", f"{rate / workers:g}", "-m", "POST",
                    "-T", "application/json", "-d", BODY, url], seconds=seconds)
    achieved = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    ok = sum(int(n) for n in re.findall(r"\[2\d\d\]\s+(\d+) responses", out))
    total = sum(int(n) for n in re.findall(r"\[\d+\]\s+(\d+) responses", out))
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+(?:Get|Post) ", out))  # the error distribution
    return Row("hey -q", "closed, rate-limited", rate, achieved, latency.get(50, math.nan), latency.get(99, math.nan),
               failed=total - ok + errors, cpu_us_per_request=1e6 * cpu / max(1, total + errors))


def run_autocannon(binary: str, url: str, rate: float, *, seconds: float) -> Row:
    text, cpu = run_tool([binary, "-j", "-n", "-R", f"{rate:g}", "-c", "50", "-d", f"{seconds:g}", "-m", "POST",
                          "-H", "content-type=application/json", "-b", BODY, url], seconds=seconds)
    out = json.loads(text)
    return Row("autocannon -R", "closed, rate-limited", rate, out["requests"]["total"] / out["duration"],
               out["latency"]["p50"], out["latency"]["p99"], failed=out["errors"] + out["non2xx"] + out["timeouts"],
               cpu_us_per_request=1e6 * cpu / max(1, out["requests"]["total"]))


def run_wrk(url: str, *, seconds: float) -> Row:
    out, cpu = run_tool(["wrk", "-t1", "-c50", f"-d{seconds:g}s", "--latency", url], seconds=seconds)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    latency = {int(p): float(v) * scale[u] for p, v, u in re.findall(r"\s(\d+)%\s+([\d.]+)(us|ms|s)\b", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return Row("wrk -c50", "closed (capacity)", None, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
               latency.get(50, math.nan), latency.get(99, math.nan), failed=int(errors.group(1)) if errors else 0,
               cpu_us_per_request=1e6 * cpu / max(1, total))


TIMER_PROBE = """
import gevent, json, random, sys, time
end, late = time.time() + float(sys.argv[1]), []
while time.time() < end:
    due = time.time() + random.uniform(0.0005, 0.004)
    gevent.sleep(due - time.time())
    late.append(time.time() - due)
print(json.dumps(late))
"""


def timer_floor(*, seconds: float) -> Row:
    """How late a gevent process that does nothing but sleep wakes up here and now: the floor of any
    Python generator's send-time error on this machine at this moment (its noise, not ours)."""
    done = subprocess.run([sys.executable, "-c", TIMER_PROBE, str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 30, check=True)
    late = json.loads(done.stdout)
    return Row("idle gevent timer (floor)", "–", None, math.nan, math.nan, math.nan,
               quantile_ms(late, 0.5), quantile_ms(late, 0.99))


def cell(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    header = ["target/s", "generator", "loop", "achieved/s", "% of target", "send error p50 ms", "p99 ms",
              "latency p50 ms", "p99 ms", "failed", "CPU µs/request"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        share = 100 * r.achieved_per_second / r.target_per_second if r.target_per_second else None
        lines.append("| " + " | ".join([cell(r.target_per_second, 0), r.tool, r.loop, cell(r.achieved_per_second),
                                        cell(share), cell(r.send_error_p50_ms, 2), cell(r.send_error_p99_ms, 2),
                                        cell(r.latency_p50_ms, 2), cell(r.latency_p99_ms, 2), str(r.failed),
                                        cell(r.cpu_us_per_request, 0)]) + " |")
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """The goal, per tailstorm row up to GOAL_UP_TO_PER_SECOND: ≥ 99 % of the rate, send error p99 ≤ 2 ms."""
    lines = []
    for r in rows:
        if r.loop != "open" or r.target_per_second > GOAL_UP_TO_PER_SECOND:
            continue
        met = r.achieved_per_second >= GOAL_SHARE * r.target_per_second and r.send_error_p99_ms <= GOAL_P99_MS
        lines.append(f"{'met' if met else 'MISSED'}: {r.tool} at {r.target_per_second:g}/s — "
                     f"{100 * r.achieved_per_second / r.target_per_second:.1f} % of the rate, send error p99 "
                     f"{r.send_error_p99_ms:.2f} ms")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="250,500,1000,2000,4000", help="target rates, req/s, comma-separated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="worker processes of the N-process row")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each generator's run")
    parser.add_argument("--tools-dir", default=str(ROOT / ".bench-tools"), help="where npm put autocannon")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    autocannon = pathlib.Path(args.tools_dir) / "node_modules" / ".bin" / "autocannon"
    envoy = processes.find_binary("envoy", env_var="TAILSTORM_ENVOY", hint=local_backend.ENVOY_HINT)
    allocator = ports.PortAllocator()
    rows: list[Row] = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="tailstorm-bench-generator-") as tmp_name:
        tmp = pathlib.Path(tmp_name)
        port = allocator.allocate(what="the direct-response Envoy")
        (tmp / "envoy.json").write_text(json.dumps(envoy_config(port)))
        endpoint = processes.ManagedProcess(
            name="envoy", log_path=tmp / "envoy.log",
            argv=[envoy, "-c", str(tmp / "envoy.json"), "--disable-hot-restart", "--concurrency", "1", "-l", "warning"])
        url = f"http://127.0.0.1:{port}/v1/work"
        try:
            processes.wait_until(lambda: answers(url), timeout_seconds=30, what="the direct-response Envoy",
                                 failed=lambda: None if endpoint.is_running() else endpoint.log_tail())
            rows.append(run_wrk(url, seconds=args.seconds))
            rows.append(timer_floor(seconds=args.seconds))
            print("\n".join(table(rows[-2:]).splitlines()[-2:]), flush=True)
            for rate in rates:
                for step in ([lambda: run_tailstorm(url, rate, workers=1, seconds=args.seconds, tmp=tmp, allocator=allocator),
                              lambda: run_tailstorm(url, rate, workers=args.workers, seconds=args.seconds, tmp=tmp,
                                                    allocator=allocator),
                              lambda: run_hey(url, rate, seconds=args.seconds)]
                             + ([lambda: run_autocannon(str(autocannon), url, rate, seconds=args.seconds)]
                                if autocannon.exists() else [])):
                    rows.append(step())
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
        finally:
            endpoint.stop(grace_seconds=5)
            allocator.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not autocannon.exists():
        print(f"autocannon left out: not found at {autocannon} (deploy/scripts/ensure-bench-tools.sh installs it)")
    print()
    print(table(rows))
    print()
    print("\n".join(verdicts(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
