"""Cost of a run: replica-seconds, emulated GPU-hours, price per 1,000 successful requests.

Aspects: replica lifetimes run from pod_created to pod_deleted (or the span's end) and are clipped
to the load span; the peak replica count prices static provisioning, so a scale-up run shows what
autoscaling saved; inference replicas are GPUs of the scenario's profile times its tensor
parallelism; prices come from settings with documented defaults and can be overridden from the
environment; the recorded smoke run is costed from its pod events.
"""
import pytest

from analysis.tables import cost, extract


def pod(at: float, kind: str, service: str, name: str) -> dict:
    return {"time": at, "type": kind, "service": service, "pod": name}


def test_replica_lifetimes_run_from_creation_to_deletion_or_the_end():
    events = [pod(0, "pod_created", "auth", "a1"), pod(5, "pod_created", "auth", "a2"),
              pod(50, "pod_deleted", "auth", "a2"), pod(70, "pod_died", "auth", "a1"),
              pod(80, "pod_created", "auth", "a3")]
    spans = cost.replica_intervals(events, end=100)
    assert spans == {"auth": [(5, 50), (0, 70), (80, 100)]}
    assert cost.overlap(spans["auth"], 10, 90) == pytest.approx(40 + 60 + 10)
    assert cost.peak_concurrent(spans["auth"], 10, 90) == 2


def scaled_run() -> extract.Run:
    scenario = {"name": "t", "entry": "gateway", "stages": [{"name": "p", "duration_seconds": 100,
                                                               "arrival_rate_per_second": 1}],
                "services": {"gateway": {}, "inference": {"gpu": {"profile": "h200-sxm", "tensor_parallel_size": 2}}}}
    events = [pod(-5, "pod_created", "gateway", "g1"), pod(-5, "pod_created", "inference", "i1"),
              pod(50, "pod_created", "inference", "i2"), {"time": 0, "type": "phase", "index": 0},
              {"time": 100, "type": "run_finished"}]
    requests = [extract.Request(float(t), t + 0.1, 0.1, 200, 1, "p", "ok") for t in range(0, 100, 1)]
    return extract.Run(dir=None, scenario=scenario, events=events, phases=extract.read_phases(None, scenario, events),
                       requests=requests, series={"ready": []}, environment={})


def test_autoscaled_and_static_provisioning_are_priced_over_the_load_span():
    prices = cost.Prices(gpu_per_hour={"h200-sxm": 8.0}, cpu_replica_per_hour=0.036, gpu_profile="h200-sxm")
    result = cost.run_cost(scaled_run(), prices)
    inference = result["services"]["inference"]
    assert inference["replica_seconds"] == pytest.approx(150) and inference["peak_replicas"] == 2
    assert inference["gpu_hours"] == pytest.approx(150 * 2 / 3600)
    assert inference["cost"] == pytest.approx(150 * 2 / 3600 * 8.0)
    assert inference["static_cost"] == pytest.approx(200 * 2 / 3600 * 8.0)
    assert result["scaled"] and result["autoscaling_saving"] == pytest.approx(50 * 2 / 3600 * 8.0)
    assert result["services"]["gateway"]["cost"] == pytest.approx(100 / 3600 * 0.036)
    assert result["cost_per_1000_successful"] == pytest.approx(result["total_cost"] / 100 * 1000)
    assert result["gpu_profile"] == "h200-sxm"


def test_prices_come_from_documented_defaults_or_the_environment():
    assert cost.Prices().gpu_per_hour["h100-sxm"] == cost.DEFAULT_GPU_PRICES_PER_HOUR["h100-sxm"] > 0
    prices = cost.Prices.from_environment({"TAILSTORM_PRICE_GPU_HOUR_H100_SXM": "2.5",
                                           "TAILSTORM_PRICE_CPU_REPLICA_HOUR": "0.01", "TAILSTORM_GPU_PROFILE": "l4"})
    assert prices.gpu_per_hour["h100-sxm"] == 2.5 and prices.cpu_replica_per_hour == 0.01
    assert prices.gpu_profile == "l4"
    with pytest.raises(ValueError, match="no GPU price for profile 'b300'"):
        cost.Prices(gpu_profile="b300")


def test_the_recorded_run_is_costed_from_its_pod_events(smoke_run):
    result = cost.run_cost(extract.load_run(smoke_run), cost.Prices())
    assert result["replica_source"] == "pod events"
    assert result["span_seconds"] == pytest.approx(8.0)
    assert all(s["replica_seconds"] == pytest.approx(8.0) for s in result["services"].values())
    assert not result["scaled"] and result["successful_requests"] == 92
