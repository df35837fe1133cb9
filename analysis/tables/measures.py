"""What a run measured inside one window: the client's view and each service's queue. Pure.

Everything the comparisons feed into a formula comes from here, measured, never taken from the
scenario's intentions (docs/analysis.md: predictions use the *measured* λ, μ and c):

- λ, the arrival rate at a service: completed requests per second, every status (sheds included);
- μ, the service rate of one server: ``tailstorm_work_duration_seconds`` count / sum (1 / mean S);
- c, the servers: per replica ``tailstorm_servers`` × ``tailstorm_ready``, summed, averaged over
  the window's scrapes (a replica that is not ready takes no traffic, so it does not serve);
- the service's *own* response time (queueing + work, without its downstream calls): for a
  service that calls nobody, its request-duration histogram; otherwise Wq + S, with the mean wait
  Wq from Little's law on the queue-depth gauge (Wq = Lq / λ);
- per-service latency-SLO violation shares from the histogram of that own latency, and the
  end-to-end share from the client's log, each with a Wilson interval;
- the client's view per request class (``client.classes``): the same measures on each class's
  requests, from the log's ``class`` column; per tenant, what each service's bulkheads refused
  (``tailstorm_tenant_rejected_total``);
- retries at each layer: the client's attempts from its log, each caller's attempts by number and
  what its retry policy withheld (:func:`call_stats`), each proxy's retry counters (:func:`envoy_stats`).

Functions take a loaded :class:`extract.Run` and a window [start, end) in epoch seconds.
"""
from __future__ import annotations

import math
import random
import statistics

from analysis.formulas import intervals
from analysis.tables import extract

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}



def nearest_rank(sorted_values: list[float], quantile: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(quantile * len(sorted_values)) - 1))]


