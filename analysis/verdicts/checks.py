"""Every prediction a run can check, built from its measurements. Pure.

One function per check; each returns :class:`compare.Comparison` rows (none where the check does
not apply, an inconclusive row where it applies but the data cannot decide). The formulas are the
colleague-tested ones in ``queueing``, ``tails``, ``retries`` and ``seedmodels``; the inputs are
always the *measured* λ, μ and c of ``measures``.

Textbook checks: M/M/c (or M/M/c/K) mean response per service; the M/M/c p99 where the service
calls nobody; M/M/c/K blocking of a service's own admission queue; Envoy's circuit-breaker
overflow as M/M/c/K blocking; Little's law; SLO composition 1 − ∏(1 − p_i); retry amplification
per layer under its policy, adaptive throttling against the SRE formula, and the worst case
∏(r_k + 1) per service. Seed toy models (``model="seed"``): p99 ≈ 4.6 × W, the fixed shed factor 0.8, the
cascade factor 0.3 and the constant 30 s HPA lag, each next to the textbook counterpart.
"""
from __future__ import annotations

import dataclasses
import math

from analysis.formulas import intervals, queueing, retries, seedmodels
from analysis.tables import extract, measures
from analysis.verdicts import compare

MIN_COMPLETED = 50
"""Fewer completions than this in a window decide nothing about a mean; the row is inconclusive."""
MIN_PROBABILITY = 1e-3
"""Blocking and failure shares below this in both theory and measurement are not worth a row."""


def tolerance(scenario: dict, name: str) -> float:
    """The scenario's relative tolerance for a check (its ``predictions`` block, defaults filled by
    the schema: schema/scenario.py ``Predictions`` says why each default is what it is)."""
    try:
        return float(scenario["predictions"][name])
    except KeyError:
        raise extract.RunDataError(f"scenario.json has no predictions.{name}; run the scenario again") from None


def half_width(interval) -> float:
    return (interval[1] - interval[0]) / 2 if interval else 0.0


# -- queueing: one service -------------------------------------------------------------------------

def queue_model(s: dict) -> dict | None:
    """The measured λ, μ, c and K of a service, or None with no completed work."""
    lam, mu, servers = s["arrival_rate_per_second"], s["service_rate_per_second"], s["servers"]
    if any(math.isnan(v) for v in (lam, mu, servers)) or lam <= 0 or servers < 0.5:
        return None
    replicas = max(1, round(s["ready_replicas"])) if not math.isnan(s["ready_replicas"]) else 1
    c = max(1, round(servers))
    return {"lam": lam, "mu": mu, "c": c, "k": c + replicas * s["queue_limit"], "rho": lam / (c * mu),
            "steady_servers": not s["servers_range"] or s["servers_range"][1] - s["servers_range"][0] < 0.5}


def reneging(s: dict) -> str | None:
    """Why a service's queue is no M/M/c/K, when requests left it unserved: a propagated deadline
    that expired while they waited (a 504 as they leave the queue). Abandonment bounds the wait as
    a queue limit would not (M/M/c+M, Erlang A): the sentence for the row's note, or None."""
    expired = s["shed"] - s["shed_queue_full"]
    if not s["completed"] or expired / s["completed"] < MIN_PROBABILITY:
        return None
    return (f"{expired:.0f} of {s['completed']:.0f} requests reneged (deadline expired in the queue): "
            "an abandoning queue (M/M/c+M), not M/M/c/K")


def is_gpu_engine(scenario: dict, service: str) -> bool:
    """``work: gpu`` replicas batch requests in an emulated engine: not a c-server FIFO queue."""
    return scenario["services"][service].get("work") == "gpu"


