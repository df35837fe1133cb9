"""Each fault kind applied by the executor to a real local stack (uvicorn replicas, Envoys, Prometheus).

Every test runs one executor over faults of tests/controllers/data/faults-test.yaml, starting a
fault now and ending it when the test has seen its effect, and checks the effect and the ``fault``
start and end events. Aspects: a kill SIGKILLs one inference replica (``pod_died``), the service
keeps answering through the other, and its replacement becomes Ready when the fault ends; latency
holds every request of the replica at least that long, and with an error rate overlapping on one
replica both hold there until the latency ends; a CPU hog makes an idle replica burn CPU, its
sibling not; the formatter's proxy answers the configured status to about the configured share
(its own counter agrees), again after the backend restarted it mid-fault, and, delaying, holds
every request; a partitioned replica gets no request
while it keeps running, and gets requests again after; a fault the backend cannot apply is a
``failed`` event and a warning. The GPU faults run on the one-replica GPU stack of
tests/deploy/data/gpu-test.yaml: a slowed GPU takes longer per output token (the engine's own
emulated time, so no wall clock is compared), a stalled one finishes nothing until the stall ends.
"""
from __future__ import annotations

import concurrent.futures
import os
import pathlib
import signal
import time
import types

import httpx
import psutil
import pytest

from controllers import chaos
from deploy.local import backend as local_backend
from deploy.local import processes
from schema import events as events_module
from schema import scenario as scenario_module
from services.common import faults as faults_module

DATA = pathlib.Path(__file__).parent / "data"
GPU_SCENARIO = pathlib.Path(__file__).parents[1] / "deploy" / "data" / "gpu-test.yaml"
KILL, LATENCY, ERRORS, CPU_HOG, ABORT, DELAY, PARTITION = range(7)


def wait_for(predicate, *, what: str, timeout_seconds: float = 20.0) -> None:
    processes.wait_until(predicate, timeout_seconds=timeout_seconds, what=what, interval_seconds=0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("faults")
    events = events_module.EventLog(run_dir / "events.jsonl")
    backend = local_backend.LocalBackend(scenario_module.load_scenario(DATA / "faults-test.yaml"), run_dir,
                                         events=events)
    backend.up()
    yield backend
    backend.down()
    events.close()


class Driver:
    """One executor over some of the scenario's faults, stepped by hand: ``begin`` starts every
    fault now, ``finish`` ends them now (the schedule's times only order them)."""

    def __init__(self, backend, faults, *, warnings: list[str] | None = None) -> None:
        self.faults = faults
        self.since = time.time()
        self.warnings = [] if warnings is None else warnings
        self.executor = chaos.FaultExecutor(
            scenario=types.SimpleNamespace(faults=tuple(faults), seed=backend.scenario.seed), backend=backend,
            events=backend.events, first_stage_start=lambda: None, warn=self.warnings.append)

    def begin(self) -> None:
        self.executor.step(time.time() - max(f.at_seconds for f in self.faults))

    def finish(self) -> None:
        self.executor.step(time.time() - max(f.end_seconds for f in self.faults) - 1)

    def events(self, backend) -> list[dict]:
        labels = {f.label for f in self.faults}
        return [e for e in events_module.read_events(backend.events.path) if e["type"] == "fault"
                and e["label"] in labels and e["time"] >= self.since]


def driver(backend, *indices: int, **kwargs) -> Driver:
    return Driver(backend, [backend.scenario.faults[i] for i in indices], **kwargs)


def post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v1/work", json={}, timeout=15, **kwargs)


def replica_url(backend, pod: str) -> str:
    (replica,) = [r for reps in backend.replicas.values() for r in reps if r.name == pod]
    return f"http://127.0.0.1:{replica.port}"


def fault_state(backend, pod: str) -> dict:
    return httpx.get(f"{replica_url(backend, pod)}/admin/faults",
                     headers={faults_module.TOKEN_HEADER: backend.admin_token}).json()


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in "{ ")


