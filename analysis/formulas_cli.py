"""``tailstorm formulas``: a calculator for every prediction the testbed checks.

Each subcommand evaluates one model from ``queueing``, ``tails``, ``retries``, ``lagmodel`` or
``seedmodels`` and prints a table (quantity, value, unit); ``--json`` prints the same numbers as
one JSON object. Input outside a model's domain (say utilisation >= 1) exits with status 2 and
the formula's own sentence, no traceback. ``tailstorm formulas -h`` lists the subcommands;
``docs/formulas.md`` shows each with its output.
"""

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Callable, Sequence

from analysis import lagmodel, queueing, retries, seedmodels, tails

PROG = "tailstorm formulas"


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    """Machine name, the key in ``--json`` output."""
    label: str
    """What a person reads in the table."""
    value: float | bool
    unit: str = ""


@dataclasses.dataclass(frozen=True)
class Report:
    command: str
    title: str
    inputs: dict[str, object]
    rows: list[Row]


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def _format_value(value: float | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if math.isinf(value):
        return "inf"
    return f"{value:.7g}"


def render_table(report: Report) -> str:
    """The human-readable form: a title, the inputs, and an aligned quantity/value/unit table."""
    inputs = ", ".join(f"{name} {_format_input(value)}" for name, value in report.inputs.items())
    header = ("quantity", "value", "unit")
    body = [(row.label, _format_value(row.value), row.unit) for row in report.rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(3)]
    lines = [report.title, f"inputs: {inputs}", ""]
    for label, value, unit in [header, *body]:
        lines.append(f"{label:<{widths[0]}}  {value:>{widths[1]}}  {unit}".rstrip())
    return "\n".join(lines)


def _format_input(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_format_input(item) for item in value)
    if isinstance(value, float):
        return _format_value(value)
    return str(value)


def render_json(report: Report) -> str:
    """The machine form: command, title, inputs, results (key → value) and units (key → unit)."""
    return json.dumps(
        {
            "command": report.command,
            "title": report.title,
            "inputs": report.inputs,
            "results": {row.key: row.value for row in report.rows},
            "units": {row.key: row.unit for row in report.rows},
        },
        indent=2,
        ensure_ascii=False,
    )


# --------------------------------------------------------------------------------------------
# One handler per subcommand: parsed arguments in, a Report out. Formulas raise ValueError.
# --------------------------------------------------------------------------------------------


def _rates(args: argparse.Namespace) -> dict[str, float]:
    return {"arrival_rate_per_second": args.arrival_rate, "service_rate_per_second": args.service_rate}


def _slo(args: argparse.Namespace) -> Report:
    serial = tails.slo_serial_failure_probability(failure_probabilities=args.p)
    rows = [
        Row("independent_failure_probability", "end-to-end failure, independent 1 - prod(1 - p_i)", serial),
        Row("independent_availability", "end-to-end availability, independent", 1.0 - serial),
        Row(
            "fully_correlated_failure_probability",
            "end-to-end failure, fully correlated max(p_i)",
            tails.slo_correlated_failure_probability(failure_probabilities=args.p, correlation=1.0),
        ),
    ]
    inputs: dict[str, object] = {"p": args.p}
    if args.correlation is not None:
        inputs["correlation"] = args.correlation
        mixed = tails.slo_correlated_failure_probability(
            failure_probabilities=args.p, correlation=args.correlation
        )
        rows.append(
            Row("correlated_failure_probability", "end-to-end failure, correlation r (stated model)", mixed)
        )
    return Report("slo", "SLO composition along a serial chain", inputs, rows)


def _budget(args: argparse.Namespace) -> Report:
    if not 0.0 <= args.slo <= 1.0:
        raise ValueError(f"slo {args.slo:g} must lie in [0, 1] (a success ratio such as 0.999)")
    budget = tails.slo_budget_per_service_failure_probability(
        end_to_end_failure_probability=1.0 - args.slo, services=args.services
    )
    rows = [
        Row("per_service_failure_budget", "per-service failure budget 1 - (1 - p)^(1/N)", budget),
        Row("per_service_slo", "per-service SLO", 1.0 - budget),
        Row(
            "naive_per_service_failure_budget",
            "naive split p/N (for comparison)",
            (1.0 - args.slo) / args.services,
        ),
    ]
    return Report(
        "budget",
        "Error-budget split over N services in series",
        {"slo": args.slo, "services": args.services},
        rows,
    )


def _fanout(args: argparse.Namespace) -> Report:
    rows = [
        Row(
            "request_slow_probability",
            "requests slow, 1 - (1 - p)^K",
            tails.fanout_slow_probability(leaf_slow_probability=args.p, fanout=args.k),
        ),
        Row(
            "leaf_quantile_needed",
            f"leaf quantile needed for a request p{_percent(args.quantile)}, q^(1/K)",
            tails.fanout_leaf_quantile(request_quantile=args.quantile, fanout=args.k),
        ),
    ]
    inputs = {"p": args.p, "k": args.k, "quantile": args.quantile}
    return Report("fanout", "Tail at scale: one request fans out to K leaves", inputs, rows)


def _hedge(args: argparse.Namespace) -> Report:
    def latency_quantile(*, hedge_quantile: float, quantile: float) -> float:
        return tails.hedged_exponential_latency_quantile_seconds(
            mean_latency_seconds=args.mean_latency, hedge_quantile=hedge_quantile, quantile=quantile
        )

    hedged = latency_quantile(hedge_quantile=args.hedge_quantile, quantile=args.quantile)
    # Hedging at a quantile at or above the one reported changes nothing: the unhedged value.
    unhedged = latency_quantile(hedge_quantile=args.quantile, quantile=args.quantile)
    delay = (
        latency_quantile(hedge_quantile=args.hedge_quantile, quantile=args.hedge_quantile)
        if (args.hedge_quantile > 0)
        else 0.0
    )
    label = f"p{_percent(args.quantile)}"
    rows = [
        Row("unhedged_quantile_seconds", f"{label} latency, no hedging", unhedged, "s"),
        Row(
            "hedged_quantile_seconds",
            f"{label} latency, hedged at p{_percent(args.hedge_quantile)}",
            hedged,
            "s",
        ),
        Row("hedge_delay_seconds", "hedge delay d", delay, "s"),
        Row(
            "extra_request_fraction",
            "extra requests sent",
            tails.hedged_extra_request_fraction(hedge_quantile=args.hedge_quantile),
        ),
    ]
    inputs: dict[str, object] = {
        "mean_latency": args.mean_latency,
        "hedge_quantile": args.hedge_quantile,
        "quantile": args.quantile,
    }
    if args.p is not None:
        inputs["p"] = args.p
        rows.append(
            Row(
                "both_slow_probability",
                "bimodal model: both copies slow, p^2",
                tails.hedged_exceedance_probability(
                    first_exceedance_probability=args.p, hedge_exceedance_probability=args.p
                ),
            )
        )
    return Report("hedge", "Hedged requests: exponential latency, second copy after d", inputs, rows)


def _percent(quantile: float) -> str:
    return f"{100.0 * quantile:g}"


def _quantile_rows(quantile_of: Callable[[float], float], quantiles: Sequence[float], what: str) -> list[Row]:
    return [
        Row(
            f"{what.replace(' ', '_')}_p{_percent(q).replace('.', '_')}_seconds",
            f"{what} p{_percent(q)}",
            quantile_of(q),
            "s",
        )
        for q in quantiles
    ]


def _mm1(args: argparse.Namespace) -> Report:
    rates = _rates(args)
    mean = queueing.mm1_mean_response_time_seconds(**rates)
    rows = [
        Row("utilisation", "utilisation rho = lambda/mu", queueing.utilisation(**rates)),
        Row(
            "mean_wait_seconds",
            "mean wait Wq = rho/(mu - lambda)",
            queueing.mm1_mean_wait_seconds(**rates),
            "s",
        ),
        Row("mean_response_time_seconds", "mean response time W = 1/(mu - lambda)", mean, "s"),
        Row("mean_number_in_system", "mean number in system L", queueing.mm1_mean_number_in_system(**rates)),
        *_quantile_rows(
            lambda q: queueing.mm1_response_time_quantile_seconds(quantile=q, **rates),
            args.quantiles,
            "response time",
        ),
        Row(
            "seed_p99_seconds",
            "seed toy p99 = 4.6 x W",
            seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=mean),
            "s",
        ),
    ]
    return Report("mm1", "M/M/1 (Poisson arrivals, exponential service, FCFS)", _rate_inputs(args), rows)


