"""Locust side of a run: the scenario's arrivals (open loop) or users (closed loop), one log row per attempt.

Open loop, not closed: one dispatcher user per Locust process takes its share of the stages'
arrival times (``loadtests/shapes.py``: Poisson by thinning, constant spacing, bursts, traces) and
fires each request in its own greenlet at its *intended* time, whatever the latency of the ones
before (Locust's ``constant_throughput`` users would slow down with the system they measure —
coordinated omission). Latency counts from the intended time. Outstanding requests are bounded by
``client.max_in_flight``; an arrival beyond it is logged as ``client_overflow`` and not sent.

Closed loop (``client.kind: closed``), labelled as such in the report: ``client.users`` users each
send, wait for the answer, think (exponential, mean ``think_time_seconds``) and repeat. Their rate
follows the system's speed, so a stall holds back the very requests it would have delayed.

Rates beyond one core: Locust master and ``TAILSTORM_DISPATCHERS`` workers (``--processes N``
locally, Jobs in the chart). Worker w generates its share of every stage (``shapes.arrivals``),
so the merged arrivals are the scenario's process. The clock starts once every worker has
spawned: the master (or the single local process) then sends every process the same start time
a moment ahead, and writes each stage's start to ``phases.jsonl`` when it comes.

Request classes (``client.classes``): each arrival draws its class from a seeded stream of its
own (``loadtests/classes.py``), so the arrival times are those of the same scenario without
classes; the class sets the body's tenant, priority and token counts. Without classes every
request sends the client's token counts and nothing else.

Every attempt goes to ``requests.csv`` (a further worker w: ``requests-<w>.csv``): intended start,
actual start, latency, status, attempt, phase, outcome, the request's number in that log, and its
class (empty without classes). Rows are buffered and flushed every
FLUSH_INTERVAL_SECONDS and on every exit path (end of the run, SIGTERM, a crash), not per row: a
flush per request capped the rate. A SIGKILL loses at most the last interval. Retries follow the
client's retry policy (services/common/retrying.py); an attempt it withholds (throttled, retry
budget spent, no time left) is a row with that outcome and no actual start.

Environment: TAILSTORM_SCENARIO_JSON (the resolved scenario), TAILSTORM_LOCUST_DIR (output),
TAILSTORM_DISPATCHERS (the number of Locust processes that generate load, default 1).
"""
import locust  # noqa: I001  (first: gevent monkey-patches before anything else is imported)
from locust import FastHttpUser, LoadTestShape, constant, task

import atexit
import csv
import json
import os
import pathlib
import random
import signal
import time

import gevent
import gevent.event
import gevent.pool

from loadtests import classes, shapes
from services.common import retrying

SCENARIO = json.loads(pathlib.Path(os.environ["TAILSTORM_SCENARIO_JSON"]).read_text(encoding="utf-8"))
OUT_DIR = pathlib.Path(os.environ["TAILSTORM_LOCUST_DIR"])
CLIENT = SCENARIO["client"]
STAGES = SCENARIO["stages"]
CLOSED = CLIENT.get("kind") == "closed"
DISPATCHERS = int(os.environ.get("TAILSTORM_DISPATCHERS", "1"))
COLUMNS = ["intended_start", "actual_start", "latency_seconds", "status", "attempt", "phase", "outcome", "request",
           "class"]
"""``request`` numbers the requests of one process's log (a burst's requests share an intended start);
``class`` names the request's class of ``client.classes`` (empty without classes)."""
FLUSH_INTERVAL_SECONDS = 0.1
START_LEAD_SECONDS = 0.25
"""How far ahead of "every worker has spawned" the common start lies: time for the start message
to reach every worker, so that no first arrival is late."""
UNITS = (CLIENT.get("users") or 1) if CLOSED else DISPATCHERS
"""Load-generating users the shape keeps alive: the closed loop's users, or one dispatcher per process."""

