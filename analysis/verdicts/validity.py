"""Can this run's numbers be trusted? A verdict from checks that need no knowledge of what broke. Pure.

A testbed's worst failure is a confident report of a broken experiment: a hop silently bypassed,
a Prometheus that stopped scraping, a load generator that fell behind. Each check here tests an
invariant any sound run satisfies, so it catches such defects without knowing their cause:

- **flow conservation** along the call graph, over the whole run: what the callers sent to a
  service's proxy (the client's attempts for the entry service, each caller's downstream-call
  histogram otherwise) equals what that proxy received (``http.<svc>.downstream_rq_total``), and
  what the proxy forwarded (``cluster.<svc>.upstream_rq_total``, retries included; its own 503s
  for breaker overflow or no healthy host are never forwarded) equals what the service's replicas
  counted (their request histogram). A mismatch that a recorded death or outage of that hop
  explains degrades the run; any other makes it invalid;
- **scrape coverage**: every target scraped for its whole life; a window where Prometheus scraped
  nothing at all (it was down) or one target went unscraped is a gap, marked on every plot;
- **the load generator**: every arrival sent (no ``client_overflow``), sent on time (the first
  attempt's lag behind its intended start), and arrivals per phase consistent with the scenario's
  schedule (the expected count of the window, from ``scenario.json``'s ``expected_arrivals``, so
  ramps, sines and bursts are judged by their own integral); a phase where the generator fell
  behind has its client-side verdicts withheld. A closed-loop client has no schedule to keep: its
  rows say ``closed`` and nothing is judged for it (its report says the rate followed the system);
- **the testbed's own processes**: an Envoy or Prometheus that died is an outage window (degraded
  if it came back, invalid if not); a replica that died without a fault that explains it, or
  Locust dying, degrades the run; a run whose runner never finished is truncated;
- **the scenario's faults** are the experiment, not defects: a replica its ``kill`` fault killed,
  and the requests lost with it, leave the run valid (the loss is noted); an Envoy fault filter's
  own answers are counted with the other answers a proxy gives itself. A scheduled fault that could
  not be applied degrades the run: it did not get the damage it was meant to.

``assess`` returns ``{"status": valid|degraded|invalid, "reasons": [...], ...}``; an invalid run's
theory verdicts are withheld by the report (``withheld``, neither pass nor fail).
"""
from __future__ import annotations

import math

from analysis.tables import extract

VALID, DEGRADED, INVALID = "valid", "degraded", "invalid"
SEVERITY = {VALID: 0, DEGRADED: 1, INVALID: 2}

FLOW_SLACK_REQUESTS = 3
"""Absolute slack of a flow comparison: a request in flight across the final scrape."""
FLOW_SLACK_SHARE = 0.002
"""Relative slack of a flow comparison (0.2 % of the larger count)."""
END_SAMPLE_SECONDS = 5.0
"""A replica's in-flight series that ends this close to the run's last scrape was still there at the end."""
GAP_SECONDS = 2.5
"""Points further apart than this (1 s steps) are a scrape gap; Prometheus' lookback is 3 s here."""
LATE_SEND_SECONDS = 0.010
"""A first attempt leaving more than this after its intended start was sent late."""
LAG_SHARE_OF_P99 = 0.05
"""Latency counts from the intended start, so a send lag adds to the measured latency: a phase
whose send-lag p99 exceeds both LATE_SEND_SECONDS and this share of its measured p99 latency had a
generator that fell behind (its own delay would read as more than 5 % of the system's tail)."""
ARRIVAL_Z = 5.0
"""Arrivals in a phase further than this many Poisson standard deviations from λ·T are not the
scenario's process (a generator defect, not noise: |z| > 5 happens once in 1.7 million phases)."""


def reason(severity: str, check: str, message: str, **fields) -> dict:
    return {"severity": severity, "check": check, "message": message, **fields}


def assess(run: extract.Run) -> dict:
    """The validity verdict of a run with its reasons and the tables behind them."""
    flow = flow_table(run)
    gaps = scrape_gaps(run)
    generator = generator_table(run)
    outages = outage_windows(run)
    reasons = (flow_reasons(run, flow) + gap_reasons(run, gaps) + generator_reasons(generator)
               + process_reasons(run, outages) + fault_reasons(run) + completeness_reasons(run))
    status = max((r["severity"] for r in reasons), key=SEVERITY.get, default=VALID)
    return {"status": status, "reasons": sorted(reasons, key=lambda r: -SEVERITY[r["severity"]]),
            "flow": flow, "gaps": gaps, "generator": generator, "outages": outages, "faults": fault_windows(run),
            "generator_behind_phases": [g["phase"] for g in generator if g["behind"]]}


