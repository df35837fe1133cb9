"""The run report: ``summary.json``, ``report.md``, a self-contained ``report.html``, PNG plots and tidy tables.

``build(run_dir)`` is the only function here that writes files; it reads everything through
``extract``, measures through ``measures``, judges through ``checks``/``compare`` and prices through
``cost``, so ``tailstorm report RUN_DIR`` rebuilds a report from the artefacts alone, long after
the stack is gone. ``python -m analysis.presentation.report RUN_DIR`` does the same.

Files written into the run directory:

- ``summary.json``: per phase the client's (and each request class's) and each service's measurements, every prediction row
  (check, subject, phase, formula, measured, predicted, error, tolerance, verdict), HPA lags, cost
  and, when a learner recorded predictions, the teaching table. Non-finite numbers are ``null``.
- ``tables/requests.csv``, ``tables/service_series.csv``, ``tables/events.csv``: tidy tables.
- ``plots/*.png``, ``report.md`` and ``report.html`` (plots embedded, opens without the folder).
"""
from __future__ import annotations

import base64
import csv
import dataclasses
import html
import json
import math
import os
import pathlib
import sys

from analysis.tables import cost, extract, lagtimeline, measures
from analysis.verdicts import checks, compare, criteria, teaching, validity


def summarize(run: extract.Run, *, prices: cost.Prices | None = None, predictions: dict | None = None) -> dict:
    """Everything the report shows, as plain data."""
    phases, rows = [], []
    for phase in run.phases:
        start, end = run.window(phase)
        client = measures.client_stats(run, start, end)
        servers = {svc: measures.service_stats(run, svc, start, end) for svc in run.services}
        envoys = {svc: measures.envoy_stats(run, svc, start, end) for svc in run.services}
        phases.append({"name": phase.name, "start": phase.start, "end": phase.end, "window": [start, end],
                       "arrival_rate_per_second": phase.arrival_rate_per_second,
                       "client": client, "server": servers, "envoy": envoys})
        rows += checks.phase_checks(run.scenario, phase.name, client, servers, envoys)
    timeline = lagtimeline.from_run(run)
    rows += checks.seed_hpa_lag(run.scenario, timeline)
    finished = [e for e in run.events if e["type"] == "run_finished"]
    verdict = validity.assess(run)
    scale_events = [{k: e.get(k) for k in ("time", "service", "from_replicas", "to_replicas", "reason")}
                    for e in run.events if e["type"] == "scale"]
    for phase in phases:
        phase["generator"] = next((g for g in verdict["generator"] if g["phase"] == phase["name"]), None)
    summary = {
        "run": {"dir": str(run.dir), "scenario": run.scenario["name"], "variant": run.scenario.get("variant"),
                "variant_description": ((run.scenario.get("variants") or {}).get(run.scenario.get("variant")) or {}).get(
                    "description"),
                "backend": run.environment.get("backend", "local"), "started": run.origin,
                "interrupted": bool(finished and finished[-1].get("interrupted")),
                "complete": bool(finished) and len(run.phases) == len(run.scenario["stages"]),
                "environment": run.environment, "slo": run.scenario.get("slo"), "validity": verdict,
                "client": run.scenario.get("client"),
                "bulkheads": bulkheads(run.scenario),
                "gpu": {name: spec["gpu"] for name, spec in run.scenario["services"].items()
                        if spec.get("work") == "gpu" and spec.get("gpu")}},
        "phases": phases,
        "predictions": [withhold(row, verdict).as_dict() for row in rows],
        "hpa_lag_timeline": timeline,
        "scale_events": scale_events,
        "cost": cost.run_cost(run, prices or cost.Prices()),
    }
    summary = jsonable(summary)
    summary["story"] = jsonable(criteria.story(run.scenario, summary))
    summary["teaching"] = jsonable(teaching.teaching_table(summary, predictions, scenario=run.scenario,
                                                           run_started=run.origin))
    return summary