def envoy_counter(backend, service: str, name: str) -> float:
    text = httpx.get(f"{backend.proxies[service].admin_url}/stats?filter=^http\\.{service}\\.fault\\.").text
    return float(dict(line.split(": ") for line in text.splitlines())[f"http.{service}.fault.{name}"])


def test_a_killed_replica_dies_the_service_answers_through_the_other_and_is_replaced_at_the_end(stack):
    run = driver(stack, KILL)
    run.begin()
    (start,) = run.events(stack)
    (killed,) = start["pods"]
    wait_for(lambda: any(e["type"] == "pod_died" and e["pod"] == killed
                         for e in events_module.read_events(stack.events.path)), what="pod_died")
    (survivor,) = [r.name for r in stack.replicas["inference"]]
    proxy = stack.proxies["inference"]
    wait_for(lambda: set(stack._envoy_hosts(proxy)) == {stack.replicas["inference"][0].port},
             what="Envoy dropping the dead replica")
    answers = [post(proxy.url) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["replica"] for a in answers} == {survivor}
    run.finish()
    assert [e["phase"] for e in run.events(stack)] == ["start", "end"]
    wait_for(lambda: stack.replica_count("inference") == 2 and all(p["ready"] for p in stack.pod_statuses("inference")),
             what="the replacement Ready")
    created = [e for e in events_module.read_events(stack.events.path) if e["type"] == "pod_created"
               and e["time"] >= run.events(stack)[-1]["time"] - 1]
    assert [e["service"] for e in created] == ["inference"]


def test_latency_holds_each_request_and_an_overlapping_error_rate_holds_until_the_latency_ends(stack):
    run = driver(stack, LATENCY, ERRORS)
    run.executor.step(time.time() - 1)  # the latency (due at 1 s) starts, the error rate (2 s) not yet
    latency_start = run.events(stack)[0]
    assert latency_start["phase"] == "start" and sorted(latency_start["pods"]) == sorted(
        r.name for r in stack.replicas["inference"])
    proxy = stack.proxies["inference"].url
    started = time.monotonic()
    assert post(proxy).status_code == 200
    assert time.monotonic() - started >= 0.3  # the extra latency is a lower bound of the answer
    run.executor.step(time.time() - 2)  # now the error rate on one replica, on top
    (errored,) = run.events(stack)[1]["pods"]
    assert fault_state(stack, errored) == {**faults_module.FaultState().model_dump(),
                                                "extra_latency_seconds": 0.3, "error_probability": 1.0}
    answer = httpx.post(f"{replica_url(stack, errored)}/v1/work", json={}, timeout=15)
    assert answer.status_code == 503 and answer.headers[faults_module.FAULT_HEADER] == "injected"
    run.executor.step(time.time() - 7)  # the latency ends (at 7 s) after the error rate's end (4 s)
    assert [(e["phase"], e["kind"]) for e in run.events(stack)] == [
        ("start", "latency"), ("start", "error-rate"), ("end", "error-rate"), ("end", "latency")]
    for pod in (r.name for r in stack.replicas["inference"]):
        assert fault_state(stack, pod) == faults_module.FaultState().model_dump()


def test_the_error_rate_stays_on_its_replica_when_the_latency_ends_first(stack):
    faults = (stack.scenario.faults[LATENCY].model_copy(update={"duration_seconds": 1.5}), stack.scenario.faults[ERRORS])
    run = Driver(stack, faults)
    run.executor.step(time.time() - 2.5)  # both started, the latency ended at 2.5 s
    (errored,) = run.events(stack)[1]["pods"]
    assert [(e["phase"], e["kind"]) for e in run.events(stack)] == [
        ("start", "latency"), ("start", "error-rate"), ("end", "latency")]
    assert fault_state(stack, errored)["error_probability"] == 1.0
    assert fault_state(stack, errored)["extra_latency_seconds"] == 0.0
    run.finish()
    assert fault_state(stack, errored) == faults_module.FaultState().model_dump()