# -- flow conservation ---------------------------------------------------------------------------

def total(series_list: list[extract.Series], **labels: str) -> float:
    """Whole-run increase of the matching counters (resets counted, series born mid-run from 0)."""
    return sum(extract.counter_increase(s, -math.inf, math.inf) for s in extract.select(series_list, **labels))


def callers_of(scenario: dict, service: str) -> list[str]:
    return [name for name, spec in scenario["services"].items()
            if any(call["service"] == service for call in (spec.get("calls") or []))]


def calls_per_request(scenario: dict, caller: str, service: str) -> int:
    """How many calls to ``service`` one request of ``caller`` makes at most (``parallel`` per call step)."""
    return sum(call.get("parallel", 1) for call in (scenario["services"][caller].get("calls") or [])
               if call["service"] == service)


def flow_table(run: extract.Run) -> list[dict]:
    """Per service, the counts along its hop: sent by callers → received by its proxy → forwarded →
    counted by its replicas. ``sent_low`` leaves out attempts that never got an answer, at every hop
    alike: a connection refused never reached the proxy, and a caller's timeout may or may not have
    (a propagated deadline can leave an attempt too little time to be written before it expires)."""
    s = run.series
    if not s.get("envoy_downstream_rq") or not s.get("request_count"):
        return []
    rows = []
    for service in run.services:
        if service == run.scenario.get("entry", "gateway"):
            sent = [r for r in run.requests if r.outcome != "client_overflow"]
            sent_high = float(sum(r.attempts for r in sent))
            sent_low = float(sum(r.answered_attempts for r in sent))
            senders = ["client"]
        else:
            senders = callers_of(run.scenario, service)
            calls = extract.select(s.get("downstream_count", []), target=service)
            # a caller's histogram counts a call once it ends: calls still open at the end are on the upper side
            sent_high = sum(extract.counter_increase(x, -math.inf, math.inf) for x in calls) + sum(
                in_flight_at_end(s.get("in_flight", []), caller) * calls_per_request(run.scenario, caller, service)
                for caller in senders)
            sent_low = sum(extract.counter_increase(x, -math.inf, math.inf) for x in calls
                           if x.labels.get("code") not in ("error", "timeout"))
        rows.append({
            "service": service, "senders": senders, "sent_low": sent_low, "sent_high": sent_high,
            "proxy_received": total(s["envoy_downstream_rq"], envoy_http_conn_manager_prefix=service),
            "proxy_forwarded": total(s.get("envoy_upstream_rq", []), envoy_cluster_name=service),
            "proxy_retries": total(s.get("envoy_retries", []), envoy_cluster_name=service),
            "proxy_answered_itself": sum(total(s.get(name, []), envoy_cluster_name=service) for name in
                                         ("envoy_pending_overflow", "envoy_active_overflow", "envoy_none_healthy"))
            + total(s.get("envoy_fault_aborts", []), envoy_http_conn_manager_prefix=service),
            "replicas_counted": total(s["request_count"], service=service),
            "in_flight_at_end": in_flight_at_end(s.get("in_flight", []), service),
        })
    return rows


def in_flight_at_end(series_list: list[extract.Series], service: str) -> float:
    """Requests the service's replicas were still working on at the last scrape of the run: its
    proxy forwarded them, but no replica has counted them yet (the runner waits for the stack to
    drain, so this is 0 unless it did not in time). A replica that left the run earlier is not in it."""
    series = [x for x in extract.select(series_list, service=service) if x.times]
    if not series:
        return 0.0
    last = max(x.times[-1] for x in series)
    return sum(x.values[-1] for x in series if x.times[-1] >= last - END_SAMPLE_SECONDS)


def slack(*counts: float) -> float:
    return max(FLOW_SLACK_REQUESTS, FLOW_SLACK_SHARE * max(counts, default=0.0))