def bulkheads(scenario: dict) -> dict:
    """Service → its tenant bulkheads as its replicas ran them (``effective_services``), for the
    services that have any."""
    keys = ("tenant_limits", "tenant_limit_default")
    return {name: {key: spec.get(key) for key in keys}
            for name, spec in (scenario.get("effective_services") or {}).items() if any(spec.get(key) for key in keys)}


def withhold(row: compare.Comparison, verdict: dict) -> compare.Comparison:
    """No verdict from an invalid run, nor from client-side rows of a phase whose generator fell behind."""
    client_side = row.subject == "end-to-end" or row.subject.startswith("client")
    if verdict["status"] == validity.INVALID:
        why = "run invalid"
    elif client_side and row.phase in verdict["generator_behind_phases"]:
        why = "the load generator fell behind in this phase"
    else:
        return row
    return dataclasses.replace(row, verdict=compare.WITHHELD, note=f"withheld: {why}" + (f"; {row.note}" if row.note else ""))


def jsonable(value):
    """Plain JSON: tuples as lists, NaN and infinities as null (strict parsers reject NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def build(run_dir: pathlib.Path, *, prices: cost.Prices | None = None,
          predictions_dir: pathlib.Path | None = None) -> dict[str, pathlib.Path]:
    """Write summary.json, tables, plots, report.md and report.html for a run; return their paths.

    Predictions are looked up in ``predictions_dir`` (default: ``predictions/`` next to the run
    directory, i.e. ``runs/predictions/``).
    """
    run = extract.load_run(pathlib.Path(run_dir))
    prices = prices or cost.Prices.from_environment(os.environ)
    predictions_dir = pathlib.Path(predictions_dir) if predictions_dir else run.dir.parent / "predictions"
    document = teaching.load(teaching.prediction_path(predictions_dir, run.scenario["name"]))
    summary = summarize(run, prices=prices, predictions=document)
    out = run.dir
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    tables = write_tables(run, out / "tables")
    from analysis.presentation import plotting  # noqa: PLC0415 (matplotlib is slow to import)
    plots = plotting.draw_all(run, summary, out / "plots")
    (out / "report.md").write_text(render_markdown(summary, plots, base=out), encoding="utf-8")
    (out / "report.html").write_text(render_html(summary, plots), encoding="utf-8")
    return {"summary": out / "summary.json", "report_md": out / "report.md", "report_html": out / "report.html",
            **{f"table_{p.stem}": p for p in tables}, **{f"plot_{p.stem}": p for p in plots}}


def write_tables(run: extract.Run, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """The tidy tables as CSV: requests (all phases), per-service series and events."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {"requests": run.requests, "service_series": extract.service_points(run),
              "events": extract.event_rows(run.events)}
    kinds = {"requests": extract.Request, "service_series": extract.ServicePoint, "events": extract.EventRow}
    paths = []
    for name, records in tables.items():
        path = out_dir / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([f.name for f in dataclasses.fields(kinds[name])])
            writer.writerows(dataclasses.astuple(r) for r in records)
        paths.append(path)
    return paths


# -- rendering -------------------------------------------------------------------------------------

