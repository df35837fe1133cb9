"""Locust side of a run: open-loop Poisson arrivals at each stage's rate, one log row per attempt.

Open loop, not closed: one dispatcher user draws exponential gaps at the current stage's rate and
fires each request in its own greenlet at its *intended* time, whatever the latency of the ones
before (Locust's ``constant_throughput`` users would slow down with the system they measure —
coordinated omission). Outstanding requests are bounded by ``client.max_in_flight``; an arrival
beyond it is logged as ``client_overflow`` and not sent. Every attempt goes to
``requests.csv``: intended start, actual start, latency, status, attempt, phase. Retries follow the
client's retry policy (services/common/retrying.py); an attempt it withholds (throttled, retry
budget spent, no time left) is a row with that outcome and no actual start.

Environment: TAILSTORM_SCENARIO_JSON (the resolved scenario), TAILSTORM_LOCUST_DIR (output),
TAILSTORM_DISPATCHERS (default 1): with Locust master and workers (the chart's in-cluster option)
one dispatcher runs per worker, each at 1/DISPATCHERS of every stage's rate with its own seed;
independent Poisson streams add up to a Poisson stream at the scenario's rate.
"""
import locust  # noqa: I001  (first: gevent monkey-patches before anything else is imported)
from locust import FastHttpUser, LoadTestShape, constant, task

import csv
import json
import os
import pathlib
import random
import time

import gevent
import gevent.event
import gevent.pool

from loadtests import shapes
from services.common import retrying

SCENARIO = json.loads(pathlib.Path(os.environ["TAILSTORM_SCENARIO_JSON"]).read_text(encoding="utf-8"))
OUT_DIR = pathlib.Path(os.environ["TAILSTORM_LOCUST_DIR"])
CLIENT = SCENARIO["client"]
STAGES = SCENARIO["stages"]
DEADLINE_HEADER = "x-tailstorm-deadline-ms"
ALL_ANSWERED = gevent.event.Event()
DISPATCHERS = int(os.environ.get("TAILSTORM_DISPATCHERS", "1"))
COLUMNS = ["intended_start", "actual_start", "latency_seconds", "status", "attempt", "phase", "outcome"]
RETRIES = retrying.ClientState(retrying.Policy.from_settings(retries=CLIENT["retries"], retry=CLIENT.get("retry")))
"""The client's retry policy and its state (budget, throttle) across all its requests."""
LONGEST_REQUEST_SECONDS = retrying.longest_request_seconds(
    RETRIES.policy, timeout_seconds=CLIENT["timeout_seconds"], deadline_seconds=CLIENT.get("deadline_seconds"))


class RequestLog:
    """``requests.csv``, flushed per row so a crash keeps every finished request."""

    def __init__(self, path: pathlib.Path) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def write(self, *row) -> None:
        self._writer.writerow(row)
        self._file.flush()


class PhaseLog:
    """``phases.jsonl``: when each stage actually began; the runner turns these into events."""

    def __init__(self, path: pathlib.Path) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def write(self, stage: shapes.ActiveStage, at: float) -> None:
        self._file.write(json.dumps({"time": at, "phase": stage.name, "index": stage.index,
                                     "arrival_rate_per_second": stage.arrival_rate_per_second}) + "\n")
        self._file.flush()


RETRY_RNG = random.Random()
"""Back-off jitter and throttling draws (independent of the arrival stream's seeded generator)."""


class OpenLoopClient(FastHttpUser):
    """One dispatcher; its requests run concurrently on a pool of ``max_in_flight`` connections."""

    wait_time = constant(0)
    concurrency = CLIENT["max_in_flight"]
    network_timeout = CLIENT["timeout_seconds"]
    connection_timeout = CLIENT["timeout_seconds"]

    @task
    def dispatch(self) -> None:
        requests = RequestLog(OUT_DIR / "requests.csv")
        phases = PhaseLog(OUT_DIR / "phases.jsonl")
        pool = gevent.pool.Pool(CLIENT["max_in_flight"])
        # each worker its own stream; a single local process keeps the scenario's seed
        rng = random.Random(SCENARIO["seed"] + getattr(self.environment.runner, "worker_index", 0))
        start = time.time()
        for stage, intended in arrivals(rng, start=start, on_stage=lambda s, at: phases.write(s, at)):
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            if pool.full():
                requests.write(intended, "", "", 0, 0, stage.name, "client_overflow")
                continue
            pool.spawn(self.send, requests, intended, stage.name)
        pool.join(timeout=LONGEST_REQUEST_SECONDS + 1)
        ALL_ANSWERED.set()  # the shape ends the run at its next tick
        raise locust.exception.StopUser()  # nothing left to wait for: no --stop-timeout grace needed

    def send(self, requests: RequestLog, intended: float, phase: str) -> None:
        """One request: its attempts as the retry policy decides (services/common/retrying.py), one
        row each; an attempt the policy withholds is a row with its reason and no actual start."""
        body = {"prompt_tokens": CLIENT["prompt_tokens"], "output_tokens": CLIENT["output_tokens"]}
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
        """Send one attempt telling the server the time it has: (status, outcome, latency), status 0
        when no answer came."""
        actual = time.time()
        headers = {DEADLINE_HEADER: str(int(budget_seconds * 1000))}
        with self.client.post("/v1/work", json=body, headers=headers, name="/v1/work",
                              catch_response=True) as response:
            latency = time.time() - actual
            status = response.status_code or 0
            if 200 <= status < 300:
                return status, "ok", latency
            outcome = "timeout" if status == 0 else f"http_{status}"
            response.failure(outcome)
            return status, outcome, latency


def arrivals(rng: random.Random, *, start: float, on_stage):
    """Yield (stage, intended epoch time) for a Poisson process whose rate follows the stages.

    Within a stage gaps are exponential at its rate; at a boundary the process restarts at the new
    rate (memorylessness makes that exact for piecewise-constant rates).
    """
    elapsed, current = 0.0, None
    while (stage := shapes.stage_at(STAGES, elapsed)) is not None:
        if stage.index != current:
            current = stage.index
            on_stage(stage, start + stage.started_at_seconds)
        rate = stage.arrival_rate_per_second / DISPATCHERS
        gap = rng.expovariate(rate) if rate > 0 else float("inf")
        if elapsed + gap >= stage.ends_at_seconds:
            elapsed = stage.ends_at_seconds
            continue
        elapsed += gap
        yield stage, start + elapsed


@locust.events.init.add_listener
def enforce_run_time(environment, **_) -> None:
    """Apply ``--run-time`` as the safety bound it is meant to be: Locust ignores it under a shape."""
    run_time = getattr(environment.parsed_options, "run_time", None)
    if run_time:
        gevent.spawn_later(run_time, lambda: environment.runner and environment.runner.quit())


class ScenarioShape(LoadTestShape):
    """Keeps the single dispatcher alive until every arrival has been answered (or a bound passes)."""

    def tick(self):
        horizon = shapes.total_duration_seconds(STAGES) + LONGEST_REQUEST_SECONDS + 5
        if ALL_ANSWERED.is_set() or self.get_run_time() >= horizon:
            return None
        return (DISPATCHERS, DISPATCHERS)
