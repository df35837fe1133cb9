"""Retry amplification, retry budgets, client-side throttling and a metastability check.

Pure formulas: keyword-only numbers in, one number out, stdlib ``math`` only, no I/O.
Rates are per second, probabilities in [0, 1]. Functions raise ``ValueError`` with a sentence
outside their domain.

Models:
- One caller with r retries against a dependency that fails each attempt with probability p
  (attempts independent): attempts per request 1 + p + … + p^r = (1 − p^(r+1))/(1 − p).
- Layers of callers that each retry (the call graph is a chain): worst case (r + 1)^depth
  attempts at the bottom; expected amplification when only the bottom fails with p.
- Envoy's retry budget (``retry_budget.budget_percent`` / ``min_retry_concurrency``).
- Client-side adaptive throttling (Google SRE book, "Handling Overload"), per window and in
  steady state.
- The SRE book's per-client retry budget (retries at most 10% of requests).
- Metastability: a retry storm that outlives its trigger, its threshold λ* = capacity/(r + 1)
  and the hysteresis band [λ*, capacity).
"""

import dataclasses
import math


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} {value:g} must lie in [0, 1]")
    return value


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{name} {value:g} must be a finite number >= 0")
    return value


def _check_whole(name: str, value: float, *, minimum: int) -> int:
    if isinstance(value, bool) or float(value) != int(value) or value < minimum:
        raise ValueError(f"{name} {value} must be a whole number >= {minimum}")
    return int(value)


def _attempts_per_request(p: float, r: int) -> float:
    # 1 + p + … + p^r; the closed form (1 − p^(r+1))/(1 − p) is 0/0 at p = 1, where it is r + 1.
    if p == 1.0:
        return float(r + 1)
    if p == 0.0:
        return 1.0
    return -math.expm1((r + 1) * math.log(p)) / (1.0 - p)


# --------------------------------------------------------------------------------------------
# One layer of retries.
# --------------------------------------------------------------------------------------------


def retry_attempts_per_request(*, failure_probability: float, retries: int) -> float:
    """Expected attempts per request with r retries, (1 − p^(r+1))/(1 − p); r + 1 at p = 1.

    Assumes each attempt fails independently with probability p and every failure is retried
    until r retries are spent (no budget, no timeout cutting retries short). Dimensionless.
    Valid for p in [0, 1], whole r >= 0.
    """
    p = _check_probability("failure probability", failure_probability)
    r = _check_whole("retries", retries, minimum=0)
    return _attempts_per_request(p, r)


def retry_offered_load_per_second(
    *, arrival_rate_per_second: float, failure_probability: float, retries: int
) -> float:
    """Load offered to the dependency, λ·(1 − p^(r+1))/(1 − p); λ·(r + 1) when every attempt fails.

    Units: λ in 1/s, result in attempts/s. Assumptions as ``retry_attempts_per_request``.
    Example: λ = 100/s, p = 0.5, r = 3 gives 187.5/s; at p = 1 it is 400/s.
    """
    lam = _check_nonnegative("arrival rate", arrival_rate_per_second)
    return lam * retry_attempts_per_request(failure_probability=failure_probability, retries=retries)


def retry_success_probability(*, failure_probability: float, retries: int) -> float:
    """Share of requests that eventually succeed, 1 − p^(r+1).

    Assumptions as ``retry_attempts_per_request`` (independent attempts: retries help against
    random failures, not against a dependency that is down or overloaded).
    """
    p = _check_probability("failure probability", failure_probability)
    r = _check_whole("retries", retries, minimum=0)
    return 1.0 - p ** (r + 1)


# --------------------------------------------------------------------------------------------
# Retries across layers.
# --------------------------------------------------------------------------------------------


def retry_worst_case_amplification(*, retries: int, depth: int) -> float:
    """Worst-case attempts reaching the bottom of a chain where each layer retries, (r + 1)^depth.

    ``depth`` counts the retrying hops (caller → callee edges). Reached when every attempt fails
    (the bottom is down or timing out): each layer multiplies its callee's attempts by r + 1.
    Example: 3 retries at each of 5 hops: 4^5 = 1024 attempts per user request.
    Valid for whole r >= 0, depth >= 1; beyond a float's range the answer is inf.
    """
    r = _check_whole("retries", retries, minimum=0)
    d = _check_whole("depth", depth, minimum=1)
    try:
        return float((r + 1) ** d)
    except OverflowError:  # more than 1.8e308 attempts: say so rather than crash
        return math.inf


