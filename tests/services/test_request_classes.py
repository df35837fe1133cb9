"""Request classes in the service runtime: the body's tenant and priority, tenant bulkheads, and
the GPU engine's admission order as the body's priority sets it.

Aspects:

- a ``tenant`` that is no tenant name is answered 422 naming the field; a good one is served;
- ``working.TenantBulkhead`` counts per tenant, caps at each tenant's limit or the default, never
  caps a request without a tenant, and frees a slot when a request leaves;
- on a real uvicorn replica whose downstream is a gate that holds every request until told to let
  go: with two of tenant b's requests held, a third of b's is answered 429 at once (the gate still
  holds the two, so the refusal waited for no server and no callee) and counted in
  ``tailstorm_tenant_rejected_total{tenant="b"}`` and, like any answer, in the request histogram
  (code 429); tenant a and a request without a tenant pass while b is at its cap; once the gate
  lets go, b is admitted again;
- a 429 from a callee is passed back unchanged by its caller and not retried, though the call has
  retries;
- the GPU engine's admission order follows the body's priority: with the emulated GPU stalled and
  three batch requests queued before one interactive request, ``policy: priority`` runs the
  interactive one first and ``policy: fifo`` runs it last (read from the engine's own records).

No sleeps: every step waits on a condition with a deadline.
"""
import asyncio
import concurrent.futures
import contextlib

import fastapi
import httpx
import pytest
from fastapi.testclient import TestClient

from services.common import app as runtime
from services.common import settings, working
from services.inference import app as inference_app
from tests.services import live

TIMEOUT_SECONDS = 30


@contextlib.contextmanager
def gate():
    """A callee that holds every ``POST /v1/work`` until ``POST /open``; ``GET /held`` counts those held."""
    app = fastapi.FastAPI()
    state = {"held": 0, "open": None}

    def opened() -> asyncio.Event:
        if state["open"] is None:
            state["open"] = asyncio.Event()  # created on the server's own event loop
        return state["open"]

    @app.post("/v1/work")
    async def work() -> dict:
        state["held"] += 1
        try:
            await opened().wait()
        finally:
            state["held"] -= 1
        return {"hops": ["formatter"]}

    @app.post("/open")
    async def open_gate() -> dict:
        opened().set()
        return {}

    @app.get("/held")
    async def held() -> dict:
        return {"held": state["held"]}

    with live.served(app) as url:
        try:
            yield url
        finally:
            httpx.post(f"{url}/open", timeout=5)  # let go of anything still held, so the server can stop


def held(url: str) -> int:
    return httpx.get(f"{url}/held", timeout=5).json()["held"]


def post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/work", json=body, timeout=TIMEOUT_SECONDS)


def sample(registry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_bad_tenant_is_answered_422_naming_the_field_and_a_good_one_is_served():
    app = runtime.create_app(settings.ServiceSettings(service="formatter", service_time={"mean_seconds": 0.001}))
    with TestClient(app) as client:
        bad = client.post("/v1/work", json={"tenant": "Tenant A"})
        good = client.post("/v1/work", json={"tenant": "tenant-a", "priority": "batch"})
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "tenant"]]
    assert good.status_code == 200


def test_the_bulkhead_caps_each_tenant_at_its_limit_or_the_default_and_never_a_request_without_one():
    bulkhead = working.TenantBulkhead({"b": 2}, default=1)
    assert [bulkhead.try_enter("b") for _ in range(3)] == [True, True, False]
    assert [bulkhead.try_enter("a") for _ in range(2)] == [True, False]
    assert all(bulkhead.try_enter(None) for _ in range(100))
    bulkhead.leave("b")
    assert bulkhead.try_enter("b") and not bulkhead.try_enter("b")
    assert (bulkhead.limit_of("b"), bulkhead.limit_of("z"), bulkhead.limit_of(None)) == (2, 1, None)
    assert working.TenantBulkhead({}).limit_of("a") is None