def mmc_mean_response(scenario: dict, phase: str, service: str, s: dict) -> list[compare.Comparison]:
    """Own mean response time against M/M/c (M/M/c/K when the queue limit matters).

    Services whose service time is not exponential get Allen–Cunneen's G/G/c instead (check
    ``ggc_mean_response``): Wq of M/M/c scaled by (c_a² + c_s²)/2, with Poisson arrivals (c_a² = 1)
    and the service's own c_s² (exact for M/G/1, Pollaczek–Khinchine).
    """
    model = queue_model(s)
    scv = measures.service_scv(scenario, service)
    exponential = math.isclose(scv, 1.0, abs_tol=1e-9)
    check = "mmc_mean_response" if exponential else "ggc_mean_response"
    formula = "W = C(c, λ/μ)/(cμ − λ) + 1/μ" if exponential else "W ≈ C(c, λ/μ)/(cμ − λ)·(1 + c_s²)/2 + 1/μ"
    if model is None:
        return []
    if is_gpu_engine(scenario, service):
        return [compare.inconclusive(check=check, subject=service, phase=phase, formula=formula,
                                     measured=s["own_response_seconds"],
                                     note="a GPU engine batches requests: not a c-server FIFO queue")]
    if s["completed"] < MIN_COMPLETED:
        return [compare.inconclusive(check=check, subject=service, phase=phase, formula=formula,
                                     note=f"{s['completed']:.0f} requests in the window: too few")]
    if not model["steady_servers"]:
        return [compare.inconclusive(check=check, subject=service, phase=phase, formula=formula,
                                     measured=s["own_response_seconds"],
                                     note="ready servers changed inside the window: no steady state")]
    if (abandoned := reneging(s)) is not None:
        return [compare.inconclusive(check=check, subject=service, phase=phase, formula=formula,
                                     measured=s["own_response_seconds"], note=abandoned)]
    blocking = queueing.mmck_blocking_probability(arrival_rate_per_second=model["lam"], service_rate_per_second=model["mu"],
                                                  servers=model["c"], capacity=model["k"])
    rates = {"arrival_rate_per_second": model["lam"], "service_rate_per_second": model["mu"], "servers": model["c"]}
    if blocking > MIN_PROBABILITY or model["rho"] >= 1:
        predicted = queueing.mmck_mean_response_time_seconds(**rates, capacity=model["k"])
        formula = f"W = L/(λ(1 − P_K)), M/M/c/K with K = {model['k']}"
    elif exponential:
        predicted = queueing.mmc_mean_response_time_seconds(**rates)
    else:
        predicted = queueing.allen_cunneen_mean_response_time_seconds(**rates, arrival_scv=1.0, service_scv=scv)
    # The measured and the predicted W share the measured service time S (the model is fed 1/μ = S̄
    # of the same requests), so only the wait's sampling error can separate them: judge on that.
    spread = half_width(s.get("mean_wait_interval_seconds") or s["own_response_interval_seconds"])
    row = compare.compare(
        check=check, subject=service, phase=phase, formula=formula, measured=s["own_response_seconds"],
        predicted=predicted, tolerance=tolerance(scenario, "mean_response_time"),
        measured_spread=spread,
        measured_interval=tuple(s["own_response_interval_seconds"] or ()) or None,
        note=f"λ = {model['lam']:.2f}/s, μ = {model['mu']:.2f}/s, c = {model['c']}, ρ = {model['rho']:.2f}"
             + ("" if exponential else f", c_s² = {scv:.2f}") + f"; measured: {s['own_response_source']}")
    if predicted * model["mu"] < 1.01 and row.verdict == compare.PASS:
        # With under 1 % of W predicted as queueing, measured and predicted W are both the same
        # measured S: agreement proves nothing about the queue, so the row cannot pass.
        row = dataclasses.replace(row, verdict=compare.INCONCLUSIVE,
                                  note=row.note + "; under 1 % queueing predicted (W ≈ 1/μ): no test of the queue")
    return [row]


def mmc_p99(scenario: dict, phase: str, service: str, s: dict) -> list[compare.Comparison]:
    """The M/M/c p99 of a service that calls nobody, against its histogram's p99."""
    model = queue_model(s)
    if model is None or measures.calls_of(scenario, service) or s["completed"] < 10 * MIN_COMPLETED:
        return []
    if is_gpu_engine(scenario, service) or not math.isclose(measures.service_scv(scenario, service), 1.0):
        return []  # the sojourn-time distribution is M/M/c's only for exponential service
    if model["rho"] >= 1 or not model["steady_servers"]:
        return []
    predicted = queueing.mmc_response_time_quantile_seconds(arrival_rate_per_second=model["lam"],
                                                            service_rate_per_second=model["mu"],
                                                            servers=model["c"], quantile=0.99)
    return [compare.compare(check="mmc_p99", subject=service, phase=phase, formula="P(T > t99) = 0.01 in M/M/c",
                            measured=s["p99_ms"] / 1000, predicted=predicted,
                            tolerance=tolerance(scenario, "response_time_quantile"),
                            note="measured p99 interpolated in the request-duration histogram")]


def service_blocking(scenario: dict, phase: str, service: str, s: dict, envoy: dict) -> list[compare.Comparison]:
    """The service's own 503 sheds (admission queue full) against M/M/c/K blocking."""
    model = queue_model(s)
    if model is None or envoy_limit(scenario, service, s) is not None or s["completed"] < MIN_COMPLETED:
        return []
    predicted = queueing.mmck_blocking_probability(arrival_rate_per_second=model["lam"],
                                                   service_rate_per_second=model["mu"], servers=model["c"],
                                                   capacity=model["k"])
    measured = s["shed_queue_full"] / s["completed"]
    if max(measured, predicted) < MIN_PROBABILITY:
        return []
    if not model["steady_servers"]:
        return [compare.inconclusive(check="mmck_blocking", subject=service, phase=phase, formula="P_K of M/M/c/K",
                                     measured=measured, note="ready servers changed inside the window: no steady state")]
    if (abandoned := reneging(s)) is not None:
        return [compare.inconclusive(check="mmck_blocking", subject=service, phase=phase, formula="P_K of M/M/c/K",
                                     measured=measured, note=abandoned)]
    interval = intervals.wilson_interval(s["shed_queue_full"], s["completed"])
    return [compare.compare(check="mmck_blocking", subject=service, phase=phase,
                            formula=f"P_K of M/M/c/K, c = {model['c']}, K = {model['k']}", measured=measured,
                            predicted=predicted, tolerance=tolerance(scenario, "blocking_probability"),
                            measured_spread=half_width(interval), measured_interval=interval,
                            note=f"ρ = {model['rho']:.2f}; {s['shed_queue_full']:.0f} of {s['completed']:.0f} shed")]


