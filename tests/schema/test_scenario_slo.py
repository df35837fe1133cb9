"""The scenario schema's ``slo`` block and tolerances, as the analysis reads them.

Aspects: an slo block with per-service and end-to-end thresholds validates and resolves into
scenario.json data; unknown keys inside it stay rejected with the allowed keys named; an SLO for a
service outside the topology is refused; the two analysis scenarios are in the catalog, keep under
their time budgets and say what the checks need (no calls and exponential service; an SLO per
backend at a histogram bucket bound).
"""
import math

import pytest

from schema import scenario

BASE = """name: {name}
entry: formatter
services:
  formatter: {{}}
stages:
  - {{name: steady, duration_seconds: 10, arrival_rate_per_second: 2}}
"""


def write(tmp_path, name: str, extra: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.format(name=name) + extra)
    return path


def test_an_slo_block_validates_and_resolves_to_plain_data(tmp_path):
    path = write(tmp_path, "with-slo", "slo:\n  end_to_end: {latency_seconds: 0.25}\n"
                                       "  services: {formatter: {latency_seconds: 0.1}}\n")
    resolved = scenario.load_scenario(path).model_dump(mode="json")
    assert resolved["slo"] == {"objective": 0.99, "end_to_end": {"latency_seconds": 0.25},
                               "services": {"formatter": {"latency_seconds": 0.1}}}


@pytest.mark.parametrize("block, message", [
    pytest.param("slo:\n  end_to_end: {latency_seconds: 0.2}\n  budget: 3\n", "slo.budget: unknown key; allowed here: "
                 "end_to_end, objective, services", id="unknown-top-key"),
    pytest.param("slo:\n  end_to_end: {latency_seconds: 0.2, p: 99}\n", "slo.end_to_end.p: unknown key; allowed here: "
                 "latency_seconds", id="unknown-threshold-key"),
    pytest.param("slo:\n  end_to_end: {latency_seconds: -1}\n", "slo.end_to_end.latency_seconds", id="negative"),
    pytest.param("slo:\n  services: {formatter: {latency_seconds: 0.1}}\n", "slo.end_to_end", id="no-end-to-end"),
])
def test_a_bad_slo_block_is_refused_with_the_field_named(tmp_path, block, message):
    with pytest.raises(scenario.ScenarioError, match=message.replace("(", r"\(")):
        scenario.load_scenario(write(tmp_path, "bad-slo", block))


def test_an_slo_for_a_service_outside_the_topology_is_refused(tmp_path):
    path = write(tmp_path, "stray", "slo:\n  end_to_end: {latency_seconds: 0.2}\n"
                                    "  services: {auth: {latency_seconds: 0.1}}\n")
    with pytest.raises(scenario.ScenarioError, match="'auth' is not under services"):
        scenario.load_scenario(path)


def test_utilization_knee_is_one_exponential_queue_under_four_minutes():
    knee = scenario.load_scenario("utilization-knee")
    (name, spec), = knee.services.items()
    assert name == knee.entry and not spec.calls and spec.work == "wait"
    assert spec.service_time.distribution == "exponential"
    capacity = spec.servers / spec.service_time.mean_seconds
    utilisations = [stage.arrival_rate_per_second / capacity for stage in knee.stages]
    assert utilisations == pytest.approx([0.3, 0.5, 0.7, 0.8, 0.9])
    assert knee.duration_seconds < 240


def test_slo_composition_puts_each_backend_threshold_on_a_bucket_bound():
    composed = scenario.load_scenario("slo-composition")
    assert composed.slo.end_to_end.latency_seconds > max(s.latency_seconds for s in composed.slo.services.values())
    for name, slo in composed.slo.services.items():
        spec = composed.services[name]
        assert not spec.calls  # own latency = the request histogram
        low = spec.service_time.mean_seconds / 20  # services/common/settings.py histogram_buckets
        steps = 2 * math.log2(slo.latency_seconds / low)
        assert steps == pytest.approx(round(steps), abs=1e-9)
