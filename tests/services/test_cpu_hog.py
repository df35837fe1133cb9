"""The CPU hog fault (``cpu_hog_cores``), one replica in-process.

Aspects: setting it through the admin API starts burning threads, one per started core, that use
CPU time while no request arrives; clearing the faults (or shutting the replica down) ends them;
a value beyond 8 cores is refused with 422 naming the field; the hog spins outside the GIL, so
the replica still answers while it burns.
"""
import threading
import time

import prometheus_client
from fastapi.testclient import TestClient

from deploy.local import processes
from services.common import app as runtime
from services.common import faults
from services.common import settings

TOKEN = {"x-tailstorm-admin-token": "t"}


def make():
    spec = settings.ServiceSettings(service="formatter", admin_token="t",
                                    service_time={"distribution": "deterministic", "mean_seconds": 0.001})
    return runtime.create_app(spec, prometheus_client.CollectorRegistry())


def hog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cpu-hog-")]


def test_the_hog_burns_cpu_in_threads_of_its_own_until_cleared():
    app = make()
    with TestClient(app) as client:
        assert client.post("/admin/faults", json={"cpu_hog_cores": 1.5}, headers=TOKEN).status_code == 200
        assert len(hog_threads()) == 2  # 1.5 cores: two threads at three quarters of a core each
        burnt = time.process_time()
        processes.wait_until(lambda: time.process_time() - burnt >= 0.2, timeout_seconds=30,
                             what="the hog using 0.2 s of CPU", interval_seconds=0.05)
        assert client.post("/v1/work", json={}).status_code == 200  # the event loop still serves
        assert client.delete("/admin/faults", headers=TOKEN).status_code == 200
        processes.wait_until(lambda: not hog_threads(), timeout_seconds=10, what="the hog threads to end")
        assert app.state.replica.cpu_hog.cores == 0


def test_shutting_the_replica_down_ends_the_hog():
    with TestClient(make()) as client:
        client.post("/admin/faults", json={"cpu_hog_cores": 0.5}, headers=TOKEN)
        assert len(hog_threads()) == 1
    processes.wait_until(lambda: not hog_threads(), timeout_seconds=10, what="the hog threads to end")


def test_more_than_eight_cores_is_refused_naming_the_field():
    with TestClient(make()) as client:
        response = client.post("/admin/faults", json={"cpu_hog_cores": 9}, headers=TOKEN)
    assert response.status_code == 422 and "cpu_hog_cores" in response.text


def test_a_hog_thread_stops_within_one_period_of_being_told():
    stop = threading.Event()
    thread = threading.Thread(target=faults.burn_share, args=(0.1, stop), daemon=True)
    thread.start()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
