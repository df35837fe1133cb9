"""Teaching mode: a learner's predictions, locked in before a run, shown next to theory and measurement.

``tailstorm predict SCENARIO`` stores guesses in ``runs/predictions/<scenario>.json``, one entry per
call with the time it was recorded (this module builds and reads the document; the command writes it). The *prediction lock*: an entry recorded after a run of that
scenario had started is flagged — it was written with the answer in view — both when it is recorded
(runs already in the runs directory) and in the report of each run (entries newer than the run).

The quantities are few on purpose, each with a plain question. A name alone refers to the busiest
phase (highest target arrival rate); ``<phase>.<name>`` to a named phase.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re


@dataclasses.dataclass(frozen=True)
class Quantity:
    name: str
    question: str
    unit: str
    needs_slo: bool = False


QUANTITIES = (
    Quantity("p99_ms", "End-to-end p99 latency (ms)?", "ms"),
    Quantity("mean_response_ms", "Mean response time of the entry service, server side (ms)?", "ms"),
    Quantity("error_percent", "Share of requests that fail end to end (%)?", "%"),
    Quantity("utilisation", "Utilisation of the busiest service (0 to 1)?", ""),
    Quantity("slo_violation_percent", "Share of requests violating the end-to-end latency SLO (%)?", "%",
             needs_slo=True),
)
BY_NAME = {q.name: q for q in QUANTITIES}


class PredictionError(Exception):
    """A prediction cannot be recorded as given; the message says which name or value."""


def quantities_for(scenario: dict) -> list[Quantity]:
    return [q for q in QUANTITIES if not q.needs_slo or scenario.get("slo")]


def busiest_phase(stage_names_and_rates: list[tuple[str, float]]) -> str:
    return max(stage_names_and_rates, key=lambda item: item[1] or 0.0)[0]  # None: a closed loop's stage


def parse_assignment(text: str, *, scenario: dict) -> tuple[str, float]:
    """``name=value`` or ``phase.name=value`` → (key, value); PredictionError names what is wrong."""
    if "=" not in text:
        raise PredictionError(f"{text!r}: expected name=value, e.g. p99_ms=120")
    key, _, raw = text.partition("=")
    key = key.strip()
    phase, _, name = key.rpartition(".")
    known = [q.name for q in quantities_for(scenario)]
    if name not in known:
        raise PredictionError(f"{key!r}: unknown quantity; known: {', '.join(known)}")
    phases = [stage["name"] for stage in scenario["stages"]]
    if phase and phase not in phases:
        raise PredictionError(f"{key!r}: unknown phase {phase!r}; phases: {', '.join(phases)}")
    try:
        value = float(raw)
    except ValueError:
        raise PredictionError(f"{key!r}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise PredictionError(f"{key!r}: {raw!r} must be a finite number >= 0")
    return key, value


def prediction_path(predictions_dir: pathlib.Path, scenario_name: str) -> pathlib.Path:
    return pathlib.Path(predictions_dir) / f"{scenario_name}.json"


def run_starts(runs_dir: pathlib.Path, scenario_name: str) -> list[tuple[str, float]]:
    """(run directory name, start time) of every run of the scenario under ``runs_dir``.

    Run directories are ``<UTC stamp>-<scenario>`` or ``<UTC stamp>-<scenario>-<n>``.
    """
    starts = []
    for events in sorted(pathlib.Path(runs_dir).glob("*/events.jsonl")):
        name = events.parent.name.partition("-")[2]
        if name != scenario_name and re.fullmatch(re.escape(scenario_name) + r"-\d+", name) is None:
            continue
        try:
            first = json.loads(events.read_text(encoding="utf-8").splitlines()[0])
        except (IndexError, json.JSONDecodeError, OSError):
            continue
        starts.append((events.parent.name, float(first["time"])))
    return starts


def add_entry(document: dict | None, *, scenario_name: str, values: dict[str, float], now: float,
              runs_already_started: list[str]) -> tuple[dict, dict]:
    """(the prediction document with one more entry, that entry); the caller writes it."""
    if not values:
        raise PredictionError("no predictions given")
    entry = {"recorded_at": now, "values": dict(values), "runs_already_started": list(runs_already_started)}
    document = dict(document or {"scenario": scenario_name, "entries": []})
    document["entries"] = [*document.get("entries", []), entry]
    return document, entry


def load(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def entries_for_run(document: dict | None, *, run_started: float) -> tuple[dict | None, list[dict]]:
    """(the latest entry locked before the run started, the entries written after it started)."""
    if not document:
        return None, []
    entries = sorted(document.get("entries", []), key=lambda e: e["recorded_at"])
    before = [e for e in entries if e["recorded_at"] < run_started]
    after = [e for e in entries if e["recorded_at"] >= run_started]
    return (before[-1] if before else None), after


# -- measured and theory values for a summary -----------------------------------------------------

def find_phase(summary: dict, name: str | None) -> dict | None:
    phases = summary["phases"]
    if not phases:
        return None
    if name:
        return next((p for p in phases if p["name"] == name), None)
    return max(phases, key=lambda p: p["arrival_rate_per_second"] or 0.0)  # None: a closed loop's stage


def prediction_row(summary: dict, check: str, subject: str, phase: str) -> dict | None:
    return next((p for p in summary["predictions"]
                 if p["check"] == check and p["subject"] == subject and p["phase"] == phase), None)


def value(x) -> float:
    return math.nan if x is None else float(x)


def measured_and_theory(summary: dict, key: str, *, scenario: dict) -> tuple[float, float, str]:
    """(measured, theory, the theory's source) for one prediction key, in the quantity's unit."""
    phase_name, _, name = key.rpartition(".")
    phase = find_phase(summary, phase_name or None)
    if phase is None:
        return math.nan, math.nan, "phase not run"
    entry = scenario.get("entry", "gateway")
    client, servers = phase["client"], phase["server"]
    if name == "p99_ms":
        row = prediction_row(summary, "mmc_p99", entry, phase["name"]) if len(servers) == 1 else None
        return value(client["p99_ms"]), value(row and row["predicted"]) * 1000, "M/M/c p99" if row else "–"
    if name == "mean_response_ms":
        row = (prediction_row(summary, "mmc_mean_response", entry, phase["name"])
               or prediction_row(summary, "ggc_mean_response", entry, phase["name"]))
        own = servers.get(entry, {}).get("own_response_seconds")
        return value(own) * 1000, value(row and row["predicted"]) * 1000, row["formula"] if row else "–"
    if name == "error_percent":
        rows = [p for p in summary["predictions"] if p["phase"] == phase["name"] and p["model"] == "textbook"
                and p["check"] in ("envoy_overflow", "mmck_blocking")]
        theory = 100 * (1 - math.prod(1 - value(p["predicted"]) for p in rows)) if rows else 0.0
        return 100 * value(client["error_rate"]), theory, "M/M/c/K blocking" if rows else "no blocking predicted"
    if name == "utilisation":
        busiest = max(servers.values(), key=lambda s: value(s["utilisation"]), default=None)
        offered = max((value(s["offered_utilisation"]) for s in servers.values()), default=math.nan)
        return value(busiest and busiest["utilisation"]), offered, "λ/(cμ) from measured λ, μ, c"
    if name == "slo_violation_percent":
        row = prediction_row(summary, "slo_composition", "end-to-end", phase["name"])
        slo = client.get("slo") or {}
        return 100 * value(slo.get("violation_rate")), 100 * value(row and row["predicted"]), "1 − ∏(1 − p_i)"
    return math.nan, math.nan, "unknown quantity"


def teaching_table(summary: dict, document: dict | None, *, scenario: dict, run_started: float) -> dict | None:
    """What the report shows: each predicted quantity with theory and measurement; None without a file."""
    locked, late = entries_for_run(document, run_started=run_started)
    if locked is None and not late:
        return None
    chosen = locked or late[-1]
    rows = []
    for key, guess in chosen["values"].items():
        measured, theory, source = measured_and_theory(summary, key, scenario=scenario)
        rows.append({"quantity": key, "question": BY_NAME[key.rpartition(".")[2]].question if
                     key.rpartition(".")[2] in BY_NAME else key, "prediction": guess, "theory": theory,
                     "theory_source": source, "measured": measured})
    return {"recorded_at": chosen["recorded_at"], "locked": locked is not None and not chosen["runs_already_started"],
            "flag": None if locked is not None and not chosen["runs_already_started"] else
            ("recorded after this run started: not a prediction" if locked is None else
             "recorded after other runs of this scenario had started"),
            "late_entries": len(late), "rows": rows}
