"""A scenario's pass criteria judged on a run's summary: the first thing its report shows. Pure.

Each criterion of the scenario's ``story`` (schema/scenario.py) measures an expression
(schema/expressions.py) over the summary and holds it to ``at_least`` / ``at_most``. A path starts
with a phase name and walks that phase's dict (``spike.client.p99_ms``,
``slow.server.inference.arrival_rate_per_second``; one request class of ``client.classes`` as
``surge.client.classes.<class>.p99_ms`` with every field the client has, ``.arrival_share`` and
``.rejected`` (its 429s) among them; a tenant bulkhead's refusals as
``surge.server.inference.tenant_rejected.<tenant>``); with ``hpa`` and a service, reading the first
scale-up of the HPA-lag timeline (``hpa.inference.lag_seconds``, or one measured stage of it:
``.metric_pipeline_seconds``, ``.sync_pickup_seconds``, ``.api_scheduling_seconds``,
``.container_start_seconds``, ``.readiness_seconds``), every scale-up's lag (``.mean_lag_seconds``,
``.max_lag_seconds``), counting them (``hpa.inference.scale_ups``, ``.scale_downs``) or the
replicas paid for (``.mean_replicas``, ``.peak_replicas``: the cost table's pods alive); a phase name
before ``hpa`` (``later.hpa.inference.scale_ups``) keeps the scale-ups decided, the scale-downs done
and the replicas alive within that phase; or with ``checks`` and a prediction row:
``checks.<check>.<subject>.<phase>.<measured|predicted|error|abs_error|passed>`` (the subject
written in lower case with every run of other characters as ``-``: ``end-to-end``,
``envoy-inference``), or ``checks.<check>.<pass|fail|inconclusive|withheld>`` counting the rows
of a check by verdict. A value that is missing (a phase that never ran, no
scale-up) makes the row inconclusive; an invalid run withholds every verdict.
"""
from __future__ import annotations

import math
import re

from analysis.tables import lagtimeline
from analysis.verdicts import compare, validity
from schema import expressions


class MissingValue(LookupError):
    """A path reads nothing in this run; the message says which."""


def resolve(summary: dict, path: expressions.Path) -> float:
    root, *rest = path.parts
    if root == "hpa":
        return hpa_value(summary, rest)
    if root == "checks":
        return check_value(summary, rest)
    phase = next((p for p in summary["phases"] if p["name"] == root), None)
    if phase is None:
        raise MissingValue(f"phase {root!r} did not run")
    if rest[:1] == ["hpa"]:
        return hpa_value(summary, rest[1:], phase=phase)
    value = phase
    for key in rest:
        if not isinstance(value, dict) or key not in value:
            raise MissingValue(f"{'.'.join(path.parts)} is not in the summary")
        value = value[key]
    if value is None or not isinstance(value, (int, float)):
        raise MissingValue(f"{'.'.join(path.parts)} has no number in this run")
    return float(value)


def hpa_value(summary: dict, rest: list[str], *, phase: dict | None = None) -> float:
    """An HPA figure of one service over the run, or within ``phase`` (its [start, end))."""
    if len(rest) != 2:
        raise MissingValue(f"an hpa path is [<phase>.]hpa.<service>.<{'|'.join(HPA_FIELDS)}>")
    service, field = rest
    inside = lambda t: phase is None or phase["start"] <= t < phase["end"]  # noqa: E731
    where = f" in {phase['name']}" if phase else ""
    ups = [u for u in (summary.get("hpa_lag_timeline") or {}).get("scale_ups", [])
           if u["service"] == service and inside(u["times"]["hpa_decision"])]
    if field == "scale_ups":
        return float(len(ups))
    if field == "scale_downs":
        return float(sum(1 for e in summary.get("scale_events", []) if e["service"] == service
                         and e["to_replicas"] < e["from_replicas"] and inside(e["time"])))
    if field in ("mean_replicas", "peak_replicas"):
        return replicas(summary, service, field, phase)
    lags = [u["lag_seconds"] for u in ups if u.get("lag_seconds") is not None]
    if field in LAG_TERMS:  # one measured stage of the first scale-up's lag
        row = next((r for r in (ups[0].get("comparison") or []) if r["term"] == field), {}) if ups else {}
        value = row.get("measured_seconds")
    elif field == "lag_seconds":
        value = ups[0].get(field) if ups else None
    elif field in ("mean_lag_seconds", "max_lag_seconds"):
        value = (sum(lags) / len(lags) if field == "mean_lag_seconds" else max(lags)) if lags else None
    else:
        raise MissingValue(f"hpa.{service}.{field} is no HPA measurement; use one of {', '.join(HPA_FIELDS)}")
    if value is None:
        raise MissingValue(f"no scale-up of {service}{where} with a {field}")
    return float(value)


