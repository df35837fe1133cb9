"""The run report: ``summary.json``, ``report.md``, a self-contained ``report.html`` and PNG plots.

``build(run_dir)`` is the only function here that writes files; it reads everything through
``extract`` and judges through ``compare``, so ``tailstorm report RUN_DIR`` rebuilds a report from
the artefacts alone, long after the stack is gone.
"""
from __future__ import annotations

import base64
import html
import json
import math
import pathlib
import statistics

from analysis import compare, extract

SERVICES_ORDER = ("gateway", "auth", "featurestore", "inference", "formatter")
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


class RunData:
    """Everything ``extract`` can read from one run directory, loaded once."""

    def __init__(self, run_dir: pathlib.Path) -> None:
        self.dir = pathlib.Path(run_dir)
        if not self.dir.is_dir():
            raise extract.RunDataError(f"{self.dir} is not a directory; pass a run directory such as runs/<time>-<scenario>")
        self.scenario = extract.read_scenario(self.dir)
        self.events = extract.read_events(self.dir)
        self.phases = extract.read_phases(self.dir, self.scenario, self.events)
        self.requests = extract.read_requests(self.dir)
        self.services = [s for s in SERVICES_ORDER if s in self.scenario["services"]]
        self.series = {name: extract.read_range(self.dir, name) for name in (
            "request_count", "request_sum", "request_bucket", "in_flight", "queue_depth", "busy_servers",
            "servers", "ready", "shed", "envoy_pending_overflow", "envoy_active_overflow", "envoy_ejections",
            "envoy_retries", "envoy_timeouts", "work_count", "work_sum")}
        window = self.scenario.get("window", {})
        self.warmup = window.get("warmup_seconds", 0.0)
        self.cooldown = window.get("cooldown_seconds", 0.0)
        self.origin = min([e["time"] for e in self.events] or [0.0])

    def window(self, phase: extract.Phase) -> tuple[float, float]:
        return phase.window(warmup_seconds=self.warmup, cooldown_seconds=self.cooldown)


def nearest_rank(sorted_values: list[float], quantile: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(quantile * len(sorted_values)) - 1))]


def client_stats(data: RunData, start: float, end: float) -> dict:
    """End-to-end, as the client saw it, for requests *intended* to start inside the window."""
    inside = [r for r in data.requests if start <= r.intended_start < end]
    sent = [r for r in inside if r.outcome != "client_overflow"]
    ok = sorted(r.latency_seconds for r in sent if r.ok)
    everything = sorted(r.latency_seconds for r in sent)
    span = end - start
    stats = {
        "requests": len(inside),
        "offered_rate_per_second": len(inside) / span,
        "throughput_per_second": len(ok) / span,
        "error_rate": (len(inside) - len(ok)) / len(inside) if inside else math.nan,
        "client_overflow": len(inside) - len(sent),
        "status_counts": count_by(r.outcome for r in inside),
    }
    stats.update({f"{name}_ms": nearest_rank(everything, q) * 1000 for name, q in QUANTILES.items()})
    return stats