def _rate_inputs(args: argparse.Namespace, *extra: str) -> dict[str, object]:
    inputs: dict[str, object] = {"arrival_rate": args.arrival_rate, "service_rate": args.service_rate}
    for name in extra:
        inputs[name] = getattr(args, name)
    return inputs


def _mmc(args: argparse.Namespace) -> Report:
    rates = {**_rates(args), "servers": args.servers}
    mean = queueing.mmc_mean_response_time_seconds(**rates)
    rows = [
        Row(
            "offered_load_erlangs",
            "offered load A = lambda/mu",
            queueing.offered_load_erlangs(**_rates(args)),
            "erlang",
        ),
        Row("utilisation", "utilisation rho = A/c", queueing.utilisation(**rates)),
        Row("wait_probability", "P(wait > 0), Erlang C", queueing.mmc_wait_probability(**rates)),
        Row(
            "mean_wait_seconds",
            "mean wait Wq = C/(c mu - lambda)",
            queueing.mmc_mean_wait_seconds(**rates),
            "s",
        ),
        Row("mean_response_time_seconds", "mean response time W = Wq + 1/mu", mean, "s"),
        Row("mean_number_in_system", "mean number in system L", queueing.mmc_mean_number_in_system(**rates)),
        *_quantile_rows(
            lambda q: queueing.mmc_wait_time_quantile_seconds(quantile=q, **rates), args.quantiles, "wait"
        ),
        *_quantile_rows(
            lambda q: queueing.mmc_response_time_quantile_seconds(quantile=q, **rates),
            args.quantiles,
            "response time",
        ),
        Row(
            "seed_p99_seconds",
            "seed toy p99 = 4.6 x W",
            seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=mean),
            "s",
        ),
    ]
    return Report(
        "mmc",
        "M/M/c with Erlang C (Poisson arrivals, exponential service, FCFS)",
        _rate_inputs(args, "servers"),
        rows,
    )


