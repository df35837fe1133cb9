"""What a loaded scenario derives for a run, beyond validating it.

Aspects: ``replica_settings`` is exactly what the scenario sets for a service's replicas (its work
model, readiness delay and calls without their ``url``, nothing it leaves out, no replica count or
Envoy block); ``effective_services`` is the work model of each service (its own defaults under the
scenario's settings) and only that; ``expected_arrivals`` gives each open-loop stage's expected
arrivals at its breakpoints (hand-derived here) and None for a closed-loop one;
``rate_steps`` gives each open-loop stage's upward rate jumps (hand-derived here) and None for a
closed-loop one; class shares may miss 1 by ``SHARE_SLACK`` and no more; ``least_latency_seconds`` sums the mean service times along the call graph, a service without one
counting 0; ``find_cycle`` accepts callees that are not keys and looks up each service's calls once.
"""
import importlib
import pathlib

import pytest

from schema import scenario
from services.common import settings as service_settings

DERIVED = """name: derived
entry: gateway
services:
  gateway:
    replicas: 2
    servers: 3
    queue_limit: 7
    ready_after_seconds: 1.5
    service_time: {distribution: lognormal, mean_seconds: 0.02, sigma: 0.8}
    envoy: {lb_policy: round_robin}
    calls: [{service: featurestore, timeout_seconds: 1.5, retries: 2}]
  featurestore: {shards: 3, work: cpu, calls: [{service: formatter, parallel: 2}]}
  formatter: {}
stages:
  - {name: steady, duration_seconds: 10, arrival_rate_per_second: 2}
"""


def load(tmp_path: pathlib.Path, text: str, name: str) -> scenario.Scenario:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return scenario.load_scenario(path)


def test_replica_settings_are_what_the_scenario_sets_for_the_service_and_nothing_else(tmp_path):
    loaded = load(tmp_path, DERIVED, "derived")
    default_retry = service_settings.Retry().model_dump()
    assert loaded.replica_settings("gateway") == {
        "service": "gateway", "ready_after_seconds": 1.5, "servers": 3, "queue_limit": 7,
        "service_time": {"distribution": "lognormal", "mean_seconds": 0.02, "sigma": 0.8},
        "calls": [{"service": "featurestore", "timeout_seconds": 1.5, "retries": 2, "retry": default_retry,
                   "parallel": 1}],
    }
    assert loaded.replica_settings("featurestore") == {
        "service": "featurestore", "ready_after_seconds": 0.0, "shards": 3, "work": "cpu",
        "calls": [{"service": "formatter", "timeout_seconds": 2.0, "retries": 0, "retry": default_retry,
                   "parallel": 2}],
    }
    assert loaded.replica_settings("formatter") == {"service": "formatter", "ready_after_seconds": 0.0}


def test_replica_settings_carry_the_emulated_gpu_of_a_gpu_service(tmp_path):
    text = DERIVED.replace("  formatter: {}", "  formatter: {}\n  inference: {work: gpu, gpu: {tensor_parallel_size: 2}}")
    settings = load(tmp_path, text, "derived").replica_settings("inference")
    assert settings == {"service": "inference", "ready_after_seconds": 0.0, "work": "gpu",
                        "gpu": {"profile": "h100-sxm", "model": "llama-3-8b", "tensor_parallel_size": 2,
                                "policy": "fifo", "time_scale": 1.0}}  # kv_capacity_tokens unset: left out


def test_effective_services_are_each_services_work_model_only(tmp_path):
    effective = load(tmp_path, DERIVED, "derived").effective_services()
    gateway = importlib.import_module("services.gateway.app").DEFAULTS
    formatter = importlib.import_module("services.formatter.app").DEFAULTS
    assert effective["gateway"] == {
        "servers": 3, "queue_limit": 7, "work": "wait", "shards": 1,
        "service_time": {"distribution": "lognormal", "mean_seconds": 0.02, "sigma": 0.8},
        "tenant_limits": {}, "tenant_limit_default": None,
    }
    assert effective["featurestore"]["shards"] == 3 and effective["featurestore"]["work"] == "cpu"
    assert effective["formatter"]["servers"] == formatter.get("servers", 1)
    assert effective["formatter"]["service_time"]["mean_seconds"] == formatter["service_time"]["mean_seconds"]
    assert gateway["servers"] != 3  # the scenario's 3 won over the service's own default
    assert set(effective) == {"gateway", "featurestore", "formatter"}
    assert all(set(model) == {"servers", "queue_limit", "work", "shards", "service_time", "tenant_limits",
                              "tenant_limit_default"} for model in effective.values())


SHAPED = """name: shaped
services:
  formatter: {service_time: {mean_seconds: 0.01}}
entry: formatter
stages:
  - {name: steady, duration_seconds: 10, arrival_rate_per_second: 2}
  - {name: spike, duration_seconds: 30, spike: {base_per_second: 5, peak_per_second: 50, at_seconds: 10, length_seconds: 5}}
"""


