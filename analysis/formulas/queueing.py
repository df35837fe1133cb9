"""Queueing formulas: the textbook predictions a measured service is compared with.

Every function is pure: keyword-only floats in, one float out, stdlib ``math`` only, no I/O.
Rates are per second, times are seconds, loads are erlangs (λ/μ, dimensionless).
A function raises ``ValueError`` with a sentence when its inputs leave the model's domain
(for example ``utilisation 1.2 >= 1: no steady state``), so a caller never gets a negative wait.

Models, in Kendall notation (arrivals/service/servers/capacity), all first-come first-served:

- M/M/1 and M/M/c (Erlang C): Poisson arrivals, exponential service. Exact.
- M/M/c/K: as M/M/c with at most K requests in the system (in service + queued); an arrival
  that finds K is blocked. The model of Envoy's ``max_requests`` + ``max_pending_requests``
  overflow (503 ``UO``). Exact, valid at any load.
- M/D/1 and M/G/1 (Pollaczek–Khinchine): Poisson arrivals, general service. Exact means.
- G/G/1 (Kingman) and G/G/c (Allen–Cunneen): general arrivals and service. Approximations,
  good in heavy traffic, exact for M/G/1 (Kingman) and M/M/c (Allen–Cunneen).
- Little's law L = λW: any stable system, any discipline.
- The utilisation knee W = S/(1 − ρ): the fleet-orchestration seed's rule of thumb (M/M/1).
- Service level P(Wq <= t) of M/M/c (Erlang C), the call-centre "80% within 20 s".
- A look-aside cache: the backend sees the misses, λ(1 − h); losing the cache multiplies it 1/(1 − h).
- A thread pool by Little's law: λ·W threads busy on average; starved once λ·W >= N.
- M/M/c stations in tandem: the mean is exact (Burke); the response-time distribution is the
  convolution of the stations' (exact for M/M/1 stations, an approximation with c > 1).

Predictions take the *measured* arrival rate, service rate and server count (docs/analysis.md).
"""

import math

# Relative precision of the numerical inversion of the M/M/c sojourn-time distribution.
_QUANTILE_RELATIVE_TOLERANCE = 1e-12


# --------------------------------------------------------------------------------------------
# Input checks: one sentence per violated assumption.
# --------------------------------------------------------------------------------------------


def _check_rate(name: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} {value} is not a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} {value:g} must be {bound}")
    return value


def _check_servers(servers: float) -> int:
    if isinstance(servers, bool) or float(servers) != int(servers) or servers < 1:
        raise ValueError(f"servers {servers} must be a whole number >= 1")
    return int(servers)


def _check_quantile(quantile: float) -> float:
    quantile = float(quantile)
    if not 0 < quantile < 1:
        raise ValueError(f"quantile {quantile:g} must lie strictly between 0 and 1")
    return quantile


def _check_scv(name: str, value: float) -> float:
    return _check_rate(name, value, allow_zero=True)


def _check_stable(rho: float) -> float:
    if rho >= 1:
        raise ValueError(f"utilisation {rho:.4g} >= 1: no steady state")
    return rho


# --------------------------------------------------------------------------------------------
# Load.
# --------------------------------------------------------------------------------------------


def offered_load_erlangs(*, arrival_rate_per_second: float, service_rate_per_second: float) -> float:
    """Offered load A = λ/μ in erlangs: the mean number of busy servers if nothing were lost.

    Units: λ and μ in 1/s; A dimensionless. Valid for λ >= 0, μ > 0.
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    mu = _check_rate("service rate", service_rate_per_second)
    return lam / mu


def utilisation(*, arrival_rate_per_second: float, service_rate_per_second: float, servers: int = 1) -> float:
    """Per-server utilisation ρ = λ/(c·μ).

    Units: λ, μ in 1/s; ρ dimensionless. A queue without a capacity limit has a steady state
    only when ρ < 1; this function reports ρ at any value (callers check).
    """
    c = _check_servers(servers)
    return (
        offered_load_erlangs(
            arrival_rate_per_second=arrival_rate_per_second,
            service_rate_per_second=service_rate_per_second,
        )
        / c
    )


def _stable_rates(lam: float, mu: float, c: int = 1) -> tuple[float, float, int]:
    lam = _check_rate("arrival rate", lam, allow_zero=True)
    mu = _check_rate("service rate", mu)
    c = _check_servers(c)
    _check_stable(lam / (c * mu))
    return lam, mu, c


# --------------------------------------------------------------------------------------------
# M/M/1.
# --------------------------------------------------------------------------------------------


def mm1_mean_wait_seconds(*, arrival_rate_per_second: float, service_rate_per_second: float) -> float:
    """M/M/1 mean time in queue (before service starts), Wq = ρ/(μ − λ).

    Units: λ, μ in 1/s; Wq in s. Assumes Poisson arrivals, exponential service, one server,
    FCFS, infinite queue. Valid for ρ = λ/μ < 1.
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    return (lam / mu) / (mu - lam)