def retry_layered_amplification(*, failure_probability: float, retries: int, depth: int) -> float:
    """Expected attempts at the bottom of a retrying chain when only the bottom fails, with p.

    The model: the bottom service fails each attempt independently with p; an intermediate
    layer fails only when its own call below exhausts its r retries. Layer k (counted from the
    bottom) therefore sees failures with f_k, f_0 = p, f_{k+1} = f_k^(r+1), and the bottom's
    load per top request is ∏_{k=0}^{depth−1} a(f_k), a(f) = (1 − f^(r+1))/(1 − f).
    It equals (r + 1)^depth at p = 1 and 1 at p = 0. Dimensionless.
    Valid for p in [0, 1], whole r >= 0, depth >= 1.
    """
    p = _check_probability("failure probability", failure_probability)
    r = _check_whole("retries", retries, minimum=0)
    d = _check_whole("depth", depth, minimum=1)
    amplification = 1.0
    layer_failure = p
    for _ in range(d):
        amplification *= _attempts_per_request(layer_failure, r)
        layer_failure = layer_failure ** (r + 1)
    return amplification


def retry_layered_failure_probability(*, failure_probability: float, retries: int, depth: int) -> float:
    """End-to-end failure of the layered model of ``retry_layered_amplification``, p^((r+1)^depth).

    Dimensionless. Same model and validity as ``retry_layered_amplification``.
    """
    p = _check_probability("failure probability", failure_probability)
    r = _check_whole("retries", retries, minimum=0)
    d = _check_whole("depth", depth, minimum=1)
    return p ** ((r + 1) ** d)


# --------------------------------------------------------------------------------------------
# Envoy's retry budget.
# --------------------------------------------------------------------------------------------


def retry_budget_max_active_retries(
    *, active_requests: float, budget_percent: float = 20.0, min_retry_concurrency: int = 3
) -> float:
    """Envoy's cap on concurrent retries: max(min_retry_concurrency, ⌊pct/100 × active⌋).

    ``active_requests`` is the cluster's active + pending requests (retries included) at the
    moment a retry is asked for. Envoy computes the product in floating point and truncates it
    to an integer, and allows a retry while fewer than that many are outstanding; a retry over
    the cap is not made (``upstream_rq_retry_overflow``) and the failure is passed on.
    Defaults are Envoy's: 20% and 3. Valid for active >= 0, pct in [0, 100], min >= 0.
    """
    active = _check_nonnegative("active requests", active_requests)
    percent = float(budget_percent)
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"budget percent {percent:g} must lie in [0, 100]")
    minimum = _check_whole("min retry concurrency", min_retry_concurrency, minimum=0)
    return float(max(math.floor(percent / 100.0 * active), minimum))


def retry_budget_offered_load_per_second(
    *,
    arrival_rate_per_second: float,
    failure_probability: float,
    retries: int,
    mean_attempt_seconds: float,
    budget_percent: float = 20.0,
    min_retry_concurrency: int = 3,
) -> float:
    """Attempt rate under an Envoy retry budget: λ + min(R_wanted, R_cap), a fluid approximation.

    R_wanted = λ·(a(p, r) − 1) is the retry rate without a budget. The cap follows from
    Little's law with every attempt (first or retry) in flight for ``mean_attempt_seconds`` T:
    active retries R·T <= max(m, f·(λ + R)·T) gives R_cap = max(m/T, λ·f/(1 − f)), f = pct/100.
    With the default 20% a budget caps retries at 25% of the request rate. Ignores integer
    truncation, bursts and the time a retry holds its slot during back-off (which makes the
    real cap tighter). Units: 1/s and s in, attempts/s out. Valid for f < 1, T > 0.
    """
    lam = _check_nonnegative("arrival rate", arrival_rate_per_second)
    attempt = _check_nonnegative("mean attempt time", mean_attempt_seconds)
    if attempt == 0.0:
        raise ValueError("mean attempt time 0 s must be > 0: every attempt takes some time")
    fraction = float(budget_percent) / 100.0
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"budget percent {budget_percent:g} must lie in [0, 100)")
    minimum = _check_whole("min retry concurrency", min_retry_concurrency, minimum=0)
    unbudgeted = lam * retry_attempts_per_request(failure_probability=failure_probability, retries=retries)
    cap = max(minimum / attempt, lam * fraction / (1.0 - fraction))
    return min(unbudgeted, lam + cap)


# --------------------------------------------------------------------------------------------
# Client-side adaptive throttling (Google SRE book, chapter "Handling Overload").
# --------------------------------------------------------------------------------------------