def _mmck(args: argparse.Namespace) -> Report:
    rates = {**_rates(args), "servers": args.servers, "capacity": args.capacity}
    rows = [
        Row(
            "offered_utilisation",
            "offered utilisation lambda/(c mu)",
            queueing.utilisation(servers=args.servers, **_rates(args)),
        ),
        Row(
            "blocking_probability",
            "blocking probability P(N = K) (503 overflow)",
            queueing.mmck_blocking_probability(**rates),
        ),
        Row(
            "throughput_per_second",
            "admitted throughput lambda (1 - P_K)",
            queueing.mmck_throughput_per_second(**rates),
            "1/s",
        ),
        Row("mean_number_in_system", "mean number in system L", queueing.mmck_mean_number_in_system(**rates)),
        Row("mean_wait_seconds", "mean wait of admitted", queueing.mmck_mean_wait_seconds(**rates), "s"),
        Row(
            "mean_response_time_seconds",
            "mean response time of admitted",
            queueing.mmck_mean_response_time_seconds(**rates),
            "s",
        ),
    ]
    title = "M/M/c/K: capacity K = in service + queued (Envoy max_requests + max_pending_requests)"
    return Report("mmck", title, _rate_inputs(args, "servers", "capacity"), rows)


def _erlang(args: argparse.Namespace) -> Report:
    rows = [
        Row(
            "erlang_b",
            "Erlang B: blocking of M/M/c/c",
            queueing.erlang_b(offered_load_erlangs=args.load, servers=args.servers),
        )
    ]
    if args.load < args.servers:
        rows.append(
            Row(
                "erlang_c",
                "Erlang C: P(wait > 0) in M/M/c",
                queueing.erlang_c(offered_load_erlangs=args.load, servers=args.servers),
            )
        )
    return Report("erlang", "Erlang B and C tables", {"load": args.load, "servers": args.servers}, rows)


