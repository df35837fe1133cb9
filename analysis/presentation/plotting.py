"""PNG plots of a run, drawn with matplotlib's Agg backend (no display needed).

Time axes are seconds since the run started; every plot shades the load phases, so the spike is
where the eye expects it, hatches the windows the testbed itself was broken: an Envoy or
Prometheus outage, or a stretch Prometheus scraped nothing (analysis/verdicts/validity.py), and
marks each window of the scenario's scheduled faults with its label (``fault_windows``). Lines break at
scrape gaps instead of drawing a zero or a straight line across them. Besides the time series: utilisation against the measured and predicted
response time on the M/M/c curve, retry amplification by layer, and Envoy breaker overflows.

The HPA-lag waterfall (``hpa_lag.png``) comes from ``waterfall.py``, drawn when the run scaled up.
"""
from __future__ import annotations

import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from analysis.formulas import queueing  # noqa: E402
from analysis.presentation import waterfall  # noqa: E402
from analysis.tables import extract
from analysis.verdicts import validity

BIN_SECONDS = 2.0
PHASE_COLOURS = ("#e8f0fe", "#fde8e8", "#e8f8e8", "#fdf6e3", "#efe8fd")


def shade_phases(ax, data) -> None:
    """Phases as coloured bands; testbed outages and scrape gaps hatched over them, labelled."""
    for index, phase in enumerate(data.phases):
        ax.axvspan(phase.start - data.origin, phase.end - data.origin, color=PHASE_COLOURS[index % len(PHASE_COLOURS)],
                   zorder=0)
        ax.text(phase.start - data.origin + 0.5, 1.0, phase.name, transform=ax.get_xaxis_transform(),
                va="top", fontsize=8, color="#555")
    for start, end, label in broken_windows(data):
        ax.axvspan(start - data.origin, end - data.origin, facecolor="none", edgecolor="#b22", hatch="//",
                   linewidth=0, zorder=1)
        ax.text(start - data.origin, 0.02, label, transform=ax.get_xaxis_transform(), fontsize=7, color="#b22",
                rotation=90, va="bottom")
    for start, end, label in fault_windows(data):
        if end - start < MIN_FAULT_WIDTH_SECONDS:  # an instant fault (a kill replaced at once): a line
            ax.axvline(start - data.origin, color=FAULT_COLOUR, linewidth=1.2, zorder=1)
        else:
            ax.axvspan(start - data.origin, end - data.origin, facecolor=FAULT_COLOUR, alpha=0.18, edgecolor=FAULT_COLOUR,
                       hatch="\\\\", linewidth=0, zorder=1)
        ax.text(start - data.origin, 0.98, label, transform=ax.get_xaxis_transform(), fontsize=7,
                color=FAULT_COLOUR, rotation=90, va="top", ha="right")


FAULT_COLOUR = "#c60"
MIN_FAULT_WIDTH_SECONDS = 0.5
"""A fault window narrower than this is drawn as a line (a band would not show)."""


def fault_windows(data) -> list[tuple[float, float, str]]:
    """(start, end, label) of every scheduled fault that took effect; ``(not cleared)`` when its end
    never came (analysis/verdicts/validity.py ``fault_windows``)."""
    return [(w["start"], w["end"], w["label"] + ("" if w["ended"] else " (not cleared)"))
            for w in validity.fault_windows(data)]


def broken_windows(data) -> list[tuple[float, float, str]]:
    """(start, end, label) of every outage of the testbed's own processes and every Prometheus gap."""
    windows = [(w["start"], w["end"], f"{w['process']} down") for w in validity.outage_windows(data)]
    windows += [(g["start"], g["end"], "no scrapes") for g in validity.scrape_gaps(data) if g["target"] == "prometheus"]
    return windows