def test_a_cpu_hog_makes_an_idle_replica_burn_cpu_and_stops_when_the_fault_ends(stack):
    hogged = psutil.Process(stack.replicas["gateway"][0].process.pid)
    sibling = psutil.Process(stack.replicas["formatter"][0].process.pid)

    def cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    threads_before = {t.id: t.user_time + t.system_time for t in hogged.threads()}
    run = driver(stack, CPU_HOG)
    run.begin()
    hog_before, sibling_before = cpu(hogged), cpu(sibling)
    # no request is sent: whatever CPU the replica uses is the hog's (or a scrape's, as for its sibling)
    wait_for(lambda: cpu(hogged) - hog_before >= 0.5, what="the hogged replica using 0.5 s of CPU", timeout_seconds=60)
    hog_used, sibling_used = cpu(hogged) - hog_before, cpu(sibling) - sibling_before
    assert hog_used > 5 * sibling_used, (hog_used, sibling_used)
    burner = max(hogged.threads(), key=lambda t: t.user_time + t.system_time - threads_before.get(t.id, 0.0)).id
    assert burner not in threads_before  # a thread of its own burnt it
    run.finish()
    assert fault_state(stack, stack.replicas["gateway"][0].name)["cpu_hog_cores"] == 0
    wait_for(lambda: burner not in {t.id for t in hogged.threads()}, what="the burning thread to end")
    assert [e["phase"] for e in run.events(stack)] == ["start", "end"]


def test_the_proxy_aborts_about_its_share_with_the_configured_status(stack):
    proxy = stack.proxies["formatter"].url
    aborted_before = envoy_counter(stack, "formatter", "aborts_injected")
    run = driver(stack, ABORT)
    run.begin()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: post(proxy).status_code, range(100)))
    run.finish()
    aborted = statuses.count(502)
    assert set(statuses) == {200, 502}
    assert 25 <= aborted <= 75  # 50 % of 100: mean 50, sd 5; 25 away is 5 sd
    assert envoy_counter(stack, "formatter", "aborts_injected") - aborted_before == aborted
    assert [post(proxy).status_code for _ in range(20)] == [200] * 20
    start, end = run.events(stack)
    assert (start["phase"], start["pods"], start["parameters"]) == ("start", [], {"percent": 50, "http_status": 502})
    assert end["phase"] == "end"


def test_a_proxy_restarted_mid_fault_gets_its_fault_filter_settings_back(stack):
    run = driver(stack, ABORT)
    run.begin()
    os.kill(stack.table.get("envoy-formatter").pid, signal.SIGKILL)
    wait_for(lambda: any(e["type"] == "process_recovered" and e["process"] == "envoy-formatter"
                         for e in events_module.read_events(stack.events.path)), what="the formatter Envoy back")
    wait_for(lambda: any(stack._envoy_hosts(stack.proxies["formatter"]).values()), what="its replica healthy again")
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: post(stack.proxies["formatter"].url).status_code, range(40)))
    run.finish()
    assert statuses.count(502) > 0 and set(statuses) == {200, 502}  # all 200 has odds 1e-12 at 50 %
    assert [post(stack.proxies["formatter"].url).status_code for _ in range(10)] == [200] * 10


def test_the_proxy_delays_every_request_while_the_fault_holds(stack):
    proxy = stack.proxies["formatter"].url
    delayed_before = envoy_counter(stack, "formatter", "delays_injected")
    run = driver(stack, DELAY)
    run.begin()
    for _ in range(3):
        started = time.monotonic()
        assert post(proxy).status_code == 200
        assert time.monotonic() - started >= 0.3
    run.finish()
    assert envoy_counter(stack, "formatter", "delays_injected") - delayed_before == 3
    post(proxy)
    assert envoy_counter(stack, "formatter", "delays_injected") - delayed_before == 3
    assert [e["phase"] for e in run.events(stack)] == ["start", "end"]


def test_a_partitioned_replica_gets_no_request_while_it_runs_and_gets_them_again_after(stack):
    run = driver(stack, PARTITION)
    run.begin()
    (cut,) = run.events(stack)[0]["pods"]
    cut_url = replica_url(stack, cut)
    served_before = metric(cut_url, "tailstorm_request_duration_seconds_count")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: post(stack.proxies["inference"].url), range(40)))
    assert [a.status_code for a in answers] == [200] * 40
    assert cut not in {a.json()["replica"] for a in answers}
    assert metric(cut_url, "tailstorm_request_duration_seconds_count") == served_before
    assert httpx.get(f"{cut_url}/readyz").status_code == 200  # running and Ready all along
    run.finish()
    deadline = time.monotonic() + 20
    while post(stack.proxies["inference"].url).json()["replica"] != cut:
        assert time.monotonic() < deadline, "the healed replica never got a request again"
    assert [e["phase"] for e in run.events(stack)] == ["start", "end"]


