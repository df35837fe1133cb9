"""Measured against predicted: one record per check, with error, tolerance and verdict. Pure.

Two ways to judge:

- :func:`compare` — a relative tolerance: pass when |measured − predicted| <= tolerance·|predicted|.
  When the measurement's own uncertainty is wider than the tolerance band the data cannot decide,
  and the verdict is *inconclusive* rather than a pass or fail decided by noise.
- :func:`compare_interval` — the prediction comes with a confidence interval (it was computed from
  sampled inputs, such as per-service violation shares): pass when the measurement lies inside it.
- :func:`at_most` — the prediction is a worst case: pass when the measurement stays below it.

Rows carry ``model``: ``textbook`` for the queueing/SLO/retry formulas, ``seed`` for the seed lab's
toy constants, which the report lists apart so they are never mistaken for the theory.
"""
from __future__ import annotations

import dataclasses
import math

PASS, FAIL, INCONCLUSIVE, WITHHELD = "pass", "fail", "inconclusive", "withheld"
"""``withheld``: the run was invalid (or its generator fell behind in that phase), so no verdict is given."""
TEXTBOOK, SEED = "textbook", "seed"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One prediction checked against one measurement."""

    check: str
    """What is compared, e.g. ``mmc_mean_response`` or ``littles_law``."""
    subject: str
    """Where: a service, ``end-to-end``, a proxy, ``client → gateway``."""
    phase: str
    formula: str
    measured: float
    predicted: float
    error: float
    """Relative error (measured − predicted) / predicted; NaN when predicted is 0."""
    tolerance: float
    """Relative tolerance; for interval checks the interval's relative half-width."""
    verdict: str
    note: str = ""
    model: str = TEXTBOOK
    """``textbook`` or ``seed`` (the seed lab's toy constants)."""
    measured_interval: tuple[float, float] | None = None
    """95 % confidence interval of the measurement, where sampling matters."""
    predicted_interval: tuple[float, float] | None = None
    """95 % confidence interval of the prediction, when it was computed from sampled inputs."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def relative_error(measured: float, predicted: float) -> float:
    return (measured - predicted) / predicted if predicted else math.nan


def compare(*, check: str, subject: str, phase: str, formula: str, measured: float, predicted: float,
            tolerance: float, measured_spread: float = 0.0, note: str = "", model: str = TEXTBOOK,
            measured_interval: tuple[float, float] | None = None) -> Comparison:
    """Judge ``measured`` against ``predicted`` with a relative ``tolerance``.

    ``measured_spread`` is the measurement's own uncertainty (the half-width of its 95 % interval,
    or two standard errors). When it is wider than the tolerance band, the verdict is inconclusive.
    """
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if math.isnan(measured) or math.isnan(predicted):
        return Comparison(check, subject, phase, formula, measured, predicted, math.nan, tolerance, INCONCLUSIVE,
                          note or "no data in the window", model, measured_interval)
    error = relative_error(measured, predicted)
    if measured_spread > tolerance * abs(predicted):
        verdict = INCONCLUSIVE
        note = f"{note}; measurement ±{measured_spread:.3g} is wider than the tolerance band".lstrip("; ")
    elif math.isnan(error):
        verdict = PASS if abs(measured) <= tolerance else FAIL  # predicted 0: an absolute band
    else:
        verdict = PASS if abs(error) <= tolerance else FAIL
    return Comparison(check, subject, phase, formula, measured, predicted, error, tolerance, verdict, note, model,
                      measured_interval)


def compare_interval(*, check: str, subject: str, phase: str, formula: str, measured: float, predicted: float,
                     predicted_interval: tuple[float, float], measured_interval: tuple[float, float] | None = None,
                     note: str = "", model: str = TEXTBOOK) -> Comparison:
    """Pass when ``measured`` lies inside the prediction's confidence interval, fail otherwise."""
    low, high = predicted_interval
    half_width = (high - low) / 2
    tolerance = half_width / predicted if predicted else half_width
    if any(math.isnan(v) for v in (measured, predicted, low, high)):
        return Comparison(check, subject, phase, formula, measured, predicted, math.nan, tolerance, INCONCLUSIVE,
                          note or "no data in the window", model, measured_interval, predicted_interval)
    verdict = PASS if low <= measured <= high else FAIL
    return Comparison(check, subject, phase, formula, measured, predicted, relative_error(measured, predicted),
                      tolerance, verdict, note, model, measured_interval, predicted_interval)


def at_most(*, check: str, subject: str, phase: str, formula: str, measured: float, bound: float, tolerance: float,
            note: str = "", model: str = TEXTBOOK) -> Comparison:
    """Pass when ``measured`` stays at or below an upper ``bound`` (a worst case), allowing the
    relative ``tolerance`` above it for counting noise; fail above that."""
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if math.isnan(measured) or math.isnan(bound):
        return Comparison(check, subject, phase, formula, measured, bound, math.nan, tolerance, INCONCLUSIVE,
                          note or "no data in the window", model)
    verdict = PASS if measured <= bound * (1 + tolerance) else FAIL
    return Comparison(check, subject, phase, formula, measured, bound, relative_error(measured, bound), tolerance,
                      verdict, note, model)


def inconclusive(*, check: str, subject: str, phase: str, formula: str, note: str, measured: float = math.nan,
                 predicted: float = math.nan, tolerance: float = 1.0, model: str = TEXTBOOK) -> Comparison:
    """A check that cannot be judged (no steady state, missing data); the note says why."""
    return Comparison(check, subject, phase, formula, measured, predicted, relative_error(measured, predicted)
                      if not (math.isnan(measured) or math.isnan(predicted)) else math.nan, tolerance,
                      INCONCLUSIVE, note, model)