def broken(times: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """The points with a NaN inserted wherever consecutive samples are a scrape gap apart, so a line
    breaks there instead of bridging it."""
    out_t, out_v = [], []
    for index, (t, v) in enumerate(zip(times, values)):
        if index and t - times[index - 1] > validity.GAP_SECONDS:
            out_t.append((t + times[index - 1]) / 2)
            out_v.append(math.nan)
        out_t.append(t)
        out_v.append(v)
    return out_t, out_v


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
    legend(ax, loc="upper right")
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
    if data.scenario.get("client", {}).get("retries"):  # retries: what the client's attempts do to the entry
        entry = data.scenario.get("entry", "gateway")
        attempts_t, attempts = broken(*counter_rate(extract.select(data.series.get("envoy_downstream_rq", []),
                                                                   envoy_http_conn_manager_prefix=entry)))
        if attempts_t:
            ax.plot([t - data.origin for t in attempts_t], attempts, "--", color="#555",
                    label=f"attempts reaching {entry} (/s, retries included)")
    overflow_t, overflow = broken(*counter_rate(data.series["envoy_pending_overflow"] + data.series["envoy_active_overflow"]))
    if overflow_t:
        ax.plot([t - data.origin for t in overflow_t], overflow, ":", label="Envoy overflow 503/s", color="#a0a")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("requests per second")
    ax.set_title("Offered load, goodput and errors")
    legend(ax, loc="upper right")
    save(fig, path)


def counter_rate(series_list) -> tuple[list[float], list[float]]:
    """Per-second rate of the sum of counters, sample to sample; no rate across a scrape gap."""
    totals: dict[float, float] = {}
    for series in series_list:
        for i in range(1, len(series.times)):
            if series.times[i] - series.times[i - 1] > validity.GAP_SECONDS:
                continue  # the increase is real, but spread over a gap no rate is known
            delta = series.values[i] - series.values[i - 1]
            step = series.times[i] - series.times[i - 1]
            rate = (delta if delta >= 0 else series.values[i]) / step
            totals[series.times[i]] = totals.get(series.times[i], 0.0) + rate
    times = sorted(totals)
    return times, [totals[t] for t in times]


def gauge_plot(data, path: pathlib.Path, *, series: str, ylabel: str, title: str,
               decisions: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    shade_phases(ax, data)
    for service in data.services:
        times, values = broken(*extract.sampled_sum(data.series[series], "service", service))
        if times:
            line, = ax.plot([t - data.origin for t in times], values, label=service, drawstyle="steps-post")
            if decisions:
                mark_decisions(ax, data, service, colour=line.get_color())
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend(ax, loc="upper right")
    save(fig, path)


def mark_decisions(ax, data, service: str, *, colour: str) -> None:
    """The HPA's rescale decisions for ``service``: a marker at the decision time and desired count."""
    chosen = [e for e in data.events if e["type"] == "hpa_decision" and e.get("service") == service]
    if chosen:
        ax.scatter([e["time"] - data.origin for e in chosen], [e["desired_replicas"] for e in chosen],
                   marker="v", s=60, color=colour, zorder=5, label=f"HPA decision ({service})")


def legend(ax, loc: str) -> None:
    """A legend when something was drawn; a run without that data gets a note instead of a warning."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=loc, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no data in this run", transform=ax.transAxes, ha="center", color="#888")


def save(fig, path: pathlib.Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def utilisation_plot(run, summary: dict, path: pathlib.Path) -> None:
    """Measured and predicted own response time (in units of the mean service time) against ρ."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    rows = [p for p in summary["predictions"] if p["check"] in ("mmc_mean_response", "ggc_mean_response")
            and p["measured"] is not None and p["predicted"] is not None]
    stats = {(p["name"], name): s for p in summary["phases"] for name, s in p["server"].items()}
    drawn_c = set()
    for index, service in enumerate(run.services):
        colour = f"C{index}"
        points = [(stats[(r["phase"], service)], r) for r in rows if r["subject"] == service]
        points = [(s, r) for s, r in points if s["offered_utilisation"] and s["mean_service_seconds"]]
        if not points:
            continue
        c = max(1, round(points[0][0]["servers"]))
        if c not in drawn_c:
            drawn_c.add(c)
            rhos = [i / 200 for i in range(0, 195)]
            ax.plot(rhos, [mmc_slowdown(rho, c) for rho in rhos], "-", color="#999", linewidth=1)
            ax.text(0.95, mmc_slowdown(0.95, c), f" M/M/{c}", fontsize=8, color="#666", va="center", clip_on=True)
        xs = [s["offered_utilisation"] for s, _ in points]
        ys = [r["measured"] / s["mean_service_seconds"] for s, r in points]
        spans = [[y - r["measured_interval"][0] / s["mean_service_seconds"] if r.get("measured_interval") else 0
                  for (s, r), y in zip(points, ys)],
                 [r["measured_interval"][1] / s["mean_service_seconds"] - y if r.get("measured_interval") else 0
                  for (s, r), y in zip(points, ys)]]
        ax.errorbar(xs, ys, yerr=[[max(0.0, v) for v in spans[0]], [max(0.0, v) for v in spans[1]]], fmt="o",
                    color=colour, capsize=3, label=f"{service} measured (95% interval)")
        ax.plot(xs, [r["predicted"] / s["mean_service_seconds"] for s, r in points], "x", color=colour, markersize=9,
                label=f"{service} predicted")
    if not rows:
        ax.plot([i / 100 for i in range(95)], [mmc_slowdown(i / 100, 1) for i in range(95)], "-", color="#999")
        ax.text(0.05, 0.9, "no M/M/c comparisons in this run", transform=ax.transAxes, fontsize=9)
    ax.set_xlim(0, 1)
    # linear, cut above the highest point: the curves shoot up near ρ = 1 and would flatten the rest
    highest = max([r["measured"] / stats[(r["phase"], r["subject"])]["mean_service_seconds"] for r in rows
                   if stats[(r["phase"], r["subject"])]["mean_service_seconds"]] + [2.0])
    ax.set_ylim(0.8, min(highest * 1.4, 12.0))
    ax.set_xlabel("utilisation ρ = λ/(cμ), measured λ, μ, c")
    ax.set_ylabel("own response time / mean service time")
    ax.set_title("Utilisation against response time: measured (o), M/M/c or G/G/c prediction (x), M/M/c curve")
    legend(ax, loc="upper left")
    save(fig, path)


def mmc_slowdown(rho: float, servers: int) -> float:
    """W/S of M/M/c at utilisation ρ: 1 + C(c, cρ)/(c(1 − ρ))."""
    if rho <= 0:
        return 1.0
    return queueing.mmc_mean_response_time_seconds(arrival_rate_per_second=rho * servers, service_rate_per_second=1.0,
                                                   servers=servers)


def retry_plot(run, summary: dict, path: pathlib.Path) -> None:
    """Attempts per request at each retrying layer (client, caller → callee, Envoy), per phase, bars
    measured and the layer's policy prediction as x; without retry rows, the client's attempts."""
    fig, ax = plt.subplots(figsize=(10, 4))
    rows = [r for r in summary["predictions"] if r["check"] == "retry_amplification"]
    layers = list(dict.fromkeys(r["subject"] for r in rows)) or ["client → " + run.scenario.get("entry", "gateway")]
    width = 0.8 / max(1, len(summary["phases"]))
    for index, phase in enumerate(summary["phases"]):
        mine = {r["subject"]: r for r in rows if r["phase"] == phase["name"]}
        fallback = {layers[0]: {"measured": phase["client"]["attempts_per_request"], "predicted": None}}
        values = [(mine or fallback).get(layer, {}).get("measured") for layer in layers]
        xs = [i + (index - (len(summary["phases"]) - 1) / 2) * width for i in range(len(layers))]
        ax.bar(xs, [math.nan if v is None else v for v in values], width=width * 0.9, label=phase["name"],
               color=PHASE_EDGE[index % len(PHASE_EDGE)])
        for x, layer in zip(xs, layers):
            if (mine.get(layer) or {}).get("predicted"):
                ax.plot(x, mine[layer]["predicted"], "kx", markersize=10)
    ax.axhline(1.0, color="#555", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(layers)), layers)
    ax.set_ylabel("attempts per request at the layer")
    ax.set_title("Retry amplification by layer (bars measured, x predicted)"
                 + ("" if rows else ": no retries happened in this run"))
    legend(ax, loc="upper right")
    save(fig, path)