def envoy_settings(scenario: dict, service: str) -> dict:
    return scenario["services"][service].get("envoy") or scenario.get("envoy") or {}


def envoy_limit(scenario: dict, service: str, s: dict) -> tuple[int, int] | None:
    """(active limit, pending limit) when Envoy's breaker binds before the service's own queue."""
    breaker = envoy_settings(scenario, service).get("circuit_breaker") or {}
    active = min(breaker.get("max_requests", 1024), breaker.get("max_connections", 1024))
    replicas = max(1, round(s["ready_replicas"])) if not math.isnan(s["ready_replicas"]) else 1
    service_capacity = round(s["servers"]) + replicas * s["queue_limit"] if not math.isnan(s["servers"]) else math.inf
    if active >= service_capacity:
        return None
    return active, breaker.get("max_pending_requests", 1024)


def envoy_overflow(scenario: dict, phase: str, service: str, s: dict, envoy: dict) -> list[compare.Comparison]:
    """Envoy's breaker overflow 503s (UO) against M/M/c/K with K = active limit + pending limit."""
    limit = envoy_limit(scenario, service, s)
    model = queue_model(s)
    if limit is None or model is None:
        return []
    overflow = envoy["pending_overflow"] + envoy["active_overflow"]
    offered = s["completed"] + overflow
    if offered < MIN_COMPLETED:
        return []
    lam = model["lam"] * offered / s["completed"] if s["completed"] else model["lam"]  # arrivals at Envoy
    c = min(model["c"], limit[0])
    capacity = limit[0] + limit[1]
    predicted = queueing.mmck_blocking_probability(arrival_rate_per_second=lam, service_rate_per_second=model["mu"],
                                                   servers=c, capacity=capacity)
    measured = overflow / offered
    if max(measured, predicted) < MIN_PROBABILITY:
        return []
    if not model["steady_servers"]:
        return [compare.inconclusive(check="envoy_overflow", subject=service, phase=phase,
                                     formula="P_K of M/M/c/K, K = max_requests + max_pending", measured=measured,
                                     note=f"ready servers changed inside the window (scaling): no steady state; "
                                          f"{overflow:.0f} of {offered:.0f} overflowed")]
    if (abandoned := reneging(s)) is not None:
        return [compare.inconclusive(check="envoy_overflow", subject=service, phase=phase,
                                     formula="P_K of M/M/c/K, K = max_requests + max_pending", measured=measured,
                                     note=f"{abandoned}; {overflow:.0f} of {offered:.0f} overflowed")]
    interval = intervals.wilson_interval(overflow, offered)
    return [compare.compare(check="envoy_overflow", subject=service, phase=phase,
                            formula=f"P_K of M/M/c/K, c = {c}, K = max_requests + max_pending = {capacity}",
                            measured=measured, predicted=predicted, tolerance=tolerance(scenario, "blocking_probability"),
                            measured_spread=half_width(interval), measured_interval=interval,
                            note=f"λ at Envoy = {lam:.1f}/s, ρ = {lam / (c * model['mu']):.2f}; "
                                 f"{overflow:.0f} of {offered:.0f} overflowed")]


def littles_law(scenario: dict, phase: str, service: str, s: dict) -> list[compare.Comparison]:
    """L (mean in-flight gauge) against λ·W (completion rate × mean server-side duration)."""
    predicted = s["throughput_per_second"] * s["mean_response_seconds"]
    # Two standard errors of the gauge's mean. The variance is floored at the predicted mean (a
    # Poisson count's variance): a handful of 1 Hz samples that all read 0 prove nothing. Samples
    # are treated as independent, which holds while W is well under the 1 s scrape interval.
    samples = max(1, s["in_flight_samples"])
    floor = predicted if not math.isnan(predicted) else 0.0
    spread = 2 * math.sqrt(max(s["in_flight_variance"], floor) / samples)
    return [compare.compare(
        check="littles_law", subject=service, phase=phase, formula="L = λ·W", measured=s["mean_in_flight"],
        predicted=predicted, tolerance=tolerance(scenario, "littles_law"), measured_spread=spread,
        note=f"λ = {s['throughput_per_second']:.2f}/s, W = {s['mean_response_seconds'] * 1000:.1f} ms")]


# -- the chain --------------------------------------------------------------------------------------

