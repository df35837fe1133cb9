"""The shared service runtime, one replica in-process.

Aspects: a request is served and measured (duration histogram, work histogram, in-flight back to
0); a full queue sheds 503 and counts it; an expired propagated deadline answers 504 without
work; a dead downstream answers 502 naming the hop after the configured retries; readiness waits
for the emulated start; the fault API needs its token and injected faults are marked.
"""
import asyncio
import socket

import httpx
import prometheus_client
import pytest
from fastapi.testclient import TestClient

from services.common import app as runtime
from services.common import settings


def make(registry=None, **overrides):
    registry = registry or prometheus_client.CollectorRegistry()
    base = {"service": "formatter", "service_time": {"distribution": "deterministic", "mean_seconds": 0.001}}
    return runtime.create_app(settings.ServiceSettings(**{**base, **overrides}), registry), registry


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


def test_a_request_is_served_and_measured():
    app, registry = make()
    with TestClient(app) as client:
        response = client.post("/v1/work", json={})
    assert response.status_code == 200
    assert response.json()["hops"] == ["formatter"]
    assert sample(registry, "tailstorm_request_duration_seconds_count", service="formatter", route="/v1/work",
                  code="200") == 1
    assert sample(registry, "tailstorm_work_duration_seconds_count", service="formatter") == 1
    assert sample(registry, "tailstorm_requests_in_flight", service="formatter") == 0


def test_a_full_queue_sheds_with_503_and_counts_it():
    app, registry = make(servers=1, queue_limit=0, work="wait",
                         service_time={"distribution": "deterministic", "mean_seconds": 0.3})

    async def two_at_once():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
            return await asyncio.gather(client.post("/v1/work", json={}), client.post("/v1/work", json={}))

    statuses = sorted(r.status_code for r in asyncio.run(two_at_once()))
    assert statuses == [200, 503]
    assert sample(registry, "tailstorm_shed_total", service="formatter", reason="queue_full") == 1


def test_an_expired_deadline_answers_504_without_doing_the_work():
    app, registry = make()
    with TestClient(app) as client:
        response = client.post("/v1/work", json={}, headers={"x-tailstorm-deadline-ms": "0"})
    assert response.status_code == 504
    assert sample(registry, "tailstorm_shed_total", service="formatter", reason="deadline") == 1
    assert sample(registry, "tailstorm_work_duration_seconds_count", service="formatter") == 0


def test_a_dead_downstream_answers_502_after_the_configured_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    call = {"service": "formatter", "url": f"http://127.0.0.1:{dead_port}", "retries": 2, "timeout_seconds": 1}
    app, registry = make(service="inference", calls=[call])
    with TestClient(app) as client:
        response = client.post("/v1/work", json={})
    assert response.status_code == 502
    assert response.headers["x-tailstorm-failed-hop"] == "formatter"
    attempts = [sample(registry, "tailstorm_downstream_duration_seconds_count", service="inference",
                       target="formatter", code="error", attempt=str(a)) for a in range(4)]
    assert attempts == [1, 1, 1, 0]


def test_readiness_fails_until_the_emulated_start_time_has_passed():
    slow, _ = make(ready_after_seconds=60)
    fast, registry = make()
    with TestClient(slow) as client:
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
    with TestClient(fast) as client:
        assert client.get("/readyz").status_code == 200
    assert sample(registry, "tailstorm_ready", service="formatter") == 1


def test_the_fault_api_needs_its_token_and_marks_injected_failures():
    app, registry = make(admin_token="s3cret")
    with TestClient(app) as client:
        assert client.post("/admin/faults", json={"error_probability": 1}).status_code == 403
        assert client.post("/admin/faults", json={"error_probability": 1},
                           headers={"x-tailstorm-admin-token": "s3cret"}).status_code == 200
        response = client.post("/v1/work", json={})
        assert response.status_code == 503
        assert response.headers["x-tailstorm-fault"] == "injected"
        client.delete("/admin/faults", headers={"x-tailstorm-admin-token": "s3cret"})
        assert client.post("/v1/work", json={}).status_code == 200
    assert sample(registry, "tailstorm_faults_injected_total", service="formatter", kind="error") == 1


def test_the_fault_api_is_absent_without_a_token():
    app, _ = make()
    with TestClient(app) as client:
        assert client.get("/admin/faults").status_code == 404


def test_bad_settings_fail_at_start_up_naming_the_field(monkeypatch):
    monkeypatch.setenv("TAILSTORM_SERVERS", "0")
    with pytest.raises(SystemExit, match="TAILSTORM_SERVERS"):
        settings.load_settings(defaults={"service": "auth"})


def test_service_defaults_yield_to_the_environment(monkeypatch):
    monkeypatch.setenv("TAILSTORM_SERVERS", "3")
    loaded = settings.load_settings(defaults={"service": "auth", "servers": 8, "queue_limit": 5})
    assert (loaded.servers, loaded.queue_limit) == (3, 5)


def test_histogram_buckets_cover_the_service_time_finely():
    loaded = settings.ServiceSettings(service="inference", service_time={"mean_seconds": 0.04})
    buckets = loaded.histogram_buckets
    assert buckets[0] <= 0.04 / 20 * 1.001 and buckets[-1] >= 60
    ratios = {round(b / a, 3) for a, b in zip(buckets, buckets[1:])}
    assert max(ratios) <= 1.42
