"""The scenario runner: resolve → backend up → Locust runs the stages → collect → analyze → down.

Every run gets a new directory ``runs/<UTC time>-<scenario>/`` written as it goes, so a crash,
Ctrl-C or SIGTERM keeps what was measured: the runner stops Locust, waits for a last scrape, dumps
Prometheus (from its TSDB if the server is gone), tears the stack down (always) and still writes
the report from whatever is there, marked interrupted; the exit status is 128 + the signal.

Before any process starts, the runs directory must be writable with room to spare, and the
orphans of runs whose runner died (``kill -9``) are stopped, by their recorded identity.

The runner stays a plain process: it never imports Locust (whose gevent monkey-patching would
change threading and sockets under the backend); Locust runs in a process of its own.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib.metadata
import io
import ipaddress
import json
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable

import yaml

from controllers import autoscaling, chaos
from schema import events as events_module
from deploy import backend as backend_module
from deploy.cluster import backend as cluster_backend
from deploy.cluster import tooling
from deploy.local import backend as local_backend
from deploy.local import cleanup, processes
from deploy.local import ports as ports_module
from deploy.prometheus import client as prometheus_client
from orchestration import collecting
from schema import scenario as scenario_module
from services.common import retrying

LOCUSTFILE = pathlib.Path(__file__).parents[1] / "loadtests" / "locustfile.py"
REQUEST_LOGS = "requests*.csv"
"""Each Locust process's request log: ``requests.csv``, and ``requests-<w>.csv`` for a further worker w."""
PROGRESS_INTERVAL_SECONDS = 5.0
MIN_FREE_BYTES = 200 * 1024**2
"""Room a run needs at least: the TSDB, logs, the request log and plots of a ten-minute run take
well under this; a runs directory with less is refused before anything starts."""


def say(line: str) -> None:
    """Print a progress line at once, also when stdout is a pipe or a CI log (block-buffered there)."""
    print(line, flush=True)


class RunError(processes.BackendError):
    """The run cannot start or go on; the message is one sentence with the fix (exit 1)."""


def prepare_runs_dir(runs_dir: pathlib.Path, *, disk_usage=shutil.disk_usage) -> pathlib.Path:
    """The absolute runs directory, created, writable and with MIN_FREE_BYTES free; RunError otherwise."""
    runs_dir = pathlib.Path(runs_dir).resolve()
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        probe = runs_dir / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to the runs directory {runs_dir}: {exc.strerror or exc}; "
                       "pass --runs-dir with a writable folder") from None
    free = disk_usage(runs_dir).free
    if free < MIN_FREE_BYTES:
        raise RunError(f"the runs directory {runs_dir} has {free / 1024**2:.0f} MiB free, a run needs at least "
                       f"{MIN_FREE_BYTES / 1024**2:.0f} MiB; free some space or pass --runs-dir on another disk")
    return runs_dir


