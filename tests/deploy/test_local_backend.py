"""The local backend with real uvicorn replicas, real Envoys and a real Prometheus on loopback.

Aspects: a request crosses all five hops; a replica added at run time takes traffic only once it
is ready, and then does; it goes through the emulated pod phases (scheduling delay, container
start, kubelet-like readiness probe ticks), joins the EDS file only once Ready, and its first served
request is an event; a replica removed under load loses no accepted request; a tripped breaker
answers 503 and Envoy counts the overflow; a replica that dies on its own is noticed and dropped;
Prometheus scrapes every replica and Envoy; the admin API is not reachable through any proxy, however
the path is spelled; the runner's collection waits until a request that outlives the load is
counted; teardown leaves no process (checked by PID); a busy port and a missing binary
are one clear sentence.
"""
import concurrent.futures
import os
import pathlib
import signal
import socket
import time

import httpx
import psutil
import pytest

from schema import events as events_module
from deploy.local import backend as local_backend
from deploy.local import processes
from schema import scenario as scenario_module

SCENARIO = pathlib.Path(__file__).parent / "data" / "backend-test.yaml"


def wait_for(predicate, *, timeout_seconds=20.0, what="condition"):
    processes.wait_until(predicate, timeout_seconds=timeout_seconds, what=what, interval_seconds=0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    events = events_module.EventLog(run_dir / "events.jsonl")
    backend = local_backend.LocalBackend(scenario_module.load_scenario(SCENARIO), run_dir, events=events)
    backend.up()
    pids = {p.name: p.pid for p in backend.table.all()}
    yield backend
    backend.down()
    events.close()
    alive = {name: pid for name, pid in pids.items() if psutil.pid_exists(pid)}
    assert not alive, f"processes left after down(): {alive}"


def post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v1/work", json={}, timeout=10, **kwargs)


def test_a_request_crosses_all_five_hops(stack):
    response = post(stack.endpoints()["entry_url"])
    assert response.status_code == 200
    assert response.json()["hops"] == ["gateway", "auth", "featurestore", "inference", "formatter"]


def test_prometheus_scrapes_every_replica_and_every_envoy(stack):
    url = stack.endpoints()["prometheus_url"]
    expected = sum(stack.replica_count(s) for s in stack.replicas) + len(stack.proxies)

    def all_up():
        targets = httpx.get(f"{url}/api/v1/targets").json()["data"]["activeTargets"]
        return sum(t["health"] == "up" for t in targets) >= expected

    wait_for(all_up, what="all targets up in Prometheus")


def test_a_new_replica_takes_traffic_only_once_ready(stack):
    proxy_url = stack.endpoints()["proxies"]["auth"]["url"]
    stack.scale("auth", 2)
    new = stack.replicas["auth"][-1]
    new_url = f"http://127.0.0.1:{new.port}"
    sent_before_ready = 0
    while not ok(f"{new_url}/readyz"):  # starting, then 1.5 s of emulated application start
        assert post(proxy_url).status_code == 200
        sent_before_ready += 1
    assert sent_before_ready > 0, "the new replica was ready before any request was sent"
    deadline = time.monotonic() + 20
    while post(proxy_url).json()["replica"] != new.name:
        assert time.monotonic() < deadline, "the ready replica never took traffic"
    assert metric(new_url, "tailstorm_unready_requests_total") == 0
    assert metric(new_url, "tailstorm_request_duration_seconds_count") >= 1
    stack.scale("auth", 1)


def test_a_run_time_replica_goes_through_pod_phases_and_joins_eds_only_when_ready(stack):
    timing = stack.scenario.pods
    proxy_url = stack.endpoints()["proxies"]["auth"]["url"]
    eds_path = stack.proxies["auth"].eds_path
    stack.scale("auth", 2)
    new = stack.replicas["auth"][-1]
    deadline = time.monotonic() + 20
    while not new.ready:  # until Ready, the pod is never an endpoint
        assert f"port_value: {new.port}" not in eds_path.read_text(), "an unready pod was in EDS"
        assert time.monotonic() < deadline, "the new pod never became ready"
    wait_for(lambda: f"port_value: {new.port}" in eds_path.read_text(), what="the ready pod in EDS")
    while new.first_request_at is None:
        assert post(proxy_url).status_code == 200
        assert time.monotonic() < deadline, "the ready pod never served a request"
    wait_for(lambda: any(e["type"] == "pod_first_request" and e["pod"] == new.name
                         for e in events_module.read_events(stack.events.path)), what="pod_first_request")
    times = {e["type"]: e["time"] for e in events_module.read_events(stack.events.path) if e.get("pod") == new.name}
    order = ["pod_created", "pod_scheduled", "pod_started", "pod_ready", "pod_first_request"]
    assert [times[k] for k in order] == sorted(times[k] for k in order)
    assert times["pod_scheduled"] - times["pod_created"] >= timing.scheduling_delay_seconds
    assert times["pod_started"] - times["pod_scheduled"] >= timing.container_start_seconds
    since_start = times["pod_ready"] - times["pod_started"]
    assert since_start >= stack.scenario.services["auth"].ready_after_seconds  # the app's own boot
    ticks = (since_start - timing.readiness_initial_delay_seconds) / timing.readiness_period_seconds
    assert abs(ticks - round(ticks)) < 0.3, f"ready {since_start:.2f} s after start is not on a probe tick"
    stack.scale("auth", 1)


def ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def metric(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in "{ ")


def test_removing_a_replica_under_load_loses_no_accepted_request(stack):
    entry = stack.endpoints()["entry_url"]
    leaving = stack.replicas["inference"][-1]
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(post, entry) for _ in range(16)]
        wait_for(lambda: metric(f"http://127.0.0.1:{leaving.port}", "tailstorm_request_duration_seconds_count") > 0,
                 what="load reaching the replica that will leave")
        futures += [pool.submit(post, entry) for _ in range(48)]
        stack.scale("inference", 1)
        futures += [pool.submit(post, entry) for _ in range(16)]
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * len(statuses), [f.result().text for f in futures if f.result().status_code != 200][:3]
    kinds = [e["type"] for e in events_module.read_events(stack.events.path) if e.get("pod") == leaving.name]
    assert kinds[-2:] == ["pod_draining", "pod_deleted"]
    assert not leaving.process.is_running()