def mm1_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float
) -> float:
    """M/M/1 mean response (sojourn) time, W = 1/(μ − λ) = Wq + 1/μ.

    Units: λ, μ in 1/s; W in s. Assumptions as ``mm1_mean_wait_seconds``. Valid for ρ < 1.
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    return 1.0 / (mu - lam)


def mm1_mean_number_in_system(*, arrival_rate_per_second: float, service_rate_per_second: float) -> float:
    """M/M/1 mean number in system (queued + in service), L = ρ/(1 − ρ).

    Dimensionless. Assumptions as ``mm1_mean_wait_seconds``. Valid for ρ < 1.
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    rho = lam / mu
    return rho / (1.0 - rho)


def mm1_response_time_quantile_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, quantile: float
) -> float:
    """M/M/1 response-time p-quantile, t_p = −ln(1 − p)/(μ − λ).

    Under FCFS the M/M/1 sojourn time is exponential with rate μ − λ, so P(T > t) = e^{−(μ−λ)t}
    and p99 = ln(100)/(μ − λ) ≈ 4.605·W. Units: 1/s in, s out. Valid for ρ < 1, 0 < p < 1.
    Not valid for other disciplines (processor sharing has the same mean, a different tail).
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    p = _check_quantile(quantile)
    return -math.log1p(-p) / (mu - lam)


def mm1_wait_time_quantile_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, quantile: float
) -> float:
    """M/M/1 queueing-delay p-quantile.

    P(Wq > t) = ρ·e^{−(μ−λ)t}, so t_p = 0 when p <= 1 − ρ (that share never waits), else
    t_p = ln(ρ/(1 − p))/(μ − λ). Units: 1/s in, s out. Valid for ρ < 1, 0 < p < 1.
    """
    return mmc_wait_time_quantile_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=1,
        quantile=quantile,
    )


# --------------------------------------------------------------------------------------------
# Erlang B, Erlang C and M/M/c.
# --------------------------------------------------------------------------------------------


def erlang_b(*, offered_load_erlangs: float, servers: int) -> float:
    """Erlang B: blocking probability of the M/M/c/c loss system (no queue).

    B(c, A) = (A^c/c!)/Σ_{k=0..c} A^k/k!, computed by the recursion B(0) = 1,
    B(k) = A·B(k−1)/(k + A·B(k−1)), which never forms A^c or c! (no overflow for c in the
    thousands; O(c) steps). A in erlangs, result dimensionless. Insensitive to the service-time
    distribution (only its mean enters); assumes Poisson arrivals and blocked-calls-cleared.
    Valid for any A >= 0 and whole c >= 1.
    """
    load = _check_rate("offered load", offered_load_erlangs, allow_zero=True)
    c = _check_servers(servers)
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(*, offered_load_erlangs: float, servers: int) -> float:
    """Erlang C: probability an arrival waits in the M/M/c queue, P(Wq > 0).

    C(c, A) = B/(1 − ρ(1 − B)) with B = erlang_b(A, c) and ρ = A/c, the numerically stable
    form of (A^c/c!)(c/(c−A)) / (Σ_{k<c} A^k/k! + (A^c/c!)(c/(c−A))). Dimensionless.
    Assumes Poisson arrivals, exponential service, c identical servers, infinite FCFS queue.
    Valid for A < c (ρ < 1).
    """
    c = _check_servers(servers)
    load = _check_rate("offered load", offered_load_erlangs, allow_zero=True)
    rho = _check_stable(load / c)
    blocking = erlang_b(offered_load_erlangs=load, servers=c)
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc_wait_probability(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int
) -> float:
    """M/M/c probability that an arrival has to queue: Erlang C with A = λ/μ.

    Units: λ, μ in 1/s; result dimensionless. Valid for ρ = λ/(cμ) < 1.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    return erlang_c(offered_load_erlangs=lam / mu, servers=c)


def mmc_mean_wait_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int
) -> float:
    """M/M/c mean time in queue, Wq = C(c, A)/(cμ − λ).

    Units: 1/s in, s out. Poisson arrivals, exponential service, FCFS. Valid for ρ < 1.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    return erlang_c(offered_load_erlangs=lam / mu, servers=c) / (c * mu - lam)


def mmc_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int
) -> float:
    """M/M/c mean response time, W = C(c, A)/(cμ − λ) + 1/μ.

    Units: 1/s in, s out. Assumptions as ``mmc_mean_wait_seconds``. Valid for ρ < 1.
    """
    wait = mmc_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
    )
    return wait + 1.0 / float(service_rate_per_second)


def mmc_mean_number_in_system(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int
) -> float:
    """M/M/c mean number in system, L = λ·W (Little) = Lq + A.

    Dimensionless. Assumptions as ``mmc_mean_wait_seconds``. Valid for ρ < 1.
    """
    return float(arrival_rate_per_second) * mmc_mean_response_time_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
    )


def mmc_wait_time_quantile_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, quantile: float
) -> float:
    """M/M/c queueing-delay p-quantile.

    P(Wq > t) = C·e^{−(cμ−λ)t}: a share 1 − C starts at once, the rest wait an exponential
    time with rate cμ − λ. So t_p = 0 when 1 − p >= C, else t_p = ln(C/(1 − p))/(cμ − λ).
    Units: 1/s in, s out. Poisson arrivals, exponential service, FCFS. Valid for ρ < 1, 0 < p < 1.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    p = _check_quantile(quantile)
    wait_probability = erlang_c(offered_load_erlangs=lam / mu, servers=c)
    if 1.0 - p >= wait_probability:
        return 0.0
    return math.log(wait_probability / (1.0 - p)) / (c * mu - lam)