START = gevent.event.AsyncResult()
"""The schedule's start (epoch seconds), the same in every process."""
ALL_ANSWERED = gevent.event.Event()
FINISHED_UNITS = []
LOGS = []
RETRIES = retrying.ClientState(retrying.Policy.from_settings(retries=CLIENT["retries"], retry=CLIENT.get("retry")))
"""The client's retry policy and its state (budget, throttle) across all its requests."""
MIX = classes.Mix(CLIENT, STAGES)
"""The client's request classes and each stage's shares of them."""
LONGEST_REQUEST_SECONDS = retrying.longest_request_seconds(
    RETRIES.policy, timeout_seconds=CLIENT["timeout_seconds"], deadline_seconds=CLIENT.get("deadline_seconds"))


class RequestLog:
    """One process's request log; rows buffered, flushed periodically and on every exit path."""

    def __init__(self, path: pathlib.Path) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8", buffering=1 << 20)
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._requests = 0
        LOGS.append(self)
        gevent.spawn(self._flush_every_interval)

    def write(self, *row) -> None:
        self._writer.writerow(row)

    def next_request(self, request_class: dict | None) -> "RequestRows":
        self._requests += 1
        return RequestRows(self, self._requests, request_class)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def _flush_every_interval(self) -> None:
        while not self._file.closed:
            gevent.sleep(FLUSH_INTERVAL_SECONDS)
            self.flush()


class RequestRows:
    """The rows of one request (its attempts) in a log: each row gets the request's number and class;
    ``body`` is what each of its attempts sends."""

    def __init__(self, log: RequestLog, number: int, request_class: dict | None) -> None:
        self._log, self._number = log, number
        self._class = request_class["name"] if request_class else ""
        self.body = MIX.body(request_class)

    def write(self, *row) -> None:
        self._log.write(*row, self._number, self._class)


def flush_logs(**_) -> None:
    for log in LOGS:
        log.flush()


locust.events.quitting.add_listener(flush_logs)  # the end of the run, a worker told to quit
locust.events.quit.add_listener(flush_logs)  # the last moment of a shutdown, after the users stopped
atexit.register(flush_logs)  # any other exit of the interpreter


@locust.events.init.add_listener
def exit_cleanly_on_sigterm(environment, **_) -> None:
    """SIGTERM (the runner stopping the load, or PDEATHSIG when the runner died) flushes the logs and
    exits through SystemExit, so Locust's own ``finally`` blocks and atexit handlers run. Locust
    installs its SIGTERM handler only once a headless shape test has *ended*; until then a SIGTERM
    would kill the process outright, losing the rows still buffered."""
    def on_sigterm() -> None:
        flush_logs()
        environment.stop_timeout = 0  # what was measured is on disk: stop the users at once
        raise SystemExit(128 + signal.SIGTERM)  # gevent hands a SystemExit on to the main greenlet
    gevent.signal_handler(signal.SIGTERM, on_sigterm)


def worker_index(environment) -> int:
    return max(0, getattr(environment.runner, "worker_index", 0))


LOG_FOR_PROCESS = {}


def request_log(environment) -> RequestLog:
    """This process's log (one file per process, shared by its users)."""
    index = worker_index(environment)
    if index not in LOG_FOR_PROCESS:
        name = "requests.csv" if index == 0 else f"requests-{index}.csv"
        LOG_FOR_PROCESS[index] = RequestLog(OUT_DIR / name)
    return LOG_FOR_PROCESS[index]


class PhaseLog:
    """``phases.jsonl``: when each stage began; the runner turns these into events."""

    def __init__(self, path: pathlib.Path) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def write(self, stage: shapes.ActiveStage, at: float) -> None:
        self._file.write(json.dumps({"time": at, "phase": stage.name, "index": stage.index,
                                     "arrival_rate_per_second": stage.arrival_rate_per_second}) + "\n")
        self._file.flush()


RETRY_RNG = random.Random()
"""Back-off jitter and throttling draws (independent of the arrival stream's seeded generator)."""


