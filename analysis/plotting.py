"""PNG plots of a run, drawn with matplotlib's Agg backend (no display needed).

Time axes are seconds since the run started; every plot shades the load phases, so the spike is
where the eye expects it.
"""
from __future__ import annotations

import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from analysis import extract  # noqa: E402

BIN_SECONDS = 2.0
PHASE_COLOURS = ("#e8f0fe", "#fde8e8", "#e8f8e8", "#fdf6e3", "#efe8fd")


def shade_phases(ax, data) -> None:
    for index, phase in enumerate(data.phases):
        ax.axvspan(phase.start - data.origin, phase.end - data.origin, color=PHASE_COLOURS[index % len(PHASE_COLOURS)],
                   zorder=0)
        ax.text(phase.start - data.origin + 0.5, 1.0, phase.name, transform=ax.get_xaxis_transform(),
                va="top", fontsize=8, color="#555")


def binned(data, values_at) -> tuple[list[float], list]:
    """Group requests into BIN_SECONDS bins by intended start; ``values_at(requests)`` per bin."""
    if not data.requests:
        return [], []
    first, last = data.requests[0].intended_start, data.requests[-1].intended_start
    bins: dict[int, list] = {}
    for request in data.requests:
        bins.setdefault(int((request.intended_start - first) // BIN_SECONDS), []).append(request)
    keys = range(int((last - first) // BIN_SECONDS) + 1)
    times = [first - data.origin + (k + 0.5) * BIN_SECONDS for k in keys]
    return times, [values_at(bins.get(k, [])) for k in keys]


def latency_plot(data, path: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    shade_phases(ax, data)
    for name, q, style in (("p50", 0.5, "-"), ("p95", 0.95, "--"), ("p99", 0.99, "-")):
        times, values = binned(data, lambda reqs, q=q: quantile_ms(reqs, q))
        ax.plot(times, values, style, label=f"client {name}", linewidth=1.5 if name == "p99" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title("End-to-end latency from intended start (2 s bins)")
    ax.legend(loc="upper right", fontsize=8)
    save(fig, path)


def quantile_ms(requests, quantile: float) -> float:
    values = sorted(r.latency_seconds for r in requests if r.outcome != "client_overflow")
    if not values:
        return math.nan
    return values[min(len(values) - 1, math.ceil(quantile * len(values)) - 1)] * 1000


def throughput_plot(data, path: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    shade_phases(ax, data)
    times, offered = binned(data, lambda reqs: len(reqs) / BIN_SECONDS)
    _, ok = binned(data, lambda reqs: sum(r.ok for r in reqs) / BIN_SECONDS)
    _, failed = binned(data, lambda reqs: sum(not r.ok for r in reqs) / BIN_SECONDS)
    ax.plot(times, offered, label="offered (arrivals/s)", color="#888")
    ax.plot(times, ok, label="goodput (2xx/s)", color="#2a7")
    ax.plot(times, failed, label="errors/s", color="#d33")
    overflow_t, overflow = counter_rate(data.series["envoy_pending_overflow"] + data.series["envoy_active_overflow"])
    if overflow_t:
        ax.plot([t - data.origin for t in overflow_t], overflow, ":", label="Envoy overflow 503/s", color="#a0a")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("requests per second")
    ax.set_title("Offered load, goodput and errors")
    ax.legend(loc="upper right", fontsize=8)
    save(fig, path)


def counter_rate(series_list) -> tuple[list[float], list[float]]:
    """Per-second rate of the sum of counters, sample to sample."""
    totals: dict[float, float] = {}
    for series in series_list:
        for i in range(1, len(series.times)):
            delta = series.values[i] - series.values[i - 1]
            step = series.times[i] - series.times[i - 1]
            rate = (delta if delta >= 0 else series.values[i]) / step
            totals[series.times[i]] = totals.get(series.times[i], 0.0) + rate
    times = sorted(totals)
    return times, [totals[t] for t in times]


def gauge_plot(data, path: pathlib.Path, *, series: str, ylabel: str, title: str) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    shade_phases(ax, data)
    for service in data.services:
        times, values = extract.sampled_sum(data.series[series], "service", service)
        if times:
            ax.plot([t - data.origin for t in times], values, label=service, drawstyle="steps-post")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    save(fig, path)


def save(fig, path: pathlib.Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_all(data, out_dir: pathlib.Path) -> list[pathlib.Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in ("latency.png", "throughput.png", "in_flight.png", "replicas.png")]
    latency_plot(data, paths[0])
    throughput_plot(data, paths[1])
    gauge_plot(data, paths[2], series="in_flight", ylabel="requests in the service",
               title="In-flight requests per service (queued + working + calling)")
    gauge_plot(data, paths[3], series="ready", ylabel="ready replicas", title="Ready replicas per service")
    return paths