def mmc_response_time_survival(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, time_seconds: float
) -> float:
    """M/M/c exact response-time tail P(T > t), T = Wq + S.

    With C = P(Wq > 0), θ = cμ − λ, and the service S ~ Exp(μ) independent of the FCFS wait:
    P(T > t) = (1 − C)·e^{−μt} + C·P(Exp(θ) + Exp(μ) > t), where the hypoexponential tail is
    e^{−μt} + μ(e^{−μt} − e^{−θt})/(θ − μ) for θ ≠ μ and (1 + μt)·e^{−μt} for θ = μ.
    The difference is formed with ``expm1`` so θ close to μ loses no digits. For c = 1 it
    reduces to e^{−(μ−λ)t}. Units: 1/s and s in; a probability out. Valid for ρ < 1, t >= 0.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    t = _check_rate("time", time_seconds, allow_zero=True)
    wait_probability = erlang_c(offered_load_erlangs=lam / mu, servers=c)
    theta = c * mu - lam
    service_tail = math.exp(-mu * t)
    x = (theta - mu) * t
    if abs(x) < 1.0:
        # (e^{−μt} − e^{−θt})/(θ − μ) = t·e^{−μt}·(1 − e^{−x})/x, stable as x → 0.
        ratio = 1.0 if x == 0 else -math.expm1(-x) / x
        difference = t * service_tail * ratio
    else:
        difference = (service_tail - math.exp(-theta * t)) / (theta - mu)
    after_waiting = service_tail + mu * difference
    return (1.0 - wait_probability) * service_tail + wait_probability * after_waiting


def mmc_response_time_quantile_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, quantile: float
) -> float:
    """M/M/c response-time p-quantile: the t with P(T > t) = 1 − p, by numerical inversion.

    Inverts ``mmc_response_time_survival`` (exact, monotone in t) by bracketing and bisection
    to a relative precision of 1e-12. There is no closed form for c > 1; for c = 1 this equals
    −ln(1 − p)/(μ − λ). Units: 1/s in, s out. Valid for ρ < 1, 0 < p < 1.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    p = _check_quantile(quantile)
    target = 1.0 - p

    def tail(time_seconds: float) -> float:
        return mmc_response_time_survival(
            arrival_rate_per_second=lam, service_rate_per_second=mu, servers=c, time_seconds=time_seconds
        )

    low, high = 0.0, -math.log(target) / min(mu, c * mu - lam)
    while tail(high) > target:  # the bound above is a guess; widen until it brackets
        low, high = high, 2.0 * high
    while high - low > _QUANTILE_RELATIVE_TOLERANCE * high:
        middle = 0.5 * (low + high)
        if tail(middle) > target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


# --------------------------------------------------------------------------------------------
# M/M/c/K: finite capacity, the model of Envoy's circuit-breaker overflow.
# --------------------------------------------------------------------------------------------


def _mmck_state_probabilities(lam: float, mu: float, servers: int, capacity: int) -> list[float]:
    """Stationary P(N = n), n = 0..K, of the M/M/c/K birth-death chain, via log weights.

    Weights w_n = A^n/n! (n <= c) and A^c/c!·ρ^{n−c} (n > c) are built as running log sums and
    normalised with the log-sum-exp shift, so A^c/c! never overflows (c, K in the thousands).
    """
    lam = _check_rate("arrival rate", lam)
    mu = _check_rate("service rate", mu)
    c = _check_servers(servers)
    if isinstance(capacity, bool) or float(capacity) != int(capacity) or capacity < c:
        raise ValueError(f"capacity {capacity} must be a whole number >= servers {c}")
    log_load = math.log(lam / mu)
    log_weights = [0.0]
    for n in range(1, int(capacity) + 1):
        log_weights.append(log_weights[-1] + log_load - math.log(min(n, c)))
    shift = max(log_weights)
    weights = [math.exp(w - shift) for w in log_weights]
    total = math.fsum(weights)
    return [w / total for w in weights]


def mmck_blocking_probability(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, capacity: int
) -> float:
    """M/M/c/K blocking probability P(N = K): the share of arrivals rejected at once.

    p_n ∝ A^n/n! for n <= c and A^c/c!·ρ^{n−c} for c < n <= K (A = λ/μ, ρ = A/c); blocking is
    p_K (PASTA: Poisson arrivals see time averages). K = c gives Erlang B.
    Envoy mapping (a stated model): c = concurrent requests the upstream serves (``max_requests``
    when that is the binding limit, or replicas × workers if smaller), K = c +
    ``max_pending_requests``; an arrival finding K in flight + pending gets 503 ``UO``.
    Assumes Poisson arrivals, exponential service, FCFS, no retries of blocked requests.
    Units: 1/s in; a probability out. Valid at any load (ρ >= 1 included), λ > 0, K >= c >= 1.
    """
    probabilities = _mmck_state_probabilities(
        arrival_rate_per_second, service_rate_per_second, servers, capacity
    )
    return probabilities[-1]