def slo_composition(scenario: dict, phase: str, client: dict, servers: dict) -> list[compare.Comparison]:
    """The end-to-end violation rate against 1 − ∏(1 − p_i)^k_i of the per-service violation shares,
    k_i the times one request passes service i (a fan-out of k parallel calls passes it k times:
    the tail at scale)."""
    if "slo" not in client:
        return []
    components = {name: s["slo"] for name, s in servers.items() if "slo" in s}
    passes = extract.visits(scenario)
    fanned = any(passes.get(name, 1) > 1 for name in components)
    check, formula = "slo_composition", "1 − ∏(1 − p_i)^k_i" if fanned else "1 − ∏(1 − p_i)"
    measured = client["slo"]["violation_rate"]
    if not components:
        return [compare.inconclusive(check=check, subject="end-to-end", phase=phase, formula=formula,
                                     measured=measured, note="no per-service latency SLO in the scenario")]
    missing = [name for name, c in components.items() if math.isnan(c["violation_rate"]) or not c["requests"]]
    if missing:
        return [compare.inconclusive(check=check, subject="end-to-end", phase=phase, formula=formula,
                                     measured=measured, note=f"own-latency shares unknown for {', '.join(missing)}")]
    point, low, high = intervals.composition_interval([(c["violations"], c["requests"], passes.get(name, 1))
                                                       for name, c in components.items()])
    shares = ", ".join(f"{name} {100 * c['violation_rate']:.2f}%" + (f" ×{passes[name]}" if passes.get(name, 1) > 1 else "")
                       for name, c in components.items())
    measured_interval = tuple(client["slo"]["interval"]) if client["slo"]["interval"] else None
    return [compare.compare_interval(
        check=check, subject="end-to-end", phase=phase, formula=formula, measured=measured, predicted=point,
        predicted_interval=(low, high), measured_interval=measured_interval,
        note=f"p_i: {shares}; end-to-end above {client['slo']['latency_seconds'] * 1000:.0f} ms or failed: "
             f"{client['slo']['violations']} of {client['slo']['requests']}")]


def failure_share(s: dict, envoy: dict) -> tuple[float, float]:
    """(own failures, offered) at a service: its sheds plus its proxy's overflow, over all arrivals."""
    overflow = envoy["pending_overflow"] + envoy["active_overflow"]
    return s["shed"] + overflow, s["completed"] + overflow


def cascade(scenario: dict, phase: str, client: dict, servers: dict, envoys: dict) -> list[compare.Comparison]:
    """End-to-end goodput against the serial model ∏(1 − f_i) and the seed's cascade factor 0.3."""
    chain = [name for name in extract.chain_order(scenario) if name in servers]
    shares = []
    for name in chain:
        failures, offered = failure_share(servers[name], envoys[name])
        shares.append(failures / offered if offered else 0.0)
    if not shares or max(shares) < MIN_PROBABILITY or client["requests"] < MIN_COMPLETED:
        return []
    sent = client["requests"] - client["client_overflow"]
    measured = 1 - client["error_rate"] if client["requests"] else math.nan
    interval = intervals.wilson_interval(client["requests"] * measured, client["requests"])
    note = "f_i: " + ", ".join(f"{n} {100 * f:.1f}%" for n, f in zip(chain, shares)) + f"; {sent} requests sent"
    serial = math.prod(1 - f for f in shares)
    timed_out = (client.get("status_counts") or {}).get("timeout", 0)
    if timed_out / client["requests"] >= MIN_PROBABILITY:
        # the client gave up on requests the services may still have answered: its failures are
        # abandonment, which no service's failure share holds
        serial_row = compare.inconclusive(
            check="serial_goodput", subject="end-to-end", phase=phase, formula="∏(1 − f_i)", measured=measured,
            note=f"{note}; {timed_out} requests failed by the client's own timeout: not a service's failure share")
    else:
        serial_row = compare.compare(check="serial_goodput", subject="end-to-end", phase=phase, formula="∏(1 − f_i)",
                                     measured=measured, predicted=serial, tolerance=tolerance(scenario, "seed_models"),
                                     measured_spread=half_width(interval), measured_interval=interval, note=note)
    return [
        serial_row,
        compare.compare(check="seed_cascade", subject="end-to-end", phase=phase,
                        formula="g_i = (1 − f_i)(1 − 0.3(1 − g_{i+1}))", measured=measured,
                        predicted=seedmodels.seed_cascade_goodput_fraction(failure_probabilities=shares),
                        tolerance=tolerance(scenario, "seed_models"), measured_spread=half_width(interval),
                        measured_interval=interval, note=note, model=compare.SEED),
    ]


# -- retries ---------------------------------------------------------------------------------------
# Three kinds of layer retry: the client (its log), a caller's application retries (its attempts by
# number) and a service's Envoy (its proxy's counters). Each is held against the expected attempts
# per request under its own policy with the failure share p measured at that layer; the attempts
# arriving at each service per client request are held against the worst case ∏(r_k + 1).

ENVOY_RETRY_ON_COUNTED = ("5xx", "gateway-error", "retriable-status-codes")
"""Envoy ``retry_on`` tokens whose failures the dumps count (5xx answers and per-try timeouts)."""


def retry_layers(scenario: dict, phase: str, client: dict, servers: dict, envoys: dict) -> list[compare.Comparison]:
    """Every retry row of a phase: per layer, adaptive throttling, and the worst case per service."""
    return (client_retry_rows(scenario, phase, client) + call_retry_rows(scenario, phase, servers)
            + envoy_retry_rows(scenario, phase, servers, envoys) + worst_case_rows(scenario, phase, client, servers))


