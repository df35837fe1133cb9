"""``tailstorm run --backend kind``: the whole run pipeline on the cluster backend, offline.

No cluster can run here, so the cluster backend gets its two seams faked (tests/deploy/cluster/fakes.py:
helm/kubectl recorded, the Kubernetes API served from recorded JSON), and its port-forwards lead to a
real local stack standing in for the cluster's workload: the entry Envoy and the Prometheus. Aspects:
the runner installs the scenario with Helm, drives real Locust through the entry "forward", keeps the
load on loopback, collects from the forwarded Prometheus, uninstalls, and writes the same report as a
local run, marked with the kind backend; the local autoscaler stays off (a cluster runs the real HPA);
a missing helm is one sentence before anything starts.
"""
import json
import pathlib

import pytest

from deploy.cluster import backend as cluster_backend
from deploy.local import backend as local_backend
from deploy.local import processes
from orchestration import runner
from schema import events as events_module
from schema import scenario as scenario_module
from tests.deploy.cluster.fakes import FakeKube, FakeTools, running_api_server

SCENARIO = pathlib.Path(__file__).parent / "data" / "short-chain.yaml"


@pytest.fixture
def workload(tmp_path_factory):
    """A real local stack: what the cluster's Services would answer behind the port-forwards."""
    folder = tmp_path_factory.mktemp("cluster-workload")
    events = events_module.EventLog(folder / "events.jsonl")
    stack = local_backend.LocalBackend(scenario_module.load_scenario(SCENARIO), folder, events=events)
    stack.up()
    yield stack
    stack.down()
    events.close()


@pytest.fixture
def api_server():
    with running_api_server() as server:
        yield server


def test_a_kind_run_installs_drives_collects_uninstalls_and_reports(tmp_path, monkeypatch, workload, api_server):
    tools = FakeTools(api_server, routes={"service/gateway": workload.endpoints()["entry_url"],
                                          "service/prometheus": workload.prometheus_url})
    made = {}

    def make_backend(placement, scenario, run_dir, *, events, table):
        assert placement.backend == "kind" and table is not None
        made["backend"] = cluster_backend.ClusterBackend(
            scenario, run_dir, events=events, tools=tools, kube_api=FakeKube(),
            settings=cluster_backend.ClusterSettings(context="kind-tailstorm", poll_interval_seconds=0.5))
        return made["backend"]

    monkeypatch.setattr(runner, "make_backend", make_backend)
    monkeypatch.setattr(runner, "tools_for", lambda placement: {})
    outcome = runner.run(str(SCENARIO), runs_dir=tmp_path, placement=runner.Placement(backend="kind"),
                         write=lambda line: None)
    assert outcome.exit_code == 0
    helm = [c for c in tools.commands if c[0] == "helm"]
    assert helm[0][1:3] == ("upgrade", "--install") and helm[-1][1] == "uninstall"
    assert [c[2] for c in tools.commands if c[0] == "port-forward"] == ["service/gateway", "service/prometheus"]
    assert all(forward.closed for forward in tools.forwards)
    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    assert summary["run"]["backend"] == "kind" and summary["run"]["complete"]
    (phase,) = summary["phases"]
    assert phase["client"]["requests"] > 100 and phase["server"]["inference"]["arrival_rate_per_second"] > 5
    verdict = summary["run"]["validity"]
    assert [r for r in verdict["reasons"] if r["check"] != "generator"] == []
    assert not (outcome.run_dir / "autoscaler").exists()  # no local HPA on a cluster
    assert (outcome.run_dir / "report.html").is_file()
    started = [e for e in events_module.read_events(outcome.run_dir / "events.jsonl") if e["type"] == "run_started"]
    assert started[0]["backend"] == "kind"


def test_a_cluster_run_without_helm_is_one_sentence_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(processes.BackendError, match="^helm is not on PATH: install Helm 3.14 or newer"):
        runner.run("smoke", runs_dir=tmp_path / "runs", placement=runner.Placement(backend="kind"))
    assert not (tmp_path / "runs").exists()
