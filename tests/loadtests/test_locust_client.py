"""The Locust client's attempt loop (``OpenLoopClient.send``) under each retry policy, without a
Locust run: a subprocess imports the locustfile (gevent monkey-patches that process only), builds
the user on a Locust ``Environment`` and sends requests one after another to a real replica whose
faults are set through its admin API; the test reads ``requests.csv`` back the way the analysis
does (``extract.read_requests``).

We test these aspects: every attempt is a row with its number, and retries stop at r; a request
adaptive throttling rejects is a row marked ``throttled`` with no actual start, and counts as failed;
the retry budget lets 10 % of the requests retry and marks the others ``retry_budget``; the client's
deadline leaves no attempt after it (``no_time_left``); the replica counts exactly the attempts sent;
a client that does not propagate its deadline leaves the replica working on attempts it gave up on.
"""
import json
import pathlib
import subprocess
import sys

import pytest

from analysis.tables import extract
from schema import scenario as scenario_module
from tests.services import live

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, time
from loadtests import locustfile
import locust.env

locustfile.OpenLoopClient.host = sys.argv[1]
user = locustfile.OpenLoopClient(locust.env.Environment(user_classes=[locustfile.OpenLoopClient]))
log = locustfile.RequestLog(locustfile.OUT_DIR / "requests.csv")
for _ in range(int(sys.argv[2])):
    user.send(log.next_request(), time.time(), "steady")
"""


def run_client(tmp_path, url: str, count: int, **client) -> list[extract.Request]:
    document = {"name": "t", "services": {"formatter": {}}, "entry": "formatter", "client": client,
                "stages": [{"name": "steady", "duration_seconds": 10, "arrival_rate_per_second": 1}]}
    resolved = scenario_module.Scenario.model_validate(document).model_dump(mode="json")
    (tmp_path / "scenario.json").write_text(json.dumps(resolved))
    (tmp_path / "locust").mkdir()
    env = {"TAILSTORM_SCENARIO_JSON": str(tmp_path / "scenario.json"), "TAILSTORM_LOCUST_DIR": str(tmp_path / "locust"),
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, url, str(count)], env=env, capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return extract.read_requests(tmp_path)


@pytest.fixture
def callee():
    with live.replica(servers=8) as (url, registry):
        yield url, registry


def test_every_attempt_is_a_row_and_retries_stop_at_r(callee, tmp_path):
    url, registry = callee
    live.set_faults(url, error_probability=1.0)
    requests = run_client(tmp_path, url, 10, retries=2, retry={"backoff": "none"})
    assert [(r.attempts, r.outcome, r.withheld) for r in requests] == [(3, "http_503", "")] * 10
    rows = (tmp_path / "locust" / "requests.csv").read_text().splitlines()[1:]
    assert [row.split(",")[4] for row in rows[:3]] == ["0", "1", "2"]
    live.wait_for(lambda: live.idle(registry), what="the replica to finish")
    assert live.requests_counted(registry) == 30


def test_a_throttled_request_is_recorded_unsent_and_failed(callee, tmp_path):
    url, registry = callee
    live.set_faults(url, error_probability=1.0)
    requests = run_client(tmp_path, url, 100, retries=0, retry={"throttle": {"multiplier": 2}})
    throttled = [r for r in requests if r.outcome == "throttled"]
    sent = [r for r in requests if r.attempts]
    assert len(throttled) + len(sent) == 100 and len(sent) <= 15  # about H_100 ≈ 5.2 are sent
    assert all(r.attempts == 0 and r.withheld == "throttled" and not r.ok for r in throttled)
    live.wait_for(lambda: live.idle(registry), what="the replica to finish")
    assert live.requests_counted(registry) == len(sent)


def test_the_retry_budget_lets_a_tenth_of_the_requests_retry(callee, tmp_path):
    url, registry = callee
    live.set_faults(url, error_probability=1.0)
    requests = run_client(tmp_path, url, 50, retries=3,
                          retry={"backoff": "none", "budget": {"ratio": 0.1, "window_seconds": 600}})
    assert sum(r.attempts for r in requests) == 55
    assert [r.withheld for r in requests] == ["retry_budget"] * 50 and {r.outcome for r in requests} == {"http_503"}
    live.wait_for(lambda: live.idle(registry), what="the replica to finish")
    assert live.requests_counted(registry) == 55


def test_no_attempt_leaves_after_the_clients_deadline(callee, tmp_path):
    url, registry = callee
    live.set_faults(url, extra_latency_seconds=0.3)
    (request,) = run_client(tmp_path, url, 1, retries=5, timeout_seconds=0.1, deadline_seconds=0.25,
                            retry={"base_seconds": 0.005, "cap_seconds": 0.01})
    assert 1 <= request.attempts <= 3 and request.withheld == "no_time_left" and request.outcome == "timeout"
    live.wait_for(lambda: live.idle(registry), what="the replica to finish the abandoned attempts")
    assert live.requests_counted(registry) == request.attempts


@pytest.mark.parametrize("propagate, shed", [(True, 2), (False, 0)])
def test_only_a_propagated_deadline_lets_the_server_drop_abandoned_attempts(tmp_path, propagate, shed):
    """One server busy 0.5 s per request, attempts that give up after 0.1 s, retried at once: both
    retries queue behind the first attempt, and their time is up long before it ends. Told the
    deadline, the replica drops both as they leave the queue; not told, it works on all three for
    nobody."""
    with live.replica(servers=1) as (url, registry):
        live.set_faults(url, extra_latency_seconds=0.5)
        (request,) = run_client(tmp_path, url, 1, retries=2, timeout_seconds=0.1, retry={"backoff": "none"},
                                propagate_deadline=propagate)
        live.wait_for(lambda: live.idle(registry) and live.requests_counted(registry) == 3,
                      what="the replica to answer all three attempts", timeout_seconds=20)
        dropped = registry.get_sample_value("tailstorm_shed_total", {"service": "formatter", "reason": "deadline"}) or 0
    assert request.attempts == 3 and request.outcome == "timeout"
    assert dropped == shed
