"""A server stalls for a known time under load: the open loop records it, the closed loop hides it.

Aspects, each on the real locustfile against a real uvicorn app (tests/loadtests/stall_app.py) that
stalls every request for STALL_SECONDS when told to:

- open loop (constant spacing, so the number of requests due during the stall is known): every
  request due during the stall is sent on time and its latency, counted from its intended start,
  includes the rest of the stall — at least ``stall end − intended start``, what wrk2's corrected
  latency would be — so there are as many stall-length latencies as requests due in it;
- closed loop (two users, no think time): a request sent during the stall is held until it ends,
  so each user sends at most one request while it lasts and at most one latency per user includes
  it: the stall is under-reported.

The stall starts once requests are flowing (a condition with a deadline, not a sleep) and its
window is the one the server reports, on the same clock the generator uses.
"""
import json
import pathlib
import sys
import urllib.request

import pytest

from analysis.tables import extract
from deploy.local import ports, processes
from orchestration import runner
from schema import scenario as scenario_module

ROOT = pathlib.Path(__file__).resolve().parents[2]
STALL_SECONDS = 1.5
RATE_PER_SECOND = 40.0
USERS = 2


def post(url: str) -> dict:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def target(tmp_path):
    """The stall app on a port no other process holds; its base URL."""
    allocator = ports.PortAllocator()
    port = allocator.allocate(what="the stall app")
    app = processes.ManagedProcess(
        name="stall-app", log_path=tmp_path / "app.log", cwd=ROOT,
        argv=[sys.executable, "-m", "uvicorn", "stall_app:app", "--app-dir", "tests/loadtests", "--host",
              "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: healthy(url), timeout_seconds=30, what="the stall app to answer",
                             failed=lambda: None if app.is_running() else app.log_tail())
        yield url
    finally:
        app.stop(grace_seconds=5)
        allocator.close()


def scenario_json(tmp_path: pathlib.Path, client: dict, stage: dict) -> pathlib.Path:
    loaded = scenario_module.Scenario.model_validate({
        "name": "stall", "seed": 5, "entry": "formatter",
        # the target is the stall app, not the chain: no service time bounds the client's slots
        "services": {"formatter": {"service_time": {"distribution": "exponential", "mean_seconds": 1e-4}}},
        "client": {"timeout_seconds": 5, **client},
        "stages": [{"name": "steady", "duration_seconds": 6, **stage}],
        "window": {"warmup_seconds": 0, "cooldown_seconds": 0}})
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(loaded.model_dump(mode="json")))
    return path


def logged_rows(log: pathlib.Path) -> int:
    return log.read_text().count("\n") - 1 if log.exists() else 0


def run_with_a_stall(tmp_path: pathlib.Path, url: str, scenario: pathlib.Path) -> tuple[dict, list[extract.Request]]:
    """Drive the load, stall the server once 40 requests are logged; (the stall window, the requests)."""
    out = tmp_path / "locust"
    out.mkdir()
    locust = processes.ManagedProcess(name="locust", log_path=out / "locust.log", cwd=ROOT,
                                      env=runner.locust_env(scenario, out),
                                      argv=runner.locust_argv(url, out, safety_seconds=60))
    try:
        processes.wait_until(lambda: logged_rows(out / "requests.csv") >= 40, timeout_seconds=60,
                             what="40 requests logged", failed=lambda: None if locust.is_running() else locust.log_tail())
        window = post(f"{url}/stall?seconds={STALL_SECONDS}")
        locust.popen.wait(timeout=90)
    finally:
        locust.stop(grace_seconds=5)
    assert locust.returncode == 0, locust.log_tail()
    return window, sorted(extract.read_request_log(out / "requests.csv"), key=lambda r: r.intended_start)


def test_an_open_loop_records_the_stall_in_every_request_due_during_it(tmp_path, target):
    scenario = scenario_json(tmp_path, {"max_in_flight": 400},
                             {"arrival_rate_per_second": RATE_PER_SECOND, "arrivals": "constant"})
    window, requests = run_with_a_stall(tmp_path, target, scenario)
    due = [r for r in requests if window["start"] <= r.intended_start < window["end"]]
    assert len(due) == pytest.approx(RATE_PER_SECOND * STALL_SECONDS, abs=1)  # constant spacing: known count
    assert all(r.ok for r in due)
    for request in due:  # each waited for the rest of the stall, counted from when it was due
        assert request.latency_seconds >= window["end"] - request.intended_start - 1e-3
    stalled = [r for r in requests if r.latency_seconds >= STALL_SECONDS / 2]
    assert len(stalled) >= RATE_PER_SECOND * STALL_SECONDS / 2 - 1


def test_a_closed_loop_sends_at_most_one_request_per_user_during_the_stall_and_under_reports_it(tmp_path, target):
    scenario = scenario_json(tmp_path, {"kind": "closed", "users": USERS}, {})
    window, requests = run_with_a_stall(tmp_path, target, scenario)
    assert len(requests) > 100 and all(r.ok for r in requests)
    # a request sent during the stall is held until its end, so each user sent at most one then
    sent = [r for r in requests if window["start"] <= r.intended_start < window["end"]]
    assert len(sent) <= USERS
    for request in sent:  # and what was sent is measured right: it waited for the rest of the stall
        assert request.latency_seconds >= window["end"] - request.intended_start - 1e-3
    # so at most one latency per user includes the stall, where the open loop had one per request due
    stalled = [r for r in requests if r.latency_seconds >= STALL_SECONDS / 2]
    assert 1 <= len(stalled) <= USERS
