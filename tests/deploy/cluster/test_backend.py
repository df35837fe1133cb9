"""The cluster backend's whole sequence against recording fakes of helm/kubectl and the API.

We test these aspects:

- ``up`` installs the scenario's values with ``helm upgrade --install --wait`` into the namespace,
  then port-forwards (127.0.0.1) to the entry Service and Prometheus and waits for Prometheus;
- the timeline is read back from objects shaped as the API serves them (tests/controllers/data)
  and has the local backend's event types: pod phases, draining, deletion, death, HPA decisions
  with the scale they wrote, the metric crossing its target, first requests, faults; the report's
  lag timeline (analysis/tables/lagtimeline.py) reads it unchanged;
- faults go to every running pod's admin API (or the named ones) through a port-forward to the
  pod, with the run's token, and a dependency fault to every Envoy pod's ``/runtime_modify``;
  killing, replacing and partitioning pods say they are not supported on a cluster yet; ``scale``
  patches the Deployment's scale subresource;
- ``down`` uninstalls (not with ``keep``), closes every forward; a failed install uninstalls
  nothing and raises the tool's message.
"""
from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from analysis.tables import lagtimeline
from tests.deploy.cluster.fakes import FakeApiServer, FakeKube, FakeTools, running_api_server
from controllers import lagrecording
from schema import events as events_module
from deploy.cluster import backend as cluster_backend
from deploy.cluster import tooling
from schema import scenario as scenario_module

NAMESPACE = "tailstorm"
INFERENCE_SELECTOR = "app.kubernetes.io/instance=tailstorm,app.kubernetes.io/name=inference"


def t(text: str) -> float:
    return lagrecording.epoch_seconds(text)


@pytest.fixture
def api_server():
    with running_api_server() as server:
        yield server


@pytest.fixture
def run(tmp_path: pathlib.Path, api_server: FakeApiServer):
    log = events_module.EventLog(tmp_path / "events.jsonl")
    tools, fake_kube = FakeTools(api_server), FakeKube()
    scenario = scenario_module.load_scenario("chaos-spike")
    backend = cluster_backend.ClusterBackend(scenario, tmp_path, events=log, tools=tools, kube_api=fake_kube,
                                             settings=cluster_backend.ClusterSettings(context="kind-tailstorm"))
    yield backend, tools, fake_kube, tmp_path / "events.jsonl"
    log.close()


def test_up_installs_the_scenario_then_forwards_to_the_entry_and_prometheus(run) -> None:
    backend, tools, _, _ = run
    backend.up()
    try:
        values_path = backend.run_dir / "backend" / "values.yaml"
        assert tools.commands == [
            ("helm", "upgrade", "--install", "tailstorm", str(backend.settings.chart), "--namespace", NAMESPACE,
             "--create-namespace", "--values", str(values_path), "--wait", "--timeout", "300s"),
            ("port-forward", NAMESPACE, "service/gateway", "80"),
            ("port-forward", NAMESPACE, "service/prometheus", "9090"),
        ]
        installed = yaml.safe_load(values_path.read_text())
        assert installed["adminToken"] == {"value": backend.admin_token}
        assert installed["services"]["inference"]["autoscaling"]["metrics"][0]["pods"]["metric"]["name"] == \
            "tailstorm_requests_in_flight"
        assert backend.endpoints()["prometheus_url"] == backend.endpoints()["entry_url"] == tools.forwards[0].url
    finally:
        backend.down()


