"""The fault schedule in the scenario schema (``faults:``).

Aspects: every kind of the vocabulary loads with its parameters and gets a caption; a fault is
refused, naming its index and the fix, when it names a service the scenario lacks, gives a
parameter of another kind or misses its own, picks replicas two ways or (for a kill or a partition)
not at all, lasts no time (only a kill may), ends after the last stage, asks for an Envoy delay in
fractions of a millisecond, slows a GPU the service does not run, adds latency to a GPU service,
or overlaps another fault of its kind on the same service; the services whose Envoy needs the fault
filter are those with a dependency fault; the CLI says it in one sentence with exit 2.
"""
import pathlib
import subprocess
import sys

import pytest

from schema import scenario

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = """name: {name}
services:
  gateway: {{calls: [{{service: inference}}]}}
  inference: {{replicas: 2{inference}}}
  formatter: {{}}
stages:
  - {{name: steady, duration_seconds: 30, arrival_rate_per_second: 2}}
faults:
{faults}
"""


def write(tmp_path: pathlib.Path, faults: list[str], *, inference: str = "", name: str = "f") -> pathlib.Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.format(name=name, inference=inference, faults="\n".join(f"  - {f}" for f in faults)))
    return path


GPU = ", work: gpu, gpu: {profile: h100-sxm, model: llama-3-8b}"


@pytest.mark.parametrize("fault, caption", [
    pytest.param("{kind: kill, service: inference, at_seconds: 5, duration_seconds: 0, replicas: 1}",
                 "kill 1 inference replica", id="kill"),
    pytest.param("{kind: latency, service: formatter, at_seconds: 5, duration_seconds: 5, extra_latency_seconds: 0.2}",
                 "+0.2 s latency on formatter", id="latency"),
    pytest.param("{kind: error-rate, service: inference, at_seconds: 5, duration_seconds: 5, replica_share: 0.5, "
                 "error_probability: 0.1}", "10% errors on 50% of inference", id="error-rate"),
    pytest.param("{kind: cpu-hog, service: gateway, at_seconds: 5, duration_seconds: 5, cpu_hog_cores: 1.5}",
                 "CPU hog of 1.5 cores on gateway", id="cpu-hog"),
    pytest.param("{kind: dependency-abort, service: formatter, at_seconds: 5, duration_seconds: 5, percent: 30}",
                 "formatter's proxy aborts 30% (503)", id="dependency-abort"),
    pytest.param("{kind: dependency-delay, service: formatter, at_seconds: 5, duration_seconds: 5, percent: 100, "
                 "delay_seconds: 0.25}", "formatter's proxy delays 100% by 0.25 s", id="dependency-delay"),
    pytest.param("{kind: partition, service: inference, at_seconds: 5, duration_seconds: 5, replica_share: 1}",
                 "partition inference from its proxy", id="partition"),
])
def test_every_kind_loads_with_its_parameters_and_a_caption(tmp_path, fault, caption):
    (loaded,) = scenario.load_scenario(write(tmp_path, [fault])).faults
    assert loaded.label == caption
    assert set(loaded.parameters) <= set(scenario.SELECTORS + scenario.FAULT_PARAMETERS)


def test_the_gpu_faults_load_on_a_gpu_service(tmp_path):
    faults = ["{kind: gpu-slow, service: inference, at_seconds: 5, duration_seconds: 5, gpu_clock_factor: 0.5}",
              "{kind: gpu-stall, service: inference, at_seconds: 12, duration_seconds: 2, replicas: 1}"]
    loaded = scenario.load_scenario(write(tmp_path, faults, inference=GPU)).faults
    assert [f.label for f in loaded] == ["GPU at 50% clocks on inference", "GPU stalled on 1 inference replica"]