def count_by(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def interval_or_none(low: float, high: float) -> list[float] | None:
    return None if any(math.isnan(v) or math.isinf(v) for v in (low, high)) else [low, high]


# -- the client's view ---------------------------------------------------------------------------

def client_stats(run: extract.Run, start: float, end: float) -> dict:
    """End to end, as the client saw it, for requests *intended* to start inside the window; with
    ``client.classes``, the same measures per class under ``classes.<name>`` (each also with its
    share of the window's arrivals)."""
    inside = extract.within_window(run.requests, start, end)
    stats = requests_stats(run.scenario, inside, start, end)
    names = class_names(run.scenario)
    if names:
        stats["classes"] = {}
        for name in names:
            mine = [r for r in inside if r.request_class == name]
            stats["classes"][name] = {**requests_stats(run.scenario, mine, start, end),
                                      "arrival_share": len(mine) / len(inside) if inside else math.nan}
    return stats


def class_names(scenario: dict) -> list[str]:
    """The scenario's request classes in their order (``client.classes``); [] without classes."""
    return [c["name"] for c in (scenario.get("client") or {}).get("classes") or []]


def requests_stats(scenario: dict, inside: list[extract.Request], start: float, end: float) -> dict:
    """The client's measures of these requests, all intended to start inside [start, end)."""
    sent = [r for r in inside if r.outcome != "client_overflow"]
    ok = [r for r in sent if r.ok]
    everything = sorted(r.latency_seconds for r in sent)
    span = end - start
    attempts = sum(r.attempts for r in sent)
    tried = [r for r in sent if r.attempts]
    mean, low, high = intervals.batch_means_interval([r.latency_seconds for r in ok])
    stats = {
        "requests": len(inside),
        "offered_rate_per_second": len(inside) / span,
        "throughput_per_second": len(ok) / span,
        "error_rate": (len(inside) - len(ok)) / len(inside) if inside else math.nan,
        "client_overflow": len(inside) - len(sent),
        "status_counts": count_by(r.outcome for r in inside),
        "mean_ok_latency_ms": mean * 1000,
        "mean_ok_latency_interval_ms": scaled(interval_or_none(low, high), 1000),
        "attempts": attempts,
        "attempts_per_request": attempts / len(tried) if tried else math.nan,
        "failed_attempts": attempts - len(ok),
        # the retry policy's own view: requests that sent a first attempt, answers below 500, and
        # what it held back (a request's first attempt throttled, a retry over budget, no time left)
        "span_seconds": span,
        "requests_tried": len(tried),
        "first_attempts_per_second": len(tried) / span,
        "accepted_attempts": sum(r.accepted_attempts for r in sent),
        "withheld": count_by(r.withheld for r in sent if r.withheld),
        # refused for their tenant (a bulkhead's 429, passed back along the chain): answered, not failed
        "rejected": sum(1 for r in sent if r.status == 429),
    }
    stats.update({f"{name}_ms": nearest_rank(everything, q) * 1000 for name, q in QUANTILES.items()})
    threshold = end_to_end_threshold(scenario)
    if threshold is not None:
        violations = sum(1 for r in inside if not r.ok or r.latency_seconds > threshold)
        stats["slo"] = {"latency_seconds": threshold, "violations": violations, "requests": len(inside),
                        "violation_rate": violations / len(inside) if inside else math.nan,
                        "interval": interval_or_none(*intervals.wilson_interval(violations, len(inside)))}
    return stats


def scaled(pair: list[float] | None, factor: float) -> list[float] | None:
    return None if pair is None else [v * factor for v in pair]


def end_to_end_threshold(scenario: dict) -> float | None:
    slo = scenario.get("slo") or {}
    return (slo.get("end_to_end") or {}).get("latency_seconds")


def service_threshold(scenario: dict, service: str) -> float | None:
    slo = scenario.get("slo") or {}
    return ((slo.get("services") or {}).get(service) or {}).get("latency_seconds")


# -- one service's queue -------------------------------------------------------------------------

def calls_of(scenario: dict, service: str) -> list[dict]:
    return list(scenario["services"][service].get("calls") or [])


def effective(scenario: dict, service: str) -> dict:
    """The work model ``service``'s replicas ran (servers, queue limit, service time, shards, work):
    the runner writes it into ``scenario.json`` with the services' own defaults filled in."""
    try:
        return scenario["effective_services"][service]
    except KeyError:
        raise extract.RunDataError(f"scenario.json has no effective_services.{service}: the run predates it; "
                                   "run the scenario again") from None


def queue_limit_of(scenario: dict, service: str) -> int:
    return int(effective(scenario, service)["queue_limit"])


def service_time_of(scenario: dict, service: str) -> tuple[dict, int]:
    """(service-time spec, shards) as the replica runs them."""
    model = effective(scenario, service)
    return model["service_time"], int(model.get("shards", 1))


def service_scv(scenario: dict, service: str) -> float:
    """Squared coefficient of variation of one request's service time (the max over its shards).

    Exponential 1, deterministic 0, lognormal e^(σ²) − 1; with shards > 1 the request holds its
    server for the slowest shard, whose SCV is computed by a seeded sampling (stdlib only).
    """
    spec, shards = service_time_of(scenario, service)
    kind, sigma = spec.get("distribution", "exponential"), spec.get("sigma", 0.5)
    if shards == 1 or kind == "deterministic":
        return {"exponential": 1.0, "deterministic": 0.0}.get(kind, math.expm1(sigma**2))
    rng = random.Random(0)
    draw = (lambda: rng.expovariate(1.0)) if kind == "exponential" else (lambda: rng.lognormvariate(0.0, sigma))
    samples = [max(draw() for _ in range(shards)) for _ in range(20_000)]
    return statistics.variance(samples) / statistics.fmean(samples) ** 2


def capacity_samples(run: extract.Run, service: str, start: float, end: float) -> list[float]:
    """Per scrape inside the window, Σ over the service's replicas of servers × ready."""
    servers = {s.labels.get("replica"): s for s in extract.select(run.series["servers"], service=service)}
    ready = {s.labels.get("replica"): s for s in extract.select(run.series["ready"], service=service)}
    times = sorted({t for s in servers.values() for t in s.times if start <= t <= end})
    samples = []
    for t in times:
        total = 0.0
        for replica, series in servers.items():
            count = extract.value_at(series, t)
            flag = extract.value_at(ready[replica], t) if replica in ready else 1.0
            if count is not None and flag is not None and series.times[-1] >= t - 1.5:
                total += count * flag
        samples.append(total)
    return samples


def ratio_of_counters(numerator: list, denominator: list, start: float, end: float) -> tuple[float, float, float]:
    """(Σ numerator increase / Σ denominator increase, low, high) by batch means over the scrapes."""
    top, bottom = extract.paired_increments(numerator, denominator, start, end)
    return intervals.ratio_batch_interval(top, bottom)


def service_stats(run: extract.Run, service: str, start: float, end: float) -> dict:
    """One service over the window, from its own histograms and gauges (all replicas)."""
    s = run.series
    total = lambda name, reducer, default=0.0: extract.sum_by(  # noqa: E731
        extract.select(s[name], service=service), "service", reducer, start, end).get(service, default)
    arrival_rate = total("request_count", extract.counter_rate)
    completed = total("request_count", extract.counter_increase)
    served_rate = total("work_count", extract.counter_rate)
    work_count = total("work_count", extract.counter_increase)
    work_seconds = total("work_sum", extract.counter_increase)
    mean_service = work_seconds / work_count if work_count else math.nan
    capacity = capacity_samples(run, service, start, end)
    servers = statistics.fmean(capacity) if capacity else math.nan
    busy = total("busy_servers", extract.gauge_mean, math.nan)
    queue = total("queue_depth", extract.gauge_mean, math.nan)
    in_flight = in_flight_samples(run, service, start, end)
    mean_ok, ok_low, ok_high = ratio_of_counters(extract.select(s["request_sum"], service=service, code="200"),
                                                 extract.select(s["request_count"], service=service, code="200"),
                                                 start, end)
    buckets = extract.bucket_increases(s["request_bucket"], service=service, start=start, end=end)
    shed_full = sum(extract.counter_increase(x, start, end)
                    for x in extract.select(s["shed"], service=service, reason="queue_full"))
    rejected_series = extract.select(s.get("tenant_rejected", []), service=service)
    refused = extract.sum_by(rejected_series, "tenant", extract.counter_increase, start, end)
    admitted_rate = arrival_rate - sum(extract.sum_by(rejected_series, "tenant", extract.counter_rate, start, end).values())
    replicas = len({x.labels.get("replica") for x in extract.select(s["servers"], service=service)
                    if any(start <= t <= end for t in x.times)})
    stats = {
        "throughput_per_second": arrival_rate,
        "arrival_rate_per_second": arrival_rate,
        "served_rate_per_second": served_rate,
        "completed": completed,
        "work_completed": work_count,
        "ok_completed": sum(extract.counter_increase(x, start, end)
                            for x in extract.select(s["request_count"], service=service, code="200")),
        "server_errors": sum(extract.counter_increase(x, start, end) for x in extract.select(s["request_count"],
                             service=service) if x.labels.get("code", "").startswith("5")),
        "mean_response_seconds": total("request_sum", extract.counter_increase) / completed if completed else math.nan,
        "mean_ok_response_seconds": mean_ok,
        "mean_ok_response_interval_seconds": interval_or_none(ok_low, ok_high),
        "mean_service_seconds": mean_service,
        "service_rate_per_second": 1 / mean_service if mean_service and not math.isnan(mean_service) else math.nan,
        "servers": servers,
        "servers_range": [min(capacity), max(capacity)] if capacity else None,
        "replicas_seen": replicas,
        "queue_limit": queue_limit_of(run.scenario, service),
        "mean_queue_depth": queue,
        "mean_in_flight": statistics.fmean(in_flight) if in_flight else math.nan,
        "in_flight_variance": statistics.variance(in_flight) if len(in_flight) > 1 else math.inf,
        "in_flight_samples": len(in_flight),
        "utilisation": busy / servers if servers else math.nan,
        "offered_utilisation": admitted_rate * mean_service / servers if servers and work_count else math.nan,
        "shed": total("shed", extract.counter_increase),
        "shed_queue_full": shed_full,
        # answered 429 by a tenant bulkhead, per tenant (a capped tenant reads 0 until refused)
        "tenant_rejected": refused,
        # what passed the bulkheads: the arrivals the station (queue and servers) saw
        "admitted": completed - sum(refused.values()),
        "admitted_rate_per_second": admitted_rate,
        "ready_replicas": total("ready", extract.gauge_mean, math.nan),
        # process CPU of all replicas (what CPU-based autoscaling sees), in cores
        "cpu_cores": total("cpu_seconds", extract.counter_rate, math.nan),
    }
    stats.update(replica_balance(run, service, start, end))
    stats["cpu_cores_per_replica"] = (stats["cpu_cores"] / stats["ready_replicas"]
                                      if stats["ready_replicas"] and not math.isnan(stats["ready_replicas"]) else math.nan)
    stats.update({f"{name}_ms": extract.histogram_quantile(q, buckets) * 1000 for name, q in QUANTILES.items()})
    stats.update(own_response(run, service, stats, start, end))
    stats["calls"] = {call["service"]: call_stats(run, service, call["service"], start, end)
                      for call in calls_of(run.scenario, service)}
    threshold = service_threshold(run.scenario, service)
    if threshold is not None:
        stats["slo"] = own_violations(run, service, threshold, start, end)
    return stats


def replica_balance(run: extract.Run, service: str, start: float, end: float) -> dict:
    """How the load balancer spread the window's requests: the share the slowest replica (highest
    mean response time) served, and its mean response against the others'."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for name, target in (("request_count", counts), ("request_sum", sums)):
        for series in extract.select(run.series.get(name, []), service=service):
            replica = series.labels.get("replica", "")
            target[replica] = target.get(replica, 0.0) + extract.counter_increase(series, start, end)
    served = {replica: n for replica, n in counts.items() if n > 0}
    if len(served) < 2:
        return {"slowest_replica_share": math.nan, "slowest_replica_mean_seconds": math.nan,
                "other_replicas_mean_seconds": math.nan}
    means = {replica: sums.get(replica, 0.0) / n for replica, n in served.items()}
    slowest = max(means, key=means.get)
    others = [r for r in served if r != slowest]
    return {"slowest_replica_share": served[slowest] / sum(served.values()),
            "slowest_replica_mean_seconds": means[slowest],
            "other_replicas_mean_seconds": sum(sums.get(r, 0.0) for r in others) / sum(served[r] for r in others)}


def call_stats(run: extract.Run, caller: str, target: str, start: float, end: float) -> dict:
    """The caller's calls to ``target`` as its retry policy saw them: attempts by number (0 the first
    try), those that failed (5xx, timeout, connection error), what the policy withheld, by reason."""
    series = extract.select(run.series.get("downstream_attempts", []), service=caller, target=target)
    by_number: dict[str, float] = {}
    failed = 0.0
    for s in series:
        increase = extract.counter_increase(s, start, end)
        number = s.labels.get("attempt", "0")
        by_number[number] = by_number.get(number, 0.0) + increase
        if s.labels.get("code", "")[:1] not in ("2", "3", "4"):
            failed += increase
    first_rates = [extract.counter_rate(s, start, end) for s in series if s.labels.get("attempt") == "0"]
    withheld = extract.sum_by(extract.select(run.series.get("downstream_withheld", []), service=caller,
                                             target=target), "reason", extract.counter_increase, start, end)
    return {"attempts": sum(by_number.values()), "first_attempts": by_number.get("0", 0.0),
            "attempts_by_number": dict(sorted(by_number.items(), key=lambda item: int(item[0]))),
            "failed_attempts": failed, "first_attempts_per_second": sum(r for r in first_rates if r is not None),
            "withheld": {reason: count for reason, count in withheld.items() if count}}


def own_response(run: extract.Run, service: str, stats: dict, start: float, end: float) -> dict:
    """The service's own response time (queueing + work), with how it was measured."""
    if not calls_of(run.scenario, service):
        interval = stats["mean_ok_response_interval_seconds"]
        # the wait alone (W − S per scrape interval): its interval is what a comparison with a model
        # fed the same measured S can be sure of, since S is common to measurement and prediction
        durations, counts = extract.paired_increments(
            extract.select(run.series["request_sum"], service=service, code="200"),
            extract.select(run.series["request_count"], service=service, code="200"), start, end)
        work = dict(extract.increments(extract.select(run.series["work_sum"], service=service), start, end))
        times = [t for t, _ in extract.increments(extract.select(run.series["request_sum"], service=service,
                                                                 code="200"), start, end)]
        waits = [d - work.get(t, 0.0) for d, t in zip(durations, times)] if len(times) == len(durations) else []
        wait, low, high = intervals.ratio_batch_interval(waits, counts) if waits else (math.nan,) * 3
        return {"own_response_seconds": stats["mean_ok_response_seconds"], "own_response_interval_seconds": interval,
                "mean_wait_seconds": wait, "mean_wait_interval_seconds": interval_or_none(low, high),
                "own_response_source": "request-duration histogram (the service calls nobody)"}
    rate = stats["served_rate_per_second"]
    times, depths = extract.sampled_sum(run.series["queue_depth"], "service", service)
    depths = [v for t, v in zip(times, depths) if start <= t <= end]
    queue, queue_low, queue_high = intervals.batch_means_interval(depths)
    work, work_low, work_high = ratio_of_counters(extract.select(run.series["work_sum"], service=service),
                                                  extract.select(run.series["work_count"], service=service),
                                                  start, end)
    wait = queue / rate if rate else math.nan
    own = wait + work
    # the two halves are estimated from different counters: add their half-widths in quadrature
    half = math.hypot((queue_high - queue_low) / 2 / rate if rate else math.inf, (work_high - work_low) / 2)
    wait_half = (queue_high - queue_low) / 2 / rate if rate else math.inf
    return {"own_response_seconds": own, "own_response_interval_seconds": interval_or_none(own - half, own + half),
            "mean_wait_seconds": wait, "mean_wait_interval_seconds": interval_or_none(wait - wait_half, wait + wait_half),
            "own_response_source": "Wq + S: Little's law on the queue-depth gauge plus the measured service time"}