def count_by(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def server_stats(data: RunData, service: str, start: float, end: float) -> dict:
    """One service's side over the window, from its own histograms and gauges (all replicas)."""
    s = data.series
    throughput = extract.sum_by(s["request_count"], "service", extract.counter_rate, start, end).get(service, 0.0)
    completed = extract.sum_by(s["request_count"], "service", extract.counter_increase, start, end).get(service, 0.0)
    total_seconds = extract.sum_by(s["request_sum"], "service", extract.counter_increase, start, end).get(service, 0.0)
    work_count = extract.sum_by(s["work_count"], "service", extract.counter_increase, start, end).get(service, 0.0)
    work_seconds = extract.sum_by(s["work_sum"], "service", extract.counter_increase, start, end).get(service, 0.0)
    busy = extract.sum_by(s["busy_servers"], "service", extract.gauge_mean, start, end).get(service, math.nan)
    servers = extract.sum_by(s["servers"], "service", extract.gauge_mean, start, end).get(service, math.nan)
    buckets = extract.bucket_increases(s["request_bucket"], service=service, start=start, end=end)
    in_flight = in_flight_samples(data, service, start, end)
    stats = {
        "throughput_per_second": throughput,
        "mean_response_seconds": total_seconds / completed if completed else math.nan,
        "mean_service_seconds": work_seconds / work_count if work_count else math.nan,
        "mean_in_flight": statistics.fmean(in_flight) if in_flight else math.nan,
        "in_flight_variance": statistics.variance(in_flight) if len(in_flight) > 1 else math.inf,
        "in_flight_samples": len(in_flight),
        "mean_queue_depth": extract.sum_by(s["queue_depth"], "service", extract.gauge_mean, start, end).get(service, math.nan),
        "utilisation": busy / servers if servers else math.nan,
        "servers": servers,
        "shed": extract.sum_by(s["shed"], "service", extract.counter_increase, start, end).get(service, 0.0),
        "ready_replicas": extract.sum_by(s["ready"], "service", extract.gauge_mean, start, end).get(service, math.nan),
    }
    stats.update({f"{name}_ms": extract.histogram_quantile(q, buckets) * 1000 for name, q in QUANTILES.items()})
    return stats


def in_flight_samples(data: RunData, service: str, start: float, end: float) -> list[float]:
    """The service's in-flight gauge summed over replicas, one value per scrape inside the window."""
    times, values = extract.sampled_sum(data.series["in_flight"], "service", service)
    return [v for t, v in zip(times, values) if start <= t <= end]


def envoy_stats(data: RunData, service: str, start: float, end: float) -> dict:
    s = data.series
    names = {"pending_overflow": "envoy_pending_overflow", "active_overflow": "envoy_active_overflow",
             "ejections": "envoy_ejections", "retries": "envoy_retries", "timeouts": "envoy_timeouts"}
    return {key: extract.sum_by(s[name], "envoy_cluster_name", extract.counter_increase, start, end).get(service, 0.0)
            for key, name in names.items()}


def littles_law(data: RunData, phase: extract.Phase, service: str, server: dict) -> compare.Comparison:
    """L (mean in-flight gauge) against λ·W (completion rate × mean server-side duration)."""
    predicted = server["throughput_per_second"] * server["mean_response_seconds"]
    # Two standard errors of the gauge's mean. The variance is floored at the predicted mean (a
    # Poisson count's variance): a handful of 1 Hz samples that all read 0 prove nothing. Samples
    # are treated as independent, which holds while W is well under the 1 s scrape interval.
    samples = max(1, server["in_flight_samples"])
    spread = 2 * math.sqrt(max(server["in_flight_variance"], predicted) / samples)
    return compare.compare(
        check="littles_law", subject=service, phase=phase.name, formula="L = λ·W",
        measured=server["mean_in_flight"], predicted=predicted,
        tolerance=data.scenario.get("predictions", {}).get("littles_law", 0.15),
        measured_spread=spread,
        note=f"λ = {server['throughput_per_second']:.2f}/s, W = {server['mean_response_seconds'] * 1000:.1f} ms")


def summarize(data: RunData) -> dict:
    phases, predictions = [], []
    for phase in data.phases:
        start, end = data.window(phase)
        server = {svc: server_stats(data, svc, start, end) for svc in data.services}
        phases.append({
            "name": phase.name, "start": phase.start, "end": phase.end, "window": [start, end],
            "arrival_rate_per_second": phase.arrival_rate_per_second,
            "client": client_stats(data, start, end),
            "server": server,
            "envoy": {svc: envoy_stats(data, svc, start, end) for svc in data.services},
        })
        predictions.extend(littles_law(data, phase, svc, server[svc]) for svc in data.services)
    finished = [e for e in data.events if e["type"] == "run_finished"]
    environment_path = data.dir / "environment.json"
    return {
        "run": {"dir": str(data.dir), "scenario": data.scenario["name"], "backend": "local",
                "started": data.origin, "interrupted": bool(finished and finished[-1].get("interrupted")),
                "complete": bool(finished) and len(data.phases) == len(data.scenario["stages"]),
                "environment": json.loads(environment_path.read_text()) if environment_path.exists() else {}},
        "phases": phases,
        "predictions": [vars(c) for c in predictions],
    }


def build(run_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write summary.json, plots, report.md and report.html for a run; return their paths."""
    data = RunData(pathlib.Path(run_dir))
    summary = summarize(data)
    out = data.dir
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    from analysis import plotting  # noqa: PLC0415 (matplotlib is slow to import)
    plots = plotting.draw_all(data, out / "plots")
    markdown = render_markdown(summary, plots, base=out)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(render_html(summary, plots), encoding="utf-8")
    return {"summary": out / "summary.json", "report_md": out / "report.md", "report_html": out / "report.html",
            **{f"plot_{p.stem}": p for p in plots}}


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def phase_rows(summary: dict) -> list[list[str]]:
    rows = []
    for phase in summary["phases"]:
        c = phase["client"]
        overflow = sum(e["pending_overflow"] + e["active_overflow"] for e in phase["envoy"].values())
        rows.append([phase["name"], fmt(phase["arrival_rate_per_second"]), fmt(c["offered_rate_per_second"]),
                     fmt(c["throughput_per_second"]), fmt(100 * c["error_rate"], 2), fmt(c["p50_ms"]),
                     fmt(c["p95_ms"]), fmt(c["p99_ms"]), fmt(overflow, 0)])
    return rows


PHASE_HEADER = ["phase", "target λ/s", "offered/s", "goodput/s", "errors %", "p50 ms", "p95 ms", "p99 ms",
                "Envoy overflow 503s"]
SERVICE_HEADER = ["phase", "service", "ready replicas", "throughput/s", "utilisation", "mean queue", "mean in-flight",
                  "p50 ms", "p95 ms", "p99 ms", "shed", "overflow", "ejections", "retries"]
PREDICTION_HEADER = ["check", "subject", "phase", "formula", "measured", "predicted", "error %", "tolerance %",
                     "verdict", "note"]


def service_rows(summary: dict) -> list[list[str]]:
    rows = []
    for phase in summary["phases"]:
        for service, s in phase["server"].items():
            e = phase["envoy"][service]
            rows.append([phase["name"], service, fmt(s["ready_replicas"], 1), fmt(s["throughput_per_second"]),
                         fmt(s["utilisation"], 2), fmt(s["mean_queue_depth"], 2), fmt(s["mean_in_flight"], 2),
                         fmt(s["p50_ms"]), fmt(s["p95_ms"]), fmt(s["p99_ms"]), fmt(s["shed"], 0),
                         fmt(e["pending_overflow"] + e["active_overflow"], 0), fmt(e["ejections"], 0),
                         fmt(e["retries"], 0)])
    return rows


def prediction_rows(summary: dict) -> list[list[str]]:
    return [[p["check"], p["subject"], p["phase"], p["formula"], fmt(p["measured"], 3), fmt(p["predicted"], 3),
             fmt(100 * p["relative_error"], 1), fmt(100 * p["tolerance"], 0), p["verdict"].upper(), p["note"]]
            for p in summary["predictions"]]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def intro(summary: dict) -> list[str]:
    run = summary["run"]
    env = run["environment"]
    state = "interrupted" if run["interrupted"] else ("complete" if run["complete"] else "incomplete")
    return [f"Scenario `{run['scenario']}` on the `{run['backend']}` backend, run {state}. "
            f"Envoy: {env.get('envoy', '?')}; Prometheus: {env.get('prometheus', '?')}; "
            f"Locust {env.get('locust', '?')}; {env.get('cpu_count', '?')} cores; seed {env.get('seed', '?')}.",
            "Latencies are end to end from each request's *intended* start (open-loop arrivals), so "
            "queueing in the client counts too; server-side quantiles come from the services' "
            "Prometheus histograms over the same windows (each phase minus its warm-up and cool-down)."]


def render_markdown(summary: dict, plots: list[pathlib.Path], *, base: pathlib.Path) -> str:
    parts = [f"# tailstorm report: {summary['run']['scenario']}", "", *intro(summary), "",
             "## Phases (client side)", "", markdown_table(PHASE_HEADER, phase_rows(summary)), "",
             "## Services (server side)", "", markdown_table(SERVICE_HEADER, service_rows(summary)), "",
             "## Measured against predicted", "", markdown_table(PREDICTION_HEADER, prediction_rows(summary)), "",
             "## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(base)})" for p in plots]
    return "\n".join(parts) + "\n"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='{cell_class(c)}'>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell_class(cell: str) -> str:
    return {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}.get(cell, "")


def render_html(summary: dict, plots: list[pathlib.Path]) -> str:
    images = "".join(
        f"<figure><img alt='{p.stem}' src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'>"
        f"<figcaption>{p.stem}</figcaption></figure>" for p in plots)
    paragraphs = "".join(f"<p>{html.escape(text)}</p>" for text in intro(summary))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>tailstorm report: {html.escape(summary['run']['scenario'])}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
th{{background:#f3f3f3}}.pass{{background:#d8f5d8}}.fail{{background:#f8d0d0}}.inconclusive{{background:#f5f0d0}}
img{{max-width:100%}}figure{{margin:1em 0}}</style></head><body>
<h1>tailstorm report: {html.escape(summary['run']['scenario'])}</h1>{paragraphs}
<h2>Phases (client side)</h2>{html_table(PHASE_HEADER, phase_rows(summary))}
<h2>Services (server side)</h2>{html_table(SERVICE_HEADER, service_rows(summary))}
<h2>Measured against predicted</h2>{html_table(PREDICTION_HEADER, prediction_rows(summary))}
<h2>Plots</h2>{images}</body></html>
"""