def test_the_timeline_has_the_local_backends_event_types_and_feeds_the_lag_report(run, api_server) -> None:
    backend, _, fake_kube, path = run
    backend.up()
    try:
        fake_kube.hpa_scales_up()
        api_server.first_request_pods.append("inference-7c9d5b6f4d-r7bzn")
        backend.record_once(now=t("2024-05-01T12:01:20Z"))
        fake_kube.later()
        backend.record_once(now=t("2024-05-01T12:01:30Z"))
        fake_kube.scale_down_and_crash()
        backend.record_once(now=t("2024-05-01T12:08:31Z"))
    finally:
        backend.down()
    events = events_module.read_events(path)
    types = {e["type"] for e in events}
    assert types >= {"pod_created", "pod_scheduled", "pod_started", "pod_ready", "pod_first_request", "pod_draining",
                     "pod_deleted", "pod_died", "hpa_decision", "scale", "metric_crossed_target"}
    assert types <= events_module.TYPES
    decisions = [(e["current_replicas"], e["desired_replicas"]) for e in events if e["type"] == "hpa_decision"]
    assert decisions == [(2, 3), (3, 4)]
    assert [(e["from_replicas"], e["to_replicas"]) for e in events if e["type"] == "scale"] == [(2, 3), (3, 4)]
    draining = next(e for e in events if e["type"] == "pod_draining")
    assert (draining["pod"], draining["time"]) == ("inference-7c9d5b6f4d-h5vcj", t("2024-05-01T12:08:00Z"))
    died = next(e for e in events if e["type"] == "pod_died")
    assert (died["pod"], died["returncode"], died["time"]) == ("inference-7c9d5b6f4d-x2kqp", 137, t("2024-05-01T12:07:12Z"))
    assert [e["pod"] for e in events if e["type"] == "pod_deleted"] == ["inference-7c9d5b6f4d-r7bzn"]
    crossed = next(e for e in events if e["type"] == "metric_crossed_target")
    assert (crossed["metric"], crossed["value"], crossed["target"]) == ("cpu", 82.0, 60.0)
    # every pod event once, however often polled
    pod_events = [(e["type"], e["pod"]) for e in events if e["type"].startswith("pod_")]
    assert len(pod_events) == len(set(pod_events))

    scale_ups = lagtimeline.scale_ups(events)
    assert [(s.from_replicas, s.to_replicas) for s in scale_ups] == [(2, 3), (3, 4)]
    first = scale_ups[0]
    assert first.times["pod_created"] == t("2024-05-01T12:00:31Z")
    assert first.times["pod_ready"] == t("2024-05-01T12:00:41Z")
    assert first.times["pod_first_request"] == t("2024-05-01T12:01:20Z")


def test_faults_reach_every_running_pod_through_its_own_port_forward_with_the_token(run, api_server) -> None:
    backend, tools, _, _ = run
    backend.up()
    try:
        pods = backend.set_faults("inference", {"extra_latency_seconds": 0.2})
        named = backend.set_faults("inference", {}, pods=["inference-7c9d5b6f4d-m8w4t", "inference-gone"])
    finally:
        backend.down()
    assert pods == ["inference-7c9d5b6f4d-x2kqp", "inference-7c9d5b6f4d-m8w4t"]
    assert named == ["inference-7c9d5b6f4d-m8w4t"]  # a pod gone since is skipped
    assert [c for c in tools.commands if c[0] == "port-forward"][2:] == [
        ("port-forward", NAMESPACE, f"pod/{pod}", "8080") for pod in pods + named]
    assert api_server.fault_posts == [("/admin/faults", {"extra_latency_seconds": 0.2}, backend.admin_token)] * 2 + [
        ("/admin/faults", {}, backend.admin_token)]
    assert all(f.closed for f in tools.forwards)


def test_a_dependency_fault_reaches_every_envoy_pod_of_the_service_through_its_admin(run, api_server) -> None:
    backend, tools, fake_kube, _ = run
    backend.scenario = backend.scenario.model_copy(update={"faults": (scenario_module.Fault(
        kind="dependency-abort", service="formatter", at_seconds=1, duration_seconds=2, percent=30),)})
    proxy = copy.deepcopy(fake_kube.pods[0])
    proxy["metadata"]["name"] = "formatter-envoy-5d8f7-abcde"
    proxy["metadata"]["labels"] = {"app.kubernetes.io/instance": "tailstorm", "app.kubernetes.io/name": "formatter",
                                   "app.kubernetes.io/component": "envoy"}
    fake_kube.pods.append(proxy)
    backend.up()
    try:
        backend.set_proxy_faults("formatter", abort_percent=30, abort_status=502)
        with pytest.raises(cluster_backend.ClusterError, match="runs without the fault filter"):
            backend.set_proxy_faults("gateway", abort_percent=30)
    finally:
        backend.down()
    assert [c for c in tools.commands if c[0] == "port-forward"][2:] == [
        ("port-forward", NAMESPACE, "pod/formatter-envoy-5d8f7-abcde", "9901")]
    assert api_server.fault_posts == [("/runtime_modify?fault.http.abort.abort_percent=30&fault.http.abort.http_status"
                                       "=502&fault.http.delay.fixed_delay_percent=&fault.http.delay.fixed_duration_ms=",
                                       {}, "")]
    assert envoy_bootstrap_has_fault_filter(backend.values(), "formatter")
    assert not envoy_bootstrap_has_fault_filter(backend.values(), "gateway")