def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def sig(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def pct(value, digits: int = 2) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def interval_text(pair, scale: float = 1.0, digits: int = 4) -> str:
    return f" [{sig(pair[0] * scale, digits)}, {sig(pair[1] * scale, digits)}]" if pair else ""


UNITS = {"mmc_mean_response": "s", "ggc_mean_response": "s", "mmc_p99": "s", "seed_p99": "s", "seed_hpa_lag": "s", "littles_law": "requests",
         "mmck_blocking": "share", "envoy_overflow": "share", "slo_composition": "share", "serial_goodput": "share",
         "seed_cascade": "share", "seed_shed": "share", "retry_amplification": "attempts/request",
         "retry_worst_case": "attempts/request", "adaptive_throttling": "share"}


def has_slo(summary: dict) -> bool:
    return bool(summary["run"].get("slo"))


def phase_header(summary: dict) -> list[str]:
    header = ["phase", "target λ/s", "offered/s", "goodput/s", "errors %", "p50 ms", "p95 ms", "p99 ms",
              "Envoy overflow 503s", "generator"]
    return header + (["SLO violations % [95% CI]"] if has_slo(summary) else [])


def phase_rows(summary: dict) -> list[list[str]]:
    rows = []
    for phase in summary["phases"]:
        c = phase["client"]
        overflow = sum(e["pending_overflow"] + e["active_overflow"] for e in phase["envoy"].values())
        behind = (phase.get("generator") or {}).get("behind")
        tail = (lambda v: f"{fmt(v)} (invalid)") if behind else fmt  # noqa: E731
        row = [phase["name"], fmt(phase["arrival_rate_per_second"]), fmt(c["offered_rate_per_second"]),
               fmt(c["throughput_per_second"]), pct(c["error_rate"]), tail(c["p50_ms"]), tail(c["p95_ms"]),
               tail(c["p99_ms"]), fmt(overflow, 0), generator_cell(phase.get("generator"))]
        if has_slo(summary):
            slo = c.get("slo") or {}
            row.append(pct(slo.get("violation_rate")) + interval_text(slo.get("interval"), 100, 3))
        rows.append(row)
    return rows


def generator_cell(g: dict | None) -> str:
    if not g:
        return "–"
    if g.get("loop") == "closed":
        return "closed loop: not judged"
    state = "BEHIND" if g["behind"] else "kept up"
    dropped = f", {g['dropped']} dropped" if g["dropped"] else ""
    return f"{state}: send lag p99 {fmt(g['send_lag_p99_ms'])} ms{dropped}"


VALIDITY_TITLE = {validity.VALID: "VALID", validity.DEGRADED: "DEGRADED", validity.INVALID: "INVALID"}
VALIDITY_MEANING = {
    validity.VALID: "every request was accounted for at every hop, every target was scraped throughout, the load "
                    "generator kept up, and every process of the testbed lived through the run",
    validity.DEGRADED: "the numbers below are measurements, but part of the run is marked: read the reasons first",
    validity.INVALID: "the experiment did not run as described, so no theory verdict is given (shown as WITHHELD)",
}


def validity_lines(summary: dict) -> list[str]:
    """The verdict and its reasons, first thing in every report."""
    verdict = summary["run"]["validity"]
    lines = [f"Run validity: {VALIDITY_TITLE[verdict['status']]} — {VALIDITY_MEANING[verdict['status']]}."]
    lines += [f"{REASON_LABEL[r['severity']]}: {r['message']}" for r in verdict["reasons"]]
    return lines


# A reason of severity valid is something the scenario itself explains (a scheduled kill's lost
# requests): said, but as a note, so it does not read like a defect with a green label.
REASON_LABEL = {**VALIDITY_TITLE, validity.VALID: "Noted, no defect"}


FLOW_HEADER = ["service", "sent by", "sent", "proxy received", "proxy forwarded", "proxy retries",
               "proxy's own 503s", "replicas counted", "in flight at the end"]


def flow_rows(summary: dict) -> list[list[str]]:
    rows = []
    for f in summary["run"]["validity"]["flow"]:
        sent = fmt(f["sent_low"], 0) if f["sent_low"] == f["sent_high"] else f"{fmt(f['sent_low'], 0)}–{fmt(f['sent_high'], 0)}"
        rows.append([f["service"], ", ".join(f["senders"]), sent, fmt(f["proxy_received"], 0),
                     fmt(f["proxy_forwarded"], 0), fmt(f["proxy_retries"], 0), fmt(f["proxy_answered_itself"], 0),
                     fmt(f["replicas_counted"], 0), fmt(f.get("in_flight_at_end", 0.0), 0)])
    return rows


FAULT_HEADER = ["fault", "kind", "service", "from (s)", "to (s)", "replicas hit"]


def fault_rows(summary: dict) -> list[list[str]]:
    """The scenario's faults that took effect, in seconds since the run started (as on the plots)."""
    origin = summary["run"]["started"]
    return [[w["label"], w["kind"], w["service"], fmt(w["start"] - origin), fmt(w["end"] - origin)
             + ("" if w["ended"] else " (not cleared)"), ", ".join(w["pods"] or []) or "–"]
            for w in summary["run"]["validity"].get("faults", [])]


SERVICE_HEADER = ["phase", "service", "ready replicas", "λ/s", "μ/s per server", "c", "utilisation", "own W ms",
                  "mean queue", "mean in-flight", "p50 ms", "p95 ms", "p99 ms", "shed", "overflow", "ejections",
                  "retries"]


def service_rows(summary: dict) -> list[list[str]]:
    rows = []
    for phase in summary["phases"]:
        for service, s in phase["server"].items():
            e = phase["envoy"][service]
            own = s.get("own_response_seconds")
            rows.append([phase["name"], service, fmt(s["ready_replicas"], 1), fmt(s["arrival_rate_per_second"]),
                         fmt(s["service_rate_per_second"]), fmt(s["servers"], 0), fmt(s["utilisation"], 2),
                         fmt(own * 1000 if own is not None else None, 1), fmt(s["mean_queue_depth"], 2),
                         fmt(s["mean_in_flight"], 2), fmt(s["p50_ms"]), fmt(s["p95_ms"]), fmt(s["p99_ms"]),
                         fmt(s["shed"], 0), fmt(e["pending_overflow"] + e["active_overflow"], 0),
                         fmt(e["ejections"], 0), fmt(e["retries"], 0)])
    return rows


CLASS_HEADER = ["phase", "class", "tenant", "priority", "share of arrivals", "offered/s", "goodput/s", "errors %",
                "refused 429", "p50 ms", "p95 ms", "p99 ms"]


def class_rows(summary: dict) -> list[list[str]]:
    """Per phase and request class, the client's view of that class's requests (``client.classes``)."""
    declared = {c["name"]: c for c in (summary["run"].get("client") or {}).get("classes") or []}
    rows = []
    for phase in summary["phases"]:
        behind = (phase.get("generator") or {}).get("behind")
        tail = (lambda v: f"{fmt(v)} (invalid)") if behind else fmt  # noqa: E731
        for name, c in (phase["client"].get("classes") or {}).items():
            spec = declared.get(name, {})
            rows.append([phase["name"], name, spec.get("tenant") or "–", spec.get("priority") or "–",
                         pct(c["arrival_share"], 1), fmt(c["offered_rate_per_second"]),
                         fmt(c["throughput_per_second"]), pct(c["error_rate"]), fmt(c["rejected"], 0),
                         tail(c["p50_ms"]), tail(c["p95_ms"]), tail(c["p99_ms"])])
    return rows


BULKHEAD_HEADER = ["phase", "service", "tenant", "limit per replica", "refused 429"]


def bulkhead_rows(summary: dict) -> list[list[str]]:
    """Per phase, service and tenant, what the service's tenant bulkheads refused; only for services
    that have bulkheads (``tenant_limits``, ``tenant_limit_default``)."""
    bulkheads = summary["run"].get("bulkheads") or {}
    rows = []
    for phase in summary["phases"]:
        for service, limits in bulkheads.items():
            refused = (phase["server"].get(service) or {}).get("tenant_rejected") or {}
            tenants = sorted(set(limits.get("tenant_limits") or {}) | set(refused))
            for tenant in tenants:
                limit = (limits.get("tenant_limits") or {}).get(tenant, limits.get("tenant_limit_default"))
                rows.append([phase["name"], service, tenant, fmt(limit, 0), fmt(refused.get(tenant, 0.0), 0)])
    return rows


RETRY_HEADER = ["phase", "layer", "first tries", "attempts", "attempts per request", "failed %", "throttled",
                "over retry budget", "no time left", "Envoy retry limit"]


def retry_rows(summary: dict) -> list[list[str]]:
    """Attempts at every layer that retried or withheld something in a phase (client, callers, proxies)."""
    rows = []
    for phase in summary["phases"]:
        layers = [("client → entry", phase["client"]["requests_tried"], phase["client"]["attempts"],
                   phase["client"]["failed_attempts"], phase["client"]["withheld"], None)]
        for caller, s in phase["server"].items():
            layers += [(f"{caller} → {target}", c["first_attempts"], c["attempts"], c["failed_attempts"],
                        c["withheld"], None) for target, c in (s.get("calls") or {}).items()]
        for service, e in phase["envoy"].items():
            completed = phase["server"][service]["completed"]
            layers.append((f"Envoy → {service}", completed - e["retries"], completed, None, {}, e["retry_overflow"]))
        for name, first, attempts, failed, withheld, overflow in layers:
            if not first or (attempts <= first and not withheld and not overflow):
                continue
            rows.append([phase["name"], name, fmt(first, 0), fmt(attempts, 0), fmt(attempts / first, 3),
                         fmt(None if failed is None else 100 * failed / attempts if attempts else None, 1),
                         fmt(withheld.get("throttled", 0), 0), fmt(withheld.get("retry_budget", 0), 0),
                         fmt(withheld.get("no_time_left", 0), 0), fmt(overflow, 0)])
    return rows


PREDICTION_HEADER = ["check", "subject", "phase", "formula", "unit", "measured [95% CI]", "predicted [95% CI]",
                     "error %", "tolerance %", "verdict", "note"]


DECIDED = ("pass", "fail")


def prediction_rows(summary: dict, model: str, *, decided: bool) -> list[list[str]]:
    """The rows of one model that decided (pass, fail), or those that did not (inconclusive by
    design, or withheld), so the undecided are grouped apart instead of interleaved."""
    return [[p["check"], p["subject"], p["phase"], p["formula"], UNITS.get(p["check"], ""),
             sig(p["measured"]) + interval_text(p.get("measured_interval")),
             sig(p["predicted"]) + interval_text(p.get("predicted_interval")),
             fmt(None if p["error"] is None else 100 * p["error"], 1), fmt(100 * p["tolerance"], 0),
             p["verdict"].upper(), p["note"]]
            for p in summary["predictions"] if p["model"] == model and (p["verdict"] in DECIDED) == decided]


STORY_HEADER = ["criterion", "result", "measured", "expected", "verdict"]


def story_rows(summary: dict) -> list[list[str]]:
    return [[c["name"], c["says"], sig(c["value"]), c["expected"], c["verdict"].upper()]
            for c in (summary.get("story") or {}).get("criteria", [])]


SLO_HEADER = ["phase", "subject", "threshold ms", "violations", "of", "share % [95% CI]", "objective met", "source"]


def slo_rows(summary: dict) -> list[list[str]]:
    objective = (summary["run"].get("slo") or {}).get("objective", 0.99)
    rows = []
    for phase in summary["phases"]:
        parts = [(name, s["slo"]) for name, s in phase["server"].items() if s.get("slo")]
        if phase["client"].get("slo"):
            parts.append(("end-to-end", {**phase["client"]["slo"], "source": "client log"}))
        for name, slo in parts:
            rate = slo.get("violation_rate")
            met = "–" if rate is None else ("yes" if rate <= 1 - objective else "NO")
            rows.append([phase["name"], name, fmt(slo["latency_seconds"] * 1000, 1), fmt(slo.get("violations"), 0),
                         fmt(slo.get("requests"), 0), pct(rate) + interval_text(slo.get("interval"), 100, 3), met,
                         slo.get("source", "")])
    return rows


COST_HEADER = ["service", "kind", "replica-seconds", "peak replicas", "GPU-hours", "price/h", "cost", "static cost"]


def cost_rows(summary: dict) -> list[list[str]]:
    c = summary["cost"] or {}
    rows = [[name, "GPU" if s["gpu"] else "CPU", fmt(s["replica_seconds"], 0), str(s["peak_replicas"]),
             fmt(s["gpu_hours"], 4), fmt(s["price_per_hour"], 4), fmt(s["cost"], 4), fmt(s["static_cost"], 4)]
            for name, s in c.get("services", {}).items()]
    if c:
        rows.append(["total", "", "", "", fmt(c["gpu_hours"], 4), "", fmt(c["total_cost"], 4),
                     fmt(c["static_total_cost"], 4)])
    return rows


def cost_sentence(summary: dict) -> str:
    c = summary["cost"] or {}
    if not c:
        return "No phase ran, so nothing was costed."
    scaled = ("Autoscaling changed the replica count, so static provisioning at the peak would have cost "
              f"${fmt(c['static_total_cost'], 4)} (${fmt(c['static_cost_per_1000_successful'], 4)} per 1,000 successful "
              f"requests)." if c["scaled"] else
              "No replica count changed during the load, so autoscaled and static provisioning cost the same.")
    return (f"Over the {fmt(c['span_seconds'], 0)} s load span: ${fmt(c['total_cost'], 4)} ({c['currency']}), "
            f"{fmt(c['gpu_hours'], 4)} emulated {c['gpu_profile']} GPU-hours, "
            f"${fmt(c['cost_per_1000_successful'], 4)} per 1,000 successful requests "
            f"({c['successful_requests']} succeeded). {scaled} Replica-seconds from {c['replica_source']}; "
            "prices are settings (analysis/tables/cost.py cites their sources).")


TEACHING_HEADER = ["quantity", "question", "your prediction", "theory", "measured", "theory from"]


def teaching_rows(summary: dict) -> list[list[str]]:
    t = summary.get("teaching") or {}
    return [[r["quantity"], r["question"], sig(r["prediction"]), sig(r["theory"]), sig(r["measured"]),
             r["theory_source"]] for r in t.get("rows", [])]


def teaching_sentence(summary: dict) -> str:
    t = summary.get("teaching") or {}
    if t.get("flag"):
        return f"⚠ These predictions were {t['flag']}."
    return "These predictions were locked before the run started."


def gpu_lines(summary: dict) -> list[str]:
    """What a GPU scenario emulates, first: profile, model, parallelism and the time scale."""
    return [f"GPU: {service} emulates `{gpu['model']}` on `{gpu['profile']}` × {gpu['tensor_parallel_size']} "
            f"(tensor parallel; the vLLM serving stack's fitted overheads, docs/gpu-emulator.md), "
            f"{gpu['policy']} admission; time scale {gpu['time_scale']:g}: every GPU time in this report is "
            f"emulated time × {gpu['time_scale']:g} on the wall clock."
            for service, gpu in (summary["run"].get("gpu") or {}).items()]


def report_title(summary: dict) -> str:
    """The scenario's name, and the variant's when the run is one."""
    run = summary["run"]
    return run["scenario"] + (f" · {run['variant']}" if run.get("variant") else "")


def intro(summary: dict) -> list[str]:
    run = summary["run"]
    env = run["environment"]
    state = "interrupted" if run["interrupted"] else ("complete" if run["complete"] else "incomplete")
    variant = (f"This is its variant `{run['variant']}`: {run['variant_description']}"
               if run.get("variant") else "")
    return [*gpu_lines(summary), *([variant] if variant else []), f"Scenario `{run['scenario']}` on the `{run['backend']}` backend, run {state}. "
            f"Envoy: {env.get('envoy', '?')}; Prometheus: {env.get('prometheus', '?')}; "
            f"Locust {env.get('locust', '?')}; {env.get('cpu_count', '?')} cores; seed {env.get('seed', '?')}.",
            load_sentence(run.get("client") or {}) + "; server-side quantiles come from the services' "
            "Prometheus histograms over the same windows (each phase minus its warm-up and cool-down). "
            "Predictions use the measured λ, μ and c; a verdict is inconclusive when the measurement's "
            "own 95% interval is wider than the tolerance."]


def load_sentence(client: dict) -> str:
    """Open or closed loop, said before any number: a closed loop under-reports stalls."""
    if client.get("kind") == "closed":
        return (f"**Closed-loop load**: {client.get('users')} users, each sending its next request only after the "
                f"answer to its last (mean think time {client.get('think_time_seconds', 0):g} s), so the rate "
                "followed the system's speed and a stall held back the very requests it would have delayed: "
                "these tails under-report stalls (coordinated omission), and no generator check applies")
    workers = client.get("workers", 1)
    spread = f", generated by {workers} Locust worker processes" if workers > 1 else ""
    return (f"Open-loop load{spread}: latencies are end to end from each request's *intended* start, so "
            "queueing in the client counts too")


def sections(summary: dict) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """(title, sentence, header, rows) of every table section, in report order; empty ones left out."""
    parts = [
        ("Phases (client side)", "A phase whose load generator fell behind has its client-side tails marked "
         "invalid: latency counts from the intended send time, so a late generator's lag would read as the "
         "system's.", phase_header(summary), phase_rows(summary)),
        ("Request classes (client side)", "Each request class's own view from the client (its class is in the "
         "request log): latencies from each request's intended start; refused 429 counts its requests a tenant "
         "bulkhead turned away.", CLASS_HEADER, class_rows(summary)),
        ("Tenant bulkheads", "Requests each service's replicas answered 429 at once because their tenant held its "
         "limit of concurrent requests on the replica (tailstorm_tenant_rejected_total).", BULKHEAD_HEADER,
         bulkhead_rows(summary)),
        ("Scheduled faults", "The scenario's fault schedule as it was applied (fault events in events.jsonl); "
         "each window is shaded on the time plots.", FAULT_HEADER, fault_rows(summary)),
        ("Services (server side)", "Own W is the service's own response time (queueing + work), "
         "without its downstream calls.", SERVICE_HEADER, service_rows(summary)),
        ("Retries by layer", "Attempts each layer sent per request it was asked for, and what its retry policy "
         "held back (a throttled request fails unsent; a retry over budget or past the deadline is not made). "
         "Envoy's rows count its retries; its retry limit (max_retries or retry budget) refuses the rest.",
         RETRY_HEADER, retry_rows(summary)),
        ("Measured against predicted", "Textbook models with measured inputs; the rows that decided.",
         PREDICTION_HEADER, prediction_rows(summary, "textbook", decided=True)),
        ("Measured against predicted: undecided", "Rows the data cannot decide (inconclusive by design: too few "
         "requests, a measurement noisier than the tolerance, a model that does not apply) or that the run's "
         "validity withholds.", PREDICTION_HEADER, prediction_rows(summary, "textbook", decided=False)),
    ]
    if has_slo(summary):
        parts.append(("SLO composition", "Per-service shares are of each service's own latency; the end-to-end "
                      "share counts failed requests as violations.", SLO_HEADER, slo_rows(summary)))
    parts.append(("Seed toy models", "The seed lab's constants as separate rows: where they part from the "
                  "measurement, the textbook rows above say why.", PREDICTION_HEADER,
                  prediction_rows(summary, "seed", decided=True) + prediction_rows(summary, "seed", decided=False)))
    parts += lagtimeline.report_sections(summary)
    parts.append(("Cost", cost_sentence(summary), COST_HEADER, cost_rows(summary)))
    parts.append(("Flow conservation", "Whole-run counts along each hop: what the callers sent to a service's proxy, "
                  "what the proxy received and forwarded (retries included; its own overflow, no-healthy-host and "
                  "fault-filter answers are not forwarded) and what the service's replicas counted. Each arrow must conserve requests.",
                  FLOW_HEADER, flow_rows(summary)))
    if summary.get("teaching"):
        parts.append(("Your predictions", teaching_sentence(summary), TEACHING_HEADER, teaching_rows(summary)))
    return [p for p in parts if p[3] or p[0] in ("Phases (client side)", "Measured against predicted", "Cost")]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def story_lines(summary: dict) -> tuple[list[str], list[list[str]]]:
    """The scenario's question and what it teaches, and its criteria rows; nothing without a story."""
    story = summary.get("story")
    if not story:
        return [], []
    return [f"**{story['question']}**", story["teaches"]], story_rows(summary)


def render_markdown(summary: dict, plots: list[pathlib.Path], *, base: pathlib.Path) -> str:
    first, *reasons = validity_lines(summary)
    parts = [f"# tailstorm report: {report_title(summary)}", "", f"**{first}**", ""]
    parts += [f"- {line}" for line in reasons] + ([""] if reasons else [])
    question, criteria_rows = story_lines(summary)
    if question:
        parts += ["## The question", "", *question, ""]
        parts += [markdown_table(STORY_HEADER, criteria_rows), ""] if criteria_rows else []
    parts += [*intro(summary), ""]
    parts += ["## Plots", ""] + [f"![{p.stem}]({p.relative_to(base)})" for p in plots] + [""]
    for title, sentence, header, rows in sections(summary):
        parts += [f"## {title}", ""] + ([sentence, ""] if sentence else []) + [markdown_table(header, rows), ""]
    return "\n".join(parts) + "\n"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='{cell_class(c)}'>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell_class(cell: str) -> str:
    return {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive", "WITHHELD": "withheld",
            "NO": "fail"}.get(cell, "")


PLOT_FRAME_COLOUR = "#3a5f8a"
"""Border of every plot figure in report.html; the screenshot test finds the plots by it."""


def render_html(summary: dict, plots: list[pathlib.Path]) -> str:
    images = "".join(
        f"<figure class='plot' id='plot-{p.stem}'><img alt='{p.stem}' "
        f"src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'>"
        f"<figcaption>{p.stem}</figcaption></figure>" for p in plots)
    paragraphs = "".join(f"<p>{html.escape(text)}</p>" for text in intro(summary))
    first, *reasons = validity_lines(summary)
    status = summary["run"]["validity"]["status"]
    banner = (f"<div class='validity {status}' id='validity'><strong>{html.escape(first)}</strong>"
              + ("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in reasons) + "</ul>" if reasons else "")
              + "</div>")
    question, criteria_rows = story_lines(summary)
    story = ""
    if question:
        story = ("<h2 id='question'>The question</h2>" + "".join(f"<p>{html.escape(line.strip('*'))}</p>"
                                                                for line in question)
                 + (html_table(STORY_HEADER, criteria_rows) if criteria_rows else ""))
    # the full tables follow the plots, folded: the story and the plots come first
    tables = "".join(f"<details><summary><h2>{html.escape(title)}</h2></summary>"
                     + (f"<p>{html.escape(sentence)}</p>" if sentence else "") + html_table(header, rows) + "</details>"
                     for title, sentence, header, rows in sections(summary))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>tailstorm report: {html.escape(report_title(summary))}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
th{{background:#f3f3f3}}.pass{{background:#d8f5d8}}.fail{{background:#f8d0d0}}.inconclusive{{background:#f5f0d0}}
.withheld{{background:#e4e4e4;color:#555}}.validity{{padding:8px 12px;margin:1em 0;border-radius:4px;border:2px solid}}
.validity.valid{{background:#e6f6e6;border-color:#3a3}}.validity.degraded{{background:#fdf3d8;border-color:#c90}}
.validity.invalid{{background:#fbdede;border-color:#c22}}
figure.plot{{margin:1em 0;padding:0;border:4px solid {PLOT_FRAME_COLOUR};width:fit-content;line-height:0}}
figure.plot img{{display:block;max-width:1100px}}figcaption{{line-height:1.4;padding:2px 6px;font-size:12px}}
details summary h2{{display:inline}}details{{margin:0.6em 0}}</style></head><body>
<h1>tailstorm report: {html.escape(report_title(summary))}</h1>{banner}{story}{paragraphs}
<h2 id="plots">Plots</h2>{images}
<h2 id="tables">Tables</h2>{tables}</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m analysis.presentation.report RUN_DIR", file=sys.stderr)
        return 2
    try:
        paths = build(pathlib.Path(argv[0]))
    except extract.RunDataError as exc:
        print(f"tailstorm: {exc}", file=sys.stderr)
        return 2
    print(f"report: {paths['report_md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