def mmck_mean_number_in_system(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, capacity: int
) -> float:
    """M/M/c/K mean number in system L = Σ n·p_n (in service + queued).

    Dimensionless. Assumptions and validity as ``mmck_blocking_probability``.
    """
    probabilities = _mmck_state_probabilities(
        arrival_rate_per_second, service_rate_per_second, servers, capacity
    )
    return math.fsum(n * p for n, p in enumerate(probabilities))


def mmck_throughput_per_second(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, capacity: int
) -> float:
    """M/M/c/K admitted (and, in steady state, completed) rate λ_eff = λ·(1 − p_K).

    Units: 1/s. Assumptions and validity as ``mmck_blocking_probability``.
    """
    blocking = mmck_blocking_probability(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
        capacity=capacity,
    )
    return float(arrival_rate_per_second) * (1.0 - blocking)


def mmck_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, capacity: int
) -> float:
    """M/M/c/K mean response time of *admitted* requests, W = L/λ_eff (Little's law).

    Blocked requests are not in the average (they get an immediate 503). Units: 1/s in, s out.
    Assumptions and validity as ``mmck_blocking_probability``.
    """
    number = mmck_mean_number_in_system(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
        capacity=capacity,
    )
    throughput = mmck_throughput_per_second(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
        capacity=capacity,
    )
    return number / throughput


def mmck_mean_wait_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, servers: int, capacity: int
) -> float:
    """M/M/c/K mean queueing delay of admitted requests, Wq = W − 1/μ.

    Units: 1/s in, s out. Assumptions and validity as ``mmck_blocking_probability``.
    """
    response = mmck_mean_response_time_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
        capacity=capacity,
    )
    return max(0.0, response - 1.0 / float(service_rate_per_second))


# --------------------------------------------------------------------------------------------
# M/D/1 and M/G/1 (Pollaczek–Khinchine).
# --------------------------------------------------------------------------------------------