def test_a_tripped_breaker_answers_503_and_envoy_counts_the_overflow(stack):
    proxy = stack.endpoints()["proxies"]["formatter"]
    limits = {f"circuit_breakers.formatter.default.{key}": 1 for key in ("max_requests", "max_pending_requests")}
    httpx.post(f"{proxy['admin_url']}/runtime_modify", params=limits).raise_for_status()  # live, as in a drill
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: post(proxy["url"]), range(8)))
    finally:
        httpx.post(f"{proxy['admin_url']}/runtime_modify", params={k: "" for k in limits}).raise_for_status()
    overflowed = [r for r in responses if r.status_code == 503]
    assert overflowed and any(r.status_code == 200 for r in responses)
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in overflowed)
    stats = httpx.get(f"{proxy['admin_url']}/stats", params={"filter": "cluster.formatter.upstream_rq_.*overflow"}).text
    counts = dict(line.split(": ") for line in stats.splitlines())
    total = int(counts["cluster.formatter.upstream_rq_pending_overflow"]) + int(counts.get("cluster.formatter.upstream_rq_active_overflow", 0))
    assert total == len(overflowed)


def test_a_replica_that_dies_on_its_own_is_noticed_and_dropped(stack):
    stack.scale("featurestore", 2)
    victim = stack.replicas["featurestore"][-1]
    wait_for(lambda: victim.process is not None, what="the new featurestore pod's container starting")
    os.kill(victim.process.pid, signal.SIGKILL)
    wait_for(lambda: victim not in stack.replicas["featurestore"], what="the watchdog dropping the dead replica")
    died = [e for e in events_module.read_events(stack.events.path) if e["type"] == "pod_died"]
    assert died[-1]["pod"] == victim.name
    assert post(stack.endpoints()["entry_url"]).status_code == 200


