"""Measured against predicted: one record per check, with error, tolerance and verdict. Pure."""
from __future__ import annotations

import dataclasses
import math

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One prediction checked against one measurement."""

    check: str
    """What is compared, e.g. ``littles_law``."""
    subject: str
    """Where: a service, ``end-to-end``, a proxy."""
    phase: str
    formula: str
    measured: float
    predicted: float
    relative_error: float
    """(measured − predicted) / predicted; NaN when predicted is 0."""
    tolerance: float
    verdict: str
    note: str = ""


def compare(*, check: str, subject: str, phase: str, formula: str, measured: float, predicted: float,
            tolerance: float, measured_spread: float = 0.0, note: str = "") -> Comparison:
    """Judge ``measured`` against ``predicted`` with a relative ``tolerance``.

    ``measured_spread`` is the measurement's own uncertainty (e.g. two standard errors). When it
    is wider than the tolerance band the data cannot decide, and the verdict is inconclusive rather
    than a pass or fail decided by noise.
    """
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if math.isnan(measured) or math.isnan(predicted):
        return Comparison(check, subject, phase, formula, measured, predicted, math.nan, tolerance, INCONCLUSIVE,
                          note or "no data in the window")
    error = (measured - predicted) / predicted if predicted else math.nan
    if measured_spread > tolerance * abs(predicted):
        verdict = INCONCLUSIVE
        note = f"{note}; measurement ±{measured_spread:.3g} is wider than the tolerance band".lstrip("; ")
    else:
        verdict = PASS if abs(error) <= tolerance else FAIL
    return Comparison(check, subject, phase, formula, measured, predicted, error, tolerance, verdict, note)
