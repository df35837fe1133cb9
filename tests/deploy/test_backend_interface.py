"""Both backends implement the one interface the run pipeline uses (deploy/backend.py).

Aspects: every method of ``Backend`` (the fault executor's members included) exists on the local
and the cluster backend with the same parameters (names and keyword-only markers), and both set
``prometheus_url``.
"""
import inspect
import pathlib

import pytest

from deploy import backend as backend_module
from deploy.cluster import backend as cluster_backend
from deploy.local import backend as local_backend
from schema import events as events_module
from schema import scenario as scenario_module

METHODS = [name for name, member in vars(backend_module.Backend).items()
           if callable(member) and not name.startswith("_")]


def parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("implementation", [local_backend.LocalBackend, cluster_backend.ClusterBackend],
                         ids=["local", "cluster"])
def test_a_backend_has_every_member_of_the_interface(implementation, tmp_path):
    assert set(METHODS) == {"up", "down", "endpoints", "scale", "replica_count", "pod_statuses", "kill_pods",
                            "replace_pods", "set_faults", "set_proxy_faults", "set_partitioned"}
    for name in METHODS:
        assert parameters(getattr(implementation, name)) == parameters(getattr(backend_module.Backend, name)), name
    events = events_module.EventLog(tmp_path / "events.jsonl")
    scenario = scenario_module.load_scenario("smoke")
    instance = implementation(scenario, pathlib.Path(tmp_path), events=events)
    assert instance.prometheus_url == ""  # set by up()
    events.close()