def flow_reasons(run: extract.Run, flow: list[dict]) -> list[dict]:
    if not run.series.get("request_count"):
        return [reason(INVALID, "flow", "no server-side series were dumped from Prometheus, so nothing the services "
                                        "measured can be checked or shown")]
    if not flow:
        return [reason(DEGRADED, "flow", "flow conservation was not checked: this run has no proxy request "
                                         "counters (it predates them, or their dump failed)")]
    disturbed = disturbed_services(run)
    unintended = set(disturbed_services(run, intended=False))
    reasons = []
    for row in flow:
        service, received = row["service"], row["proxy_received"]
        problems = []
        if received < row["sent_low"] - slack(received, row["sent_low"]) or \
                received > row["sent_high"] + slack(received, row["sent_high"]):
            sent = (f"{row['sent_low']:.0f}" if row["sent_low"] == row["sent_high"]
                    else f"{row['sent_low']:.0f}–{row['sent_high']:.0f}")
            problems.append(f"{' and '.join(row['senders'])} sent {sent} requests to its proxy, which counted "
                            f"{received:.0f}")
        forwarded, counted = row["proxy_forwarded"], row["replicas_counted"]
        in_flight = row.get("in_flight_at_end", 0.0)
        if not counted - slack(forwarded, counted) <= forwarded <= counted + in_flight + slack(forwarded, counted):
            still = f" and {in_flight:.0f} still in flight at the end" if in_flight else ""
            problems.append(f"its proxy forwarded {forwarded:.0f} requests to its replicas, which counted "
                            f"{counted:.0f}{still}")
        if not problems:
            continue
        explained = disturbed.get(service)
        intended = explained is not None and service not in unintended
        severity = VALID if intended else DEGRADED if explained else INVALID
        message = f"flow not conserved at {service}: " + "; ".join(problems)
        if explained:
            message += f" (accounted for by {explained})"
        reasons.append(reason(severity, "flow", message, subject=service))
    return reasons


def disturbed_services(run: extract.Run, *, intended: bool = True) -> dict[str, str]:
    """Service → what explains lost counts on its hop: a replica or proxy that died, or an
    interrupted or truncated run (requests in flight at the stop were counted by one side only).
    With ``intended=False``, only what the scenario did not ask for (a kill fault's deaths left out)."""
    explained: dict[str, str] = {}
    for event in run.events:
        if event["type"] == "pod_died" and not intended and explained_by_fault(run, event):
            continue
        if event["type"] == "pod_died":
            cause = "the scenario's kill of" if explained_by_fault(run, event) else "replica"
            explained.setdefault(event.get("service", ""), f"{cause} {event.get('pod')} dying mid-run")
        elif event["type"] == "process_died" and event.get("role") == "envoy":
            explained.setdefault(event.get("service", ""), f"the restart of {event.get('process')}")
    finished = [e for e in run.events if e["type"] == "run_finished"]
    if not finished or finished[-1].get("interrupted"):
        for service in run.services:
            explained.setdefault(service, "requests in flight when the run stopped early")
    return explained


# -- scrape coverage ---------------------------------------------------------------------------------

def gaps_in(times: list[float]) -> list[tuple[float, float]]:
    """(start, end) of every stretch longer than GAP_SECONDS between consecutive points."""
    return [(a, b) for a, b in zip(times, times[1:]) if b - a > GAP_SECONDS]


def scrape_gaps(run: extract.Run) -> list[dict]:
    """Windows with no scrape: of Prometheus itself (no target at all) and of single targets."""
    series = [s for s in run.series.get("up", [])]
    if not series:
        return []
    scraped = {s.labels.get("instance", ""): [t for t, v in zip(s.times, s.values) if v >= 1] for s in series}
    everything = sorted({t for times in scraped.values() for t in times})
    gaps = [{"target": "prometheus", "start": a, "end": b} for a, b in gaps_in(everything)]
    for instance, times in sorted(scraped.items()):
        for a, b in gaps_in(times):
            if not any(g["start"] <= a and b <= g["end"] for g in gaps if g["target"] == "prometheus"):
                gaps.append({"target": instance, "start": a, "end": b})
    return gaps


def gap_reasons(run: extract.Run, gaps: list[dict]) -> list[dict]:
    if not run.series.get("up") and run.series.get("request_count"):
        return [reason(DEGRADED, "scrapes", "scrape coverage was not checked: this run has no `up` series "
                                            "(it predates them, or their dump failed)")]
    reasons = []
    for gap in gaps:
        length = gap["end"] - gap["start"]
        where = f"t = {gap['start'] - run.origin:.0f}–{gap['end'] - run.origin:.0f} s"
        if gap["target"] == "prometheus":
            message = (f"Prometheus scraped nothing for {length:.0f} s ({where}): no server-side sample exists "
                       "there; rates span the gap and the plots break at it")
        else:
            message = f"target {gap['target']} was not scraped for {length:.0f} s ({where})"
        reasons.append(reason(DEGRADED, "scrapes", message, start=gap["start"], end=gap["end"]))
    return reasons


# -- the load generator ------------------------------------------------------------------------------