def run_phase_clock(start: float) -> None:
    """Record each stage's start as it comes (the master's, or the single process's, job)."""
    phases = PhaseLog(OUT_DIR / "phases.jsonl")
    elapsed = 0.0
    while (stage := shapes.stage_at(STAGES, elapsed)) is not None:
        gevent.sleep(max(0.0, start + stage.started_at_seconds - time.time()))
        phases.write(stage, start + stage.started_at_seconds)
        elapsed = stage.ends_at_seconds


def wait_until(moment: float) -> None:
    """Sleep until ``moment`` (epoch seconds).

    gevent's timers fire on the event loop's millisecond ticks (epoll), so a wake-up is late by up
    to about a millisecond (p50 0.6 ms, p99 1.2 ms on an idle machine here). Yielding in a loop for
    the last tick would cut that to microseconds while idle, but it keeps the process on the CPU,
    and on a shared machine the scheduler then preempts it for several milliseconds: sleeping gives
    the better tail."""
    delay = moment - time.time()
    if delay > 0:
        gevent.sleep(delay)


def report_finished(environment) -> None:
    """One load-generating user is done; the master (or this process) counts them."""
    environment.runner.send_message("tailstorm_finished", {"worker": worker_index(environment)})


class OpenLoopClient(FastHttpUser):
    """One dispatcher per process; its requests run concurrently on a pool of ``max_in_flight`` connections."""

    abstract = CLOSED
    wait_time = constant(0)
    concurrency = CLIENT["max_in_flight"]
    network_timeout = CLIENT["timeout_seconds"]
    connection_timeout = CLIENT["timeout_seconds"]

    @task
    def dispatch(self) -> None:
        start = START.get()
        requests = request_log(self.environment)
        pool = gevent.pool.Pool(CLIENT["max_in_flight"])
        worker = worker_index(self.environment)
        # each worker its own stream; a single local process keeps the scenario's seed
        rng = random.Random(SCENARIO["seed"] + worker)
        class_rng = classes.class_rng(SCENARIO["seed"], worker)  # apart: the arrival times stay the same
        for stage, offset in shapes.arrivals(STAGES, rng, worker=worker, workers=DISPATCHERS):
            intended = start + stage.started_at_seconds + offset  # the phase's recorded start + offset
            wait_until(intended)
            request = requests.next_request(MIX.draw(stage.index, class_rng))
            if pool.full():
                request.write(intended, "", "", 0, 0, stage.name, "client_overflow")
                continue
            pool.spawn(self.send, request, intended, stage.name)
        wait_until(start + shapes.total_duration_seconds(STAGES))  # a quiet last stretch is part of the run
        pool.join(timeout=LONGEST_REQUEST_SECONDS + 1)
        report_finished(self.environment)
        raise locust.exception.StopUser()  # nothing left to wait for: no --stop-timeout grace needed

    def send(self, requests: RequestRows, intended: float, phase: str) -> None:
        """One request: its attempts as the retry policy decides (services/common/retrying.py), one
        row each; an attempt the policy withholds is a row with its reason and no actual start."""
        body = requests.body
        deadline = CLIENT.get("deadline_seconds")
        attempts = retrying.Attempts(RETRIES, deadline_at=intended + deadline if deadline else None, rng=RETRY_RNG)
        while (step := attempts.next(time.time())) is not None:
            if step.withheld is None and step.wait_seconds:
                gevent.sleep(step.wait_seconds)
            actual = time.time()
            budget = attempts.time_left_seconds(actual, CLIENT["timeout_seconds"])
            withheld = step.withheld or (retrying.NO_TIME_LEFT if budget <= 0 else None)
            if withheld is not None:
                requests.write(intended, "", "", 0, step.attempt, phase, withheld)
                return
            status, outcome, latency = self.attempt(body, budget)
            attempts.report(time.time(), accepted=0 < status < 500)
            requests.write(intended, actual, latency, status, step.attempt, phase, outcome)
            if 0 < status < 500:
                return  # answered: a success, or a client error no retry would change

    def attempt(self, body: dict, budget_seconds: float) -> tuple[int, str, float]:
        """Send one attempt telling the server the time it has (unless ``client.propagate_deadline``
        is off): (status, outcome, latency), status 0 when no answer came."""
        actual = time.time()
        headers = {retrying.DEADLINE_HEADER: str(int(budget_seconds * 1000))} if CLIENT["propagate_deadline"] else {}
        with self.client.post("/v1/work", json=body, headers=headers, name="/v1/work",
                              catch_response=True) as response:
            latency = time.time() - actual
            status = response.status_code or 0
            if 200 <= status < 300:
                return status, "ok", latency
            outcome = "timeout" if status == 0 else f"http_{status}"
            response.failure(outcome)
            return status, outcome, latency


