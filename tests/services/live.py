"""A tailstorm replica served by uvicorn for tests that need a real callee on the network.

The replica runs in a thread of the test process on a socket bound to port 0 before uvicorn
starts, so no other process can take its port; its fault API is reached over HTTP like the
runner's fault executor would, and its counters are read from its own registry.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import prometheus_client
import uvicorn

from services.common import app as runtime
from services.common import faults
from services.common import settings

TOKEN = "test-token"


@contextlib.contextmanager
def replica(service: str = "formatter", *, create_app=runtime.create_app, **overrides):
    """Serve one replica on 127.0.0.1; yield (base URL, its registry). ``create_app`` is the
    service's own factory when it hands the runtime a work model (``services.inference.app``)."""
    registry = prometheus_client.CollectorRegistry()
    base = {"service": service, "admin_token": TOKEN, "seed": 1,
            "service_time": {"distribution": "deterministic", "mean_seconds": 0.001}}
    app = create_app(settings.ServiceSettings(**{**base, **overrides}), registry)
    with served(app) as url:
        yield url, registry


@contextlib.contextmanager
def served(app):
    """Serve an ASGI app on 127.0.0.1 in a thread of this process; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="the app to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def set_faults(url: str, **state) -> None:
    response = httpx.post(f"{url}/admin/faults", json=state, headers={faults.TOKEN_HEADER: TOKEN}, timeout=5)
    response.raise_for_status()


def requests_counted(registry: prometheus_client.CollectorRegistry, service: str = "formatter") -> float:
    """Every request the replica answered, whatever the status."""
    return sum(sample.value for metric in registry.collect() if metric.name == "tailstorm_request_duration_seconds"
               for sample in metric.samples if sample.name.endswith("_count") and sample.labels["service"] == service)


def idle(registry: prometheus_client.CollectorRegistry, service: str = "formatter") -> bool:
    return registry.get_sample_value("tailstorm_requests_in_flight", {"service": service}) == 0


def wait_for(predicate, *, what: str, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_seconds} s")
        time.sleep(0.01)