def _md1(args: argparse.Namespace) -> Report:
    rates = _rates(args)
    rows = [
        Row("utilisation", "utilisation rho", queueing.utilisation(**rates)),
        Row(
            "mean_wait_seconds",
            "mean wait Wq = rho/(2 mu (1 - rho))",
            queueing.md1_mean_wait_seconds(**rates),
            "s",
        ),
        Row(
            "mean_response_time_seconds",
            "mean response time W",
            queueing.md1_mean_response_time_seconds(**rates),
            "s",
        ),
        Row("mean_number_in_system", "mean number in system L", queueing.md1_mean_number_in_system(**rates)),
        Row(
            "mm1_mean_wait_seconds",
            "M/M/1 mean wait (for comparison)",
            queueing.mm1_mean_wait_seconds(**rates),
            "s",
        ),
    ]
    return Report("md1", "M/D/1 (Pollaczek-Khinchine, constant service)", _rate_inputs(args), rows)


def _mg1(args: argparse.Namespace) -> Report:
    rates = {**_rates(args), "service_scv": args.cs2}
    rows = [
        Row("utilisation", "utilisation rho", queueing.utilisation(**_rates(args))),
        Row(
            "mean_wait_seconds",
            "mean wait Wq = rho (1 + cs2)/(2 mu (1 - rho))",
            queueing.mg1_mean_wait_seconds(**rates),
            "s",
        ),
        Row(
            "mean_response_time_seconds",
            "mean response time W",
            queueing.mg1_mean_response_time_seconds(**rates),
            "s",
        ),
    ]
    return Report("mg1", "M/G/1 (Pollaczek-Khinchine, service SCV cs2)", _rate_inputs(args, "cs2"), rows)


def _kingman(args: argparse.Namespace) -> Report:
    variability = {"arrival_scv": args.ca2, "service_scv": args.cs2}
    if args.servers == 1:
        wait = queueing.kingman_mean_wait_seconds(**_rates(args), **variability)
        response = queueing.kingman_mean_response_time_seconds(**_rates(args), **variability)
        title = "Kingman G/G/1 approximation"
    else:
        rates = {**_rates(args), "servers": args.servers}
        wait = queueing.allen_cunneen_mean_wait_seconds(**rates, **variability)
        response = queueing.allen_cunneen_mean_response_time_seconds(**rates, **variability)
        title = "Allen-Cunneen G/G/c approximation"
    rows = [
        Row("utilisation", "utilisation rho", queueing.utilisation(servers=args.servers, **_rates(args))),
        Row("mean_wait_seconds", "mean wait Wq (approx.)", wait, "s"),
        Row("mean_response_time_seconds", "mean response time W (approx.)", response, "s"),
    ]
    return Report("kingman", title, _rate_inputs(args, "servers", "ca2", "cs2"), rows)


def _little(args: argparse.Namespace) -> Report:
    given = {"arrival_rate": args.arrival_rate, "mean_time": args.mean_time, "mean_number": args.mean_number}
    inputs = {name: value for name, value in given.items() if value is not None}
    if len(inputs) != 2:
        raise ValueError(
            "give exactly two of --arrival-rate, --mean-time and --mean-number; Little's law finds the third"
        )
    if args.mean_number is None:
        row = Row(
            "mean_number_in_system",
            "mean number in system L = lambda W",
            queueing.little_mean_number_in_system(
                arrival_rate_per_second=args.arrival_rate, mean_time_in_system_seconds=args.mean_time
            ),
        )
    elif args.mean_time is None:
        row = Row(
            "mean_time_in_system_seconds",
            "mean time in system W = L/lambda",
            queueing.little_mean_time_in_system_seconds(
                mean_number_in_system=args.mean_number, arrival_rate_per_second=args.arrival_rate
            ),
            "s",
        )
    else:
        row = Row(
            "throughput_per_second",
            "throughput lambda = L/W",
            queueing.little_throughput_per_second(
                mean_number_in_system=args.mean_number, mean_time_in_system_seconds=args.mean_time
            ),
            "1/s",
        )
    return Report("little", "Little's law L = lambda W", inputs, [row])


