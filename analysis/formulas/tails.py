"""How per-component probabilities compose: SLOs along a chain, tails across a fan-out, hedging.

Pure formulas: keyword-only floats (or a sequence of floats) in, one float out, stdlib ``math``
only, no I/O. A "failure probability" here is the share of requests that miss an objective
(an error, or latency above a threshold); it is dimensionless, in [0, 1]. Functions raise
``ValueError`` with a sentence outside their domain.

Models:
- Serial SLO composition, 1 − ∏(1 − p_i): every hop must succeed, failures independent.
- Error-budget split, 1 − (1 − p)^(1/N): the equal per-service share of an end-to-end budget.
- Correlated failures (a stated model): a mixture of "independent" and "one shared cause".
- Tail at scale (Dean & Barroso, CACM 2013): a fan-out to K leaves is slow if any leaf is,
  1 − (1 − p)^K; the per-leaf quantile needed for a request quantile q is q^(1/K).
- Hedged requests: a second copy after a delay d, first answer wins.
- Allowed downtime: an availability objective A leaves (1 − A)·window of downtime.

``math.log1p``/``math.expm1`` keep small probabilities (1e-4 and below) exact to machine precision.
"""

import math
from collections.abc import Sequence


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} {value:g} must lie in [0, 1]")
    return value


def _check_probabilities(values: Sequence[float]) -> list[float]:
    probabilities = [_check_probability("failure probability", p) for p in values]
    if not probabilities:
        raise ValueError("failure probabilities are empty: a chain needs at least one service")
    return probabilities


def _check_count(name: str, value: float) -> int:
    if isinstance(value, bool) or float(value) != int(value) or value < 1:
        raise ValueError(f"{name} {value} must be a whole number >= 1")
    return int(value)


# --------------------------------------------------------------------------------------------
# SLO composition along a chain of services.
# --------------------------------------------------------------------------------------------


def slo_serial_failure_probability(*, failure_probabilities: Sequence[float]) -> float:
    """End-to-end failure probability of a serial chain, 1 − ∏(1 − p_i).

    A request succeeds only if every hop succeeds. Assumes independent failures, no retries
    and no fallbacks. Example: three services at 99.9% each give 99.7% end to end.
    Inputs and output are probabilities in [0, 1]; at least one service.
    """
    probabilities = _check_probabilities(failure_probabilities)
    if any(p == 1.0 for p in probabilities):
        return 1.0
    return -math.expm1(math.fsum(math.log1p(-p) for p in probabilities))


def slo_budget_per_service_failure_probability(
    *, end_to_end_failure_probability: float, services: int
) -> float:
    """The equal per-service failure budget that composes to the end-to-end one, 1 − (1 − p)^(1/N).

    Inverse of ``slo_serial_failure_probability`` for N identical, independent hops. Example:
    a 99.9% end-to-end SLO over 5 services leaves each 0.99980 (a budget of 2.0e-4, a bit more
    than p/N = 2e-4 because failures overlap). Probabilities in [0, 1]; N whole, >= 1.
    """
    p = _check_probability("end-to-end failure probability", end_to_end_failure_probability)
    n = _check_count("services", services)
    if p == 1.0:
        return 1.0
    return -math.expm1(math.log1p(-p) / n)


def slo_correlated_failure_probability(
    *, failure_probabilities: Sequence[float], correlation: float
) -> float:
    """A stated model of correlated failures: (1 − r)·(1 − ∏(1 − p_i)) + r·max(p_i).

    The model: each request is, with probability 1 − r, in the *independent* world (each hop
    fails on its own with p_i) and, with probability r, in the *fully correlated* world (one
    shared cause U ~ Uniform(0, 1); hop i fails when U < p_i, so the hops that fail together
    are nested and the chain fails with max(p_i)). Both worlds keep each hop's own failure
    rate p_i, so the mixture does too; r in [0, 1] only moves how much failures overlap:
    r = 0 is independence, r = 1 full overlap (max(p_i), the fewest end-to-end failures any
    joint law allows). Assumes a single mixing weight for all hops. Not covered: failures that
    avoid each other (more than independent, up to min(1, Σ p_i)), or pair-specific correlation.
    ``slo_implied_correlation`` recovers r from a measurement. Probabilities and r in [0, 1].
    """
    probabilities = _check_probabilities(failure_probabilities)
    r = _check_probability("correlation", correlation)
    independent = slo_serial_failure_probability(failure_probabilities=probabilities)
    return (1.0 - r) * independent + r * max(probabilities)