def mg1_mean_wait_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, service_scv: float
) -> float:
    """M/G/1 mean time in queue, Pollaczek–Khinchine: Wq = ρ(1 + Cs²)/(2μ(1 − ρ)).

    Equivalent to λE[S²]/(2(1 − ρ)) with E[S] = 1/μ and Cs² = Var(S)/E[S]² (squared coefficient
    of variation: 0 deterministic, 1 exponential, e^{σ²} − 1 lognormal). Units: 1/s in, s out.
    Exact for Poisson arrivals, i.i.d. service, one FCFS server. Valid for ρ < 1, Cs² >= 0.
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    scv = _check_scv("service SCV", service_scv)
    rho = lam / mu
    return rho * (1.0 + scv) / (2.0 * mu * (1.0 - rho))


def mg1_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, service_scv: float
) -> float:
    """M/G/1 mean response time, W = Wq(P-K) + 1/μ.

    Units: 1/s in, s out. Assumptions and validity as ``mg1_mean_wait_seconds``.
    """
    wait = mg1_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        service_scv=service_scv,
    )
    return wait + 1.0 / float(service_rate_per_second)


def md1_mean_wait_seconds(*, arrival_rate_per_second: float, service_rate_per_second: float) -> float:
    """M/D/1 mean time in queue, Wq = ρ/(2μ(1 − ρ)): P-K with Cs² = 0, half the M/M/1 wait.

    Units: 1/s in, s out. Poisson arrivals, constant service 1/μ, one FCFS server. Valid for ρ < 1.
    """
    return mg1_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        service_scv=0.0,
    )


def md1_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float
) -> float:
    """M/D/1 mean response time, W = 1/μ + ρ/(2μ(1 − ρ)).

    Units: 1/s in, s out. Assumptions and validity as ``md1_mean_wait_seconds``.
    """
    return md1_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
    ) + 1.0 / float(service_rate_per_second)


def md1_mean_number_in_system(*, arrival_rate_per_second: float, service_rate_per_second: float) -> float:
    """M/D/1 mean number in system, L = ρ + ρ²/(2(1 − ρ)).

    Dimensionless. Assumptions and validity as ``md1_mean_wait_seconds``.
    """
    return float(arrival_rate_per_second) * md1_mean_response_time_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
    )


# --------------------------------------------------------------------------------------------
# G/G/1 (Kingman) and G/G/c (Allen–Cunneen) approximations.
# --------------------------------------------------------------------------------------------


def kingman_mean_wait_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, arrival_scv: float, service_scv: float
) -> float:
    """Kingman's G/G/1 approximation, Wq ≈ (ρ/(1 − ρ))·((Ca² + Cs²)/2)·(1/μ).

    Ca², Cs²: squared coefficients of variation of inter-arrival and service times (1 for
    Poisson / exponential). Units: 1/s in, s out. An approximation, tight as ρ → 1 (heavy
    traffic); exact when Ca² = 1 (it is then P-K). Valid for ρ < 1, Ca², Cs² >= 0.
    """
    lam, mu, _ = _stable_rates(arrival_rate_per_second, service_rate_per_second)
    ca2 = _check_scv("arrival SCV", arrival_scv)
    cs2 = _check_scv("service SCV", service_scv)
    rho = lam / mu
    return (rho / (1.0 - rho)) * ((ca2 + cs2) / 2.0) / mu


def kingman_mean_response_time_seconds(
    *, arrival_rate_per_second: float, service_rate_per_second: float, arrival_scv: float, service_scv: float
) -> float:
    """Kingman's G/G/1 mean response time, W ≈ Wq(Kingman) + 1/μ.

    Units: 1/s in, s out. Assumptions and validity as ``kingman_mean_wait_seconds``.
    """
    return kingman_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        arrival_scv=arrival_scv,
        service_scv=service_scv,
    ) + 1.0 / float(service_rate_per_second)


def allen_cunneen_mean_wait_seconds(
    *,
    arrival_rate_per_second: float,
    service_rate_per_second: float,
    servers: int,
    arrival_scv: float,
    service_scv: float,
) -> float:
    """Allen–Cunneen G/G/c approximation, Wq ≈ (C(c, A)/(cμ − λ))·(Ca² + Cs²)/2.

    The M/M/c wait scaled by the variability factor (Kingman's idea for c servers). Units: 1/s in,
    s out. Exact for M/M/c; for M/G/c and G/G/c typically within ~10% at moderate to high load,
    worse at low load with many servers. Valid for ρ = λ/(cμ) < 1, Ca², Cs² >= 0.
    """
    ca2 = _check_scv("arrival SCV", arrival_scv)
    cs2 = _check_scv("service SCV", service_scv)
    return (
        mmc_mean_wait_seconds(
            arrival_rate_per_second=arrival_rate_per_second,
            service_rate_per_second=service_rate_per_second,
            servers=servers,
        )
        * (ca2 + cs2)
        / 2.0
    )


def allen_cunneen_mean_response_time_seconds(
    *,
    arrival_rate_per_second: float,
    service_rate_per_second: float,
    servers: int,
    arrival_scv: float,
    service_scv: float,
) -> float:
    """Allen–Cunneen G/G/c mean response time, W ≈ Wq(Allen–Cunneen) + 1/μ.

    Units: 1/s in, s out. Assumptions and validity as ``allen_cunneen_mean_wait_seconds``.
    """
    return allen_cunneen_mean_wait_seconds(
        arrival_rate_per_second=arrival_rate_per_second,
        service_rate_per_second=service_rate_per_second,
        servers=servers,
        arrival_scv=arrival_scv,
        service_scv=service_scv,
    ) + 1.0 / float(service_rate_per_second)


# --------------------------------------------------------------------------------------------
# Little's law, each direction.
# --------------------------------------------------------------------------------------------


def little_mean_number_in_system(
    *, arrival_rate_per_second: float, mean_time_in_system_seconds: float
) -> float:
    """Little's law L = λ·W: mean number in system (e.g. an in-flight gauge) from rate and time.

    Units: λ in 1/s (the *admitted* rate: throughput), W in s; L dimensionless. Holds for any
    stable system, any arrival and service distributions and any discipline, as long-run
    averages over the same window. Valid for λ >= 0, W >= 0.
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    time = _check_rate("mean time in system", mean_time_in_system_seconds, allow_zero=True)
    return lam * time


def little_mean_time_in_system_seconds(
    *, mean_number_in_system: float, arrival_rate_per_second: float
) -> float:
    """Little's law W = L/λ: mean time in system from the mean in-flight count and throughput.

    Units: L dimensionless, λ in 1/s, W in s. Assumptions as ``little_mean_number_in_system``.
    Valid for L >= 0, λ > 0.
    """
    number = _check_rate("mean number in system", mean_number_in_system, allow_zero=True)
    lam = _check_rate("arrival rate", arrival_rate_per_second)
    return number / lam


def little_throughput_per_second(
    *, mean_number_in_system: float, mean_time_in_system_seconds: float
) -> float:
    """Little's law λ = L/W: throughput from the mean in-flight count and the mean time.

    Units: L dimensionless, W in s, λ in 1/s. Assumptions as ``little_mean_number_in_system``.
    Valid for L >= 0, W > 0.
    """
    number = _check_rate("mean number in system", mean_number_in_system, allow_zero=True)
    time = _check_rate("mean time in system", mean_time_in_system_seconds)
    return number / time


# --------------------------------------------------------------------------------------------
# The utilisation knee.
# --------------------------------------------------------------------------------------------


def knee_mean_response_time_seconds(*, mean_service_time_seconds: float, utilisation: float) -> float:
    """The utilisation knee W = S/(1 − ρ) (the fleet-orchestration seed's rule of thumb).

    It is the M/M/1 mean response time written with S = 1/μ: W doubles from ρ = 0 to 0.5,
    is 5·S at 0.8, 10·S at 0.9 and 20·S at 0.95 — the "knee". Units: S in s, W in s.
    Assumes one exponential server (for c servers use ``mmc_mean_response_time_seconds``,
    whose knee sits at higher ρ). Valid for S > 0, 0 <= ρ < 1.
    """
    service = _check_rate("mean service time", mean_service_time_seconds)
    rho = _check_stable(_check_rate("utilisation", utilisation, allow_zero=True))
    return service / (1.0 - rho)


def knee_utilisation_for_slowdown(*, slowdown: float) -> float:
    """The utilisation at which the knee model's W/S reaches a given slowdown k: ρ = 1 − 1/k.

    E.g. k = 5 (response time five times the service time) is reached at ρ = 0.8.
    Dimensionless. Same model as ``knee_mean_response_time_seconds``. Valid for k >= 1.
    """
    factor = float(slowdown)
    if not factor >= 1:
        raise ValueError(f"slowdown {factor:g} must be >= 1: queueing never makes requests faster")
    return 1.0 - 1.0 / factor


# --------------------------------------------------------------------------------------------
# Service level (Erlang C): the share of requests that wait at most t.
# --------------------------------------------------------------------------------------------


def mmc_service_level(
    *,
    arrival_rate_per_second: float,
    service_rate_per_second: float,
    servers: int,
    wait_threshold_seconds: float,
) -> float:
    """M/M/c service level, the share of arrivals waiting at most t: P(Wq <= t) = 1 − C·e^{−(cμ−λ)t}.

    C = C(c, A) is Erlang C: a share 1 − C starts at once and the rest wait an exponential time
    with rate cμ − λ (FCFS, the queue drains at the rate all c servers free up, minus arrivals).
    The call-centre "80/20" target (80% answered within 20 s) is this number at t = 20 s;
    ``mmc_wait_time_quantile_seconds`` is its inverse. At t = 0 it is 1 − C.
    Units: λ, μ in 1/s, t in s; a probability out. Assumes Poisson arrivals, exponential
    service, c identical servers, an unbounded FCFS queue, no abandonment.
    Valid for ρ = λ/(cμ) < 1 and t >= 0.
    """
    lam, mu, c = _stable_rates(arrival_rate_per_second, service_rate_per_second, servers)
    t = _check_rate("wait threshold", wait_threshold_seconds, allow_zero=True)
    wait_probability = erlang_c(offered_load_erlangs=lam / mu, servers=c)
    return 1.0 - wait_probability * math.exp(-(c * mu - lam) * t)


# --------------------------------------------------------------------------------------------
# A look-aside cache in front of a backend: misses are the backend's arrivals.
# --------------------------------------------------------------------------------------------


def _check_hit_ratio(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} {value:g} must lie in [0, 1): at 1 the backend sees no traffic to multiply")
    return value


def cache_backend_arrival_rate_per_second(*, arrival_rate_per_second: float, hit_ratio: float) -> float:
    """Arrival rate at the backend behind a look-aside cache, λ·(1 − h).

    A look-aside (cache-aside) client asks the cache first and the backend only on a miss, so
    the backend sees the miss stream: a routing probability 1 − h in queueing-network terms.
    Units: 1/s in and out. Assumes the hit ratio h is measured over the same requests (by
    count, not by bytes). Valid for λ >= 0 and h in [0, 1).
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    return lam * (1.0 - _check_hit_ratio("hit ratio", hit_ratio))


def cache_miss_amplification(*, hit_ratio: float) -> float:
    """Backend load multiplier when a look-aside cache is lost (cold, flushed, down): 1/(1 − h).

    With the cache the backend sees λ(1 − h); without it, λ. So a 90% hit ratio hides 10× the
    backend's normal load and 99% hides 100×: a backend sized for its normal miss traffic is
    overloaded by a cache restart until the cache refills. Dimensionless. Valid for h in [0, 1).
    """
    return 1.0 / (1.0 - _check_hit_ratio("hit ratio", hit_ratio))


def cache_degradation_amplification(*, hit_ratio: float, degraded_hit_ratio: float) -> float:
    """Backend load multiplier when the hit ratio falls from h to h': (1 − h')/(1 − h).

    A small drop in a high hit ratio is a large rise in backend load: 99% → 95% is 5×.
    Dimensionless. Valid for h, h' in [0, 1); h' above h gives a factor below 1.
    """
    normal = _check_hit_ratio("hit ratio", hit_ratio)
    degraded = _check_hit_ratio("degraded hit ratio", degraded_hit_ratio)
    return (1.0 - degraded) / (1.0 - normal)


# --------------------------------------------------------------------------------------------
# Thread pools via Little's law.
# --------------------------------------------------------------------------------------------


def _check_pool(pool_threads: float) -> int:
    if isinstance(pool_threads, bool) or float(pool_threads) != int(pool_threads) or pool_threads < 1:
        raise ValueError(f"pool threads {pool_threads} must be a whole number >= 1")
    return int(pool_threads)


def thread_pool_busy_threads(*, arrival_rate_per_second: float, thread_hold_seconds: float) -> float:
    """Mean threads a pool needs, λ·W, by Little's law applied to the threads in use.

    W is how long a task holds its thread, including time blocked on downstream calls (a
    synchronous client holds the thread for the whole downstream response time), not the
    time it queued for a thread. Units: 1/s and s in; threads out. Holds for any arrival and
    hold-time distribution as long-run averages. Valid for λ >= 0, W >= 0.
    """
    return little_mean_number_in_system(
        arrival_rate_per_second=arrival_rate_per_second, mean_time_in_system_seconds=thread_hold_seconds
    )


def thread_pool_is_starved(
    *, arrival_rate_per_second: float, thread_hold_seconds: float, pool_threads: int
) -> bool:
    """Whether the pool starves: λ·W >= N, the mean demand for threads reaches the pool size.

    At λW > N tasks arrive faster than N threads can finish them (N/W per second), so the task
    queue grows without bound: latency climbs until timeouts or memory end it. λW = N is the
    boundary (utilisation 1), which has no steady state either, so it counts as starved.
    A downstream slowdown raises W and can starve a pool at a constant λ. Valid for λ >= 0,
    W >= 0, whole N >= 1.
    """
    pool = _check_pool(pool_threads)
    busy = thread_pool_busy_threads(
        arrival_rate_per_second=arrival_rate_per_second, thread_hold_seconds=thread_hold_seconds
    )
    return busy >= pool


def thread_pool_max_throughput_per_second(*, thread_hold_seconds: float, pool_threads: int) -> float:
    """The most tasks per second N threads can complete when each holds its thread W seconds: N/W.

    Units: s in, 1/s out. Valid for W > 0, whole N >= 1.
    """
    pool = _check_pool(pool_threads)
    hold = _check_rate("thread hold time", thread_hold_seconds)
    return pool / hold


def thread_pool_wait_probability(
    *, arrival_rate_per_second: float, thread_hold_seconds: float, pool_threads: int
) -> float:
    """Probability a task finds every thread busy and queues: Erlang C with A = λ·W and c = N.

    The pool is an M/M/N queue when arrivals are Poisson and hold times exponential; then this
    is exact, otherwise a guide (Erlang C is not insensitive to the hold-time distribution).
    Dimensionless. Valid for λW < N (see ``thread_pool_is_starved``), W > 0.
    """
    pool = _check_pool(pool_threads)
    _check_rate("thread hold time", thread_hold_seconds)
    busy = thread_pool_busy_threads(
        arrival_rate_per_second=arrival_rate_per_second, thread_hold_seconds=thread_hold_seconds
    )
    return erlang_c(offered_load_erlangs=busy, servers=pool)


# --------------------------------------------------------------------------------------------
# Stations in tandem: a request passes M/M/c stations in series.
# --------------------------------------------------------------------------------------------

# Terms of the exponential series of the jump matrix at a uniformized time y <= 1: the first
# term left out is below y^25/25! < 1e-25.
_EXPONENTIAL_SERIES_TERMS = 25


def _tandem_stations(
    lam: float, service_rates: list[float] | tuple[float, ...], servers: list[int] | tuple[int, ...]
) -> list[tuple[float, float, float]]:
    """(C_i, θ_i, μ_i) per station: Erlang C, the wait's drain rate cμ − λ, the service rate."""
    rates = list(service_rates)
    counts = list(servers)
    if not rates:
        raise ValueError("service rates are empty: a tandem needs at least one station")
    if len(counts) != len(rates):
        raise ValueError(f"servers has {len(counts)} values for {len(rates)} stations: give one per station")
    stations = []
    for mu, c in zip(rates, counts, strict=True):
        lam, mu, c = _stable_rates(lam, mu, c)
        stations.append((erlang_c(offered_load_erlangs=lam / mu, servers=c), c * mu - lam, mu))
    return stations


