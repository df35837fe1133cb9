"""Confidence intervals for what a run measures: proportions, means of correlated data, products.

A measured number without its sampling error invites false verdicts: 3 violations in 200 requests
is not "1.5 %", it is "somewhere between 0.5 % and 4.3 %". Every interval here is a 95 % interval
by default and states its assumptions.

- ``wilson_interval``: a binomial proportion (violation share, blocking share). Unlike the normal
  "p ± z·√(p(1−p)/n)" it stays inside [0, 1] and is not zero-width when nothing was seen.
- ``batch_means_interval``: the mean of a correlated sequence (response times of a queue, a gauge
  sampled each second). Consecutive values of a queue are correlated, so the naive standard error
  is too small; averaging non-overlapping batches first makes the batch means nearly independent
  (Law & Kelton, *Simulation Modeling and Analysis*, batch means).
- ``ratio_batch_interval``: a ratio of sums (Σ durations / Σ counts per scrape interval), the form
  in which Prometheus counters give a mean.
- ``composition_interval``: 1 − ∏(1 − p_i) from independently estimated p_i, by the delta method on
  log ∏(1 − p_i) with Agresti–Coull-adjusted variances (so a p_i seen as 0 still has spread).

Pure functions: floats and sequences in, floats out, stdlib only.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

CONFIDENCE = 0.95

# Student t quantiles t_{0.975, df} for df = 1..30 (two-sided 95 %); beyond 30 the normal 1.96 is
# within 2 %. Batch-means intervals use few batches, where the t correction matters.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
          2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
          2.052, 2.048, 2.045, 2.042)


def z_value(confidence: float = CONFIDENCE) -> float:
    """Two-sided standard-normal quantile: 1.96 for 95 %."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence:g} must lie strictly between 0 and 1")
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def t_value(degrees_of_freedom: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student t quantile; tabulated for 95 %, the normal quantile otherwise or above df 30."""
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees of freedom {degrees_of_freedom} must be >= 1")
    if math.isclose(confidence, 0.95) and degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    return z_value(confidence)


def wilson_interval(successes: float, trials: float, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion successes/trials.

    (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n). Assumes independent trials with one
    probability. Counts may be non-integers (a histogram interpolated inside a bucket).
    ``(nan, nan)`` when there are no trials.
    """
    if trials < 0 or successes < 0 or successes > trials * (1 + 1e-9):
        raise ValueError(f"need 0 <= successes <= trials, got {successes:g} of {trials:g}")
    if trials == 0:
        return math.nan, math.nan
    z = z_value(confidence)
    p = min(1.0, successes / trials)
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def batches(values: Sequence[float], count: int) -> list[list[float]]:
    """Split a sequence into ``count`` consecutive, nearly equal, non-empty batches."""
    size = len(values) / count
    return [list(values[round(i * size):round((i + 1) * size)]) for i in range(count)
            if round((i + 1) * size) > round(i * size)]


def batch_means_interval(values: Sequence[float], *, batch_count: int = 10,
                         confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of a correlated sequence by non-overlapping batch means.

    The sequence is cut into ``batch_count`` consecutive batches; their means are treated as
    independent and normal, giving mean ± t·s/√k. Valid when each batch is long compared with the
    correlation time (a queue's relaxation time); with fewer than 2 batches the interval is infinite.
    """
    if not values:
        return math.nan, math.nan, math.nan
    mean = math.fsum(values) / len(values)
    means = [math.fsum(b) / len(b) for b in batches(values, min(batch_count, len(values)))]
    if len(means) < 2:
        return mean, -math.inf, math.inf
    half = t_value(len(means) - 1, confidence) * statistics.stdev(means) / math.sqrt(len(means))
    return mean, mean - half, mean + half


def ratio_batch_interval(numerators: Sequence[float], denominators: Sequence[float], *, batch_count: int = 10,
                         confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(ratio, low, high) of Σ numerators / Σ denominators, by batches of consecutive pairs.

    Made for counters scraped each second: numerators are increases of a ``_sum``, denominators
    increases of the matching ``_count``, so the ratio is the mean duration. Each batch gives its
    own ratio; the spread of the batch ratios (weighted by their counts) gives the interval.
    """
    if len(numerators) != len(denominators):
        raise ValueError("numerators and denominators must pair up")
    total = math.fsum(denominators)
    if total <= 0:
        return math.nan, math.nan, math.nan
    ratio = math.fsum(numerators) / total
    pairs = list(zip(numerators, denominators))
    groups = [(math.fsum(n for n, _ in b), math.fsum(d for _, d in b))
              for b in batches(pairs, min(batch_count, len(pairs)))]
    groups = [(n, d) for n, d in groups if d > 0]
    if len(groups) < 2:
        return ratio, -math.inf, math.inf
    k = len(groups)
    mean_weight = total / k
    # variance of a ratio estimator from k groups (Cochran, Sampling Techniques, §6.3)
    spread = math.fsum(((n - ratio * d) / mean_weight) ** 2 for n, d in groups) / (k - 1)
    half = t_value(k - 1, confidence) * math.sqrt(spread / k)
    return ratio, ratio - half, ratio + half


def composition_interval(counts: Sequence[tuple[float, ...]], *,
                         confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(P, low, high) for P = 1 − ∏(1 − p_i)^k_i, each p_i = violations_i / trials_i.

    ``counts`` holds one (violations, trials) pair per component, or (violations, trials, k) when
    a request passes that component k times (a fan-out of k parallel calls, or k calls in a row);
    k defaults to 1. Assumes the components and the k visits are independent and each estimate
    binomial. The interval comes from the delta method on log S, S = ∏(1 − p_i)^k_i:
    Var(k·log(1 − p̂_i)) ≈ k²·p̃_i / ((1 − p̃_i)·n_i), with the Agresti–Coull
    p̃_i = (x_i + z²/2)/(n_i + z²) so a component with no violations still contributes spread.
    """
    if not counts:
        raise ValueError("no components to compose")
    z = z_value(confidence)
    log_survival, variance = 0.0, 0.0
    for violations, trials, *multiplicity in counts:
        visits = multiplicity[0] if multiplicity else 1
        if visits < 1:
            raise ValueError(f"a component is passed at least once per request, got k = {visits}")
        if trials <= 0:
            return math.nan, math.nan, math.nan
        p = violations / trials
        if p >= 1:
            return 1.0, 1.0, 1.0
        log_survival += visits * math.log1p(-p)
        adjusted = (violations + z * z / 2) / (trials + z * z)
        variance += visits * visits * adjusted / ((1 - adjusted) * trials)
    half = z * math.sqrt(variance)
    point = -math.expm1(log_survival)
    return point, max(0.0, -math.expm1(log_survival + half)), min(1.0, -math.expm1(log_survival - half))