def generator_table(run: extract.Run) -> list[dict]:
    """Per phase: arrivals, how many were sent and how late, and whether the generator kept up;
    judged over the phase's measurement window, the span its tails are reported for."""
    rows = []
    loop = run.scenario.get("client", {}).get("kind", "open")
    for phase in run.phases:
        start, end = run.window(phase)
        inside = extract.within_window(run.requests, start, end)
        if loop == "closed":
            rows.append(closed_loop_row(phase, inside, start, end))
            continue
        sent = [r for r in inside if r.outcome != "client_overflow"]
        lags = sorted(r.send_lag_seconds for r in sent)
        late = sum(1 for lag in lags if lag > LATE_SEND_SECONDS)
        lag_p99 = quantile(lags, 0.99)
        latency_p99 = quantile(sorted(r.latency_seconds for r in sent), 0.99)
        expected = phase.expected_arrivals(start, end)
        z = (len(inside) - expected) / math.sqrt(expected) if expected > 0 else 0.0
        dropped = len(inside) - len(sent)
        rows.append({
            "phase": phase.name, "loop": "open", "arrivals": len(inside), "expected_arrivals": expected, "arrival_z": z,
            "sent": len(sent), "dropped": dropped,
            "achieved_rate_per_second": len(sent) / (end - start) if end > start else math.nan,
            "send_lag_p50_ms": quantile(lags, 0.50) * 1000, "send_lag_p99_ms": lag_p99 * 1000,
            "latency_p99_ms": latency_p99 * 1000, "late": late, "late_share": late / len(sent) if sent else 0.0,
            "sent_late": bool(sent) and lag_p99 > LATE_SEND_SECONDS and lag_p99 > LAG_SHARE_OF_P99 * latency_p99,
            "behind": False,
            "arrivals_off": abs(z) > ARRIVAL_Z,
        })
        rows[-1]["behind"] = dropped > 0 or rows[-1]["sent_late"]
    return rows


def closed_loop_row(phase: extract.Phase, inside: list[extract.Request], start: float, end: float) -> dict:
    """A closed loop's phase: what it sent, nothing judged (its users follow the system's speed)."""
    return {"phase": phase.name, "loop": "closed", "arrivals": len(inside), "expected_arrivals": None,
            "arrival_z": None, "sent": len(inside), "dropped": 0,
            "achieved_rate_per_second": len(inside) / (end - start) if end > start else math.nan,
            "send_lag_p50_ms": math.nan, "send_lag_p99_ms": math.nan,
            "latency_p99_ms": quantile(sorted(r.latency_seconds for r in inside), 0.99) * 1000,
            "late": 0, "late_share": 0.0, "sent_late": False, "behind": False, "arrivals_off": False}


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def generator_reasons(generator: list[dict]) -> list[dict]:
    reasons = []
    for row in generator:
        if row["behind"]:
            parts = []
            if row["dropped"]:
                parts.append(f"dropped {row['dropped']} of {row['arrivals']} arrivals (client max_in_flight reached)")
            if row["sent_late"]:
                parts.append(f"sent late: send lag p99 {row['send_lag_p99_ms']:.0f} ms against a p99 latency of "
                             f"{row['latency_p99_ms']:.0f} ms ({100 * row['late_share']:.1f} % of requests more than "
                             f"{LATE_SEND_SECONDS * 1000:.0f} ms late)")
            reasons.append(reason(DEGRADED, "generator", f"the load generator fell behind in {row['phase']}: "
                                  + "; ".join(parts) + "; its client-side tails and verdicts are withheld",
                                  phase=row["phase"]))
        if row["arrivals_off"]:
            reasons.append(reason(INVALID, "generator", f"{row['phase']} had {row['arrivals']} arrivals where the "
                                  f"scenario's rate gives {row['expected_arrivals']:.0f} ± "
                                  f"{math.sqrt(row['expected_arrivals']):.0f}: the load was not the scenario's",
                                  phase=row["phase"]))
    return reasons


# -- the testbed's own processes -----------------------------------------------------------------

def outage_windows(run: extract.Run) -> list[dict]:
    """Envoy/Prometheus outages from ``process_died`` to ``process_recovered`` (or the run's end)."""
    end = max((e["time"] for e in run.events), default=0.0)
    windows = []
    for event in run.events:
        if event["type"] != "process_died" or event.get("role") not in ("envoy", "prometheus"):
            continue
        recovered = [e["time"] for e in run.events if e["type"] == "process_recovered"
                     and e.get("process") == event.get("process") and e["time"] >= event["time"]]
        windows.append({"process": event.get("process"), "role": event.get("role"), "service": event.get("service"),
                        "start": event["time"], "end": min(recovered) if recovered else end,
                        "recovered": bool(recovered)})
    return merged_outages(windows)


