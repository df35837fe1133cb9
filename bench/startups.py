"""Start and stop the local stack many times; prove no two processes ever share a port.

``make startups`` (``python bench/startups.py --count 200``): each round starts the whole backend of
``tests/deploy/data/backend-test.yaml`` (5 Envoys with listener and admin ports, 6 replicas,
Prometheus), reads every process's listening sockets from the kernel (psutil, by PID), checks that
each process holds the ports it was given and that no port is held by two processes, and tears the
stack down. With ``--concurrent 2`` two stacks start side by side each round, and no port may be
shared across them either (the allocator's cross-run locks). Prints one line per 10 rounds and a
summary; exits 1 on the first shared port.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import sys
import tempfile
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schema import events as events_module  # noqa: E402
from deploy.local import backend as local_backend  # noqa: E402
from schema import scenario as scenario_module  # noqa: E402

SCENARIO = ROOT / "tests" / "deploy" / "data" / "backend-test.yaml"


def listening_ports(pid: int) -> set[int]:
    try:
        return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    except psutil.Error:
        return set()


def one_stack(scenario, run_dir: pathlib.Path, owners: dict[int, str], lock) -> tuple[float, int]:
    """Start, check, stop one stack; returns (start-up seconds, processes). Raises on a shared port."""
    events = events_module.EventLog(run_dir / "events.jsonl")
    backend = local_backend.LocalBackend(scenario, run_dir, events=events)
    started = time.monotonic()
    backend.up()
    took = time.monotonic() - started
    try:
        table = backend.table.all()
        for process in table:
            held = listening_ports(process.pid)
            if not held:
                raise AssertionError(f"{process.name} (pid {process.pid}) listens on no port")
            with lock:
                for port in held:
                    other = owners.get(port)
                    if other is not None:
                        raise AssertionError(f"port {port} is held by {process.name} and by {other}")
                    owners[port] = f"{run_dir.name}/{process.name}"
        return took, len(table)
    finally:
        backend.down()
        events.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="rounds of start-up (default 200)")
    parser.add_argument("--concurrent", type=int, default=1, help="stacks started side by side per round")
    args = parser.parse_args(argv)
    scenario = scenario_module.load_scenario(SCENARIO)
    lock = threading.Lock()
    startups, processes, ports_seen = [], 0, 0
    with tempfile.TemporaryDirectory(prefix="tailstorm-startups-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrent) as pool:
        for round_number in range(1, args.count + 1):
            owners: dict[int, str] = {}
            dirs = [pathlib.Path(tmp) / f"r{round_number}-s{i}" for i in range(args.concurrent)]
            for d in dirs:
                d.mkdir()
            try:
                results = list(pool.map(lambda d: one_stack(scenario, d, owners, lock), dirs))
            except AssertionError as exc:
                print(f"round {round_number}: SHARED PORT: {exc}")
                return 1
            startups += [took for took, _ in results]
            processes += sum(count for _, count in results)
            ports_seen += len(owners)
            if round_number % 10 == 0:
                print(f"{round_number:4d}/{args.count} rounds: {len(startups)} stacks, {processes} processes, "
                      f"{ports_seen} listening ports checked, none shared; start-up median "
                      f"{sorted(startups)[len(startups) // 2]:.1f} s", flush=True)
    print(f"done: {len(startups)} stack start-ups ({args.concurrent} at a time), {processes} processes, "
          f"{ports_seen} listening ports, 0 shared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
