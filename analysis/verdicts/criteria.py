"""A scenario's pass criteria judged on a run's summary: the first thing its report shows. Pure.

Each criterion of the scenario's ``story`` (schema/scenario.py) measures an expression
(schema/expressions.py) over the summary and holds it to ``at_least`` / ``at_most``. A path starts
with a phase name and walks that phase's dict (``spike.client.p99_ms``,
``slow.server.inference.arrival_rate_per_second``); with ``hpa`` and a service, reading the first
scale-up of the HPA-lag timeline (``hpa.inference.lag_seconds``) or counting them
(``hpa.inference.scale_ups``, ``.scale_downs``); or with ``checks`` and a prediction row:
``checks.<check>.<subject>.<phase>.<measured|predicted|error|abs_error|passed>`` (the subject
written in lower case with every run of other characters as ``-``: ``end-to-end``,
``envoy-inference``), or ``checks.<check>.<pass|fail|inconclusive|withheld>`` counting the rows
of a check by verdict. A value that is missing (a phase that never ran, no
scale-up) makes the row inconclusive; an invalid run withholds every verdict.
"""
from __future__ import annotations

import math
import re

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
    value = phase
    for key in rest:
        if not isinstance(value, dict) or key not in value:
            raise MissingValue(f"{'.'.join(path.parts)} is not in the summary")
        value = value[key]
    if value is None or not isinstance(value, (int, float)):
        raise MissingValue(f"{'.'.join(path.parts)} has no number in this run")
    return float(value)


def hpa_value(summary: dict, rest: list[str]) -> float:
    if len(rest) != 2:
        raise MissingValue("an hpa path is hpa.<service>.<lag_seconds|scale_ups|scale_downs>")
    service, field = rest
    ups = [u for u in (summary.get("hpa_lag_timeline") or {}).get("scale_ups", []) if u["service"] == service]
    if field == "scale_ups":
        return float(len(ups))
    if field == "scale_downs":
        return float(sum(1 for e in summary.get("scale_events", []) if e["service"] == service
                         and e["to_replicas"] < e["from_replicas"]))
    if not ups or ups[0].get(field) is None:
        raise MissingValue(f"no scale-up of {service} with a {field}")
    return float(ups[0][field])


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