def layer_prediction(*, p: float, r: int, retry: dict, first_attempts_per_second: float,
                     throttled_share: float) -> tuple[float, str]:
    """Expected attempts per request at one layer under its policy, and the formula used.

    Plain retries (immediate or backed off alike): a(p, r) = (1 − p^(r+1))/(1 − p). Adaptive
    throttling withholds each attempt with the measured share P, so a retry follows a failure with
    q = p(1 − P): a(q, r) per request that sent its first try. A ratio budget β (plus a floor of m
    retries/s over λ first tries/s) caps retries per request at β + m/λ: 1 + min(a − 1, β + m/λ).
    """
    throttled = bool(retry.get("throttle")) and throttled_share > 0
    q = p * (1 - throttled_share) if throttled else p
    series, given = ("a(q, r)", ["q = p(1 − P)", f"r = {r}"]) if throttled else ("a(p, r)", [f"r = {r}"])
    budget = retry.get("budget")
    if budget is None:
        formula = series if throttled else "(1 − p^(r+1))/(1 − p)"
        return retries.retry_attempts_per_request(failure_probability=q, retries=r), ", ".join([formula, *given])
    floor = budget.get("min_retries_per_second", 0.0)
    beta = budget.get("ratio", 0.1) + (floor / first_attempts_per_second if floor and first_attempts_per_second > 0
                                       else 0.0)
    predicted = retries.retry_ratio_budget_attempts_per_request(failure_probability=q, retries=r, budget_ratio=beta)
    return predicted, ", ".join([f"1 + min({series} − 1, β)", *given, f"β = {beta:.3g}"])


def retry_row(*, phase: str, subject: str, p: float, r: int, retry: dict, measured: float, first_per_second: float,
              withheld: dict, attempts: float, tol: float, note: str) -> compare.Comparison:
    """One layer's attempts per request against its policy's prediction at the measured p."""
    throttled = withheld.get("throttled", 0.0)
    share = throttled / (attempts + throttled) if attempts + throttled else 0.0
    predicted, formula = layer_prediction(p=p, r=r, retry=retry, first_attempts_per_second=first_per_second,
                                          throttled_share=share)
    offered = first_per_second * predicted
    note = (f"{note}; p = {p:.3f}" + (f", P = {share:.3f}" if retry.get("throttle") else "")
            + f"; offered λ·a = {offered:.1f}/s at λ = {first_per_second:.1f}/s")
    cut = withheld.get("no_time_left", 0.0)
    requests = attempts / measured if measured else 0.0
    if cut and requests and cut / requests > tol * predicted / 2:
        return compare.inconclusive(check="retry_amplification", subject=subject, phase=phase, formula=formula,
                                    measured=measured, predicted=predicted,
                                    note=f"{note}; the deadline cut {cut:.0f} attempts, which the formula does not "
                                         "model, enough to move the measurement by half the tolerance")
    if cut:
        note += f"; the deadline cut {cut:.0f} attempts (too few to matter)"
    return compare.compare(check="retry_amplification", subject=subject, phase=phase, formula=formula,
                           measured=measured, predicted=predicted, tolerance=tol, note=note)


def throttle_row(*, scenario: dict, phase: str, subject: str, retry: dict, attempts: float, accepted: float,
                 throttled: float, span_seconds: float | None) -> list[compare.Comparison]:
    """The share of attempts adaptive throttling rejected against the SRE formula on the recorded
    counts, max(0, (requests − K·accepts)/(requests + 1)), requests = attempts sent + rejected."""
    throttle = retry.get("throttle")
    if not throttle:
        return []
    asked = attempts + throttled
    k, window = throttle.get("multiplier", 2.0), throttle.get("window_seconds", 120.0)
    formula = f"max(0, (requests − K·accepts)/(requests + 1)), K = {k:g}"
    if asked < MIN_COMPLETED:
        return []
    predicted = retries.adaptive_throttle_rejection_probability(requests=asked, accepts=min(accepted, asked),
                                                                multiplier=k)
    measured = throttled / asked
    if max(measured, predicted) < MIN_PROBABILITY:
        return []
    note = f"{throttled:.0f} of {asked:.0f} attempts rejected locally, {accepted:.0f} accepted"
    if span_seconds is not None and window > span_seconds:
        return [compare.inconclusive(check="adaptive_throttling", subject=subject, phase=phase, formula=formula,
                                     measured=measured, predicted=predicted,
                                     note=f"{note}; the throttle's {window:g} s window is longer than this "
                                          f"{span_seconds:.0f} s window: earlier phases weigh in its decisions")]
    interval = intervals.wilson_interval(throttled, asked)
    return [compare.compare(check="adaptive_throttling", subject=subject, phase=phase, formula=formula,
                            measured=measured, predicted=predicted,
                            tolerance=tolerance(scenario, "adaptive_throttling"),
                            measured_spread=half_width(interval), measured_interval=interval, note=note)]


def client_retry_rows(scenario: dict, phase: str, client: dict) -> list[compare.Comparison]:
    settings = scenario.get("client") or {}
    r, retry = settings.get("retries", 0), settings.get("retry") or {}
    attempts, withheld = client.get("attempts", 0), client.get("withheld") or {}
    subject = "client → " + scenario.get("entry", "gateway")
    rows = []
    if r and client.get("failed_attempts", 0) > 0 and attempts:
        rows.append(retry_row(phase=phase, subject=subject, p=client["failed_attempts"] / attempts, r=r, retry=retry,
                              measured=client["attempts_per_request"], withheld=withheld, attempts=attempts,
                              first_per_second=client.get("first_attempts_per_second", math.nan),
                              tol=tolerance(scenario, "retry_amplification"),
                              note="client retries; p = failed attempts / attempts"))
    rows += throttle_row(scenario=scenario, phase=phase, subject=subject, retry=retry, attempts=attempts,
                         accepted=client.get("accepted_attempts", 0), throttled=withheld.get("throttled", 0),
                         span_seconds=client.get("span_seconds"))
    return rows