def test_a_tenant_over_its_cap_is_refused_at_once_counted_and_the_others_pass():
    with gate() as callee, live.replica("inference", servers=8, tenant_limits={"b": 2},
                                        calls=[{"service": "formatter", "url": callee}]) as (url, registry):
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            held_b = [pool.submit(post, url, {"tenant": "b"}) for _ in range(2)]
            live.wait_for(lambda: held(callee) == 2, what="two of b's requests held at the gate")
            refused = post(url, {"tenant": "b"})
            assert refused.status_code == 429
            assert refused.headers[working.BULKHEAD_HEADER] == "b"
            assert held(callee) == 2 and not any(f.done() for f in held_b)  # it waited for neither of them
            others = [pool.submit(post, url, body) for body in ({"tenant": "a"}, {})]
            live.wait_for(lambda: held(callee) == 4, what="tenant a's and the untagged request at the gate")
            httpx.post(f"{callee}/open", timeout=5)
            assert [f.result().status_code for f in held_b + others] == [200] * 4
        assert post(url, {"tenant": "b"}).status_code == 200  # the slots were given back
    assert sample(registry, "tailstorm_tenant_rejected_total", service="inference", tenant="b") == 1
    assert sample(registry, "tailstorm_tenant_rejected_total", service="inference", tenant="a") == 0
    assert sample(registry, "tailstorm_request_duration_seconds_count", service="inference", route="/v1/work",
                  code="429") == 1
    assert sample(registry, "tailstorm_request_duration_seconds_count", service="inference", route="/v1/work",
                  code="200") == 5


def test_a_callees_429_is_passed_back_by_its_caller_and_not_retried():
    with gate() as callee, live.replica("inference", tenant_limits={"b": 1},
                                        calls=[{"service": "formatter", "url": callee}]) as (inner, _), \
            live.replica("auth", calls=[{"service": "inference", "url": inner, "retries": 2,
                                         "retry": {"backoff": "none"}}]) as (outer, registry):
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(post, outer, {"tenant": "b"})
            live.wait_for(lambda: held(callee) == 1, what="b's first request held at the gate")
            refused = post(outer, {"tenant": "b"})
            httpx.post(f"{callee}/open", timeout=5)
            assert first.result().status_code == 200
    assert refused.status_code == 429
    assert refused.headers["x-tailstorm-failed-hop"] == "inference"
    assert sample(registry, "tailstorm_downstream_duration_seconds_count", service="auth", target="inference",
                  code="429", attempt="0") == 1
    assert sample(registry, "tailstorm_downstream_duration_seconds_count", service="auth", target="inference",
                  code="429", attempt="1") == 0


class KeptRecords(dict):
    """The engine's ``records`` that also keep what the server pops (a long-running server keeps no
    history; the test reads each finished request's record as the engine wrote it)."""

    def __init__(self) -> None:
        super().__init__()
        self.kept = []

    def pop(self, key, *default):
        if key in self:
            self.kept.append(self[key])
        return super().pop(key, *default)


@pytest.mark.parametrize("policy, interactive_runs", [
    pytest.param("priority", "first", id="priority"),
    pytest.param("fifo", "last", id="fifo"),
])
def test_the_engine_admits_by_the_priority_the_body_carries(policy, interactive_runs):
    apps = []

    def create_app(spec, registry):
        apps.append(inference_app.create_app(spec, registry))
        return apps[-1]

    # a KV cache of 600 tokens holds one batch request's first chunk (512 tokens) but not an
    # interactive one's beside it, so the engine admits one request at a time, in its queue's order
    gpu = {"policy": policy, "kv_capacity_tokens": 600, "time_scale": 0.05}
    with live.replica("inference", create_app=create_app, work="gpu", servers=16, gpu=gpu) as (url, _):
        engine = apps[0].state.replica.worker.engine
        engine.records = finished = KeptRecords()
        live.set_faults(url, gpu_stalled=True)
        bodies = [{"priority": "batch", "prompt_tokens": 512, "output_tokens": 8}] * 3 + \
                 [{"priority": "interactive", "prompt_tokens": 128, "output_tokens": 8}]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            answers = []
            for count, body in enumerate(bodies, start=1):  # one by one, so they reach the engine in this order
                answers.append(pool.submit(post, url, body))
                live.wait_for(lambda count=count: engine.waiting_count == count, what=f"{count} requests waiting")
            live.set_faults(url)
            assert [a.result().status_code for a in answers] == [200] * 4
    assert {r.request_id: r.priority.name for r in finished.kept} == {
        0: "BATCH", 1: "BATCH", 2: "BATCH", 3: "INTERACTIVE"}  # submitted in the order sent
    records = sorted(finished.kept, key=lambda r: r.first_scheduled_seconds)
    order = [r.priority.name.lower() for r in records]
    assert order == (["interactive"] + ["batch"] * 3 if interactive_runs == "first" else ["batch"] * 3 + ["interactive"])