PHASE_EDGE = ("#5b8ff9", "#e8684a", "#5ad8a6", "#f6bd16", "#9270ca", "#6dc8ec", "#ff9d4d")


def overflow_plot(run, summary: dict, path: pathlib.Path) -> None:
    """Envoy overflow 503s per cluster over time, and per phase the blocking share against M/M/c/K."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5))
    shade_phases(top, run)
    for index, service in enumerate(run.services):
        series = [s for name in ("envoy_pending_overflow", "envoy_active_overflow")
                  for s in run.series.get(name, []) if s.labels.get("envoy_cluster_name") == service]
        times, rates = broken(*counter_rate(series))
        if times:
            top.plot([t - run.origin for t in times], rates, label=service, color=f"C{index}")
    top.set_xlabel("seconds since start")
    top.set_ylabel("overflow 503/s")
    top.set_title("Envoy circuit-breaker overflows per upstream cluster")
    if top.get_legend_handles_labels()[0]:
        legend(top, loc="upper right")
    rows = [p for p in summary["predictions"] if p["check"] in ("envoy_overflow", "mmck_blocking")]
    labels = [f"{r['subject']}\n{r['phase']}" for r in rows]
    xs = list(range(len(rows)))
    bottom.bar([x - 0.2 for x in xs], [r["measured"] or 0 for r in rows], width=0.4, label="measured", color="#e8684a")
    bottom.bar([x + 0.2 for x in xs], [r["predicted"] or 0 for r in rows], width=0.4, label="M/M/c/K", color="#5b8ff9")
    for x, r in zip(xs, rows):
        if r.get("measured_interval"):
            low, high = r["measured_interval"]
            bottom.plot([x - 0.2, x - 0.2], [low, high], color="#333", linewidth=1)
    bottom.set_xticks(xs, labels, fontsize=8)
    bottom.set_ylabel("share of requests refused")
    bottom.set_title("Blocking share per phase: measured against M/M/c/K")
    if rows:
        legend(bottom, loc="upper right")
    else:
        bottom.text(0.5, 0.5, "no breaker or queue overflow predicted or measured", ha="center",
                    transform=bottom.transAxes)
    save(fig, path)


def draw_all(run, summary: dict, out_dir: pathlib.Path) -> list[pathlib.Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.png" for name in (
        "latency", "throughput", "in_flight", "replicas", "utilisation", "retries", "overflow")}
    latency_plot(run, paths["latency"])
    throughput_plot(run, paths["throughput"])
    gauge_plot(run, paths["in_flight"], series="in_flight", ylabel="requests in the service",
               title="In-flight requests per service (queued + working + calling)")
    gauge_plot(run, paths["replicas"], series="ready", ylabel="ready replicas", decisions=True,
               title="Ready replicas per service, with the HPA's decisions (▼ at the desired count)")
    utilisation_plot(run, summary, paths["utilisation"])
    retry_plot(run, summary, paths["retries"])
    overflow_plot(run, summary, paths["overflow"])
    drawn = list(paths.values())
    if waterfall.draw(summary, out_dir / "hpa_lag.png"):
        drawn.append(out_dir / "hpa_lag.png")
    return drawn