def envoy_bootstrap_has_fault_filter(values: dict, service: str) -> bool:
    listener = values["services"][service]["envoyBootstrap"]["static_resources"]["listeners"][0]
    http_filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    return any(f["name"] == "envoy.filters.http.fault" for f in http_filters)


@pytest.mark.parametrize("call", [
    pytest.param(lambda b: b.kill_pods("inference", ["inference-7c9d5b6f4d-x2kqp"]), id="kill"),
    pytest.param(lambda b: b.replace_pods("inference", 1), id="replace"),
    pytest.param(lambda b: b.set_partitioned("inference", ["inference-7c9d5b6f4d-x2kqp"], partitioned=True),
                 id="partition"),
])
def test_killing_replacing_and_partitioning_pods_say_they_are_not_supported_on_a_cluster_yet(run, call) -> None:
    backend, _, fake_kube, _ = run
    with pytest.raises(cluster_backend.ClusterError, match="not supported on a cluster yet"):
        call(backend)
    assert [a for a in fake_kube.actions if a[0] in ("patch", "delete")] == []


def test_scale_patches_the_deployments_scale_and_records_it(run) -> None:
    backend, _, fake_kube, path = run
    backend.up()
    try:
        backend.scale("formatter", 3, reason="manual")
        backend.scale("formatter", 3)  # already there: nothing to write
        assert backend.replica_count("formatter") == 3
    finally:
        backend.down()
    assert [a for a in fake_kube.actions if a[0] == "patch"] == [("patch", "Deployment/scale", NAMESPACE, "formatter", 3)]
    assert [e for e in events_module.read_events(path) if e["type"] == "scale"][0]["to_replicas"] == 3
    with pytest.raises(cluster_backend.ClusterError, match="unknown service"):
        backend.scale("nope", 2)


def test_pod_statuses_read_phase_readiness_and_times_like_the_local_backend(run) -> None:
    backend, _, fake_kube, _ = run
    fake_kube.hpa_scales_up()
    statuses = {s["name"].rsplit("-", 1)[1]: s for s in backend.pod_statuses("inference")}
    assert statuses["h5vcj"] == {"name": "inference-7c9d5b6f4d-h5vcj", "phase": "Running", "ready": False,
                                 "created_at": t("2024-05-01T12:01:16Z"), "start_time": statuses["h5vcj"]["start_time"],
                                 "ready_since": None, "unready_since": t("2024-05-01T12:01:17Z")}
    assert statuses["x2kqp"]["ready"] and statuses["x2kqp"]["ready_since"] == t("2024-05-01T11:38:09Z")


def test_down_uninstalls_and_closes_every_forward_unless_kept(run, tmp_path, api_server) -> None:
    backend, tools, _, _ = run
    backend.up()
    backend.down()
    assert tools.commands[-1] == ("helm", "uninstall", "tailstorm", "--namespace", NAMESPACE, "--wait")
    assert all(forward.closed for forward in tools.forwards)

    kept_tools = FakeTools(api_server)
    log = events_module.EventLog(tmp_path / "kept.jsonl")
    kept = cluster_backend.ClusterBackend(backend.scenario, tmp_path / "kept", events=log, tools=kept_tools,
                                          kube_api=FakeKube(), settings=cluster_backend.ClusterSettings(keep=True))
    kept.up()
    kept.down()
    log.close()
    assert not any(c[:2] == ("helm", "uninstall") for c in kept_tools.commands)


def test_a_failed_install_raises_the_tools_message_and_uninstalls_nothing(tmp_path, api_server) -> None:
    tools = FakeTools(api_server, fail_helm=True)
    log = events_module.EventLog(tmp_path / "events.jsonl")
    backend = cluster_backend.ClusterBackend(scenario_module.load_scenario("smoke"), tmp_path, events=log, tools=tools,
                                             kube_api=FakeKube())
    with pytest.raises(tooling.CommandFailed, match="context deadline exceeded"):
        backend.up()
    log.close()
    assert [c[:2] for c in tools.commands] == [("helm", "upgrade")]