def replicas(summary: dict, service: str, field: str, phase: dict | None) -> float:
    """Replicas of ``service`` alive (created, not yet deleted: what is paid for; the cost table's
    count) on average over the run or ``phase``, or at most at once over the run."""
    cost = (summary.get("cost") or {}).get("services", {}).get(service)
    if cost is None:
        raise MissingValue(f"the run has no replica count of {service}")
    if field == "peak_replicas":
        if phase:
            raise MissingValue("peak_replicas is counted over the whole run; write hpa.<service>.peak_replicas")
        return float(cost["peak_replicas"])
    if phase:
        return cost["by_phase"][phase["name"]] / (phase["end"] - phase["start"])
    return cost["replica_seconds"] / summary["cost"]["span_seconds"]


LAG_TERMS = tuple(term for term, _, _ in lagtimeline.MEASURED_TERMS)
"""The stages of a scale-up's lag that the timeline measures (the lag model's term names)."""

HPA_FIELDS = ("lag_seconds", *LAG_TERMS, "mean_lag_seconds", "max_lag_seconds", "scale_ups", "scale_downs",
              "mean_replicas", "peak_replicas")
"""Every figure an hpa path reads."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


VERDICT_COUNTS = (compare.PASS, compare.FAIL, compare.INCONCLUSIVE, compare.WITHHELD)


def check_value(summary: dict, rest: list[str]) -> float:
    rows = [r for r in summary.get("predictions", []) if rest and r["check"] == rest[0]]
    if len(rest) == 2 and rest[1] in VERDICT_COUNTS:
        return float(sum(1 for r in rows if r["verdict"] == rest[1]))
    if len(rest) != 4:
        raise MissingValue("a checks path is checks.<check>.<subject>.<phase>.<field> or checks.<check>.<verdict>")
    check, subject, phase, field = rest
    row = next((r for r in rows if slug(r["subject"]) == subject and r["phase"] == phase), None)
    if row is None:
        raise MissingValue(f"no {check} row for {subject} in {phase}")
    if field == "passed":
        return 1.0 if row["verdict"] == compare.PASS else 0.0
    if field == "abs_error":
        field_value = row.get("error")
        if field_value is None:
            raise MissingValue(f"the {check} row for {subject} in {phase} has no error")
        return abs(float(field_value))
    if row.get(field) is None:
        raise MissingValue(f"the {check} row for {subject} in {phase} has no {field}")
    return float(row[field])


def bound_text(criterion: dict) -> str:
    low, high = criterion.get("at_least"), criterion.get("at_most")
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"≥ {low:g}" if low is not None else f"≤ {high:g}"


def judge(criterion: dict, summary: dict, *, status: str) -> dict:
    """One criterion's row: the sentence with its value, the bound and the verdict. Withheld in an
    invalid run, and where it reads the client side of a phase whose load generator fell behind
    (latency counts from the intended send time, so the generator's lag would read as the system's)."""
    row = {"name": criterion["name"], "measure": criterion["measure"], "expected": bound_text(criterion)}
    tree = expressions.parse(criterion["measure"])
    behind = set(summary["run"]["validity"].get("generator_behind_phases", []))
    late = sorted({path.parts[0] for path in expressions.paths(tree)
                   if path.parts[0] in behind and path.parts[1:2] == ("client",)})
    try:
        value = expressions.evaluate(tree, lambda p: resolve(summary, p))
    except MissingValue as exc:
        return {**row, "value": None, "says": f"{criterion['name']}: {exc}", "verdict": compare.INCONCLUSIVE}
    if math.isnan(value):
        return {**row, "value": None, "says": f"{criterion['name']}: the measurement divides by zero in this run",
                "verdict": compare.INCONCLUSIVE}
    inside = ((criterion.get("at_least") is None or value >= criterion["at_least"])
              and (criterion.get("at_most") is None or value <= criterion["at_most"]))
    verdict = compare.WITHHELD if status == validity.INVALID or late else (compare.PASS if inside else compare.FAIL)
    says = criterion["says"].format(value=value)
    if late and status != validity.INVALID:
        says += f" (withheld: the load generator fell behind in {', '.join(late)})"
    return {**row, "value": value, "says": says, "verdict": verdict}


def story(scenario: dict, summary: dict) -> dict | None:
    """The scenario's question, what it teaches, and every criterion judged; None without a story."""
    declared = scenario.get("story")
    if not declared:
        return None
    status = summary["run"]["validity"]["status"]
    return {"question": declared["question"], "teaches": declared["teaches"],
            "criteria": [judge(c, summary, status=status) for c in declared.get("criteria", [])]}
