"""A service's downstream client under each retry policy, against a real failing callee.

The callee is a formatter replica served by uvicorn (tests/services/live.py) whose faults are set
through its admin API; the caller is an inference replica calling it over HTTP. Both sides count:
the caller's attempts by number (``attempt`` label) and what its policy withheld, the callee's
requests. We test these aspects:
- immediate retries and full-jitter back-off each send r + 1 attempts per request to a callee that
  always fails, and the callee counts every one;
- with a callee failing half its requests, attempt N + 1 follows exactly the failures of attempt N,
  and the attempts per request meet (1 − p^(r+1))/(1 − p);
- the retry budget lets ratio × requests retries through and counts the rest as withheld;
- adaptive throttling stops sending to a callee that accepts nothing, exactly as its formula says on
  the recorded counts, and throttles nothing when the callee is healthy;
- the propagated deadline: no attempt once the time is up, counted as withheld, answered 504.
"""
import time

import prometheus_client
import pytest
from fastapi.testclient import TestClient

from analysis.formulas import retries as retry_formulas
from services.common import app as runtime
from services.common import retrying
from services.common import settings
from tests.services import live


@pytest.fixture
def callee():
    with live.replica(servers=8) as (url, registry):
        yield url, registry


def caller(url: str, *, retries: int, timeout_seconds: float = 2.0, **retry):
    registry = prometheus_client.CollectorRegistry()
    call = {"service": "formatter", "url": url, "timeout_seconds": timeout_seconds, "retries": retries,
            "retry": retry}
    app = runtime.create_app(settings.ServiceSettings(
        service="inference", calls=[call], service_time={"distribution": "deterministic", "mean_seconds": 0.001}),
        registry)
    return app, registry


def attempts_by_number(registry, code: str | None = None) -> dict[int, float]:
    counts: dict[int, float] = {}
    for metric in registry.collect():
        if metric.name != "tailstorm_downstream_duration_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_count") and (code is None or sample.labels["code"] == code):
                number = int(sample.labels["attempt"])
                counts[number] = counts.get(number, 0.0) + sample.value
    return counts


def withheld(registry, reason: str) -> float:
    return registry.get_sample_value("tailstorm_downstream_withheld_total",
                                     {"service": "inference", "target": "formatter", "reason": reason}) or 0.0


def send(app, count: int, headers: dict | None = None) -> list[int]:
    with TestClient(app) as client:
        return [client.post("/v1/work", json={}, headers=headers or {}).status_code for _ in range(count)]


@pytest.mark.parametrize("retry", [
    pytest.param({"backoff": "none"}, id="immediate"),
    pytest.param({"backoff": "full_jitter", "base_seconds": 0.002, "cap_seconds": 0.01}, id="full-jitter"),
])
def test_each_request_sends_retries_plus_one_attempts_to_a_callee_that_always_fails(callee, retry):
    url, callee_registry = callee
    live.set_faults(url, error_probability=1.0)
    app, registry = caller(url, retries=3, **retry)
    assert send(app, 20) == [502] * 20
    assert attempts_by_number(registry, code="503") == {0: 20, 1: 20, 2: 20, 3: 20}
    live.wait_for(lambda: live.idle(callee_registry), what="the callee to finish")
    assert live.requests_counted(callee_registry) == 80


def test_each_retry_follows_a_failure_and_attempts_meet_the_geometric_series(callee):
    url, callee_registry = callee
    live.set_faults(url, error_probability=0.5)
    app, registry = caller(url, retries=3, backoff="none")
    statuses = send(app, 400)
    failed, made = attempts_by_number(registry, code="503"), attempts_by_number(registry)
    assert [made[n] for n in (1, 2, 3)] == [failed[n] for n in (0, 1, 2)]
    assert statuses.count(502) == failed[3] and made[0] == 400
    predicted = retry_formulas.retry_attempts_per_request(failure_probability=0.5, retries=3)
    assert sum(made.values()) / 400 == pytest.approx(predicted, rel=0.08)
    live.wait_for(lambda: live.idle(callee_registry), what="the callee to finish")
    assert live.requests_counted(callee_registry) == sum(made.values())


def test_the_retry_budget_lets_through_its_ratio_of_retries(callee):
    url, callee_registry = callee
    live.set_faults(url, error_probability=1.0)
    app, registry = caller(url, retries=3, backoff="none", budget={"ratio": 0.1, "window_seconds": 600})
    assert send(app, 50) == [502] * 50
    made = attempts_by_number(registry)
    assert made[0] == 50 and sum(made.values()) - made[0] == 5  # 10 % of 50 requests
    assert withheld(registry, retrying.RETRY_BUDGET) == 50  # every request ended wanting one more
    live.wait_for(lambda: live.idle(callee_registry), what="the callee to finish")
    assert live.requests_counted(callee_registry) == 55


def test_throttling_stops_sending_to_a_callee_that_accepts_nothing(callee):
    url, callee_registry = callee
    live.set_faults(url, error_probability=1.0)
    app, registry = caller(url, retries=0, throttle={"multiplier": 2, "window_seconds": 600})
    statuses = send(app, 200)
    sent, throttled = sum(attempts_by_number(registry).values()), withheld(registry, retrying.THROTTLED)
    assert sent + throttled == 200
    assert (statuses.count(502), statuses.count(503)) == (sent, throttled)  # the callee's 503s, our own 503s
    # each request is sent with probability 1 − (n − 0)/(n + 1) = 1/(n + 1): about H_200 ≈ 5.9 in all
    assert 1 <= sent <= 20
    throttle = app.state.replica.retry_states[0].throttle
    assert throttle.rejection_probability(time.monotonic()) == pytest.approx(200 / 201)  # (200 − 2·0)/(200 + 1)
    live.wait_for(lambda: live.idle(callee_registry), what="the callee to finish")
    assert live.requests_counted(callee_registry) == sent


def test_throttling_sends_everything_to_a_healthy_callee(callee):
    url, _ = callee
    app, registry = caller(url, retries=0, throttle={"multiplier": 2})
    assert send(app, 100) == [200] * 100
    assert withheld(registry, retrying.THROTTLED) == 0 and attempts_by_number(registry) == {0: 100}


def test_no_attempt_is_made_once_the_propagated_deadline_is_spent(callee):
    url, callee_registry = callee
    live.set_faults(url, extra_latency_seconds=0.3)  # every attempt times out after its 0.1 s
    app, registry = caller(url, retries=5, timeout_seconds=0.1, backoff="full_jitter", base_seconds=0.005,
                           cap_seconds=0.01)
    assert send(app, 1, headers={"x-tailstorm-deadline-ms": "250"}) == [504]
    made = sum(attempts_by_number(registry, code="timeout").values())
    assert 1 <= made <= 3 and withheld(registry, retrying.NO_TIME_LEFT) == 1  # 250 ms hold at most 3 tries
    live.wait_for(lambda: live.idle(callee_registry), what="the callee to finish the abandoned attempts")
    assert live.requests_counted(callee_registry) == made
