"""What a run would have cost: replica-seconds, emulated GPU-hours, price per 1,000 good requests.

A replica is paid for from the moment it is created until it is deleted (billing does not wait
for readiness), so replica-seconds come from the ``pod_created`` → ``pod_deleted``/``pod_died``
events, clipped to the load span (first phase start to last phase end); a run without pod events
falls back to integrating the ``tailstorm_ready`` series. The inference service stands for GPUs:
each of its replicas is one emulated GPU of the scenario's hardware profile (times its tensor
parallelism, where a scenario says so), priced per GPU-hour; every other replica is priced as one
CPU replica. The same run is also priced as if provisioned statically at its peak replica count,
so autoscaling shows what it saved (or, with a lagging autoscaler, what it cost in errors).

The prices are settings, not truths: override them with ``TAILSTORM_PRICE_GPU_HOUR_<PROFILE>``
(profile upper-cased, dashes as underscores), ``TAILSTORM_PRICE_CPU_REPLICA_HOUR`` and
``TAILSTORM_GPU_PROFILE``.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from analysis.tables import extract

GPU_SERVICES = ("inference",)
"""Services whose replicas stand for GPUs (docs/architecture.md: inference is the GPU-bound one)."""

DEFAULT_GPU_PRICES_PER_HOUR = {
    # AWS EC2 p4d.24xlarge (8 × A100 SXM4 40 GB), on-demand, us-east-1: $32.77/h → $4.096 per
    # GPU-hour, as quoted for Q2 2024 by xither.com ("GPU compute costs: on-prem vs cloud vs spot").
    # The emulated a100-sxm profile is the 80 GB part, whose instance (p4de) costs more: a lower bound.
    "a100-sxm": 4.096,
    # AWS EC2 p5.48xlarge (8 × H100 SXM 80 GB), Linux on-demand, us-east-1: $55.04/h → $6.88 per
    # GPU-hour. Source: aws.amazon.com/ec2/pricing/on-demand/, as transcribed on 2026-11-09 by the
    # public survey github.com/datareceipts/data-receipts (109-gpu-pricing). Neoclouds list about
    # $2.50–4.30 for the same GPU (e.g. lambda.ai/instances: 8x H100 SXM $3.99, read 2026-09-20).
    "h100-sxm": 6.88,
    # AWS EC2 p5en.48xlarge (8 × H200 141 GB), on-demand, us-east-1: $63.296/h → $7.912 per GPU-hour.
    # Source: the AWS on-demand price as listed by dstack's offer command in dstackai/dstack#4110
    # (2026-08-06).
    "h200-sxm": 7.912,
    # AWS EC2 g6.xlarge (1 × L4 24 GB), on-demand, us-east-1: $0.8048/h. Source:
    # aws.amazon.com/ec2/pricing/on-demand/ (read 2026-11; check before relying on it).
    "l4": 0.8048,
}
DEFAULT_CPU_REPLICA_PRICE_PER_HOUR = 0.0446
"""One CPU replica = one vCPU: AWS EC2 c7i.large (2 vCPU) on-demand, us-east-1, $0.08925/h ÷ 2.
Source: aws.amazon.com/ec2/pricing/on-demand/ (read 2026-11; check before relying on it)."""


@dataclasses.dataclass(frozen=True)
class Prices:
    """Hourly prices used to cost a run (USD)."""

    gpu_per_hour: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_GPU_PRICES_PER_HOUR))
    """Price of one GPU-hour per hardware profile (keys as in ``tailstorm gpu --list``)."""
    cpu_replica_per_hour: float = DEFAULT_CPU_REPLICA_PRICE_PER_HOUR
    """Price of one CPU replica-hour (one uvicorn worker on one vCPU)."""
    gpu_profile: str = "h100-sxm"
    """Hardware profile the inference replicas emulate when the scenario does not name one."""

    def __post_init__(self) -> None:
        if self.gpu_profile not in self.gpu_per_hour:
            raise ValueError(f"no GPU price for profile {self.gpu_profile!r}; priced: {', '.join(self.gpu_per_hour)}")
        if min([self.cpu_replica_per_hour, *self.gpu_per_hour.values()]) < 0:
            raise ValueError("prices must be >= 0")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Prices":
        """Defaults overridden by TAILSTORM_PRICE_* and TAILSTORM_GPU_PROFILE variables."""
        gpu = dict(DEFAULT_GPU_PRICES_PER_HOUR)
        for key, value in environ.items():
            if key.startswith("TAILSTORM_PRICE_GPU_HOUR_"):
                gpu[key.removeprefix("TAILSTORM_PRICE_GPU_HOUR_").lower().replace("_", "-")] = float(value)
        cpu = float(environ.get("TAILSTORM_PRICE_CPU_REPLICA_HOUR", DEFAULT_CPU_REPLICA_PRICE_PER_HOUR))
        return cls(gpu_per_hour=gpu, cpu_replica_per_hour=cpu,
                   gpu_profile=environ.get("TAILSTORM_GPU_PROFILE", "h100-sxm"))


def replica_intervals(events: list[dict], *, end: float) -> dict[str, list[tuple[float, float]]]:
    """Per service, (created, gone) of every replica; one still alive at ``end`` ends there."""
    created: dict[str, tuple[str, float]] = {}
    intervals: dict[str, list[tuple[float, float]]] = {}
    for event in events:
        pod = event.get("pod")
        if event["type"] == "pod_created" and pod:
            created[pod] = (event["service"], event["time"])
        elif event["type"] in ("pod_deleted", "pod_died") and pod in created:
            service, born = created.pop(pod)
            intervals.setdefault(service, []).append((born, event["time"]))
    for service, born in created.values():
        intervals.setdefault(service, []).append((born, end))
    return intervals


def overlap(spans: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def peak_concurrent(spans: list[tuple[float, float]], start: float, end: float) -> int:
    """Most replicas alive at once inside [start, end]."""
    points = sorted([(max(a, start), 1) for a, b in spans if b > start and a < end]
                    + [(min(b, end), -1) for a, b in spans if b > start and a < end], key=lambda p: (p[0], p[1]))
    alive = peak = 0
    for _, step in points:
        alive += step
        peak = max(peak, alive)
    return peak


def ready_series_intervals(run: extract.Run, service: str) -> list[tuple[float, float]]:
    """Fallback: replica intervals from the scraped readiness gauge (1 s resolution)."""
    spans = []
    for series in extract.select(run.series["ready"], service=service):
        if series.times:
            spans.append((series.times[0], series.times[-1]))
    return spans


def gpus_per_replica(scenario: dict, service: str) -> int:
    gpu = (scenario["services"].get(service) or {}).get("gpu") or {}
    return int(gpu.get("tensor_parallel_size", 1))


def profile_of(scenario: dict, prices: Prices) -> str:
    gpu = (scenario["services"].get("inference") or {}).get("gpu") or {}
    return gpu.get("profile") or prices.gpu_profile


def run_cost(run: extract.Run, prices: Prices) -> dict:
    """Replica-seconds, GPU-hours and costs over the load span, autoscaled (as run) and static."""
    if not run.phases:
        return {}
    start, end = run.phases[0].start, run.phases[-1].end
    span = end - start
    from_events = replica_intervals(run.events, end=end)
    source = "pod events" if from_events else "readiness series"
    profile = profile_of(run.scenario, prices)
    gpu_price = prices.gpu_per_hour.get(profile, math.nan)
    services, total, static_total = {}, 0.0, 0.0
    for service in run.services:
        spans = from_events.get(service) or ready_series_intervals(run, service)
        seconds = overlap(spans, start, end)
        peak = peak_concurrent(spans, start, end)
        is_gpu = service in GPU_SERVICES
        units = gpus_per_replica(run.scenario, service) if is_gpu else 1
        price = gpu_price if is_gpu else prices.cpu_replica_per_hour
        cost = seconds * units / 3600 * price
        static_cost = peak * span * units / 3600 * price
        services[service] = {
            "replica_seconds": seconds, "peak_replicas": peak, "static_replica_seconds": peak * span,
            "gpu": is_gpu, "gpu_hours": seconds * units / 3600 if is_gpu else 0.0,
            "price_per_hour": price * units, "cost": cost, "static_cost": static_cost,
            "by_phase": {p.name: overlap(spans, p.start, p.end) for p in run.phases},
        }
        total += cost
        static_total += static_cost
    successes = sum(1 for r in run.requests if r.ok and start <= r.intended_start < end)
    per_thousand = lambda amount: amount / successes * 1000 if successes else math.nan  # noqa: E731
    return {
        "span_seconds": span, "replica_source": source, "gpu_profile": profile, "currency": "USD",
        "prices": {"gpu_per_hour": dict(prices.gpu_per_hour), "cpu_replica_per_hour": prices.cpu_replica_per_hour},
        "services": services,
        "gpu_hours": sum(s["gpu_hours"] for s in services.values()),
        "total_cost": total, "static_total_cost": static_total, "autoscaling_saving": static_total - total,
        "successful_requests": successes,
        "cost_per_1000_successful": per_thousand(total),
        "static_cost_per_1000_successful": per_thousand(static_total),
        "scaled": any(s["replica_seconds"] < s["static_replica_seconds"] - 1e-6 for s in services.values()),
    }