def tandem_mean_response_time_seconds(
    *,
    arrival_rate_per_second: float,
    service_rates_per_second: list[float] | tuple[float, ...],
    servers: list[int] | tuple[int, ...],
) -> float:
    """Mean end-to-end response time of M/M/c stations in series, Σ W_i. Exact.

    Burke's theorem: the departures of a stable M/M/c queue are Poisson with rate λ, so every
    station in the series is an M/M/c queue with the same λ and its mean response time W_i is
    ``mmc_mean_response_time_seconds``; the mean of a sum is the sum of the means, dependent or
    not. Units: 1/s in, s out. Valid when every station is stable, λ < c_i·μ_i.
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    return math.fsum(
        wait_probability / drain + 1.0 / mu
        for wait_probability, drain, mu in _tandem_stations(lam, service_rates_per_second, servers)
    )


Matrix = list[list[float]]


def _triangular_product(left: Matrix, right: Matrix) -> Matrix:
    """The product of two upper-triangular matrices (the phases only ever move forward)."""
    size = len(left)
    return [
        [0.0] * row + [sum(left[row][k] * right[k][column] for k in range(row, column + 1))
                       for column in range(row, size)]
        for row in range(size)
    ]


def _tandem_phases(stations: list[tuple[float, float, float]]) -> tuple[list[float], Matrix, float]:
    """The summed sojourns as a phase-type law: start vector, jump matrix P = I + Q/Λ, and Λ.

    Phases in order: for station i a wait (rate θ_i, entered with probability C_i) and a service
    (rate μ_i); after the last service the request is done. Λ is the largest phase rate; a jump
    leaves a phase of rate q with probability q/Λ and otherwise stays, so P is nonnegative.
    """
    rates = [rate for _, drain, mu in stations for rate in (drain, mu)]
    uniform = max(rates)
    size = len(rates)
    jumps = [[0.0] * size for _ in range(size)]
    for phase, rate in enumerate(rates):
        leave = rate / uniform
        jumps[phase][phase] = 1.0 - leave
        if phase % 2 == 0:  # wait → service at the same station
            jumps[phase][phase + 1] = leave
        elif phase + 1 < size:  # service → the next station's wait or service
            next_wait_probability = stations[phase // 2 + 1][0]
            jumps[phase][phase + 1] = leave * next_wait_probability
            jumps[phase][phase + 2] = leave * (1.0 - next_wait_probability)
    start = [0.0] * size
    start[0], start[1] = stations[0][0], 1.0 - stations[0][0]
    return start, jumps, uniform


def _tandem_survival(stations: list[tuple[float, float, float]], time_seconds: float) -> float:
    """P(T > t) = α·e^{Qt}·1, by uniformization with scaling and squaring.

    e^{Qt} = e^{Λt(P − I)} = (e^{y(P − I)})^(2^s) with y = Λt/2^s <= 1; the inner exponential is
    the Poisson-weighted series e^{−y}·Σ y^k/k!·P^k (Horner's scheme), then s squarings. Every
    matrix stays nonnegative, so nothing cancels, and the work grows with log(Λt), not Λt: a
    fast hop beside a slow station costs a few more squarings.
    """
    start, jumps, uniform = _tandem_phases(stations)
    scaled = uniform * time_seconds
    if scaled == 0.0:
        return 1.0
    squarings = max(0, math.ceil(math.log2(scaled)))
    y = scaled / 2.0**squarings
    size = len(start)
    identity = [[float(row == column) for column in range(size)] for row in range(size)]
    exponential = identity
    for k in range(_EXPONENTIAL_SERIES_TERMS, 0, -1):
        step = _triangular_product(jumps, exponential)
        exponential = [
            [identity[row][column] + y / k * step[row][column] for column in range(size)] for row in range(size)
        ]
    weight = math.exp(-y)
    exponential = [[weight * value for value in row] for row in exponential]
    for _ in range(squarings):
        exponential = _triangular_product(exponential, exponential)
    return math.fsum(start[row] * math.fsum(exponential[row]) for row in range(size))


def tandem_response_time_survival(
    *,
    arrival_rate_per_second: float,
    service_rates_per_second: list[float] | tuple[float, ...],
    servers: list[int] | tuple[int, ...],
    time_seconds: float,
) -> float:
    """P(T > t) for T = T_1 + … + T_n, the sum of independent M/M/c station response times.

    Each T_i is the exact M/M/c sojourn of ``mmc_response_time_survival``: with probability C_i
    an Exp(θ_i) wait (θ_i = c_iμ_i − λ), then an Exp(μ_i) service. Their convolution is a
    phase-type distribution (the phases one after another), P(T > t) = α·e^{Qt}·1, evaluated by
    uniformization with scaling and squaring (nonnegative matrices only, so no cancellation, and
    the series is cut where the rest is below 1e-25).
    Exact for M/M/1 stations: a request's sojourn times at successive ·/M/1 FCFS stations with
    Poisson input are independent (Reich 1957), so T is hypoexponential with rates μ_i − λ.
    An approximation when a station has c > 1: each T_i is still exact (Burke: departures of
    an M/M/c queue are Poisson), but overtaking makes successive sojourns dependent (Walrand
    and Varaiya 1980), which the convolution ignores. Units: 1/s and s in; a probability out.
    Valid when every station is stable (λ < c_i·μ_i) and t >= 0.
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    t = _check_rate("time", time_seconds, allow_zero=True)
    return _tandem_survival(_tandem_stations(lam, service_rates_per_second, servers), t)


def tandem_response_time_quantile_seconds(
    *,
    arrival_rate_per_second: float,
    service_rates_per_second: list[float] | tuple[float, ...],
    servers: list[int] | tuple[int, ...],
    quantile: float,
) -> float:
    """End-to-end response-time p-quantile of M/M/c stations in series, numerically.

    Inverts ``tandem_response_time_survival`` (monotone in t) by bracketing and bisection to a
    relative precision of 1e-12. Exact for M/M/1 stations, an independence approximation when a
    station has several servers (see there). For one station it equals
    ``mmc_response_time_quantile_seconds``. The sum of the stations' own p-quantiles is not the
    p-quantile of the sum: it is larger for p near 1, because the stations are rarely slow at
    once. Units: 1/s in, s out. Valid when every station is stable and 0 < p < 1.
    """
    lam = _check_rate("arrival rate", arrival_rate_per_second, allow_zero=True)
    p = _check_quantile(quantile)
    stations = _tandem_stations(lam, service_rates_per_second, servers)
    target = 1.0 - p
    low, high = 0.0, math.fsum(wait / drain + 1.0 / mu for wait, drain, mu in stations)
    while _tandem_survival(stations, high) > target:
        low, high = high, 2.0 * high
    while high - low > _QUANTILE_RELATIVE_TOLERANCE * high:
        middle = 0.5 * (low + high)
        if _tandem_survival(stations, middle) > target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