def _knee(args: argparse.Namespace) -> Report:
    rows = [
        Row(
            f"response_time_at_{_percent(rho).replace('.', '_')}_percent_seconds",
            f"W at rho = {rho:g}",
            queueing.knee_mean_response_time_seconds(
                mean_service_time_seconds=args.service_time, utilisation=rho
            ),
            "s",
        )
        for rho in args.utilisation
    ]
    inputs = {"service_time": args.service_time, "utilisation": args.utilisation}
    return Report("knee", "Utilisation knee W = S/(1 - rho)", inputs, rows)


def _retry(args: argparse.Namespace) -> Report:
    policy = {"failure_probability": args.p, "retries": args.retries}
    rows = [
        Row(
            "attempts_per_request",
            "attempts per request (1 - p^(r+1))/(1 - p)",
            retries.retry_attempts_per_request(**policy),
        ),
        Row(
            "offered_load_per_second",
            "offered load at the callee",
            retries.retry_offered_load_per_second(arrival_rate_per_second=args.arrival_rate, **policy),
            "1/s",
        ),
        Row(
            "success_probability",
            "requests that succeed 1 - p^(r+1)",
            retries.retry_success_probability(**policy),
        ),
        Row(
            "worst_case_amplification",
            f"worst case (r + 1)^depth, depth {args.depth}",
            retries.retry_worst_case_amplification(retries=args.retries, depth=args.depth),
        ),
        Row(
            "layered_amplification",
            "expected amplification, bottom fails with p",
            retries.retry_layered_amplification(depth=args.depth, **policy),
        ),
    ]
    inputs: dict[str, object] = {
        "arrival_rate": args.arrival_rate,
        "p": args.p,
        "retries": args.retries,
        "depth": args.depth,
    }
    if args.attempt_time is not None:
        inputs.update(budget_percent=args.budget_percent, attempt_time=args.attempt_time)
        rows.append(
            Row(
                "budgeted_offered_load_per_second",
                f"offered load under a {args.budget_percent:g}% retry budget",
                retries.retry_budget_offered_load_per_second(
                    arrival_rate_per_second=args.arrival_rate,
                    mean_attempt_seconds=args.attempt_time,
                    budget_percent=args.budget_percent,
                    min_retry_concurrency=args.min_retry_concurrency,
                    **policy,
                ),
                "1/s",
            )
        )
    if args.capacity is not None:
        inputs["capacity"] = args.capacity
        rows.append(
            Row(
                "self_sustaining_storm",
                "storm outlives its trigger: lambda < mu <= lambda (r + 1)",
                retries.is_retry_storm_self_sustaining(
                    arrival_rate_per_second=args.arrival_rate,
                    capacity_per_second=args.capacity,
                    retries=args.retries,
                ),
            )
        )
    return Report("retry", "Retry amplification", inputs, rows)


def _retry_budget(args: argparse.Namespace) -> Report:
    cap = retries.retry_budget_max_active_retries(
        active_requests=args.active,
        budget_percent=args.budget_percent,
        min_retry_concurrency=args.min_retry_concurrency,
    )
    inputs = {
        "active": args.active,
        "budget_percent": args.budget_percent,
        "min_retry_concurrency": args.min_retry_concurrency,
    }
    rows = [Row("max_active_retries", "max concurrent retries max(min, floor(pct x active))", cap)]
    return Report("retry-budget", "Envoy retry budget", inputs, rows)