def test_a_fault_the_backend_cannot_apply_is_a_failed_event_and_a_warning(stack):
    # the gateway's proxy was started without the fault filter: the scenario schedules no such fault on it
    refused = stack.scenario.faults[ABORT].model_copy(update={"service": "gateway"})
    warnings: list[str] = []
    run = Driver(stack, [refused], warnings=warnings)
    run.begin()
    run.finish()
    (failed,) = run.events(stack)
    assert (failed["phase"], failed["step"]) == ("failed", "start")
    assert "runs without the fault filter" in failed["reason"]
    assert warnings == [f"fault 0 (gateway's proxy aborts 50% (502)) could not start: {failed['reason']}"]
    assert post(stack.endpoints()["entry_url"]).status_code == 200


# -- the GPU faults ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpu_stack(tmp_path_factory):
    scenario = scenario_module.load_scenario(GPU_SCENARIO)
    faults = (scenario_module.Fault(kind="gpu-slow", service="inference", at_seconds=1, duration_seconds=1,
                                    gpu_clock_factor=0.25),
              scenario_module.Fault(kind="gpu-stall", service="inference", at_seconds=1, duration_seconds=1))
    run_dir = tmp_path_factory.mktemp("gpu-faults")
    events = events_module.EventLog(run_dir / "events.jsonl")
    backend = local_backend.LocalBackend(scenario.model_copy(update={"faults": faults}), run_dir, events=events)
    backend.up()
    yield backend
    backend.down()
    events.close()


BODY = {"prompt_tokens": 64, "output_tokens": 16}


def token_time_counters(url: str) -> tuple[float, float]:
    """The engine's time-per-output-token histogram: (sum of emulated seconds, count)."""
    return (metric(url, "vllm:time_per_output_token_seconds_sum"), metric(url, "vllm:time_per_output_token_seconds_count"))


def test_a_slowed_gpu_takes_longer_per_output_token_in_the_engines_own_time(gpu_stack):
    url = gpu_stack.endpoints()["replicas"]["inference"][0]

    def per_token_seconds() -> float:
        total, count = token_time_counters(url)
        assert httpx.post(f"{url}/v1/work", json=BODY, timeout=60).status_code == 200
        total_after, count_after = token_time_counters(url)
        return (total_after - total) / (count_after - count)

    nominal = per_token_seconds()
    run = driver(gpu_stack, 0)
    run.begin()
    slowed = per_token_seconds()
    run.finish()
    # a quarter of the clocks makes the GPU's part of each step 4× longer; the serving stack's fixed
    # per-step overhead does not scale with clocks, so the whole step grows by less than that
    assert 2 < slowed / nominal <= 4 + 1e-9, (slowed, nominal)
    assert [e["phase"] for e in run.events(gpu_stack)] == ["start", "end"]


def test_a_stalled_gpu_finishes_nothing_until_the_stall_ends(gpu_stack):
    url = gpu_stack.endpoints()["replicas"]["inference"][0]
    run = driver(gpu_stack, 1)
    run.begin()
    generated = metric(url, "vllm:generation_tokens_total")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(httpx.post, f"{url}/v1/work", json=BODY, timeout=60)
        wait_for(lambda: metric(url, "tailstorm_requests_in_flight") == 1, what="the request in flight")
        assert not answer.done()
        assert metric(url, "vllm:generation_tokens_total") == generated
        run.finish()
        assert answer.result(timeout=60).status_code == 200
    assert metric(url, "vllm:generation_tokens_total") == generated + BODY["output_tokens"]
    assert [e["phase"] for e in run.events(gpu_stack)] == ["start", "end"]