def slo_shared_cause_failure_probability(
    *, shared_failure_probability: float, failure_probabilities: Sequence[float]
) -> float:
    """End-to-end failure with one shared cause on top of independent ones, 1 − (1 − s)∏(1 − q_i).

    The mechanism of a shared-cause fault experiment: with probability s a common dependency
    (node, zone, shared cache) fails every hop at once; otherwise hop i fails independently
    with q_i. Each hop then fails with p_i = 1 − (1 − s)(1 − q_i). Probabilities in [0, 1].
    """
    s = _check_probability("shared failure probability", shared_failure_probability)
    probabilities = _check_probabilities(failure_probabilities)
    return slo_serial_failure_probability(failure_probabilities=[s, *probabilities])


def slo_implied_correlation(
    *, failure_probabilities: Sequence[float], end_to_end_failure_probability: float
) -> float:
    """The r of ``slo_correlated_failure_probability`` that reproduces a measured end-to-end rate.

    r = (P_indep − P_measured)/(P_indep − max(p_i)), with P_indep = 1 − ∏(1 − p_i) computed from
    the measured per-hop rates p_i. Outside [0, 1] the measurement is outside the model (below
    max(p_i) is impossible for any joint law; above P_indep means failures avoid each other).
    Raises when P_indep = max(p_i) (one hop carries all failures: r is not identifiable).
    """
    probabilities = _check_probabilities(failure_probabilities)
    measured = _check_probability("end-to-end failure probability", end_to_end_failure_probability)
    independent = slo_serial_failure_probability(failure_probabilities=probabilities)
    spread = independent - max(probabilities)
    if spread <= 0:
        raise ValueError(
            "independent and fully correlated predictions coincide: the correlation is not identifiable"
        )
    return (independent - measured) / spread


# --------------------------------------------------------------------------------------------
# Tail at scale: fan-out.
# --------------------------------------------------------------------------------------------


def fanout_slow_probability(*, leaf_slow_probability: float, fanout: int) -> float:
    """Share of fan-out requests that are slow, 1 − (1 − p)^K.

    A request waits for all K leaves, so it is slower than a threshold if any leaf is. With a
    leaf slow 1 time in 100 and K = 100, 63% of requests are slow (Dean & Barroso, "The Tail at
    Scale", CACM 2013). Assumes leaves independent and identically distributed. Probabilities in
    [0, 1]; K whole, >= 1.
    """
    p = _check_probability("leaf slow probability", leaf_slow_probability)
    k = _check_count("fanout", fanout)
    if p == 1.0:
        return 1.0
    return -math.expm1(k * math.log1p(-p))


def fanout_leaf_quantile(*, request_quantile: float, fanout: int) -> float:
    """The per-leaf latency quantile needed for a request-level quantile q, q^(1/K).

    P(max of K leaves <= t) = F(t)^K, so the request's q-quantile is the leaves' q^(1/K)-quantile.
    Example: a p99 request over 100 leaves needs each leaf at its 99.99% quantile (0.99^(1/100)
    = 0.9998995). Assumes independent, identically distributed leaves. q in (0, 1); K >= 1.
    """
    q = _check_probability("request quantile", request_quantile)
    if not 0.0 < q < 1.0:
        raise ValueError(f"request quantile {q:g} must lie strictly between 0 and 1")
    k = _check_count("fanout", fanout)
    return math.exp(math.log(q) / k)


# --------------------------------------------------------------------------------------------
# Hedged requests.
# --------------------------------------------------------------------------------------------


