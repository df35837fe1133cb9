"""The seed lab's toy models, kept under their own name so a report can show them as a row.

The testbed grew out of a "seed" lab that used four constants. They are not wrong everywhere —
each is exact or close for one special case — but they are used as if they were general.
This module writes each down *as we implement it* (the seed's source is not part of this
repository; where its wording left a choice, the choice is stated), so every report can print
"seed toy model" next to the textbook model and the measurement, and show where they part.

Pure functions: keyword-only floats in, one float out, stdlib ``math`` only, no I/O.

- ``SEED_P99_FACTOR`` = 4.6: p99 ≈ 4.6 × mean response time.
- ``SEED_SHED_FACTOR`` = 0.8: an overloaded service passes 80% of its requests.
- ``SEED_CASCADE_FACTOR`` = 0.3: a downstream failure share hurts the caller at 30% strength.
- ``SEED_HPA_LAG_SECONDS`` = 30: the autoscaler reacts 30 s after a load step.
"""

import math
from collections.abc import Sequence

SEED_P99_FACTOR = 4.6
"""p99/mean of an exponential distribution, ln(100) = 4.605, rounded: right for M/M/1 only."""

SEED_SHED_FACTOR = 0.8
"""Share of requests an overloaded service still serves in the seed's toy model."""

SEED_CASCADE_FACTOR = 0.3
"""Strength with which a downstream failure share reduces the caller's goodput (toy model)."""

SEED_HPA_LAG_SECONDS = 30.0
"""The seed's constant reaction lag of the HorizontalPodAutoscaler, in seconds."""


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} {value:g} must lie in [0, 1]")
    return value


def seed_p99_response_time_seconds(*, mean_response_time_seconds: float) -> float:
    """The seed's p99 rule, p99 ≈ 4.6 × W, with W the mean response (sojourn) time in seconds.

    Where 4.6 comes from: in an M/M/1 FCFS queue the response time is exponential with mean W,
    so P(T > t) = e^{−t/W} and the p99 is W·ln(100) = 4.605·W.
    When it is wrong:
    - service that is not exponential: M/D/1 and other low-variance service give a smaller
      factor at low load (a constant service time has p99 = mean); heavy-tailed service
      (lognormal, GPU batch stalls) gives a larger one;
    - several servers (M/M/c): the sojourn is a mixture of "no wait" and "wait", not
      exponential, and the factor moves with load (compare
      ``queueing.mmc_response_time_quantile_seconds`` with the mean);
    - W taken as the queueing delay instead of the response time, or as a mean over a window
      whose load changed (the mixture of two exponentials is not exponential);
    - timeouts, shedding or retries truncate or stretch the tail.
    Valid for W >= 0.
    """
    mean = float(mean_response_time_seconds)
    if not 0.0 <= mean < math.inf:
        raise ValueError(f"mean response time {mean:g} s must be a finite number >= 0")
    return SEED_P99_FACTOR * mean


def seed_shed_success_fraction(*, utilisation: float, shed_factor: float = SEED_SHED_FACTOR) -> float:
    """The seed's fixed shed factor: 1.0 below saturation, 0.8 once ρ >= 1, whatever the overload.

    Our reading of "fixed shed factor 0.8": an overloaded service serves 80% of its requests
    and sheds 20%, independent of how far past capacity it is. Compare the fluid limit
    min(1, 1/ρ) (a saturated service serves its capacity; it agrees with 0.8 only at ρ = 1.25)
    and ``queueing.mmck_blocking_probability`` (a bounded queue also sheds below ρ = 1).
    Dimensionless. Valid for ρ >= 0.
    """
    rho = float(utilisation)
    if not 0.0 <= rho < math.inf:
        raise ValueError(f"utilisation {rho:g} must be a finite number >= 0")
    factor = _check_fraction("shed factor", shed_factor)
    return 1.0 if rho < 1.0 else factor


def seed_cascade_goodput_fraction(
    *, failure_probabilities: Sequence[float], cascade_factor: float = SEED_CASCADE_FACTOR
) -> float:
    """The seed's toy cascade: each caller's goodput times (1 − 0.3 × its callee's failure share).

    The model as implemented: the chain is listed from the top (the caller users talk to) to
    the bottom, each service i with its own failure share f_i (for example 1 − the shed
    success fraction). From the bottom up, g_n = 1 − f_n and
    g_i = (1 − f_i)·(1 − k·(1 − g_{i+1})), k = 0.3; the result is the top's goodput share g_1.
    What it assumes: 70% of downstream failures are absorbed by the caller (fallbacks, cached
    answers, degraded responses). A chain without fallbacks propagates every failure (k = 1,
    which gives the serial composition ∏(1 − f_i)); retries change the shares themselves.
    Failure shares and k in [0, 1]; at least one service.
    """
    shares = [_check_fraction("failure probability", f) for f in failure_probabilities]
    if not shares:
        raise ValueError("failure probabilities are empty: a chain needs at least one service")
    k = _check_fraction("cascade factor", cascade_factor)
    goodput = 1.0 - shares[-1]
    for own_failure in reversed(shares[:-1]):
        goodput = (1.0 - own_failure) * (1.0 - k * (1.0 - goodput))
    return goodput


def seed_hpa_lag_seconds() -> float:
    """The seed's constant HPA reaction lag, 30 s, for every scenario.

    ``lagmodel.hpa_lag_budget`` replaces it with a sum of named terms (metrics pipeline, sync
    pickup, stabilisation, rate limits, API and scheduling, container start, readiness), whose
    defaults total about 34 s but which moves with the metric resolution, probes and boot time.
    """
    return SEED_HPA_LAG_SECONDS
