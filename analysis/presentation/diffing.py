"""Two runs side by side: ``tailstorm compare RUN_A RUN_B``. Pure, apart from reading summaries.

Phases are matched by name, prediction rows by (check, subject, phase). For each matched phase the
client's (and each request class's) and every service's headline numbers are shown with the change; for each prediction the
two measurements and verdicts, flagging verdicts that changed. A phase or row present in only one
run is listed with a dash on the other side, so nothing disappears silently.
"""
from __future__ import annotations

import json
import math
import pathlib

from analysis.tables import extract

CLIENT_METRICS = (("offered_rate_per_second", "offered/s"), ("throughput_per_second", "goodput/s"),
                  ("error_rate", "error rate"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"))
SERVICE_METRICS = (("arrival_rate_per_second", "λ/s"), ("utilisation", "utilisation"),
                   ("own_response_seconds", "own W s"), ("p99_ms", "p99 ms"), ("shed", "shed"),
                   ("ready_replicas", "ready replicas"))
COST_METRICS = (("total_cost", "cost"), ("cost_per_1000_successful", "cost per 1,000 ok"),
                ("gpu_hours", "GPU-hours"), ("static_total_cost", "static cost"))


def load_summary(run_dir: pathlib.Path) -> dict:
    path = pathlib.Path(run_dir) / "summary.json"
    if not path.exists():
        raise extract.RunDataError(f"{path} is missing; build it with `tailstorm report {run_dir}`")
    return json.loads(path.read_text(encoding="utf-8"))


def change(a, b) -> tuple[float | None, float | None]:
    """(b − a, (b − a)/a) with None where a number is missing."""
    if a is None or b is None:
        return None, None
    return b - a, ((b - a) / a if a else None)


def metric_row(scope: str, label: str, a, b) -> dict:
    delta, relative = change(a, b)
    return {"scope": scope, "metric": label, "a": a, "b": b, "delta": delta, "relative": relative}


def diff(a: dict, b: dict) -> dict:
    """The structured comparison of two summaries."""
    phases_a = {p["name"]: p for p in a["phases"]}
    phases_b = {p["name"]: p for p in b["phases"]}
    names = list(phases_a) + [n for n in phases_b if n not in phases_a]
    phases = []
    for name in names:
        pa, pb = phases_a.get(name), phases_b.get(name)
        rows = []
        for key, label in CLIENT_METRICS:
            rows.append(metric_row("client", label, pa and pa["client"].get(key), pb and pb["client"].get(key)))
        rows += class_rows(pa, pb)
        slo_a = (pa or {}).get("client", {}).get("slo") or {}
        slo_b = (pb or {}).get("client", {}).get("slo") or {}
        if slo_a or slo_b:
            rows.append(metric_row("client", "SLO violation rate", slo_a.get("violation_rate"),
                                   slo_b.get("violation_rate")))
        services = list((pa or {}).get("server", {})) + [s for s in (pb or {}).get("server", {})
                                                          if s not in (pa or {}).get("server", {})]
        for service in services:
            sa = (pa or {}).get("server", {}).get(service) or {}
            sb = (pb or {}).get("server", {}).get(service) or {}
            rows += [metric_row(service, label, sa.get(key), sb.get(key)) for key, label in SERVICE_METRICS]
        phases.append({"name": name, "in": "both" if pa and pb else ("a" if pa else "b"), "metrics": rows})
    key = lambda p: (p["check"], p["subject"], p["phase"])  # noqa: E731
    rows_a = {key(p): p for p in a["predictions"]}
    rows_b = {key(p): p for p in b["predictions"]}
    predictions = []
    for k in list(rows_a) + [k for k in rows_b if k not in rows_a]:
        ra, rb = rows_a.get(k), rows_b.get(k)
        predictions.append({"check": k[0], "subject": k[1], "phase": k[2],
                            "a_measured": ra and ra["measured"], "a_predicted": ra and ra["predicted"],
                            "a_verdict": ra and ra["verdict"], "b_measured": rb and rb["measured"],
                            "b_predicted": rb and rb["predicted"], "b_verdict": rb and rb["verdict"],
                            "verdict_changed": bool(ra and rb and ra["verdict"] != rb["verdict"])})
    cost_a, cost_b = a.get("cost") or {}, b.get("cost") or {}
    return {"a": a["run"], "b": b["run"], "phases": phases, "predictions": predictions,
            "cost": [metric_row("run", label, cost_a.get(k), cost_b.get(k)) for k, label in COST_METRICS]}


def class_rows(pa: dict | None, pb: dict | None) -> list[dict]:
    """The client's headline numbers per request class (``client.classes``), scope ``class <name>``,
    and its 429s: how a change moved the wait from one class to another (priority-vs-fifo)."""
    mine = lambda p: (p or {}).get("client", {}).get("classes") or {}  # noqa: E731
    names = list(mine(pa)) + [n for n in mine(pb) if n not in mine(pa)]
    return [metric_row(f"class {name}", label, (mine(pa).get(name) or {}).get(key), (mine(pb).get(name) or {}).get(key))
            for name in names for key, label in CLIENT_METRICS + (("rejected", "refused 429"),)]


def number(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4g}"


def percent(value) -> str:
    return "–" if value is None else f"{100 * value:+.1f}%"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows)]


def render_markdown(result: dict) -> str:
    a, b = result["a"], result["b"]
    lines = [f"# tailstorm compare: A `{a['scenario']}` vs B `{b['scenario']}`", "",
             f"- A: {a['dir']}", f"- B: {b['dir']}", ""]
    for phase in result["phases"]:
        where = "" if phase["in"] == "both" else f" (only in {phase['in'].upper()})"
        lines += [f"## Phase `{phase['name']}`{where}", ""]
        lines += table(["scope", "metric", "A", "B", "B − A", "change"],
                       [[m["scope"], m["metric"], number(m["a"]), number(m["b"]), number(m["delta"]),
                         percent(m["relative"])] for m in phase["metrics"]])
        lines.append("")
    lines += ["## Predictions", ""]
    lines += table(["check", "subject", "phase", "A measured", "A predicted", "A verdict", "B measured", "B predicted",
                    "B verdict", "changed"],
                   [[p["check"], p["subject"], p["phase"], number(p["a_measured"]), number(p["a_predicted"]),
                     (p["a_verdict"] or "–").upper(), number(p["b_measured"]), number(p["b_predicted"]),
                     (p["b_verdict"] or "–").upper(), "**yes**" if p["verdict_changed"] else ""]
                    for p in result["predictions"]])
    lines += ["", "## Cost", ""]
    lines += table(["metric", "A", "B", "B − A", "change"],
                   [[m["metric"], number(m["a"]), number(m["b"]), number(m["delta"]), percent(m["relative"])]
                    for m in result["cost"]])
    return "\n".join(lines) + "\n"


def render_json(result: dict) -> str:
    return json.dumps(result, indent=1)