def hedged_exceedance_probability(
    *, first_exceedance_probability: float, hedge_exceedance_probability: float
) -> float:
    """P(T > t) for a hedged request: S(t)·S(t − d), the product of the two copies' tails.

    The model: the first copy is sent at 0; if it has not answered by the hedge delay d, a second
    copy goes to another replica; the first answer wins, so T = min(X1, d + X2). With X1, X2
    independent and both with survival S, P(T > t) = S(t) for t <= d and S(t)·S(t − d) for t > d.
    Pass S(t) and S(t − d) (use S(t − d) = 1 for t <= d). In the bimodal case of The Tail at
    Scale — a copy is either fast (well under t − d) or slow with probability p — this is p², the
    "both copies slow" probability. Assumes independent copies (no shared cause; hedging across
    a shared bottleneck does not help) and that the hedge adds no load that slows either copy.
    """
    first = _check_probability("first exceedance probability", first_exceedance_probability)
    hedge = _check_probability("hedge exceedance probability", hedge_exceedance_probability)
    return first * hedge


def hedged_extra_request_fraction(*, hedge_quantile: float) -> float:
    """Extra copies sent when hedging at the latency q-quantile: 1 − q of requests get a second copy.

    Hedging after d = F⁻¹(q) (Dean & Barroso suggest the 95th percentile, giving 5% more
    requests) sends a second copy exactly when the first is still outstanding at d. This is an
    upper bound on the extra *work* when the losing copy is cancelled. q in [0, 1].
    """
    q = _check_probability("hedge quantile", hedge_quantile)
    return 1.0 - q


def hedged_exponential_latency_quantile_seconds(
    *, mean_latency_seconds: float, hedge_quantile: float, quantile: float
) -> float:
    """Latency p-quantile of a hedged request whose copies take Exp(mean m), hedged at the q-quantile.

    With rate μ = 1/m the hedge delay is d = −m·ln(1 − q) and P(T > t) = e^{−μt} for t <= d,
    e^{−μ(2t − d)} for t > d (both copies outstanding). So t_p = −m·ln(1 − p) when p <= q, else
    t_p = (d − m·ln(1 − p))/2. Example: m = 10 ms, hedge at p95: p99 falls from 46.1 ms to 38.0 ms.
    Assumes independent exponential copies and no extra load from hedging. m > 0; q in [0, 1),
    p in (0, 1). Units: seconds.
    """
    mean = float(mean_latency_seconds)
    if not mean > 0 or math.isinf(mean):
        raise ValueError(f"mean latency {mean:g} s must be a finite number > 0")
    q = _check_probability("hedge quantile", hedge_quantile)
    if q == 1.0:
        raise ValueError("hedge quantile 1 means never hedging: use the unhedged quantile")
    p = _check_probability("quantile", quantile)
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile {p:g} must lie strictly between 0 and 1")
    unhedged = -mean * math.log1p(-p)
    if p <= q:
        return unhedged
    delay = -mean * math.log1p(-q)
    return (delay + unhedged) / 2.0


# --------------------------------------------------------------------------------------------
# Allowed downtime from an availability objective.
# --------------------------------------------------------------------------------------------

SECONDS_PER_DAY = 86_400.0
DAYS_PER_YEAR = 365.25
"""A Julian year: the "nines" tables (99.9% → 8.77 h a year) use it; 365 days gives 8.76 h."""


def slo_allowed_downtime_seconds(*, availability: float, window_seconds: float) -> float:
    """Downtime an availability objective allows over a window, (1 − A)·window: the budget in time.

    Examples: 99.9% allows 43.2 min per 30 days and 8.77 h per year; 99.99% allows 4.32 min per
    30 days. Assumes time-based availability (the share of the window the service is up); for
    a request-based SLO the same number is the budget of bad requests over the window's
    requests, and "downtime" means a full outage that fails every request. Units: seconds.
    Valid for A in [0, 1] and a window > 0.
    """
    objective = _check_probability("availability", availability)
    window = float(window_seconds)
    if not 0.0 < window < math.inf:
        raise ValueError(f"window {window:g} s must be a finite number > 0")
    return (1.0 - objective) * window