def guard_target(url: str, *, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Load goes to loopback only, unless the user named the host with ``--allow-target``."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and host not in allowed_hosts:
        raise RunError(f"refusing to send load to {host} ({url}): only loopback targets are allowed; "
                       f"pass --allow-target {host} if this stack is yours")


def make_run_dir(runs_dir: pathlib.Path, name: str) -> pathlib.Path:
    """A new directory named for the UTC time and scenario; never reuses an existing one."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for suffix in [""] + [f"-{i}" for i in range(1, 100)]:
        path = runs_dir / f"{stamp}-{name}{suffix}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {runs_dir}")


def fingerprint(scenario, *, backend: str, tools: dict[str, str]) -> dict:
    """Versions, cores and seeds: what someone needs to compare this run with another; ``tools``
    maps a name (``envoy``, ``prometheus``, ``helm``, ``kubectl``) to its binary."""
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unknown"

    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)  # metadata only: importing locust would monkey-patch us
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "locust": package("locust"),
        **{name: version([binary, "version" if name in ("helm", "kubectl") else "--version",
                          *(["--client"] if name == "kubectl" else [])]) for name, binary in tools.items()},
        "seed": scenario.seed, "backend": backend,
    }


class Progress:
    """Reads the new rows of every process's request log and prints one status line per interval."""

    def __init__(self, locust_dir: pathlib.Path, *, write: Callable[[str], None]) -> None:
        self.locust_dir = locust_dir
        self.write = write
        self._offsets: dict[pathlib.Path, int] = {}
        self._headers: dict[pathlib.Path, list[str]] = {}

    def new_rows(self) -> list[dict]:
        rows = []
        for path in sorted(self.locust_dir.glob(REQUEST_LOGS)):
            rows += self._new_rows_of(path)
        return rows

    def _new_rows_of(self, path: pathlib.Path) -> list[dict]:
        with open(path, "rb") as handle:
            handle.seek(self._offsets.get(path, 0))
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # leave a half-written last line for next time
        self._offsets[path] = self._offsets.get(path, 0) + len(complete)
        lines = complete.decode("utf-8").splitlines()
        if path not in self._headers and lines:
            self._headers[path], lines = lines[0].split(","), lines[1:]
        header = self._headers.get(path, [])
        return [dict(zip(header, row)) for row in csv.reader(io.StringIO("\n".join(lines)))]

    def report(self, *, elapsed: float, total: float, phase: str, replicas: str, in_flight: str) -> None:
        """One line; past the last stage the clock stops at the total and the phase reads ``draining``."""
        if elapsed > total:
            elapsed, phase = total, "draining"
        rows = self.new_rows()
        done = [r for r in rows if r.get("outcome") != "client_overflow"]
        errors = sum(1 for r in rows if r.get("outcome") != "ok")
        latencies = sorted(float(r["latency_seconds"]) for r in done if r.get("latency_seconds"))
        p99 = f"{latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000:7.0f}" if latencies else "      –"
        rate = len(rows) / PROGRESS_INTERVAL_SECONDS
        share = 100 * errors / len(rows) if rows else 0.0
        self.write(f"[{elapsed:5.0f}s/{total:.0f}s] {phase:<10} rps {rate:6.1f}  errors {share:5.1f}%  "
                   f"p99 {p99} ms  in-flight {in_flight}  replicas {replicas}")


@dataclasses.dataclass(frozen=True)
class Outcome:
    run_dir: pathlib.Path
    interrupted: bool
    signal: int | None = None
    """The signal that interrupted the run (SIGINT, SIGTERM), if any."""

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal, as shells report a job a signal ended (130 Ctrl-C, 143 SIGTERM)."""
        return 128 + self.signal if self.signal else (130 if self.interrupted else 0)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run's stack goes: ``local`` processes, the ``kind`` cluster ``make cluster-up`` made, or
    any ``cluster`` (a kube context)."""

    backend: str = "local"
    context: str | None = None
    """Kube context for ``cluster`` (None: kubectl's current one); ``kind`` uses ``kind-tailstorm``."""
    namespace: str = "tailstorm"
    keep: bool = False
    """Leave the Helm release installed after the run (cluster backends)."""
    entry_port: int | None = None
    prometheus_port: int | None = None
    """Fixed ports of the local backend (None: free ones)."""


BACKENDS = ("local", "kind", "cluster")


def tools_for(placement: Placement) -> dict[str, str]:
    """The binaries a backend needs, found before anything starts (BackendError naming the fix)."""
    if placement.backend == "local":
        return {name: processes.find_binary(name, env_var=f"TAILSTORM_{name.upper()}", hint=hint) for name, hint in
                (("envoy", local_backend.ENVOY_HINT), ("prometheus", local_backend.PROMETHEUS_HINT))}
    return {name: tooling.Tools.find(name) for name in ("helm", "kubectl")}


def make_backend(placement: Placement, scenario, run_dir: pathlib.Path, *, events: events_module.EventLog,
                 table: processes.ProcessTable) -> backend_module.Backend:
    """The backend the placement names, writing its events to the run's log."""
    if placement.backend == "local":
        return local_backend.LocalBackend(scenario, run_dir, events=events, entry_port=placement.entry_port,
                                          prometheus_port=placement.prometheus_port, table=table)
    context = f"kind-{cluster_backend.KIND_CLUSTER}" if placement.backend == "kind" else placement.context
    settings = cluster_backend.ClusterSettings(context=context, namespace=placement.namespace, keep=placement.keep)
    return cluster_backend.ClusterBackend(scenario, run_dir, events=events, settings=settings)


def run(scenario_name: str, *, runs_dir: pathlib.Path = pathlib.Path("runs"), placement: Placement = Placement(),
        allowed_targets: tuple[str, ...] = (), variant: str | None = None,
        write: Callable[[str], None] = say) -> Outcome:
    """Run one scenario (or one of its variants) on the placement's backend; the report is written
    even when interrupted."""
    scenario = scenario_module.load_scenario(scenario_name, variant=variant)
    if placement.backend not in BACKENDS:
        raise RunError(f"unknown backend {placement.backend!r}; choose one of {', '.join(BACKENDS)}")
    tools = tools_for(placement)
    runs_dir = prepare_runs_dir(runs_dir)
    for line in cleanup.describe(processes.stop_orphans_under(runs_dir)):
        write(line)
    run_dir = make_run_dir(runs_dir, scenario.name + (f"-{variant}" if variant else ""))
    resolved = scenario.model_dump(mode="json")
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    # the analysis reads the work models the replicas ran, the services' defaults included
    resolved["effective_services"] = scenario.effective_services()
    # and the expected arrivals of each stage over time, for the generator check of time-varying stages
    resolved["expected_arrivals"] = scenario.expected_arrivals()
    (run_dir / "scenario.json").write_text(json.dumps(resolved, indent=1), encoding="utf-8")
    events = events_module.EventLog(run_dir / "events.jsonl")
    table = processes.ProcessTable(run_dir / "pids.json")
    backend = make_backend(placement, scenario, run_dir, events=events, table=table)
    label = f"{scenario.name} (variant {variant}: {scenario.variants[variant].description})" if variant else scenario.name
    write(f"tailstorm: running {label} on the {placement.backend} backend → {run_dir}")
    started = time.time()
    events.emit(events_module.RUN_STARTED, scenario=scenario.name, backend=placement.backend)
    interrupted_by: int | None = None
    measured = False
    autoscaler = None
    faults = None
    previous_handlers = install_signal_handlers()
    try:
        (run_dir / "environment.json").write_text(json.dumps(
            fingerprint(scenario, backend=placement.backend, tools=tools), indent=1))
        backend.up()
        write(f"stack up in {time.time() - started:.1f} s: entry {backend.endpoints()['entry_url']}, "
              f"Prometheus {backend.prometheus_url}")
        measured = True
        if scenario.autoscaling and placement.backend == "local":  # a cluster runs the real HPA
            autoscaler = autoscaling.Autoscaler(scenario=scenario, backend=backend, events=events, run_dir=run_dir)
            autoscaler.start()
            write(f"autoscaler: {', '.join(scenario.autoscaling)} (syncs → {run_dir / autoscaling.SYNCS_PATH})")
        if scenario.faults:
            faults = chaos.FaultExecutor(scenario=scenario, backend=backend, events=events,
                                         first_stage_start=lambda: first_stage_start(run_dir / "locust" / "phases.jsonl"),
                                         warn=lambda line: write(f"warning: {line}"))
            faults.start()
            write(f"faults: {'; '.join(f'{f.label} at {f.at_seconds:g} s' for f in scenario.faults)}")
        drive_load(scenario, run_dir, backend, events, table=table, write=write, allowed_targets=allowed_targets)
    except KeyboardInterrupt as exc:
        interrupted_by = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        write(f"interrupted ({signal.Signals(interrupted_by).name}): stopping the load, keeping what was measured "
              "and tearing down")
    finally:
        signal.signal(signal.SIGINT, lambda *_: write("still tearing down; please wait"))
        signal.signal(signal.SIGTERM, lambda *_: write("still tearing down; please wait"))
        try:
            finish(run_dir, backend, events, table=table, started=started, interrupted=interrupted_by is not None,
                   analyze=measured, write=write, autoscaler=autoscaler, prometheus_bin=tools.get("prometheus"),
                   faults=faults, drain_seconds=0.0 if interrupted_by is not None else drain_bound_seconds(scenario))
        finally:
            restore_signal_handlers(previous_handlers)
    return Outcome(run_dir, interrupted_by is not None, interrupted_by)


def run_all_variants(scenario_name: str, *, write: Callable[[str], None] = say, **options) -> list[Outcome]:
    """The scenario, then each of its variants, one after another; stops at an interruption. Ends
    with each run's pass criteria side by side."""
    variants = [None, *scenario_module.load_scenario(scenario_name).variants]
    outcomes = []
    for variant in variants:
        outcome = run(scenario_name, variant=variant, write=write, **options)
        outcomes.append(outcome)
        if outcome.interrupted:
            break
    write("")
    write("side by side (pass criteria of each run; `tailstorm compare RUN_A RUN_B` for every number):")
    for variant, outcome in zip(variants, outcomes):
        write(f"  {variant or 'base'}: {outcome.run_dir}")
        for line in criteria_lines(outcome.run_dir):
            write(f"    {line}")
    return outcomes


def criteria_lines(run_dir: pathlib.Path) -> list[str]:
    """The run's validity and each pass criterion as one line, from its summary.json."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["(no report)"]
    lines = [f"validity {summary['run']['validity']['status'].upper()}"]
    lines += [f"{c['verdict'].upper():<12} {c['says']}" for c in (summary.get("story") or {}).get("criteria", [])]
    return lines


def drive_load(scenario, run_dir: pathlib.Path, backend: backend_module.Backend, events: events_module.EventLog, *,
               table: processes.ProcessTable, write: Callable[[str], None],
               allowed_targets: tuple[str, ...] = ()) -> None:
    """Run Locust headless until its shape ends, printing progress and recording phases.

    Locust gets ``--run-time`` as a safety bound (the locustfile enforces it, since Locust itself
    ignores it under a load shape); past that bound plus a grace the runner stops it. With
    ``client.workers`` above 1, Locust runs as a master with that many local worker processes,
    the master on a port from the backend's allocator (two runs never share one).
    """
    entry_url = backend.endpoints()["entry_url"]
    guard_target(entry_url, allowed_hosts=allowed_targets)
    workers = check_workers(scenario.client.workers)
    locust_dir = run_dir / "locust"
    locust_dir.mkdir()
    total = scenario.duration_seconds
    client = scenario.client
    longest = retrying.longest_request_seconds(
        retrying.Policy.from_settings(retries=client.retries, retry=client.retry.model_dump()),
        timeout_seconds=client.timeout_seconds, deadline_seconds=client.deadline_seconds)
    safety_seconds = total + longest + 60  # the locustfile's own horizon is total + longest + 30
    master_ports = ports_module.PortAllocator() if workers > 1 else None
    master_port = master_ports.allocate(what="the Locust master") if master_ports else None
    locust = table.start(
        name="locust", log_path=locust_dir / "locust.log",
        env=locust_env(run_dir / "scenario.json", locust_dir, workers=workers),
        argv=locust_argv(entry_url, locust_dir, safety_seconds=safety_seconds, workers=workers,
                         master_port=master_port))
    progress = Progress(locust_dir, write=write)
    phases = PhaseFollower(locust_dir / "phases.jsonl", events)
    began = time.monotonic()
    try:
        with prometheus_client.Prometheus(backend.prometheus_url, timeout_seconds=2) as prometheus:
            while locust.is_running():
                if time.monotonic() - began > safety_seconds + 30:
                    raise RunError(f"Locust ran past its {safety_seconds:.0f} s bound; stopped it")
                try:
                    locust.popen.wait(timeout=PROGRESS_INTERVAL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                phases.follow()
                try:
                    in_flight = prometheus.by_label("sum by (service) (tailstorm_requests_in_flight)", "service")
                except prometheus_client.PrometheusError:
                    in_flight = {}  # Prometheus is restarting: the line shows "?" and the run goes on
                progress.report(elapsed=time.monotonic() - began, total=total, phase=phases.current,
                                replicas="/".join(str(backend.replica_count(s)) for s in scenario.services),
                                in_flight=" ".join(f"{s[:2]}:{in_flight[s]:.0f}" if s in in_flight else f"{s[:2]}:?"
                                                   for s in scenario.services))
    finally:
        phases.follow()  # also on Ctrl-C: the phases that began are part of what was measured
        if master_ports and not locust.is_running():
            master_ports.close()  # else held until the runner exits, after teardown has stopped Locust
    if locust.returncode not in (0, None):
        events.emit(events_module.PROCESS_DIED, process="locust", role="locust", service=None,
                    returncode=locust.returncode, log_tail=locust.log_tail(3))
        raise RunError(f"Locust exited with code {locust.returncode}; what was measured is kept, its log ends:\n"
                       f"{locust.log_tail()}")


def first_stage_start(phases_path: pathlib.Path) -> float | None:
    """When Locust began the first stage (epoch seconds; the fault schedule's zero), or None yet."""
    if not phases_path.exists():
        return None
    for line in phases_path.read_text(encoding="utf-8").splitlines():
        if line.endswith("}") and json.loads(line)["index"] == 0:
            return json.loads(line)["time"]
    return None


def check_workers(workers: int, *, cores: int | None = None) -> int:
    """``client.workers``, or RunError when this machine has fewer cores than worker processes."""
    cores = cores or os.cpu_count() or 1
    if workers > cores:
        raise RunError(f"client.workers is {workers} but this machine has {cores} core(s): the workers would "
                       f"share cores and fall behind their schedules; set client.workers to at most {cores}")
    return workers


def locust_argv(entry_url: str, locust_dir: pathlib.Path, *, safety_seconds: float, workers: int = 1,
                master_port: int | None = None) -> list[str]:
    """The Locust command line of a run (also what the stall test and the generator benchmark start)."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", entry_url,
            "--csv", str(locust_dir / "locust"), "--csv-full-history", "--only-summary",
            "--run-time", f"{int(safety_seconds)}s", "--stop-timeout", "10", "--exit-code-on-error", "0",
            "--loglevel", "WARNING"]
    if workers > 1:
        if master_port is None:
            raise ValueError("a Locust master needs a port: pass master_port from the run's PortAllocator")
        argv += ["--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port",
                 str(master_port), "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    return argv


def locust_env(scenario_json: pathlib.Path, locust_dir: pathlib.Path, *, workers: int = 1) -> dict[str, str]:
    return {"TAILSTORM_SCENARIO_JSON": str(scenario_json), "TAILSTORM_LOCUST_DIR": str(locust_dir),
            "TAILSTORM_DISPATCHERS": str(workers)}


class PhaseFollower:
    """Copies the stage starts Locust records into events.jsonl as ``phase`` events."""

    def __init__(self, path: pathlib.Path, events: events_module.EventLog, *, known: frozenset[int] = frozenset()) -> None:
        self.path, self.events, self.seen, self.current = path, events, 0, "starting"
        self.known = known
        """Stage indices events.jsonl already holds (a rebuild copies only the missing ones)."""

    def follow(self) -> None:
        if not self.path.exists():
            return
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]
        for line in lines[self.seen:]:
            record = json.loads(line)
            if record["index"] in self.known:
                continue
            self.events.emit(events_module.PHASE, time_seconds=record["time"], phase=record["phase"],
                             index=record["index"], arrival_rate_per_second=record["arrival_rate_per_second"])
            self.current = record["phase"]
        self.seen = len(lines)


def drain_bound_seconds(scenario) -> float:
    """How long the stack may take to finish its work after the load stopped: the longest route
    timeout of any proxy (no request outlives its proxy's route), plus a few scrapes."""
    routes = [scenario.envoy.route_timeout_seconds] + [
        spec.envoy.route_timeout_seconds for spec in scenario.services.values() if spec.envoy is not None]
    return min(max(routes) + 5.0, 120.0)


def finish(run_dir: pathlib.Path, backend: backend_module.Backend, events: events_module.EventLog, *,
           table: processes.ProcessTable, started: float, interrupted: bool, analyze: bool,
           write: Callable[[str], None], autoscaler: autoscaling.Autoscaler | None = None,
           prometheus_bin: str | None = None, faults: chaos.FaultExecutor | None = None,
           drain_seconds: float = 10.0) -> None:
    """Stop the load, the faults and the autoscaler, let the stack drain (up to ``drain_seconds``),
    dump Prometheus, tear down (always), then analyze."""
    dumped = False
    try:
        if faults is not None:
            faults.stop()  # ends every fault still active, before teardown
        if autoscaler is not None:
            autoscaler.stop()  # before teardown: no scale() may race down()
        locust = table.get("locust")
        if locust is not None:
            locust.stop(grace_seconds=15)
            table.forget("locust")
        alive = False
        if analyze and backend.prometheus_url:
            with prometheus_client.Prometheus(backend.prometheus_url, timeout_seconds=2) as api:
                alive = api.is_ready()
        if alive:
            load_ended = time.time()
            remaining = collecting.wait_until_drained(backend.prometheus_url, after=load_ended,
                                                      timeout_seconds=drain_seconds)
            if remaining != 0:
                write(f"warning: {remaining:.0f} requests were still in flight in the stack {drain_seconds:.0f} s "
                      "after the load stopped; the flow check allows for them")
            if not collecting.wait_for_final_scrape(backend.prometheus_url, after=time.time()):
                write("warning: Prometheus did not scrape every target once more after the load; "
                      "the last second of counts may be missing")
            failed = collecting.dump_ranges(backend.prometheus_url, run_dir / "prometheus",
                                            start=started, end=time.time() + 1)
            dumped = not failed
            if failed:
                write(f"warning: could not dump from Prometheus: {', '.join(failed)}")
    finally:
        backend.down()
        events.emit(events_module.RUN_FINISHED, interrupted=interrupted)
        events.close()
    if not analyze:
        return  # the stack never came up: nothing was measured, the error says why
    if not dumped and prometheus_bin and (run_dir / "prometheus" / "tsdb").is_dir():
        write("Prometheus was not there to dump at the end; dumping the run's TSDB instead")
        try:
            failed = collecting.dump_from_tsdb(run_dir, prometheus_bin=prometheus_bin, start=started, end=time.time())
            if failed:
                write(f"warning: could not dump from the TSDB: {', '.join(failed)}")
        except processes.BackendError as exc:
            write(f"warning: could not dump from the TSDB: {exc}")
    from analysis.presentation import report  # noqa: PLC0415 (analysis is only needed once the stack is down)
    try:
        paths = report.build(run_dir)
        write(f"report: {paths['report_md']}  (html: {paths['report_html']})")
    except Exception as exc:  # the measurements are on disk either way; say what failed
        write(f"warning: the report could not be built ({type(exc).__name__}: {exc}); "
              f"rebuild with `tailstorm report {run_dir}`")


def rebuild_report(run_dir: pathlib.Path, *, write: Callable[[str], None] = say) -> dict[str, pathlib.Path]:
    """``tailstorm report``: rebuild a run's report from its artefacts.

    A run whose runner was killed left no dumps: its orphans are stopped first (if its runner is
    gone), then the series are dumped from its TSDB, so the report covers what was measured.
    """
    from analysis.presentation import report  # noqa: PLC0415
    from analysis.tables import extract
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "scenario.json").is_file():
        raise extract.RunDataError(f"{run_dir} is not a tailstorm run directory (no scenario.json); "
                                   "pass one such as runs/<time>-<scenario>")
    pids = run_dir / "pids.json"
    if pids.exists():
        for line in cleanup.describe([processes.stop_orphans(pids)]):
            write(line)
    # a runner killed between two progress ticks never copied the latest stage starts
    known = frozenset(e["index"] for e in events_module.read_events(run_dir / "events.jsonl") if e["type"] == "phase")
    events = events_module.EventLog(run_dir / "events.jsonl")
    PhaseFollower(run_dir / "locust" / "phases.jsonl", events, known=known).follow()
    events.close()
    if not (run_dir / "prometheus" / "request_count.json").exists() and (run_dir / "prometheus" / "tsdb").is_dir():
        span = extract.measured_span(run_dir)
        if span is not None:
            write("this run kept no Prometheus dumps (its runner did not finish); dumping them from its TSDB")
            binary = processes.find_binary("prometheus", env_var="TAILSTORM_PROMETHEUS",
                                           hint=local_backend.PROMETHEUS_HINT)
            failed = collecting.dump_from_tsdb(run_dir, prometheus_bin=binary, start=span[0], end=span[1] + 5)
            if failed:
                write(f"warning: could not dump from the TSDB: {', '.join(failed)}")
    return report.build(run_dir)


def install_signal_handlers() -> dict:
    """SIGTERM behaves like Ctrl-C, so a killed runner still tears down; the signal is remembered."""
    def raise_interrupt(signum, frame):
        raise Interrupted(signum)
    return {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}


def restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