class ClosedLoopUser(FastHttpUser):
    """A closed-loop user: send, wait for the answer, think, repeat, until the last stage ends."""

    abstract = not CLOSED
    wait_time = constant(0)
    concurrency = 1
    network_timeout = CLIENT["timeout_seconds"]
    connection_timeout = CLIENT["timeout_seconds"]
    send = OpenLoopClient.send  # one request and its attempts: the same code for both loops
    attempt = OpenLoopClient.attempt

    @task
    def loop(self) -> None:
        start = START.get()
        requests = request_log(self.environment)
        rng = random.Random(f"{SCENARIO['seed']}-{worker_index(self.environment)}-{id(self)}")
        class_rng = classes.class_rng(SCENARIO["seed"], worker_index(self.environment), id(self))
        think = CLIENT.get("think_time_seconds") or 0.0
        while (stage := shapes.stage_at(STAGES, max(0.0, time.time() - start))) is not None:
            request = requests.next_request(MIX.draw(stage.index, class_rng))
            self.send(request, time.time(), stage.name)  # intended = sent: no schedule
            if think > 0:
                gevent.sleep(rng.expovariate(1 / think))
        report_finished(self.environment)
        raise locust.exception.StopUser()


@locust.events.init.add_listener
def coordinate(environment, **_) -> None:
    """Wire the start and finish messages between the master (or the single process) and the workers."""
    runner = environment.runner
    if runner is None:
        return
    if not isinstance(runner, locust.runners.MasterRunner):
        runner.register_message("tailstorm_start", lambda msg, **_: START.set(msg.data["at"]))
    if not isinstance(runner, locust.runners.WorkerRunner):
        runner.register_message("tailstorm_finished", on_unit_finished)
        environment.events.spawning_complete.add_listener(lambda **_: start_once(environment))


def start_once(environment) -> None:
    """Every worker has spawned its users: start the clock a moment ahead, in every process."""
    if FINISHED_UNITS or getattr(start_once, "at", None):
        return
    start_once.at = time.time() + START_LEAD_SECONDS
    environment.runner.send_message("tailstorm_start", {"at": start_once.at})
    gevent.spawn(run_phase_clock, start_once.at)


def on_unit_finished(msg, **_) -> None:
    FINISHED_UNITS.append(msg.data)
    if len(FINISHED_UNITS) >= UNITS:
        ALL_ANSWERED.set()  # the shape ends the run at its next tick


@locust.events.init.add_listener
def enforce_run_time(environment, **_) -> None:
    """Apply ``--run-time`` as the safety bound it is meant to be: Locust ignores it under a shape."""
    run_time = getattr(environment.parsed_options, "run_time", None)
    if run_time:
        gevent.spawn_later(run_time, lambda: environment.runner and environment.runner.quit())


class ScenarioShape(LoadTestShape):
    """Keeps the dispatchers (or closed-loop users) alive until every arrival has been answered (or a bound passes)."""

    def tick(self):
        horizon = shapes.total_duration_seconds(STAGES) + LONGEST_REQUEST_SECONDS + 30
        if ALL_ANSWERED.is_set() or self.get_run_time() >= horizon:
            return None
        return (UNITS, UNITS)