def call_retry_rows(scenario: dict, phase: str, servers: dict) -> list[compare.Comparison]:
    """A caller's application retries from its own attempt counts (``attempt`` label)."""
    rows = []
    for caller, s in servers.items():
        for call in measures.calls_of(scenario, caller):
            made = (s.get("calls") or {}).get(call["service"])
            if not made or not made["first_attempts"]:
                continue
            subject, retry = f"{caller} → {call['service']}", call.get("retry") or {}
            if call.get("retries") and made["failed_attempts"] > 0:
                rows.append(retry_row(
                    phase=phase, subject=subject, p=made["failed_attempts"] / made["attempts"], r=call["retries"],
                    retry=retry, measured=made["attempts"] / made["first_attempts"], withheld=made["withheld"],
                    attempts=made["attempts"], first_per_second=made["first_attempts_per_second"],
                    tol=tolerance(scenario, "retry_amplification"),
                    note="application retries; p = the caller's failed attempts (5xx, timeouts, errors) / attempts"))
            rows += throttle_row(scenario=scenario, phase=phase, subject=subject, retry=retry,
                                 attempts=made["attempts"], accepted=made["attempts"] - made["failed_attempts"],
                                 throttled=made["withheld"].get("throttled", 0.0), span_seconds=None)
    return rows


def envoy_retry_rows(scenario: dict, phase: str, servers: dict, envoys: dict) -> list[compare.Comparison]:
    """Envoy route retries at a service, with the cap its retry limit puts on concurrent retries."""
    rows = []
    for name, s in servers.items():
        settings = envoy_settings(scenario, name)
        retry = settings.get("retry") or {}
        e = envoys[name]
        retries_done, r = e["retries"], retry.get("num_retries", 0)
        if not r or retries_done <= 0 or s["completed"] <= retries_done:
            continue
        originals = s["completed"] - retries_done
        measured = s["completed"] / originals
        retry_on = retry.get("retry_on", "")
        if not any(token in retry_on for token in ENVOY_RETRY_ON_COUNTED):
            rows.append(compare.inconclusive(
                check="retry_amplification", subject=f"Envoy → {name}", phase=phase,
                formula="(1 − p^(r+1))/(1 − p)", measured=measured,
                note=f"retry_on {retry_on!r}: failures of those kinds are not dumped, so p is unknown"))
            continue
        failures = s["server_errors"] + e["timeouts"] + e.get("per_try_timeouts", 0.0)
        p = min(1.0, failures / s["completed"])
        rows.append(envoy_retry_row(scenario, phase, name, s, e, retry=retry, p=p, measured=measured,
                                    originals_share=originals / s["completed"]))
    return rows


def envoy_retry_row(scenario: dict, phase: str, name: str, s: dict, e: dict, *, retry: dict, p: float,
                    measured: float, originals_share: float) -> compare.Comparison:
    """a(p, r) with retries capped by Envoy's concurrency limit: max_retries, or the retry budget
    max(min_retry_concurrency, budget_percent × active), through Little's law with the measured mean
    attempt time T (``retries.retry_budget_offered_load_per_second``)."""
    breaker, r = envoy_settings(scenario, name).get("circuit_breaker") or {}, retry["num_retries"]
    budget = breaker.get("retry_budget")
    percent, minimum = ((budget["budget_percent"], budget["min_retry_concurrency"]) if budget
                        else (0.0, breaker.get("max_retries", 3)))
    lam = s["arrival_rate_per_second"] * originals_share
    attempt_seconds = s["mean_response_seconds"]
    plain = retries.retry_attempts_per_request(failure_probability=p, retries=r)
    limit = (f"retry budget {percent:g} %, min {minimum}" if budget else f"max_retries {minimum}")
    note = (f"Envoy retries; p = the service's 5xx and the proxy's timeouts over attempts: p = {p:.3f}; "
            f"{e.get('retry_overflow', 0):.0f} retries refused by the {limit}")
    if lam > 0 and attempt_seconds and not math.isnan(attempt_seconds) and percent < 100:
        predicted = retries.retry_budget_offered_load_per_second(
            arrival_rate_per_second=lam, failure_probability=p, retries=r, mean_attempt_seconds=attempt_seconds,
            budget_percent=percent, min_retry_concurrency=minimum) / lam
    else:
        predicted = plain
    formula = f"(1 − p^(r+1))/(1 − p), r = {r}"
    span, patience = envoy_tries_seconds(retry), callers_timeout(scenario, name)
    if span is not None and patience is not None and patience < span:
        note += (f"; the callers give up after {patience * 1000:.0f} ms, before Envoy's tries may end "
                 f"({span * 1000:.0f} ms): a retry due after that is never made")
    if predicted < plain * (1 - 1e-9):
        formula = f"1 + min(a(p, r) − 1, cap/λ), cap = max(m/T, λf/(1 − f)), r = {r}"
        note += f"; the {limit} binds at T = {attempt_seconds * 1000:.0f} ms, λ = {lam:.1f}/s"
    return compare.compare(check="retry_amplification", subject=f"Envoy → {name}", phase=phase, formula=formula,
                           measured=measured, predicted=predicted, tolerance=tolerance(scenario, "retry_amplification"),
                           note=note)