def merged_outages(windows: list[dict]) -> list[dict]:
    """One window per outage of a process (a death during its own restart extends it)."""
    merged: list[dict] = []
    for window in sorted(windows, key=lambda w: w["start"]):
        last = next((m for m in reversed(merged) if m["process"] == window["process"]), None)
        if last is not None and window["start"] <= last["end"]:
            last["end"], last["recovered"] = max(last["end"], window["end"]), window["recovered"]
            continue
        merged.append(dict(window))
    return merged


def process_reasons(run: extract.Run, outages: list[dict]) -> list[dict]:
    reasons = []
    for window in outages:
        where = f"t = {window['start'] - run.origin:.1f} s"
        if window["recovered"]:
            reasons.append(reason(DEGRADED, "processes", f"{window['process']} died at {where} and served again "
                                  f"{window['end'] - window['start']:.1f} s later (restarted by the backend); the "
                                  "outage is shaded on the plots", start=window["start"], end=window["end"]))
        else:
            reasons.append(reason(INVALID, "processes", f"{window['process']} died at {where} and never served "
                                  "again: the rest of the run measured a broken testbed",
                                  start=window["start"], end=window["end"]))
    for event in run.events:
        if event["type"] == "pod_died" and not explained_by_fault(run, event):
            reasons.append(reason(DEGRADED, "processes", f"replica {event.get('pod')} died at "
                                  f"t = {event['time'] - run.origin:.1f} s (code {event.get('returncode')}) without "
                                  "a fault that explains it; its requests in flight were lost"))
        if event["type"] == "process_died" and event.get("role") == "locust":
            reasons.append(reason(DEGRADED, "processes", f"Locust exited with code {event.get('returncode')} at "
                                  f"t = {event['time'] - run.origin:.1f} s: the load stopped there"))
    return reasons


def explained_by_fault(run: extract.Run, death: dict) -> bool:
    """The scenario's kill of this replica at or before its death (a kill is the experiment). A
    fault event of an older run, without ``phase``, explains any death on its service after it."""
    for event in run.events:
        if event["type"] != "fault" or event.get("service") != death.get("service") or event["time"] > death["time"]:
            continue
        if "phase" not in event:
            return True
        if event["phase"] == "start" and event.get("kind") == "kill" and death.get("pod") in event.get("pods", []):
            return True
    return False


# -- the scenario's faults --------------------------------------------------------------------------

def fault_windows(run: extract.Run) -> list[dict]:
    """Each scheduled fault that took effect, from its ``start`` event to its ``end`` (or the run's
    last event if it never ended): fault, kind, service, label, pods, start, end, ended."""
    last = max((e["time"] for e in run.events), default=0.0)
    windows: dict[int, dict] = {}
    instants = []
    for event in run.events:
        if event["type"] != "fault":
            continue
        if "phase" not in event:  # an older run's instant fault
            instants.append({"fault": None, "kind": event.get("kind", ""), "service": event.get("service", ""),
                             "label": f"{event.get('kind', 'fault')} {event.get('service', '')}".strip(),
                             "pods": event.get("pods", []), "start": event["time"], "end": event["time"],
                             "ended": True})
        elif event["phase"] == "start":
            windows[event["fault"]] = {key: event.get(key) for key in ("fault", "kind", "service", "label", "pods")}
            windows[event["fault"]].update(start=event["time"], end=last, ended=False)
        elif event["phase"] == "end" and event.get("fault") in windows:
            windows[event["fault"]].update(end=event["time"], ended=True)
    return sorted(list(windows.values()) + instants, key=lambda w: (w["start"], w["fault"] or 0))


def fault_reasons(run: extract.Run) -> list[dict]:
    reasons = []
    for event in run.events:
        if event["type"] == "fault" and event.get("phase") == "failed":
            started = event.get("step") != "start"
            consequence = ("it held on past its window" if started else
                           "the run did not get the damage its scenario describes")
            reasons.append(reason(DEGRADED, "faults", f"the scheduled fault {event.get('label')!r} could not "
                                  f"{'be cleared' if started else 'start'} at t = {event['time'] - run.origin:.1f} s: "
                                  f"{event.get('reason')}; {consequence}", fault=event.get("fault")))
    return reasons


def completeness_reasons(run: extract.Run) -> list[dict]:
    if any(e["type"] == "run_finished" for e in run.events):
        return []
    until = max((p.end for p in run.phases), default=run.origin)
    return [reason(DEGRADED, "completeness", f"the runner never finished (killed?): the report covers what was "
                   f"measured until t = {until - run.origin:.0f} s")]