@pytest.mark.parametrize("faults, inference, message", [
    pytest.param(["{kind: latency, service: auth, at_seconds: 1, duration_seconds: 2, extra_latency_seconds: 0.1}"], "",
                 "faults.0 (latency): 'auth' is not under services", id="unknown-service"),
    pytest.param(["{kind: latency, service: inference, at_seconds: 1, duration_seconds: 2, extra_latency_seconds: 0.1, "
                  "percent: 5}"], "", "faults.0: latency takes extra_latency_seconds, replicas, replica_share, not percent",
                 id="parameter-of-another-kind"),
    pytest.param(["{kind: error-rate, service: inference, at_seconds: 1, duration_seconds: 2}"], "",
                 "faults.0: error-rate needs error_probability", id="missing-parameter"),
    pytest.param(["{kind: kill, service: inference, at_seconds: 1, duration_seconds: 2, replicas: 1, "
                  "replica_share: 0.5}"], "", "give replicas (a count) or replica_share (a share), not both",
                 id="two-selections"),
    pytest.param(["{kind: partition, service: inference, at_seconds: 1, duration_seconds: 2}"], "",
                 "partition needs replicas (a count) or replica_share (1 for all of them)", id="partition-of-what"),
    pytest.param(["{kind: cpu-hog, service: gateway, at_seconds: 1, duration_seconds: 0, cpu_hog_cores: 1}"], "",
                 "cpu-hog: duration_seconds must be positive (only a kill may last 0 s)", id="no-time"),
    pytest.param(["{kind: latency, service: inference, at_seconds: 25, duration_seconds: 10, "
                  "extra_latency_seconds: 0.1}"], "",
                 "faults.0 (latency): ends at 35 s, after the last stage (30 s); start it earlier or shorten it",
                 id="past-the-end"),
    pytest.param(["{kind: dependency-delay, service: formatter, at_seconds: 1, duration_seconds: 2, percent: 10, "
                  "delay_seconds: 0.0015}"], "", "Envoy's fault delay takes whole milliseconds", id="sub-millisecond"),
    pytest.param(["{kind: gpu-stall, service: inference, at_seconds: 1, duration_seconds: 2}"], "",
                 "faults.0 (gpu-stall): inference runs work: wait, and only an emulated GPU (work: gpu) can be slowed "
                 "or stalled; use latency instead", id="gpu-fault-without-a-gpu"),
    pytest.param(["{kind: latency, service: inference, at_seconds: 1, duration_seconds: 2, extra_latency_seconds: 0.1}"],
                 GPU, "inference runs work: gpu, whose time comes from the emulated GPU", id="latency-on-a-gpu"),
    pytest.param(["{kind: latency, service: inference, at_seconds: 1, duration_seconds: 5, extra_latency_seconds: 0.1}",
                  "{kind: latency, service: inference, at_seconds: 4, duration_seconds: 5, extra_latency_seconds: 0.3}"],
                 "", "faults.1 (latency) overlaps faults.0: both are latency on inference; merge them into one fault "
                 "or let one end first", id="overlap"),
])
def test_a_bad_fault_is_refused_naming_it_and_the_fix(tmp_path, faults, inference, message):
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, faults, inference=inference))
    assert message in str(raised.value)
    assert "Value error" not in str(raised.value)


def test_faults_of_one_kind_may_follow_each_other_and_different_kinds_may_overlap(tmp_path):
    faults = ["{kind: latency, service: inference, at_seconds: 1, duration_seconds: 3, extra_latency_seconds: 0.1}",
              "{kind: latency, service: inference, at_seconds: 4, duration_seconds: 3, extra_latency_seconds: 0.3}",
              "{kind: error-rate, service: inference, at_seconds: 2, duration_seconds: 3, error_probability: 0.2}"]
    assert len(scenario.load_scenario(write(tmp_path, faults)).faults) == 3


def test_only_a_service_with_a_dependency_fault_gets_the_proxy_fault_filter(tmp_path):
    faults = ["{kind: dependency-abort, service: formatter, at_seconds: 1, duration_seconds: 3, percent: 5}",
              "{kind: latency, service: inference, at_seconds: 1, duration_seconds: 3, extra_latency_seconds: 0.1}"]
    assert scenario.load_scenario(write(tmp_path, faults)).proxy_fault_services() == {"formatter"}
    assert scenario.load_scenario("smoke").proxy_fault_services() == frozenset()


def test_the_cli_refuses_a_bad_fault_in_one_sentence_with_exit_2(tmp_path):
    path = write(tmp_path, ["{kind: kill, service: inference, at_seconds: 1, duration_seconds: 2}"])
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "validate", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "kill needs replicas (a count) or replica_share" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