ENVOY_BACKOFF_BASE_SECONDS, ENVOY_BACKOFF_CAP_SECONDS = 0.025, 0.25
"""Envoy's default ``retry_back_off`` (the renderer sets none): retry N waits U[0, min(cap, (2^N − 1)·base))."""


def envoy_tries_seconds(retry: dict) -> float | None:
    """The longest an Envoy route's tries take with a per-try timeout: every try timing out after its
    longest back-off; None without a per-try timeout (the route timeout bounds them all)."""
    per_try, r = retry.get("per_try_timeout_seconds"), retry.get("num_retries", 0)
    if not per_try:
        return None
    waits = sum(min(ENVOY_BACKOFF_CAP_SECONDS, (2**n - 1) * ENVOY_BACKOFF_BASE_SECONDS) for n in range(1, r + 1))
    return (r + 1) * per_try + waits


def callers_timeout(scenario: dict, service: str) -> float | None:
    """The shortest per-attempt timeout of those who call ``service`` (the client for the entry)."""
    timeouts = [call.get("timeout_seconds", 2.0) for spec in scenario["services"].values()
                for call in spec.get("calls") or [] if call["service"] == service]
    if service == scenario.get("entry", "gateway"):
        timeouts.append((scenario.get("client") or {}).get("timeout_seconds", 5.0))
    return min(timeouts, default=None)


def layer_factors(scenario: dict, client: dict, servers: dict) -> dict[str, tuple[float, float, list[str]]]:
    """Per service reachable from the entry: (its arrivals per client request without retries, at
    most with every retry spent, the retrying layers above it). Each layer multiplies by r + 1, or
    by 1 + min(r, β + m/λ) under a ratio budget; fan-out by ``parallel``."""
    entry = scenario.get("entry", "gateway")
    settings = scenario.get("client") or {}

    def factor(r: int, retry: dict, first_per_second: float) -> float:
        budget = (retry or {}).get("budget")
        if budget is None:
            return float(r + 1)
        floor = budget.get("min_retries_per_second", 0.0)
        beta = budget.get("ratio", 0.1) + (floor / first_per_second if floor and first_per_second > 0 else 0.0)
        return retries.retry_ratio_budget_attempts_per_request(failure_probability=1.0, retries=r, budget_ratio=beta)

    memo: dict[str, tuple[float, float, list[str]]] = {}

    def reach(service: str) -> tuple[float, float, list[str]]:
        if service in memo:
            return memo[service]
        if service == entry:
            r = settings.get("retries", 0)
            base, worst = 1.0, factor(r, settings.get("retry"), client.get("first_attempts_per_second", 0.0))
            layers = [layer_text("client", r, worst)] if r else []
        else:
            base, worst, layers = 0.0, 0.0, []
            for caller, spec in scenario["services"].items():
                for call in spec.get("calls") or []:
                    if call["service"] != service or caller not in reachable:
                        continue
                    b, w, above = reach(caller)
                    made = ((servers.get(caller) or {}).get("calls") or {}).get(service) or {}
                    parallel, r = call.get("parallel", 1), call.get("retries", 0)
                    times = factor(r, call.get("retry"), made.get("first_attempts_per_second", 0.0))
                    base += b * parallel
                    worst += w * parallel * times
                    layers += above + ([layer_text(f"{caller} → {service}", r, times)] if r else [])
        envoy_r = (envoy_settings(scenario, service).get("retry") or {}).get("num_retries", 0)
        if envoy_r:
            worst *= envoy_r + 1
            layers = layers + [f"Envoy → {service} r = {envoy_r}"]
        memo[service] = (base, worst, list(dict.fromkeys(layers)))
        return memo[service]

    reachable = set(extract.chain_order(scenario))
    return {service: reach(service) for service in extract.chain_order(scenario)}


def layer_text(layer: str, r: int, times: float) -> str:
    return f"{layer} r = {r}" + ("" if times == r + 1 else f" (×{times:.3g} under its budget)")


def worst_case_rows(scenario: dict, phase: str, client: dict, servers: dict) -> list[compare.Comparison]:
    """Attempts arriving at each service per client request against the worst case: every layer
    above spends all its retries, ∏(r_k + 1) — (r + 1)^depth when each of depth layers retries r times."""
    sent = client.get("first_attempts_per_second", 0.0)
    if not sent or client.get("requests", 0) < MIN_COMPLETED:
        return []
    rows = []
    for service, (base, worst, layers) in layer_factors(scenario, client, servers).items():
        s = servers.get(service)
        if s is None or worst <= base * (1 + 1e-9):
            continue
        measured = s["arrival_rate_per_second"] / sent
        rows.append(compare.at_most(
            check="retry_worst_case", subject=service, phase=phase,
            formula=f"∏(r_k + 1) over {len(layers)} retrying layer{'s' * (len(layers) != 1)}", measured=measured,
            bound=worst, tolerance=tolerance(scenario, "retry_amplification"),
            note=f"{'; '.join(layers)}; {base:g} arrival{'s' * (base != 1)} per request without retries; measured "
                 f"{s['arrival_rate_per_second']:.1f}/s at {service} over {sent:.1f} requests/s sent"))
    return rows