def _throttle(args: argparse.Namespace) -> Report:
    probability = retries.adaptive_throttle_rejection_probability(
        requests=args.requests, accepts=args.accepts, multiplier=args.k
    )
    rows = [
        Row("rejection_probability", "client-side rejection max(0, (req - K acc)/(req + 1))", probability)
    ]
    inputs = {"requests": args.requests, "accepts": args.accepts, "k": args.k}
    return Report("throttle", "Client-side adaptive throttling (Google SRE)", inputs, rows)


_LAG_LABELS = {
    "metric_pipeline_seconds": "metric pipeline (step -> threshold crossed)",
    "sync_pickup_seconds": "HPA sync pickup",
    "stabilization_seconds": "scale-up stabilization",
    "rate_limit_seconds": "rate-limit waits",
    "api_scheduling_seconds": "API writes + scheduling",
    "container_start_seconds": "image pull + container start",
    "readiness_seconds": "readiness probe + endpoints",
}


def _hpa_lag(args: argparse.Namespace) -> Report:
    budget = lagmodel.hpa_lag_budget(
        metric_resolution_seconds=args.metric_resolution,
        housekeeping_interval_seconds=args.housekeeping,
        crossing_fraction=args.crossing_fraction,
        metric_pipeline_seconds=args.metric_pipeline,
        sync_period_seconds=args.sync_period,
        scale_up_stabilization_seconds=args.stabilization,
        current_replicas=args.current_replicas,
        desired_replicas=args.desired_replicas,
        api_seconds=args.api,
        scheduling_seconds=args.scheduling,
        image_pull_seconds=args.image_pull,
        container_start_seconds=args.container_start,
        app_boot_seconds=args.app_boot,
        readiness_initial_delay_seconds=args.probe_initial_delay,
        readiness_period_seconds=args.probe_period,
    )
    rows = [Row(name, _LAG_LABELS[name], value, "s") for name, value in budget.terms().items()]
    seed = seedmodels.seed_hpa_lag_seconds()
    rows += [
        Row("total_seconds", "total (expected)", budget.total_seconds, "s"),
        Row("seed_lag_seconds", "seed toy constant", seed, "s"),
        Row("seed_minus_model_seconds", "seed - model", seed - budget.total_seconds, "s"),
    ]
    inputs = {
        name: value
        for name, value in vars(args).items()
        if name not in {"handler", "command", "json"} and value is not None
    }
    return Report("hpa-lag", "HPA reaction lag: load step -> needed pods Ready", inputs, rows)


def _cascade(args: argparse.Namespace) -> Report:
    rows = [
        Row(
            "seed_goodput_fraction",
            f"seed toy cascade (factor {args.cascade_factor:g}) goodput",
            seedmodels.seed_cascade_goodput_fraction(
                failure_probabilities=args.p, cascade_factor=args.cascade_factor
            ),
        ),
        Row(
            "serial_goodput_fraction",
            "serial chain goodput prod(1 - f_i)",
            1.0 - tails.slo_serial_failure_probability(failure_probabilities=args.p),
        ),
    ]
    return Report(
        "cascade",
        "Seed toy cascade vs. serial composition (top to bottom)",
        {"p": args.p, "cascade_factor": args.cascade_factor},
        rows,
    )


# --------------------------------------------------------------------------------------------
# The parser.
# --------------------------------------------------------------------------------------------


def _add_rates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arrival-rate", type=float, required=True, help="lambda, requests per second")
    parser.add_argument(
        "--service-rate", type=float, required=True, help="mu, per server, requests per second"
    )