def test_the_final_count_waits_for_requests_that_outlive_the_load(stack):
    """What the runner does after Locust stopped: wait for a scrape showing nothing in flight, so the
    dump counts every request the proxies forwarded (orchestration/collecting.py)."""
    from orchestration import collecting  # noqa: PLC0415 (only this test drives the runner's collection step)
    url = stack.endpoints()["prometheus_url"]
    stack.set_faults("formatter", {"extra_latency_seconds": 5.0})
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(post, stack.endpoints()["proxies"]["formatter"]["url"])
            wait_for(lambda: in_flight(url, "formatter") >= 1, what="the slow request to show in flight")
            assert collecting.wait_until_drained(url, after=time.time(), timeout_seconds=2) != 0  # not yet (or no scrape)
            assert collecting.wait_until_drained(url, after=time.time(), timeout_seconds=20) == 0
            assert slow.done() and slow.result().status_code == 200
    finally:
        stack.set_faults("formatter", {})


def in_flight(prometheus_url: str, service: str) -> float:
    result = httpx.get(f"{prometheus_url}/api/v1/query",
                       params={"query": f'sum(tailstorm_requests_in_flight{{service="{service}"}})'}).json()
    return float(result["data"]["result"][0]["value"][1]) if result["data"]["result"] else 0.0


@pytest.mark.parametrize("path", ["/admin/faults", "//admin/faults", "/v1/../admin/faults", "/%61dmin/faults",
                                  "/admin/../admin/faults"])
def test_the_admin_api_is_not_reachable_through_a_proxy(stack, path):
    proxy_url = stack.endpoints()["proxies"]["formatter"]["url"]
    token = {"x-tailstorm-admin-token": stack.admin_token}
    with socket.create_connection(("127.0.0.1", int(proxy_url.rsplit(":", 1)[1])), timeout=5) as conn:
        body = b'{"error_probability": 1}'  # raw HTTP: clients would normalise the path themselves
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nx-tailstorm-admin-token: {stack.admin_token}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
                     .encode() + body)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404"), answer[:200]
    assert b"server: envoy" in answer.lower() and b"the admin API is not served through the proxy" in answer
    replica = stack.endpoints()["replicas"]["formatter"][0]
    assert httpx.get(f"{replica}/admin/faults", headers=token).json()["error_probability"] == 0  # nothing was set


def test_a_busy_port_is_one_clear_sentence(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        events = events_module.EventLog(tmp_path / "events.jsonl")
        backend = local_backend.LocalBackend(scenario_module.load_scenario(SCENARIO), tmp_path, events=events,
                                             entry_port=port)
        with pytest.raises(processes.BackendError) as raised:
            backend.up()
    assert str(raised.value) == (f"port {port} on 127.0.0.1 for the entry proxy is already in use by another "
                                 f"process; pass another with --entry-port, or leave --entry-port out to take a free one")
    assert backend.table.all() == []


def test_a_missing_binary_is_one_clear_sentence(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(processes.BackendError, match="^prometheus was not found on PATH; on Debian/Ubuntu run `make setup`"):
        processes.find_binary("prometheus", env_var="TAILSTORM_PROMETHEUS_UNSET", hint=local_backend.PROMETHEUS_HINT)
    monkeypatch.setenv("TAILSTORM_ENVOY", "/nonexistent/envoy")
    with pytest.raises(processes.BackendError, match="TAILSTORM_ENVOY=/nonexistent/envoy is not an executable"):
        processes.find_binary("envoy", env_var="TAILSTORM_ENVOY", hint=local_backend.ENVOY_HINT)