def test_expected_arrivals_are_each_stages_count_at_its_breakpoints(tmp_path):
    curves = load(tmp_path, SHAPED, "shaped").expected_arrivals()
    assert curves[0] == [[0.0, 0.0], [10.0, 20.0]]  # 2/s for 10 s
    # 5/s for 10 s (50), then 50/s for 5 s (+250 = 300), then 5/s for 15 s (+75 = 375)
    assert curves[1] == [[0.0, 0.0], [10.0, 50.0], [15.0, 300.0], [30.0, 375.0]]


def test_a_closed_loop_client_has_no_expected_arrivals(tmp_path):
    text = ("name: closed\nservices:\n  formatter: {}\nentry: formatter\nclient: {kind: closed, users: 3}\n"
            "stages:\n  - {name: a, duration_seconds: 10}\n  - {name: b, duration_seconds: 20}\n")
    assert load(tmp_path, text, "closed").expected_arrivals() == [None, None]


def test_the_least_latency_sums_mean_service_times_along_the_calls_counting_none_as_zero(tmp_path):
    loaded = load(tmp_path, DERIVED, "derived")
    # gateway 0.02 s → featurestore and formatter give no service_time: 0 each
    assert scenario.least_latency_seconds(loaded) == pytest.approx(0.02, abs=1e-12)
    timed = DERIVED.replace("  formatter: {}", "  formatter: {service_time: {mean_seconds: 0.01}}")
    assert scenario.least_latency_seconds(load(tmp_path, timed, "derived")) == pytest.approx(0.03, abs=1e-12)


def test_a_callee_that_is_not_a_key_is_a_leaf_of_the_call_graph():
    assert scenario.find_cycle({"gateway": ["auth"], "auth": ["formatter"]}) is None
    assert scenario.find_cycle({"gateway": ["auth"], "auth": ["featurestore"], "featurestore": ["auth"]}) == \
        ["auth", "featurestore", "auth"]


class LookupCounter(dict):
    """A call graph that counts how often each service's calls are looked up."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lookups: dict[str, int] = {}

    def get(self, key, *default):
        self.lookups[key] = self.lookups.get(key, 0) + 1
        return super().get(key, *default)


def test_the_cycle_search_looks_up_each_services_calls_once():
    # a diamond whose shared callee is also a later start: each node is explored once, not once per path
    graph = LookupCounter({"gateway": ["auth", "featurestore"], "auth": ["inference"],
                           "featurestore": ["inference"], "inference": ["formatter"], "formatter": []})
    assert scenario.find_cycle(graph) is None
    assert graph.lookups == {"gateway": 1, "auth": 1, "featurestore": 1, "inference": 1, "formatter": 1}


STEPPED = """name: stepped
entry: gateway
services:
  gateway: {}
stages:
  - {name: calm, duration_seconds: 20, arrival_rate_per_second: 10}
  - {name: rush, duration_seconds: 40, square: {low_per_second: 5, high_per_second: 25, period_seconds: 20}}
  - {name: after, duration_seconds: 10, arrival_rate_per_second: 2}
"""


def test_rate_steps_are_each_upward_jump_of_the_schedule(tmp_path):
    steps = load(tmp_path, STEPPED, "stepped").rate_steps()
    # the square wave starts high (25 after the calm 10: a jump at its start), is low from 10 s and
    # high again from 20 s (low again from 30 s); `after` starts below where `rush` ended: no jump
    assert steps[0] == [] and steps[2] == []
    assert steps[1][0] == [0.0, 10.0, 25.0]
    assert all(after > before for _, before, after in steps[1])
    assert [at for at, _, _ in steps[1]] == [0.0, 20.0]


def test_a_closed_loop_has_no_rate_steps(tmp_path):
    closed = ("name: closed\nentry: gateway\nclient: {kind: closed, users: 4}\nservices:\n  gateway: {}\n"
              "stages:\n  - {name: a, duration_seconds: 20}\n  - {name: b, duration_seconds: 20}\n")
    assert load(tmp_path, closed, "closed").rate_steps() == [None, None]


def test_class_shares_may_miss_one_by_the_slack_and_no_more(monkeypatch):
    monkeypatch.setattr(scenario, "SHARE_SLACK", 0.25)  # binary fractions: the sums below are exact
    assert scenario.shares_problem({"a": 0.5, "b": 0.75}) is None  # 1.25: exactly the slack away
    assert scenario.shares_problem({"a": 0.5, "b": 0.25}) is None
    assert scenario.shares_problem({"a": 0.5, "b": 0.875}) == (
        "the shares sum to 1.375; each is its class's share of the arrivals, so they must sum to 1: adjust them")