def _add_quantiles(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quantiles",
        type=float,
        nargs="+",
        default=[0.5, 0.95, 0.99],
        help="response-time quantiles to show (default 0.5 0.95 0.99)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subparser carries its handler as ``handler``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON instead of a table"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Evaluate the textbook formulas tailstorm compares measurements with.",
        epilog="Run '%(prog)s <subcommand> -h' for a subcommand's options. See docs/formulas.md.",
    )
    # A separate action from ``common``'s (whose default stays SUPPRESS), so that --json works
    # before or after the subcommand without the subparser's default overwriting it.
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    subparsers = parser.add_subparsers(dest="command", metavar="<subcommand>")

    def add(
        name: str, handler: Callable[[argparse.Namespace], Report], help_text: str
    ) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    sub = add("slo", _slo, "end-to-end failure of services in series, 1 - prod(1 - p_i)")
    sub.add_argument("--p", type=float, nargs="+", required=True, help="per-service failure probabilities")
    sub.add_argument("--correlation", type=float, help="r in [0, 1] for the correlated-failure model")

    sub = add("budget", _budget, "split an end-to-end SLO into per-service budgets, 1 - (1 - p)^(1/N)")
    sub.add_argument("--slo", type=float, required=True, help="end-to-end success objective, e.g. 0.999")
    sub.add_argument("--services", type=int, required=True, help="services in series")

    sub = add("fanout", _fanout, "tail at scale: slow share 1 - (1 - p)^K and leaf quantile q^(1/K)")
    sub.add_argument("--p", type=float, required=True, help="probability a leaf is slow")
    sub.add_argument("--k", type=int, required=True, help="leaves per request")
    sub.add_argument("--quantile", type=float, default=0.99, help="request quantile to hold (default 0.99)")

    sub = add("hedge", _hedge, "hedged requests with exponential latency, second copy at the q-quantile")
    sub.add_argument("--mean-latency", type=float, required=True, help="mean latency of one copy, seconds")
    sub.add_argument(
        "--hedge-quantile", type=float, default=0.95, help="hedge after this latency quantile (0.95)"
    )
    sub.add_argument("--quantile", type=float, default=0.99, help="latency quantile to report (0.99)")
    sub.add_argument("--p", type=float, help="bimodal model: probability one copy is slow")

    sub = add("mm1", _mm1, "M/M/1 waits, response time and quantiles")
    _add_rates(sub)
    _add_quantiles(sub)

    sub = add("mmc", _mmc, "M/M/c (Erlang C) waits, response time and quantiles")
    _add_rates(sub)
    sub.add_argument("--servers", type=int, required=True, help="c, number of servers (replicas x workers)")
    _add_quantiles(sub)

    sub = add("mmck", _mmck, "M/M/c/K blocking, throughput and response time (Envoy overflow)")
    _add_rates(sub)
    sub.add_argument("--servers", type=int, required=True, help="c, requests served at once")
    sub.add_argument("--capacity", type=int, required=True, help="K = c + max_pending_requests")

    sub = add("erlang", _erlang, "Erlang B and Erlang C for an offered load and c servers")
    sub.add_argument("--load", type=float, required=True, help="offered load A = lambda/mu, erlangs")
    sub.add_argument("--servers", type=int, required=True, help="c, number of servers")

    sub = add("md1", _md1, "M/D/1 (constant service) mean wait and response time")
    _add_rates(sub)

    sub = add("mg1", _mg1, "M/G/1 Pollaczek-Khinchine mean wait for a service SCV")
    _add_rates(sub)
    sub.add_argument("--cs2", type=float, required=True, help="service-time squared coefficient of variation")

    sub = add("kingman", _kingman, "Kingman G/G/1 (or Allen-Cunneen G/G/c with --servers) approximation")
    _add_rates(sub)
    sub.add_argument(
        "--ca2", type=float, required=True, help="inter-arrival squared coefficient of variation"
    )
    sub.add_argument("--cs2", type=float, required=True, help="service-time squared coefficient of variation")
    sub.add_argument("--servers", type=int, default=1, help="c (default 1: Kingman)")

    sub = add("little", _little, "Little's law L = lambda W: give two, get the third")
    sub.add_argument("--arrival-rate", type=float, help="throughput lambda, per second")
    sub.add_argument("--mean-time", type=float, help="mean time in system W, seconds")
    sub.add_argument("--mean-number", type=float, help="mean number in system L (in-flight)")

    sub = add("knee", _knee, "utilisation knee W = S/(1 - rho)")
    sub.add_argument("--service-time", type=float, required=True, help="mean service time S, seconds")
    sub.add_argument("--utilisation", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95], help="rho values")

    sub = add("retry", _retry, "retry amplification for failure probability p and r retries")
    sub.add_argument("--arrival-rate", type=float, required=True, help="request rate lambda, per second")
    sub.add_argument("--p", type=float, required=True, help="probability an attempt fails")
    sub.add_argument("--retries", type=int, required=True, help="r, retries per request")
    sub.add_argument("--depth", type=int, default=1, help="retrying hops in the chain (default 1)")
    sub.add_argument(
        "--attempt-time", type=float, help="mean attempt time, seconds: adds the budget-capped load"
    )
    sub.add_argument(
        "--budget-percent", type=float, default=20.0, help="retry budget percent (Envoy default 20)"
    )
    sub.add_argument(
        "--min-retry-concurrency", type=int, default=3, help="retry budget minimum (Envoy default 3)"
    )
    sub.add_argument(
        "--capacity", type=float, help="callee capacity per second: adds the metastability check"
    )

    sub = add("retry-budget", _retry_budget, "Envoy retry budget: max concurrent retries")
    sub.add_argument("--active", type=float, required=True, help="active + pending requests")
    sub.add_argument("--budget-percent", type=float, default=20.0, help="budget percent (Envoy default 20)")
    sub.add_argument("--min-retry-concurrency", type=int, default=3, help="minimum (Envoy default 3)")

    sub = add("throttle", _throttle, "client-side adaptive throttling rejection probability")
    sub.add_argument("--requests", type=float, required=True, help="requests in the trailing window")
    sub.add_argument("--accepts", type=float, required=True, help="of those, accepted by the backend")
    sub.add_argument("--k", type=float, default=2.0, help="multiplier K (default 2)")

    sub = add("hpa-lag", _hpa_lag, "HPA reaction-lag budget, term by term, against the seed's 30 s")
    for flag, default, text in [
        ("--metric-resolution", 15.0, "metrics-server resolution R, s"),
        ("--housekeeping", 10.0, "kubelet housekeeping interval h, s"),
        ("--crossing-fraction", 0.0, "share of the step needed to cross the threshold, 0..1"),
        ("--sync-period", 15.0, "HPA sync period S, s"),
        ("--stabilization", 0.0, "scale-up stabilization window, s"),
        ("--api", 0.5, "API writes and object creation, s"),
        ("--scheduling", 0.5, "scheduling, s"),
        ("--image-pull", 0.0, "image pull, s (0 when cached)"),
        ("--container-start", 2.0, "sandbox and container start, s"),
        ("--app-boot", 5.0, "application boot until it would pass readiness, s"),
        ("--probe-initial-delay", 0.0, "readiness initialDelaySeconds"),
        ("--probe-period", 10.0, "readiness periodSeconds"),
    ]:
        sub.add_argument(flag, type=float, default=default, help=f"{text} (default {default:g})")
    sub.add_argument("--metric-pipeline", type=float, help="override the metric-pipeline term, s")
    sub.add_argument("--current-replicas", type=int, default=1, help="replicas before the step (default 1)")
    sub.add_argument("--desired-replicas", type=int, default=1, help="replicas the load needs (default 1)")

    sub = add("cascade", _cascade, "the seed's toy cascade (factor 0.3) against serial composition")
    sub.add_argument(
        "--p", type=float, nargs="+", required=True, help="own failure share of each service, top first"
    )
    sub.add_argument(
        "--cascade-factor", type=float, default=seedmodels.SEED_CASCADE_FACTOR, help="default 0.3"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, evaluate one formula, print it; 0 on success, 2 on bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on -h (0) and on malformed arguments (2)
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        report = args.handler(args)
    except ValueError as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(render_json(report) if args.json else render_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
