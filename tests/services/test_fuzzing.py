"""Every service's OpenAPI, fuzzed: no generated request is answered 500.

Aspects: schemathesis generates valid and invalid requests (bodies of every shape, wrong types,
out-of-range token counts, unknown keys, non-JSON) from each service's own OpenAPI document, at
least 1,000 per service against ``POST /v1/work``, in process (ASGI, nothing on the network); an
invalid body is answered 422 naming the field; a valid one is worked and answered (the downstream
call goes to a closed port on loopback, so the caller answers 502, never 500). The GET endpoints are
fuzzed too. The admin API is not in the schema: it is refused without the token (and not reachable
through Envoy: tests/deploy/test_local_backend.py).
"""
import socket

import hypothesis
import prometheus_client
import pytest
import schemathesis
from fastapi import testclient

from services.common import app as runtime
from services.common import settings as settings_module

REQUESTS_PER_SERVICE = 1000


def closed_port() -> int:
    """A loopback port nothing listens on: a call there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_app(service: str):
    calls = [] if service == "formatter" else [{"service": "formatter", "url": f"http://127.0.0.1:{closed_port()}",
                                                 "timeout_seconds": 1.0}]
    settings = settings_module.ServiceSettings(
        service=service, servers=8, queue_limit=64, admin_token="fuzz-token", seed=1, calls=calls,
        service_time={"distribution": "exponential", "mean_seconds": 0.0001})
    return runtime.create_app(settings, prometheus_client.CollectorRegistry())


@pytest.mark.parametrize("service", settings_module.SERVICE_NAMES)
def test_no_generated_request_is_answered_500(service):
    app = create_app(service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: dict[str, dict[int, int]] = {}

    def fuzz(operation, examples: int) -> None:
        cases = hypothesis.strategies.one_of(operation.as_strategy(mode) for mode in schemathesis.GenerationMode)

        @hypothesis.given(case=cases)
        @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def send(case):
            response = call(client, case)
            counts = statuses.setdefault(f"{case.method} {case.path}", {})
            counts[response.status_code] = counts.get(response.status_code, 0) + 1
            assert response.status_code != 500, (case.as_curl_command(), response.text)

        send()

    with testclient.TestClient(app) as client:  # one lifespan and one event loop for every request
        for result in schema.get_all_operations():
            operation = result.ok()
            fuzz(operation, REQUESTS_PER_SERVICE if operation.method.upper() == "POST" else 50)
    work = statuses["POST /v1/work"]
    assert sum(work.values()) >= REQUESTS_PER_SERVICE, work
    assert work.get(422, 0) > 0, work  # invalid bodies were generated, and refused with 422
    assert (work.get(200, 0) if service == "formatter" else work.get(502, 0)) > 0, work  # valid ones were worked


def call(client: testclient.TestClient, case):
    """Send a generated case through our TestClient (schemathesis' own ASGI transport would start
    the app's lifespan again for each request, on another event loop)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    if isinstance(kwargs.get("data"), (bytes, str)):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    return client.request(**kwargs)


def test_an_invalid_body_is_422_naming_the_field():
    with testclient.TestClient(create_app("formatter")) as client:
        response = client.post("/v1/work", json={"prompt_tokens": 0})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "prompt_tokens"]
        assert client.post("/v1/work", json={"promt_tokens": 5}).json()["detail"][0]["type"] == "extra_forbidden"
        assert client.post("/v1/work", content=b"{not json", headers={"content-type": "application/json"}
                           ).status_code == 422
        assert client.post("/v1/work", json={"prompt_tokens": 7, "priority": "batch"}).status_code == 200
        assert client.post("/v1/work").status_code == 200  # no body: the defaults


def test_the_admin_api_refuses_a_missing_or_wrong_token():
    with testclient.TestClient(create_app("formatter")) as client:
        assert client.post("/admin/faults", json={"error_probability": 1}).status_code == 403
        assert client.post("/admin/faults", json={"error_probability": 1},
                           headers={"x-tailstorm-admin-token": "wrong"}).status_code == 403
        assert client.post("/v1/work").status_code == 200  # no fault was set
        assert client.post("/admin/faults", json={"error_probability": 1},
                           headers={"x-tailstorm-admin-token": "fuzz-token"}).status_code == 200
        assert client.post("/v1/work").status_code == 503