# -- seed toy models -------------------------------------------------------------------------------

def seed_p99(scenario: dict, phase: str, client: dict, servers: dict) -> list[compare.Comparison]:
    """p99 ≈ 4.6 × W, end to end (client) and per service (server-side histograms)."""
    tol = tolerance(scenario, "seed_models")
    rows = []
    if client["requests"] >= 10 * MIN_COMPLETED and not math.isnan(client["mean_ok_latency_ms"]):
        rows.append(compare.compare(check="seed_p99", subject="end-to-end", phase=phase, formula="p99 ≈ 4.6·W",
                                    measured=client["p99_ms"] / 1000,
                                    predicted=seedmodels.seed_p99_response_time_seconds(
                                        mean_response_time_seconds=client["mean_ok_latency_ms"] / 1000),
                                    tolerance=tol, model=compare.SEED, note="exact for M/M/1 only"))
    for name, s in servers.items():
        if s["completed"] < 10 * MIN_COMPLETED or math.isnan(s["mean_response_seconds"]):
            continue
        rows.append(compare.compare(check="seed_p99", subject=name, phase=phase, formula="p99 ≈ 4.6·W",
                                    measured=s["p99_ms"] / 1000,
                                    predicted=seedmodels.seed_p99_response_time_seconds(
                                        mean_response_time_seconds=s["mean_response_seconds"]),
                                    tolerance=tol, model=compare.SEED,
                                    note="server side, downstream calls included; p99 from the histogram"))
    return rows


def seed_shed(scenario: dict, phase: str, servers: dict, envoys: dict) -> list[compare.Comparison]:
    """Where a service is offered more than its capacity, its success share against the fixed 0.8."""
    rows = []
    for name, s in servers.items():
        rho = s["offered_utilisation"]
        failures, offered = failure_share(s, envoys[name])
        if math.isnan(rho) or offered < MIN_COMPLETED:
            continue
        rho_offered = rho * offered / s["completed"] if s["completed"] else rho
        if rho_offered < 1:
            continue
        measured = 1 - failures / offered
        interval = intervals.wilson_interval(offered - failures, offered)
        rows.append(compare.compare(check="seed_shed", subject=name, phase=phase, formula="success = 0.8 once ρ ≥ 1",
                                    measured=measured,
                                    predicted=seedmodels.seed_shed_success_fraction(utilisation=rho_offered),
                                    tolerance=tolerance(scenario, "seed_models"),
                                    measured_spread=half_width(interval), measured_interval=interval,
                                    model=compare.SEED,
                                    note=f"offered ρ = {rho_offered:.2f}; the fluid limit says {min(1, 1 / rho_offered):.2f}"))
    return rows


def seed_hpa_lag(scenario: dict, timeline: dict) -> list[compare.Comparison]:
    """Each measured scale-up lag (analysis/tables/lagtimeline.py) against the seed's constant 30 s."""
    rows = []
    for up in timeline.get("scale_ups", []):
        formula, phase = "T_lag = 30 s", up.get("load_step_phase") or "–"
        if up.get("lag_seconds") is None:
            rows.append(compare.inconclusive(check="seed_hpa_lag", subject=up["service"], phase=phase,
                                             formula=formula, model=compare.SEED,
                                             note="no load step before the decision or no replica became ready"))
            continue
        rows.append(compare.compare(check="seed_hpa_lag", subject=up["service"], phase=phase, formula=formula,
                                    measured=up["lag_seconds"], predicted=seedmodels.seed_hpa_lag_seconds(),
                                    tolerance=tolerance(scenario, "seed_models"), model=compare.SEED,
                                    note="from the load step to the first new replica ready"))
    return rows


# -- all of them -----------------------------------------------------------------------------------

def phase_checks(scenario: dict, phase: str, client: dict, servers: dict, envoys: dict) -> list[compare.Comparison]:
    """Every check of one phase window, textbook rows first, then seed rows."""
    rows: list[compare.Comparison] = []
    for name, s in servers.items():
        rows += mmc_mean_response(scenario, phase, name, s)
        rows += mmc_p99(scenario, phase, name, s)
        rows += service_blocking(scenario, phase, name, s, envoys[name])
        rows += envoy_overflow(scenario, phase, name, s, envoys[name])
        rows += littles_law(scenario, phase, name, s)
    rows += slo_composition(scenario, phase, client, servers)
    rows += retry_layers(scenario, phase, client, servers, envoys)
    rows += cascade(scenario, phase, client, servers, envoys)
    rows += seed_p99(scenario, phase, client, servers)
    rows += seed_shed(scenario, phase, servers, envoys)
    return rows