def own_violations(run: extract.Run, service: str, threshold: float, start: float, end: float) -> dict:
    """Share of the service's requests whose own latency exceeded ``threshold``, with a Wilson interval."""
    if not calls_of(run.scenario, service):
        source, series = "request-duration histogram", run.series["request_bucket"]
    elif run.series.get("work_bucket"):
        source, series = "work-duration histogram (service time only; queueing not included)", run.series["work_bucket"]
    else:
        return {"latency_seconds": threshold, "violations": math.nan, "requests": math.nan, "violation_rate": math.nan,
                "interval": None, "source": "unavailable: the service calls others and no work-duration buckets "
                                            "were dumped, so its own latency distribution is unknown"}
    buckets = extract.bucket_increases(series, service=service, start=start, end=end)
    above, count = extract.fraction_above(threshold, buckets)
    exact = extract.is_bucket_bound(threshold, buckets)
    return {"latency_seconds": threshold, "violations": above, "requests": count,
            "violation_rate": above / count if count else math.nan,
            "interval": interval_or_none(*intervals.wilson_interval(above, count)) if count else None,
            "source": source + ("" if exact else "; threshold inside a bucket, count interpolated")}


def in_flight_samples(run: extract.Run, service: str, start: float, end: float) -> list[float]:
    """The service's in-flight gauge summed over replicas, one value per scrape inside the window."""
    times, values = extract.sampled_sum(run.series["in_flight"], "service", service)
    return [v for t, v in zip(times, values) if start <= t <= end]


def envoy_stats(run: extract.Run, service: str, start: float, end: float) -> dict:
    """Counters of the Envoy cluster that fronts ``service`` (its proxy's upstream cluster)."""
    names = {"pending_overflow": "envoy_pending_overflow", "active_overflow": "envoy_active_overflow",
             "ejections": "envoy_ejections", "retries": "envoy_retries", "timeouts": "envoy_timeouts",
             "retry_overflow": "envoy_retry_overflow", "per_try_timeouts": "envoy_per_try_timeouts"}
    return {key: extract.sum_by(run.series.get(name, []), "envoy_cluster_name", extract.counter_increase, start,
                                end).get(service, 0.0) for key, name in names.items()}