def adaptive_throttle_rejection_probability(
    *, requests: float, accepts: float, multiplier: float = 2.0
) -> float:
    """Client-side rejection probability, max(0, (requests − K·accepts)/(requests + 1)).

    ``requests``: requests the application asked for over a trailing window (2 minutes in the
    SRE book), locally rejected ones included; ``accepts``: those the backend accepted. K
    (``multiplier``) = 2 lets the client send about twice what the backend accepts; lower K
    throttles harder. For large counts it is 1 − K·a, a = accepts/requests, once a < 1/K.
    Dimensionless. Valid for 0 <= accepts <= requests, K > 0.
    """
    total = _check_nonnegative("requests", requests)
    accepted = _check_nonnegative("accepts", accepts)
    if accepted > total:
        raise ValueError(
            f"accepts {accepted:g} exceed requests {total:g}: a backend cannot accept more than it got"
        )
    k = float(multiplier)
    if not 0.0 < k < math.inf:
        raise ValueError(f"multiplier {k:g} must be a finite number > 0")
    return max(0.0, (total - k * accepted) / (total + 1.0))


# --------------------------------------------------------------------------------------------
# Metastability.
# --------------------------------------------------------------------------------------------


def is_retry_storm_self_sustaining(
    *, arrival_rate_per_second: float, capacity_per_second: float, retries: int
) -> bool:
    """Whether overload, once triggered, can outlive its trigger: λ < μ <= λ·(r + 1).

    A crude metastability check (Bronson et al., "Metastable Failures in Distributed Systems",
    HotOS 2021): in the overloaded state every attempt times out after using capacity, so all
    r retries are spent and the offered load is λ·(r + 1). If that is at least the capacity μ
    the queue never drains and goodput does not come back when the trigger (a slow dependency,
    a load spike) is removed — although λ alone fits (λ < μ). Returns False when λ >= μ (plain
    overload, not metastable). Units: 1/s. Valid for λ >= 0, μ > 0, whole r >= 0.
    """
    lam = _check_nonnegative("arrival rate", arrival_rate_per_second)
    capacity = _check_nonnegative("capacity", capacity_per_second)
    if capacity == 0.0:
        raise ValueError("capacity 0/s must be > 0")
    r = _check_whole("retries", retries, minimum=0)
    return lam < capacity <= lam * (r + 1)


def retry_storm_metastability_threshold_per_second(
    *, capacity_per_second: float, retries: int, failure_probability: float = 1.0
) -> float:
    """The load above which a retry storm outlives its trigger, λ* = capacity/a(p, r): capacity/(r + 1).

    The model (the "sustaining effect" of Bronson et al., "Metastable Failures in Distributed
    Systems", HotOS 2021, and Huang et al., "Metastable Failures in the Wild", OSDI 2022): a
    callee of capacity c·μ requests per second serves clients that retry a failed attempt up to
    r times. The system has two self-consistent states.
    - Healthy: attempts rarely fail, the offered load is about λ; it holds while λ < capacity.
    - Storm: once a trigger (a slow dependency, a spike, a restart) has made waits exceed the
      client timeout, attempts fail with probability p ≈ 1 — after using capacity, since the
      server does not know the client gave up — and each request sends λ(1 − p^(r+1))/(1 − p)
      → λ(r + 1) attempts. The storm feeds itself while that offered load is at least the
      capacity: λ·a(p, r) >= capacity, i.e. λ >= λ*.
    Below λ* only the healthy state exists: the system recovers when the trigger goes. Between
    λ* and the capacity both exist (the hysteresis band): the trigger moves the system into the
    storm and removing it does not bring it back; the load must drop below λ* (or the retries
    stop) to recover. With r = 3 the band is 25% to 100% of capacity. Units: 1/s in and out.
    Valid for capacity > 0, whole r >= 0, p in (0, 1] (p is the failure probability *while
    overloaded*; at p = 0 nothing fails and there is no storm).
    """
    capacity = _check_nonnegative("capacity", capacity_per_second)
    if capacity == 0.0:
        raise ValueError("capacity 0/s must be > 0")
    p = _check_probability("failure probability", failure_probability)
    if p == 0.0:
        raise ValueError("failure probability 0 while overloaded means no attempt fails: no storm")
    return capacity / retry_attempts_per_request(failure_probability=p, retries=retries)


def retry_storm_regime(
    *,
    arrival_rate_per_second: float,
    capacity_per_second: float,
    retries: int,
    failure_probability: float = 1.0,
) -> str:
    """Where λ sits against the metastability threshold: ``recovers``, ``metastable`` or ``overloaded``.

    ``recovers``: λ < λ*, a storm cannot sustain itself and dies out once its trigger is gone.
    ``metastable``: λ* <= λ < capacity, healthy without a trigger but stuck in the storm after
    one (the hysteresis band of ``retry_storm_metastability_threshold_per_second``).
    ``overloaded``: λ >= capacity, overloaded even without retries. At p = 1 ``metastable``
    is exactly ``is_retry_storm_self_sustaining``. Units: 1/s. Validity as the threshold.
    """
    lam = _check_nonnegative("arrival rate", arrival_rate_per_second)
    threshold = retry_storm_metastability_threshold_per_second(
        capacity_per_second=capacity_per_second, retries=retries, failure_probability=failure_probability
    )
    if lam >= float(capacity_per_second):
        return "overloaded"
    return "metastable" if lam >= threshold else "recovers"


