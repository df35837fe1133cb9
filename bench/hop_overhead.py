"""What one service hop costs: a bare uvicorn endpoint against a tailstorm service, direct and via Envoy.

All three run at once on loopback and are called in rotation (A, B, C, A, B, C, ...) by one
keep-alive client, so machine noise hits them alike; the ratios, not the absolute numbers, are the
result. Sequential calls (one in flight) time latency, not throughput.

    python bench/hop_overhead.py [--requests N]
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schema import events as events_module  # noqa: E402
from deploy.local import backend as local_backend  # noqa: E402
from deploy.local import processes  # noqa: E402
from schema import scenario as scenario_module  # noqa: E402


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per path (default 3000)")
    args = parser.parse_args(argv)
    scenario = scenario_module.load_scenario(ROOT / "bench" / "hop-bench.yaml")
    with tempfile.TemporaryDirectory(prefix="tailstorm-bench-") as tmp:
        run_dir = pathlib.Path(tmp)
        events = events_module.EventLog(run_dir / "events.jsonl")
        with local_backend.LocalBackend(scenario, run_dir, events=events) as backend:
            port = backend.ports.allocate(what="the bare endpoint")
            bare = backend.table.start(
                name="bare-uvicorn", log_path=run_dir / "bare.log", cwd=ROOT / "bench",
                argv=[sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1", "--port", str(port),
                      "--no-access-log", "--log-level", "warning"])
            endpoints = backend.endpoints()
            paths = {
                "bare uvicorn endpoint (direct)": f"http://127.0.0.1:{port}/v1/work",
                "tailstorm service (direct)": f"{endpoints['replicas']['formatter'][0]}/v1/work",
                "tailstorm service via Envoy": f"{endpoints['entry_url']}/v1/work",
            }
            with httpx.Client(timeout=5) as client:
                processes.wait_until(lambda: ok(client, paths["bare uvicorn endpoint (direct)"]), timeout_seconds=20,
                                     what="the bare endpoint", failed=lambda: None if bare.is_running() else bare.log_tail())
                timings = measure(client, paths, requests=args.requests)
        events.close()
    report(timings)
    return 0


def ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.post(url, json={}).status_code == 200
    except httpx.HTTPError:
        return False


def measure(client: httpx.Client, paths: dict[str, str], *, requests: int) -> dict[str, list[float]]:
    for url in paths.values():  # warm up connections and code paths
        for _ in range(200):
            client.post(url, json={})
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(requests):
        for name, url in paths.items():
            started = time.perf_counter()
            response = client.post(url, json={})
            timings[name].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{name} answered {response.status_code}: {response.text}")
    return {name: sorted(values) for name, values in timings.items()}


def report(timings: dict[str, list[float]]) -> None:
    base_name = next(iter(timings))
    base = timings[base_name]
    base_p50, base_p99 = percentile(base, 0.5), percentile(base, 0.99)
    print(f"{'path':<34} {'p50 ms':>8} {'p99 ms':>8} {'p50 ×':>7} {'p99 ×':>7} {'mean ms':>8}")
    for name, values in timings.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"{name:<34} {p50 * 1000:8.3f} {p99 * 1000:8.3f} {p50 / base_p50:7.2f} {p99 / base_p99:7.2f} "
              f"{statistics.fmean(values) * 1000:8.3f}")
    print(f"(n = {len(base)} sequential requests per path, interleaved; ratios are against '{base_name}')")


if __name__ == "__main__":
    sys.exit(main())