# --------------------------------------------------------------------------------------------
# The SRE book's per-client retry budget: retries at most 10% of requests.
# --------------------------------------------------------------------------------------------


def _check_budget_ratio(value: float) -> float:
    ratio = float(value)
    if not 0.0 <= ratio < math.inf:
        raise ValueError(f"retry budget ratio {ratio:g} must be a finite number >= 0 (the SRE book uses 0.1)")
    return ratio


def retry_ratio_budget_max_amplification(*, budget_ratio: float = 0.1) -> float:
    """The most attempts per request a per-client retry ratio allows, 1 + β: 1.1 at the SRE book's 10%.

    Google SRE book, "Handling Overload": each client tracks the ratio of its requests that are
    retries and retries only while that ratio is below 10%; in the worst case (every attempt
    rejected) the load grows 1.1×, against 3× for a per-request limit of three attempts. We
    read the ratio as retries per original request (which gives the book's 1.1); counted among
    all attempts instead, retries/(requests + retries) < β allows 1/(1 − β) = 1.11×.
    Dimensionless. Valid for β >= 0.
    """
    return 1.0 + _check_budget_ratio(budget_ratio)


def retry_ratio_budget_attempts_per_request(
    *, failure_probability: float, retries: int, budget_ratio: float = 0.1
) -> float:
    """Attempts per request under a per-request limit r and a client ratio β: 1 + min(a(p, r) − 1, β).

    Without the ratio a request makes a(p, r) = (1 − p^(r+1))/(1 − p) attempts
    (``retry_attempts_per_request``), i.e. a − 1 retries; the client budget lets retries through
    only while retries/requests < β, so in steady state (counts over a window long against one
    request) the retry rate is the smaller of the two. Assumes attempts fail independently with
    p and the budget is shared by all of the client's requests. Dimensionless.
    Valid for p in [0, 1], whole r >= 0, β >= 0.
    """
    wanted = retry_attempts_per_request(failure_probability=failure_probability, retries=retries)
    return 1.0 + min(wanted - 1.0, _check_budget_ratio(budget_ratio))


# --------------------------------------------------------------------------------------------
# Adaptive throttling in steady state.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ThrottleShares:
    """Steady-state flows under client-side adaptive throttling, as shares of the client's demand."""

    local_rejection_share: float
    """Requests the client rejects itself, max(0, 1 − K·a)."""
    sent_share: float
    """Requests that reach the backend, min(1, K·a)."""
    accepted_share: float
    """Requests the backend accepts, a (all it can)."""
    backend_rejection_share: float
    """Requests the backend receives but rejects, min(1, K·a) − a: the work throttling still costs."""

    @property
    def backend_load_over_capacity(self) -> float:
        """What the backend receives over what it can accept, min(1/a, K) (inf when a = 0)."""
        return self.sent_share / self.accepted_share if self.accepted_share else math.inf


def adaptive_throttle_steady_state(*, accept_share: float, multiplier: float = 2.0) -> ThrottleShares:
    """Where client-side adaptive throttling settles when the backend accepts a share a of the demand.

    Google SRE book, "Handling Overload": the client rejects locally with probability
    P = max(0, (requests − K·accepts)/(requests + 1)) over a trailing window. Let the backend
    accept up to a·λ per second (its capacity over the client's demand λ, capped at 1) and
    reject the rest. In steady state, with window counts large enough that the +1 is negligible:
    if the client sends at least a·λ the backend accepts exactly a·λ, so P = max(0, 1 − K·a)
    and the client sends (1 − P)·λ = min(1, K·a)·λ — consistent, since K >= 1. So the backend
    still receives up to K times what it accepts (2× at K = 2) and rejects min(1, K·a) − a of
    the demand; lower K moves that rejection work to the client. Dimensionless shares.
    Assumes a steady demand and capacity over the window (2 minutes in the book), and that
    rejections are cheap. Valid for a in [0, 1] and K >= 1 (with K < 1 the fixed point is to
    send nothing: the client throttles itself below what the backend accepts).
    """
    share = _check_probability("accept share", accept_share)
    k = float(multiplier)
    if not 1.0 <= k < math.inf:
        raise ValueError(f"multiplier {k:g} must be a finite number >= 1 for a steady state")
    sent = min(1.0, k * share)
    return ThrottleShares(
        local_rejection_share=max(0.0, 1.0 - k * share),
        sent_share=sent,
        accepted_share=share,
        backend_rejection_share=sent - share,
    )
