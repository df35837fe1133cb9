"""``tailstorm formulas``: a calculator for every prediction the testbed checks, driven by one table.

Each subcommand evaluates models from ``queueing``, ``tails``, ``retries``, ``lagmodel`` or
``seedmodels`` and prints a table (quantity, value, unit); ``--json`` prints the same numbers as
one JSON object. Everything about a subcommand lives in one ``Subcommand`` entry of ``TABLE``:
its inputs (option, meaning, unit, type, domain, default), the rules that tie inputs together,
and its outputs (JSON key, label, unit, how to print, the formula call). The argument parser,
the domain checks, both output forms and the reference part of ``docs/formulas.md``
(``reference_markdown``, refreshed with ``write_reference``) are all read from that table, so
adding a formula is one entry.

An input outside its domain exits with status 2 and one sentence that names the option and the
allowed range, no traceback; a formula's own ``ValueError`` (a domain the table cannot state)
is printed the same way. ``tailstorm formulas -h`` lists the subcommands.
"""

import argparse
import dataclasses
import inspect
import json
import math
import pathlib
import re
import string
import sys
from collections.abc import Callable

from analysis.formulas import lagmodel, queueing, retries, seedmodels, tails

PROG = "tailstorm formulas"

Value = float | bool | str
"""What an output row holds: a number, a yes/no, or a word (a regime)."""


# --------------------------------------------------------------------------------------------
# The vocabulary of the table.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Domain:
    """An interval of allowed values; ``low_open``/``high_open`` exclude the end points."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def contains(self, value: float) -> bool:
        if math.isnan(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """The range as an error or the docs say it: ``> 0``, ``>= 1``, ``in [0, 1)``."""
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


NON_NEGATIVE = Domain(0.0)
POSITIVE = Domain(0.0, low_open=True)
AT_LEAST_ONE = Domain(1.0)
PROBABILITY = Domain(0.0, 1.0, high_open=False)
OPEN_UNIT = Domain(0.0, 1.0, low_open=True)
HALF_OPEN_UNIT = Domain(0.0, 1.0)
UNIT_EXCLUDING_ZERO = Domain(0.0, 1.0, low_open=True, high_open=False)


@dataclasses.dataclass(frozen=True)
class Input:
    """One option of a subcommand: ``--name`` (underscores become dashes), also the JSON key."""

    name: str
    help: str
    unit: str = ""
    domain: Domain = NON_NEGATIVE
    type: type = float
    """``float`` or ``int`` (an int is a whole number; argparse refuses ``2.5``)."""
    default: object = None
    """The value when the option is absent; None with ``required`` False: the input is optional."""
    required: bool = False
    many: bool = False
    """Takes one or more values (``nargs="+"``); the domain holds for each."""

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def allowed(self) -> str:
        """The domain in words: ``a whole number >= 1``, ``in [0, 1]``, ``> 0``."""
        return ("a whole number " if self.type is int else "") + self.domain.describe()


@dataclasses.dataclass(frozen=True)
class Condition:
    """A predicate on the parsed inputs, with the words the docs and error messages use for it."""

    text: str
    holds: Callable[[argparse.Namespace], bool]


@dataclasses.dataclass(frozen=True)
class Output:
    """One result row. ``key`` and ``label`` may hold ``{input}`` placeholders (see ``_TEMPLATE``)."""

    key: str
    label: str
    value: Callable[..., Value]
    """``value(args)``, or ``value(args, item)`` for each item of the ``each`` input."""
    unit: str = ""
    show: Callable[[Value], str] | None = None
    """How the table prints the value; None: 7 significant digits, yes/no, inf."""
    when: Condition | None = None
    """The row appears only when this holds (e.g. an optional input was given)."""
    each: str | None = None
    """A list input: one row per item, with ``{item}`` in key and label."""


@dataclasses.dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    """One line for ``-h``."""
    title: str | Callable[[argparse.Namespace], str]
    formula: str
    """The formula in words, for docs/formulas.md."""
    assumptions: str
    """Assumptions and where the model stops being valid, for docs/formulas.md."""
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    rules: tuple[Condition, ...] = ()
    """Domains across inputs (e.g. utilisation below 1), checked after each input's own."""


def given(name: str) -> Condition:
    """The row applies when the optional input ``name`` was given."""
    return Condition(f"with --{name.replace('_', '-')}", lambda args: getattr(args, name) is not None)


def missing(name: str) -> Condition:
    """The row applies when the optional input ``name`` was left out."""
    return Condition(f"without --{name.replace('_', '-')}", lambda args: getattr(args, name) is None)


def _percent(quantile: float) -> str:
    return f"{100.0 * quantile:g}"


class _Template(string.Formatter):
    """``str.format`` plus conversions for labels and keys: ``!p`` 0.99 → ``99`` (a percentile),
    ``!q`` 0.999 → ``99_9`` (a percentile in a JSON key), ``!k`` 0.02 → ``0_02`` (a number in a key)."""

    def convert_field(self, value: object, conversion: str | None) -> object:
        if conversion == "p":
            return _percent(float(value))  # type: ignore[arg-type]
        if conversion == "q":
            return _percent(float(value)).replace(".", "_")  # type: ignore[arg-type]
        if conversion == "k":
            return f"{float(value):g}".replace(".", "_")  # type: ignore[arg-type]
        return super().convert_field(value, conversion)


_TEMPLATE = _Template()


# --------------------------------------------------------------------------------------------
# Binders: a row's value is a formula called with keywords made from the parsed inputs.
# --------------------------------------------------------------------------------------------

Bind = Callable[[argparse.Namespace], dict[str, object]]


def _call(function: Callable[..., Value], bind: Bind) -> Callable[[argparse.Namespace], Value]:
    """The row value ``function(**bind(args))``."""
    return lambda args: function(**bind(args))


def _call_each(function: Callable[..., Value], bind: Bind, keyword: str) -> Callable[..., Value]:
    """The row value for one item of a list input, passed to ``function`` as ``keyword``."""
    return lambda args, item: function(**bind(args), **{keyword: item})


def _rates(args: argparse.Namespace) -> dict[str, object]:
    return {"arrival_rate_per_second": args.arrival_rate, "service_rate_per_second": args.service_rate}


def _mmc(args: argparse.Namespace) -> dict[str, object]:
    return {**_rates(args), "servers": args.servers}


def _mmck(args: argparse.Namespace) -> dict[str, object]:
    return {**_mmc(args), "capacity": args.capacity}


def _retry_policy(args: argparse.Namespace) -> dict[str, object]:
    return {"failure_probability": args.p, "retries": args.retries}


def _storm(args: argparse.Namespace) -> dict[str, object]:
    return {"capacity_per_second": args.capacity, "retries": args.retries, "failure_probability": args.p}


def _thread_pool(args: argparse.Namespace) -> dict[str, object]:
    return {"arrival_rate_per_second": args.arrival_rate, "thread_hold_seconds": args.hold_seconds}


def _pool(args: argparse.Namespace) -> dict[str, object]:
    return {**_thread_pool(args), "pool_threads": args.pool}


def _tandem_servers(args: argparse.Namespace) -> list[int]:
    return args.servers * len(args.service_rates) if len(args.servers) == 1 else args.servers


def _tandem(args: argparse.Namespace) -> dict[str, object]:
    return {
        "arrival_rate_per_second": args.arrival_rate,
        "service_rates_per_second": args.service_rates,
        "servers": _tandem_servers(args),
    }


# --------------------------------------------------------------------------------------------
# Inputs, rules and rows several subcommands share.
# --------------------------------------------------------------------------------------------

ARRIVAL_RATE = Input("arrival_rate", "lambda, arrival rate", "1/s", required=True)
SERVICE_RATE = Input("service_rate", "mu, service rate of one server", "1/s", POSITIVE, required=True)
SERVERS = Input("servers", "c, number of servers = replicas x workers", "", AT_LEAST_ONE, int, required=True)
QUANTILES = Input("quantiles", "response-time quantiles to show", "", OPEN_UNIT,
                  default=[0.5, 0.95, 0.99], many=True)
RATES = (ARRIVAL_RATE, SERVICE_RATE)

STABLE_ONE_SERVER = Condition(
    "--arrival-rate < --service-rate (utilisation below 1, else there is no steady state)",
    lambda args: args.arrival_rate < args.service_rate,
)
STABLE = Condition(
    "--arrival-rate < --servers x --service-rate (utilisation below 1, else there is no steady state)",
    lambda args: args.arrival_rate < args.servers * args.service_rate,
)


def _quantile_rows(what: str, function: Callable[..., Value], bind: Bind) -> Output:
    """One row per ``--quantiles`` item: ``<what>_p99_seconds``, ``<what> p99``."""
    return Output(f"{what.replace(' ', '_')}_p{{item!q}}_seconds", f"{what} p{{item!p}}",
                  _call_each(function, bind, "quantile"), "s", each="quantiles")


def _seed_p99(mean_response_time: Callable[..., float], bind: Bind) -> Output:
    return Output("seed_p99_seconds", "seed toy p99 = 4.6 x W",
                  lambda args: seedmodels.seed_p99_response_time_seconds(
                      mean_response_time_seconds=mean_response_time(**bind(args))), "s")


# --------------------------------------------------------------------------------------------
# Helpers for rows that need more than one formula call.
# --------------------------------------------------------------------------------------------


def _hedged(args: argparse.Namespace, *, hedge_quantile: float, quantile: float) -> float:
    return tails.hedged_exponential_latency_quantile_seconds(
        mean_latency_seconds=args.mean_latency, hedge_quantile=hedge_quantile, quantile=quantile
    )


def _hedge_delay(args: argparse.Namespace) -> float:
    # The delay d is the hedge quantile of one copy's latency (0 when hedging at once).
    if args.hedge_quantile == 0:
        return 0.0
    return _hedged(args, hedge_quantile=args.hedge_quantile, quantile=args.hedge_quantile)


def _budget_per_service(args: argparse.Namespace) -> float:
    return tails.slo_budget_per_service_failure_probability(
        end_to_end_failure_probability=1.0 - args.slo, services=args.services
    )


def _kingman(args: argparse.Namespace, *, response: bool) -> float:
    variability = {"arrival_scv": args.ca2, "service_scv": args.cs2}
    if args.servers == 1:
        kingman = queueing.kingman_mean_response_time_seconds if response else queueing.kingman_mean_wait_seconds
        return kingman(**_rates(args), **variability)
    allen_cunneen = (
        queueing.allen_cunneen_mean_response_time_seconds
        if response
        else queueing.allen_cunneen_mean_wait_seconds
    )
    return allen_cunneen(**_mmc(args), **variability)


def _little(args: argparse.Namespace) -> float:
    if args.mean_number is None:
        return queueing.little_mean_number_in_system(
            arrival_rate_per_second=args.arrival_rate, mean_time_in_system_seconds=args.mean_time
        )
    if args.mean_time is None:
        return queueing.little_mean_time_in_system_seconds(
            mean_number_in_system=args.mean_number, arrival_rate_per_second=args.arrival_rate
        )
    return queueing.little_throughput_per_second(
        mean_number_in_system=args.mean_number, mean_time_in_system_seconds=args.mean_time
    )


def _station_utilisations(args: argparse.Namespace) -> list[float]:
    return [
        queueing.utilisation(arrival_rate_per_second=args.arrival_rate, service_rate_per_second=mu, servers=c)
        for mu, c in zip(args.service_rates, _tandem_servers(args), strict=True)
    ]


def _station_quantiles_sum(args: argparse.Namespace, quantile: float) -> float:
    return math.fsum(
        queueing.mmc_response_time_quantile_seconds(
            arrival_rate_per_second=args.arrival_rate, service_rate_per_second=mu, servers=c, quantile=quantile
        )
        for mu, c in zip(args.service_rates, _tandem_servers(args), strict=True)
    )


def _storm_threshold(args: argparse.Namespace) -> float:
    return retries.retry_storm_metastability_threshold_per_second(**_storm(args))


def _budgeted_storm_threshold(args: argparse.Namespace) -> float:
    return args.capacity / retries.retry_ratio_budget_attempts_per_request(
        budget_ratio=args.budget_ratio, **_retry_policy(args)
    )


def _ratio_attempts(args: argparse.Namespace) -> float:
    return retries.retry_ratio_budget_attempts_per_request(budget_ratio=args.budget_ratio, **_retry_policy(args))


def _throttle(args: argparse.Namespace) -> retries.ThrottleShares:
    return retries.adaptive_throttle_steady_state(accept_share=args.accept_share, multiplier=args.k)


def _downtime(days: float | None) -> Callable[[argparse.Namespace], float]:
    """Allowed downtime over ``days``, or over ``--window-days`` when None."""
    return lambda args: tails.slo_allowed_downtime_seconds(
        availability=args.slo, window_seconds=(args.window_days if days is None else days) * tails.SECONDS_PER_DAY
    )


def _format_duration(value: Value) -> str:
    """Seconds as a person reads a duration: ``43 min 12 s``, ``8 h 45 min 57.6 s``, ``0.864 s``."""
    seconds = float(value)
    if seconds < 60.0:
        return f"{seconds:.4g} s"
    tenths = round(seconds * 10.0)
    parts = []
    for size, unit in ((864_000, "d"), (36_000, "h"), (600, "min")):
        count, tenths = divmod(tenths, size)
        if count or parts:
            parts.append(f"{count} {unit}")
    parts.append(f"{tenths / 10.0:g} s")
    return " ".join(parts)


# The HPA lag inputs: (option name, lagmodel keyword, meaning, domain). Their defaults are read from
# the lagmodel function a subcommand evaluates, so the model's defaults have one home.
_HPA_INPUTS = (
    ("metric_resolution", "metric_resolution_seconds", "metrics-server resolution R", POSITIVE),
    ("housekeeping", "housekeeping_interval_seconds", "kubelet housekeeping interval h", NON_NEGATIVE),
    ("crossing_fraction", "crossing_fraction", "share of the step needed to cross the threshold",
     PROBABILITY),
    ("sync_period", "sync_period_seconds", "HPA sync period S", POSITIVE),
    ("stabilization", "scale_up_stabilization_seconds", "scale-up stabilization window", NON_NEGATIVE),
    ("api", "api_seconds", "API writes and object creation", NON_NEGATIVE),
    ("scheduling", "scheduling_seconds", "scheduling", NON_NEGATIVE),
    ("image_pull", "image_pull_seconds", "image pull, 0 when cached", NON_NEGATIVE),
    ("container_start", "container_start_seconds", "sandbox and container start", NON_NEGATIVE),
    ("app_boot", "app_boot_seconds", "application boot until it would pass readiness", NON_NEGATIVE),
    ("probe_initial_delay", "readiness_initial_delay_seconds", "readiness initialDelaySeconds",
     NON_NEGATIVE),
    ("probe_period", "readiness_period_seconds", "readiness periodSeconds", POSITIVE),
    ("metric_pipeline", "metric_pipeline_seconds", "override the metric-pipeline term", NON_NEGATIVE),
    ("current_replicas", "current_replicas", "replicas before the step", AT_LEAST_ONE),
    ("desired_replicas", "desired_replicas", "replicas the load needs", AT_LEAST_ONE),
)

_LAG_LABELS = {
    "metric_pipeline_seconds": "metric pipeline (step -> threshold crossed)",
    "sync_pickup_seconds": "HPA sync pickup",
    "stabilization_seconds": "scale-up stabilization",
    "rate_limit_seconds": "rate-limit waits",
    "api_scheduling_seconds": "API writes + scheduling",
    "container_start_seconds": "image pull + container start",
    "readiness_seconds": "readiness probe + endpoints",
}

LagModel = Callable[..., lagmodel.LagBudget]


def _hpa_inputs(model: LagModel) -> tuple[Input, ...]:
    defaults = {name: parameter.default for name, parameter in inspect.signature(model).parameters.items()}
    return tuple(
        Input(name, meaning, "" if keyword in ("crossing_fraction", *replicas) else "s", domain,
              int if keyword in replicas else float, default=defaults[keyword])
        for name, keyword, meaning, domain in _HPA_INPUTS
        for replicas in [("current_replicas", "desired_replicas")]
    )


def _hpa(model: LagModel, args: argparse.Namespace) -> lagmodel.LagBudget:
    return model(**{keyword: getattr(args, name) for name, keyword, _, _ in _HPA_INPUTS})


def _lag_rows(model: LagModel, total_label: str) -> tuple[Output, ...]:
    terms = tuple(
        Output(key, label, lambda args, key=key: _hpa(model, args).terms()[key], "s")
        for key, label in _LAG_LABELS.items()
    )
    return (*terms, Output("total_seconds", total_label, lambda args: _hpa(model, args).total_seconds, "s"))


def _seed_lag(args: argparse.Namespace) -> float:
    return seedmodels.seed_hpa_lag_seconds()


# --------------------------------------------------------------------------------------------
# The table: one entry per subcommand.
# --------------------------------------------------------------------------------------------

TABLE: tuple[Subcommand, ...] = (
    Subcommand(
        "slo", "end-to-end failure of services in series, 1 - prod(1 - p_i)",
        "SLO composition along a serial chain",
        formula="P(fail) = 1 − ∏(1 − p_i); with --correlation r: "
        "(1 − r)·(1 − ∏(1 − p_i)) + r·max(p_i)",
        assumptions="every hop must succeed; independent failures, no retries, no fallbacks; the "
        "correlated form is a stated mixture of independent and fully nested failures",
        inputs=(Input("p", "per-service failure probabilities", "", PROBABILITY, required=True, many=True),
                Input("correlation", "r for the correlated-failure model", "", PROBABILITY)),
        outputs=(
            Output("independent_failure_probability", "end-to-end failure, independent 1 - prod(1 - p_i)",
                   lambda args: tails.slo_serial_failure_probability(failure_probabilities=args.p)),
            Output("independent_availability", "end-to-end availability, independent",
                   lambda args: 1.0 - tails.slo_serial_failure_probability(failure_probabilities=args.p)),
            Output("fully_correlated_failure_probability", "end-to-end failure, fully correlated max(p_i)",
                   lambda args: tails.slo_correlated_failure_probability(failure_probabilities=args.p,
                                                                         correlation=1.0)),
            Output("correlated_failure_probability", "end-to-end failure, correlation r (stated model)",
                   lambda args: tails.slo_correlated_failure_probability(failure_probabilities=args.p,
                                                                         correlation=args.correlation),
                   when=given("correlation")),
        ),
    ),
    Subcommand(
        "budget", "split an end-to-end SLO into per-service budgets, 1 - (1 - p)^(1/N)",
        "Error-budget split over N services in series",
        formula="p_service = 1 − (1 − p)^(1/N), p = 1 − SLO",
        assumptions="N identical, independent hops in series; the equal split that composes back to p",
        inputs=(Input("slo", "end-to-end success objective, e.g. 0.999", "", PROBABILITY, required=True),
                Input("services", "services in series", "", AT_LEAST_ONE, int, required=True)),
        outputs=(
            Output("per_service_failure_budget", "per-service failure budget 1 - (1 - p)^(1/N)",
                   _budget_per_service),
            Output("per_service_slo", "per-service SLO", lambda args: 1.0 - _budget_per_service(args)),
            Output("naive_per_service_failure_budget", "naive split p/N (for comparison)",
                   lambda args: (1.0 - args.slo) / args.services),
        ),
    ),
    Subcommand(
        "fanout", "tail at scale: slow share 1 - (1 - p)^K and leaf quantile q^(1/K)",
        "Tail at scale: one request fans out to K leaves",
        formula="P(slow) = 1 − (1 − p)^K; the leaf quantile a request quantile q needs: q^(1/K)",
        assumptions="a request waits for all K leaves; leaves independent and identically distributed "
        "(a shared slow cause makes it optimistic)",
        inputs=(Input("p", "probability a leaf is slow", "", PROBABILITY, required=True),
                Input("k", "leaves per request", "", AT_LEAST_ONE, int, required=True),
                Input("quantile", "request quantile to hold", "", OPEN_UNIT, default=0.99)),
        outputs=(
            Output("request_slow_probability", "requests slow, 1 - (1 - p)^K",
                   lambda args: tails.fanout_slow_probability(leaf_slow_probability=args.p, fanout=args.k)),
            Output("leaf_quantile_needed", "leaf quantile needed for a request p{quantile!p}, q^(1/K)",
                   lambda args: tails.fanout_leaf_quantile(request_quantile=args.quantile, fanout=args.k)),
        ),
    ),
    Subcommand(
        "hedge", "hedged requests with exponential latency, second copy at the q-quantile",
        "Hedged requests: exponential latency, second copy after d",
        formula="T = min(X1, d + X2), d = −m·ln(1 − q); the p-quantile is −m·ln(1 − p) for p <= q, "
        "else (d − m·ln(1 − p))/2; extra requests 1 − q; bimodal model p²",
        assumptions="independent exponential copies with mean m; the extra copies add no load that "
        "slows either",
        inputs=(Input("mean_latency", "mean latency of one copy", "s", POSITIVE, required=True),
                Input("hedge_quantile", "hedge after this latency quantile", "", HALF_OPEN_UNIT, default=0.95),
                Input("quantile", "latency quantile to report", "", OPEN_UNIT, default=0.99),
                Input("p", "bimodal model: probability one copy is slow", "", PROBABILITY)),
        outputs=(
            # Hedging at a quantile at or above the one reported changes nothing: the unhedged value.
            Output("unhedged_quantile_seconds", "p{quantile!p} latency, no hedging",
                   lambda args: _hedged(args, hedge_quantile=args.quantile, quantile=args.quantile), "s"),
            Output("hedged_quantile_seconds", "p{quantile!p} latency, hedged at p{hedge_quantile!p}",
                   lambda args: _hedged(args, hedge_quantile=args.hedge_quantile, quantile=args.quantile), "s"),
            Output("hedge_delay_seconds", "hedge delay d", _hedge_delay, "s"),
            Output("extra_request_fraction", "extra requests sent",
                   lambda args: tails.hedged_extra_request_fraction(hedge_quantile=args.hedge_quantile)),
            Output("both_slow_probability", "bimodal model: both copies slow, p^2",
                   lambda args: tails.hedged_exceedance_probability(first_exceedance_probability=args.p,
                                                                    hedge_exceedance_probability=args.p),
                   when=given("p")),
        ),
    ),
    Subcommand(
        "mm1", "M/M/1 waits, response time and quantiles",
        "M/M/1 (Poisson arrivals, exponential service, FCFS)",
        formula="ρ = λ/μ; Wq = ρ/(μ − λ); W = 1/(μ − λ); L = ρ/(1 − ρ); "
        "t_p = −ln(1 − p)/(μ − λ)",
        assumptions="Poisson arrivals, exponential service, one server, FCFS, unbounded queue (the "
        "quantiles need FCFS: processor sharing has the same mean and another tail)",
        inputs=(*RATES, QUANTILES),
        rules=(STABLE_ONE_SERVER,),
        outputs=(
            Output("utilisation", "utilisation rho = lambda/mu", _call(queueing.utilisation, _rates)),
            Output("mean_wait_seconds", "mean wait Wq = rho/(mu - lambda)",
                   _call(queueing.mm1_mean_wait_seconds, _rates), "s"),
            Output("mean_response_time_seconds", "mean response time W = 1/(mu - lambda)",
                   _call(queueing.mm1_mean_response_time_seconds, _rates), "s"),
            Output("mean_number_in_system", "mean number in system L",
                   _call(queueing.mm1_mean_number_in_system, _rates)),
            _quantile_rows("response time", queueing.mm1_response_time_quantile_seconds, _rates),
            _seed_p99(queueing.mm1_mean_response_time_seconds, _rates),
        ),
    ),
    Subcommand(
        "mmc", "M/M/c (Erlang C) waits, response time and quantiles",
        "M/M/c with Erlang C (Poisson arrivals, exponential service, FCFS)",
        formula="A = λ/μ; ρ = A/c; C = Erlang C(c, A); Wq = C/(cμ − λ); W = Wq + 1/μ; "
        "P(Wq > t) = C·e^{−(cμ−λ)t}; response-time quantiles by inverting the exact sojourn tail",
        assumptions="Poisson arrivals, exponential service, c identical servers, one FCFS queue",
        inputs=(*RATES, SERVERS, QUANTILES),
        rules=(STABLE,),
        outputs=(
            Output("offered_load_erlangs", "offered load A = lambda/mu",
                   _call(queueing.offered_load_erlangs, _rates), "erlang"),
            Output("utilisation", "utilisation rho = A/c", _call(queueing.utilisation, _mmc)),
            Output("wait_probability", "P(wait > 0), Erlang C", _call(queueing.mmc_wait_probability, _mmc)),
            Output("mean_wait_seconds", "mean wait Wq = C/(c mu - lambda)",
                   _call(queueing.mmc_mean_wait_seconds, _mmc), "s"),
            Output("mean_response_time_seconds", "mean response time W = Wq + 1/mu",
                   _call(queueing.mmc_mean_response_time_seconds, _mmc), "s"),
            Output("mean_number_in_system", "mean number in system L",
                   _call(queueing.mmc_mean_number_in_system, _mmc)),
            _quantile_rows("wait", queueing.mmc_wait_time_quantile_seconds, _mmc),
            _quantile_rows("response time", queueing.mmc_response_time_quantile_seconds, _mmc),
            _seed_p99(queueing.mmc_mean_response_time_seconds, _mmc),
        ),
    ),
    Subcommand(
        "service-level", "Erlang C service level: share of requests that wait at most t, P(Wq <= t)",
        "M/M/c service level P(Wq <= t) (Erlang C)",
        formula="P(Wq <= t) = 1 − C(c, A)·e^{−(cμ − λ)t}",
        assumptions="M/M/c: Poisson arrivals, exponential service, c identical servers, one FCFS queue, "
        "no abandonment; its inverse is the wait quantile of `mmc`",
        inputs=(*RATES, SERVERS,
                Input("threshold_seconds", "wait thresholds t", "s", NON_NEGATIVE, required=True, many=True)),
        rules=(STABLE,),
        outputs=(
            Output("utilisation", "utilisation rho = A/c", _call(queueing.utilisation, _mmc)),
            Output("wait_probability", "P(wait > 0), Erlang C", _call(queueing.mmc_wait_probability, _mmc)),
            Output("mean_wait_seconds", "mean wait Wq = C/(c mu - lambda)",
                   _call(queueing.mmc_mean_wait_seconds, _mmc), "s"),
            Output("service_level_within_{item!k}_seconds",
                   "P(wait <= {item:g} s) = 1 - C e^(-(c mu - lambda) t)",
                   _call_each(queueing.mmc_service_level, _mmc, "wait_threshold_seconds"),
                   each="threshold_seconds"),
        ),
    ),
    Subcommand(
        "tandem", "response-time percentiles across M/M/c stations in series",
        "M/M/c stations in tandem: end-to-end response time",
        formula="W = Σ W_i (exact, Burke); P(T > t) for T = Σ T_i is the convolution of the stations' "
        "exact sojourn distributions, evaluated by uniformization and inverted by bisection",
        assumptions="Poisson arrivals at the first station, exponential service, FCFS; exact for M/M/1 "
        "stations (their sojourns are independent, Reich 1957), an independence approximation when a "
        "station has several servers (overtaking makes the sojourns dependent)",
        inputs=(ARRIVAL_RATE,
                Input("service_rates", "mu_i, service rate of one server per station", "1/s", POSITIVE,
                      required=True, many=True),
                Input("servers", "c_i per station, or one value for every station", "", AT_LEAST_ONE, int,
                      default=[1], many=True),
                QUANTILES),
        rules=(
            Condition("one --servers value, or one per --service-rates station",
                      lambda args: len(args.servers) in (1, len(args.service_rates))),
            Condition("--arrival-rate < --servers x --service-rates at every station (utilisation below 1)",
                      lambda args: max(_station_utilisations(args)) < 1.0),
        ),
        outputs=(
            Output("exact", "percentiles exact (every station M/M/1)",
                   lambda args: all(c == 1 for c in _tandem_servers(args))),
            Output("bottleneck_utilisation", "bottleneck utilisation max rho_i",
                   lambda args: max(_station_utilisations(args))),
            Output("mean_response_time_seconds", "mean response time W = sum W_i",
                   _call(queueing.tandem_mean_response_time_seconds, _tandem), "s"),
            _quantile_rows("response time", queueing.tandem_response_time_quantile_seconds, _tandem),
            Output("sum_of_station_p{item!q}_seconds",
                   "sum of the stations' p{item!p} (not the p{item!p} of the sum)",
                   _station_quantiles_sum, "s", each="quantiles"),
        ),
    ),
    Subcommand(
        "mmck", "M/M/c/K blocking, throughput and response time (Envoy overflow)",
        "M/M/c/K: capacity K = in service + queued (Envoy max_requests + max_pending_requests)",
        formula="birth-death chain on 0..K; blocking P_K; throughput λ(1 − P_K); W = L/(λ(1 − P_K))",
        assumptions="Poisson arrivals, exponential service, c servers, at most K in the system (an "
        "arrival that finds K is blocked); valid at any load",
        inputs=(Input("arrival_rate", "lambda, arrival rate; the admitted response time divides by it",
                      "1/s", POSITIVE, required=True),
                SERVICE_RATE,
                Input("servers", "c, requests served at once", "", AT_LEAST_ONE, int, required=True),
                Input("capacity", "K = c + max_pending_requests", "", AT_LEAST_ONE, int, required=True)),
        rules=(Condition("--capacity >= --servers (K counts the requests in service)",
                         lambda args: args.capacity >= args.servers),),
        outputs=(
            Output("offered_utilisation", "offered utilisation lambda/(c mu)", _call(queueing.utilisation, _mmc)),
            Output("blocking_probability", "blocking probability P(N = K) (503 overflow)",
                   _call(queueing.mmck_blocking_probability, _mmck)),
            Output("throughput_per_second", "admitted throughput lambda (1 - P_K)",
                   _call(queueing.mmck_throughput_per_second, _mmck), "1/s"),
            Output("mean_number_in_system", "mean number in system L",
                   _call(queueing.mmck_mean_number_in_system, _mmck)),
            Output("mean_wait_seconds", "mean wait of admitted",
                   _call(queueing.mmck_mean_wait_seconds, _mmck), "s"),
            Output("mean_response_time_seconds", "mean response time of admitted",
                   _call(queueing.mmck_mean_response_time_seconds, _mmck), "s"),
        ),
    ),
    Subcommand(
        "erlang", "Erlang B and Erlang C for an offered load and c servers",
        "Erlang B and C tables",
        formula="B(c, A) by the recursion B(k) = A·B(k−1)/(k + A·B(k−1)); "
        "C = B/(1 − ρ(1 − B)), ρ = A/c",
        assumptions="Poisson arrivals; B: blocked calls cleared, insensitive to the service distribution; "
        "C: exponential service, unbounded FCFS queue, shown only when A < c",
        inputs=(Input("load", "offered load A = lambda/mu", "erlang", required=True),
                Input("servers", "c, number of servers", "", AT_LEAST_ONE, int, required=True)),
        outputs=(
            Output("erlang_b", "Erlang B: blocking of M/M/c/c",
                   lambda args: queueing.erlang_b(offered_load_erlangs=args.load, servers=args.servers)),
            Output("erlang_c", "Erlang C: P(wait > 0) in M/M/c",
                   lambda args: queueing.erlang_c(offered_load_erlangs=args.load, servers=args.servers),
                   when=Condition("when --load < --servers", lambda args: args.load < args.servers)),
        ),
    ),
    Subcommand(
        "md1", "M/D/1 (constant service) mean wait and response time",
        "M/D/1 (Pollaczek-Khinchine, constant service)",
        formula="Wq = ρ/(2μ(1 − ρ)), half the M/M/1 wait; W = Wq + 1/μ; L = λW",
        assumptions="Poisson arrivals, constant service time 1/μ, one FCFS server",
        inputs=RATES,
        rules=(STABLE_ONE_SERVER,),
        outputs=(
            Output("utilisation", "utilisation rho", _call(queueing.utilisation, _rates)),
            Output("mean_wait_seconds", "mean wait Wq = rho/(2 mu (1 - rho))",
                   _call(queueing.md1_mean_wait_seconds, _rates), "s"),
            Output("mean_response_time_seconds", "mean response time W",
                   _call(queueing.md1_mean_response_time_seconds, _rates), "s"),
            Output("mean_number_in_system", "mean number in system L",
                   _call(queueing.md1_mean_number_in_system, _rates)),
            Output("mm1_mean_wait_seconds", "M/M/1 mean wait (for comparison)",
                   _call(queueing.mm1_mean_wait_seconds, _rates), "s"),
        ),
    ),
    Subcommand(
        "mg1", "M/G/1 Pollaczek-Khinchine mean wait for a service SCV",
        "M/G/1 (Pollaczek-Khinchine, service SCV cs2)",
        formula="Wq = ρ(1 + Cs²)/(2μ(1 − ρ)); W = Wq + 1/μ",
        assumptions="Poisson arrivals, i.i.d. service with squared coefficient of variation Cs², "
        "one FCFS server",
        inputs=(*RATES, Input("cs2", "service-time squared coefficient of variation", "", required=True)),
        rules=(STABLE_ONE_SERVER,),
        outputs=(
            Output("utilisation", "utilisation rho", _call(queueing.utilisation, _rates)),
            Output("mean_wait_seconds", "mean wait Wq = rho (1 + cs2)/(2 mu (1 - rho))",
                   lambda args: queueing.mg1_mean_wait_seconds(**_rates(args), service_scv=args.cs2), "s"),
            Output("mean_response_time_seconds", "mean response time W",
                   lambda args: queueing.mg1_mean_response_time_seconds(**_rates(args), service_scv=args.cs2),
                   "s"),
        ),
    ),
    Subcommand(
        "kingman", "Kingman G/G/1 (or Allen-Cunneen G/G/c with --servers) approximation",
        lambda args: "Kingman G/G/1 approximation" if args.servers == 1 else "Allen-Cunneen G/G/c approximation",
        formula="Kingman: Wq ≈ (ρ/(1 − ρ))·((Ca² + Cs²)/2)·(1/μ); "
        "Allen–Cunneen: Wq ≈ (C(c, A)/(cμ − λ))·(Ca² + Cs²)/2",
        assumptions="approximations for general arrivals and service: tight in heavy traffic, exact for "
        "M/G/1 (Kingman with Ca² = 1) and M/M/c (Allen–Cunneen), loose at low load",
        inputs=(*RATES,
                Input("servers", "c, 1 for Kingman", "", AT_LEAST_ONE, int, default=1),
                Input("ca2", "inter-arrival squared coefficient of variation", "", required=True),
                Input("cs2", "service-time squared coefficient of variation", "", required=True)),
        rules=(STABLE,),
        outputs=(
            Output("utilisation", "utilisation rho", _call(queueing.utilisation, _mmc)),
            Output("mean_wait_seconds", "mean wait Wq (approx.)",
                   lambda args: _kingman(args, response=False), "s"),
            Output("mean_response_time_seconds", "mean response time W (approx.)",
                   lambda args: _kingman(args, response=True), "s"),
        ),
    ),
    Subcommand(
        "little", "Little's law L = lambda W: give two, get the third",
        "Little's law L = lambda W",
        formula="L = λ·W, W = L/λ, λ = L/W",
        assumptions="any stable system, discipline and distributions, as long-run averages over the "
        "same window; λ is the admitted throughput",
        inputs=(Input("arrival_rate", "throughput lambda", "1/s"),
                Input("mean_time", "mean time in system W", "s"),
                Input("mean_number", "mean number in system L, the in-flight count")),
        rules=(
            Condition("exactly two of --arrival-rate, --mean-time and --mean-number "
                      "(Little's law finds the third)",
                      lambda args: [args.arrival_rate, args.mean_time, args.mean_number].count(None) == 1),
            Condition("--arrival-rate > 0 to find --mean-time",
                      lambda args: args.mean_time is not None or args.arrival_rate != 0),
            Condition("--mean-time > 0 to find --arrival-rate",
                      lambda args: args.arrival_rate is not None or args.mean_time != 0),
        ),
        outputs=(
            Output("mean_number_in_system", "mean number in system L = lambda W", _little,
                   when=missing("mean_number")),
            Output("mean_time_in_system_seconds", "mean time in system W = L/lambda", _little, "s",
                   when=missing("mean_time")),
            Output("throughput_per_second", "throughput lambda = L/W", _little, "1/s",
                   when=missing("arrival_rate")),
        ),
    ),
    Subcommand(
        "knee", "utilisation knee W = S/(1 - rho)",
        "Utilisation knee W = S/(1 - rho)",
        formula="W = S/(1 − ρ): 2·S at 0.5, 5·S at 0.8, 10·S at 0.9, 20·S at 0.95",
        assumptions="the M/M/1 mean response time written with S = 1/μ; for c servers the knee sits "
        "at a higher ρ",
        inputs=(Input("service_time", "mean service time S", "s", POSITIVE, required=True),
                Input("utilisation", "rho values", "", HALF_OPEN_UNIT, default=[0.5, 0.8, 0.9, 0.95], many=True)),
        outputs=(
            Output("response_time_at_{item!q}_percent_seconds", "W at rho = {item:g}",
                   lambda args, rho: queueing.knee_mean_response_time_seconds(
                       mean_service_time_seconds=args.service_time, utilisation=rho),
                   "s", each="utilisation"),
        ),
    ),
    Subcommand(
        "retry", "retry amplification for failure probability p and r retries",
        "Retry amplification",
        formula="attempts a = (1 − p^(r+1))/(1 − p), r + 1 at p = 1; load λ·a; success 1 − p^(r+1); "
        "worst case (r + 1)^depth; under an Envoy budget λ + min(λ(a − 1), max(m/T, λf/(1 − f)))",
        assumptions="each attempt fails independently with p and is retried until r retries are spent; "
        "the budget line is a fluid approximation (Little's law) of Envoy's retry budget; the storm line "
        "is the crude metastability check λ < μ <= λ(r + 1) (see `metastability`)",
        inputs=(Input("arrival_rate", "request rate lambda", "1/s", required=True),
                Input("p", "probability an attempt fails", "", PROBABILITY, required=True),
                Input("retries", "r, retries per request", "", NON_NEGATIVE, int, required=True),
                Input("depth", "retrying hops in the chain", "", AT_LEAST_ONE, int, default=1),
                Input("attempt_time", "mean attempt time T: adds the budget-capped load", "s", POSITIVE),
                Input("budget_percent", "Envoy retry budget percent", "%", Domain(0.0, 100.0), default=20.0),
                Input("min_retry_concurrency", "Envoy retry budget minimum", "", NON_NEGATIVE, int, default=3),
                Input("capacity", "callee capacity mu: adds the metastability check", "1/s", POSITIVE)),
        outputs=(
            Output("attempts_per_request", "attempts per request (1 - p^(r+1))/(1 - p)",
                   _call(retries.retry_attempts_per_request, _retry_policy)),
            Output("offered_load_per_second", "offered load at the callee",
                   lambda args: retries.retry_offered_load_per_second(arrival_rate_per_second=args.arrival_rate,
                                                                      **_retry_policy(args)), "1/s"),
            Output("success_probability", "requests that succeed 1 - p^(r+1)",
                   _call(retries.retry_success_probability, _retry_policy)),
            Output("worst_case_amplification", "worst case (r + 1)^depth, depth {depth}",
                   lambda args: retries.retry_worst_case_amplification(retries=args.retries, depth=args.depth)),
            Output("layered_amplification", "expected amplification, bottom fails with p",
                   lambda args: retries.retry_layered_amplification(depth=args.depth, **_retry_policy(args))),
            Output("budgeted_offered_load_per_second", "offered load under a {budget_percent:g}% retry budget",
                   lambda args: retries.retry_budget_offered_load_per_second(
                       arrival_rate_per_second=args.arrival_rate, mean_attempt_seconds=args.attempt_time,
                       budget_percent=args.budget_percent, min_retry_concurrency=args.min_retry_concurrency,
                       **_retry_policy(args)),
                   "1/s", when=given("attempt_time")),
            Output("self_sustaining_storm", "storm outlives its trigger: lambda < mu <= lambda (r + 1)",
                   lambda args: retries.is_retry_storm_self_sustaining(
                       arrival_rate_per_second=args.arrival_rate, capacity_per_second=args.capacity,
                       retries=args.retries),
                   when=given("capacity")),
        ),
    ),
    Subcommand(
        "metastability", "retry-storm threshold capacity/(r + 1) and the hysteresis band up to capacity",
        "Retry-storm metastability threshold (Bronson et al. 2021; Huang et al. 2022)",
        formula="λ* = capacity/a(p, r), a = (1 − p^(r+1))/(1 − p), so capacity/(r + 1) at p = 1; "
        "recovers below λ*, metastable on [λ*, capacity), overloaded from the capacity up",
        assumptions="once overloaded, attempts time out after using capacity and fail with p ≈ 1, so "
        "requests offer λ·a(p, r) attempts; the storm sustains itself while that reaches the capacity; "
        "a fluid model (timeouts long against the service time, no cancellation of timed-out work)",
        inputs=(Input("capacity", "callee capacity c x mu", "1/s", POSITIVE, required=True),
                Input("retries", "r, retries per request", "", NON_NEGATIVE, int, required=True),
                Input("p", "failure probability of an attempt while overloaded", "", UNIT_EXCLUDING_ZERO,
                      default=1.0),
                Input("arrival_rate", "request rate lambda: adds where it sits", "1/s"),
                Input("budget_ratio", "SRE per-client retry ratio: adds the threshold under it", "",
                      HALF_OPEN_UNIT)),
        outputs=(
            Output("threshold_per_second", "metastability threshold lambda* = capacity/a(p, r)",
                   _storm_threshold, "1/s"),
            Output("threshold_share_of_capacity", "lambda*/capacity, 1/(r + 1) at p = 1",
                   lambda args: _storm_threshold(args) / args.capacity),
            Output("band_low_per_second", "hysteresis band starts at lambda*", _storm_threshold, "1/s"),
            Output("band_high_per_second", "hysteresis band ends below the capacity",
                   lambda args: args.capacity, "1/s"),
            Output("storm_offered_load_per_second", "offered load once overloaded lambda a(p, r)",
                   lambda args: retries.retry_offered_load_per_second(arrival_rate_per_second=args.arrival_rate,
                                                                      **_retry_policy(args)),
                   "1/s", when=given("arrival_rate")),
            Output("regime", "after a trigger the system",
                   lambda args: retries.retry_storm_regime(arrival_rate_per_second=args.arrival_rate,
                                                           **_storm(args)),
                   when=given("arrival_rate")),
            Output("budgeted_threshold_per_second", "threshold under a {budget_ratio!p}% retry ratio",
                   _budgeted_storm_threshold, "1/s", when=given("budget_ratio")),
        ),
    ),
    Subcommand(
        "retry-budget", "Envoy retry budget: max concurrent retries",
        "Envoy retry budget",
        formula="max concurrent retries = max(min_retry_concurrency, ⌊budget_percent/100 × active⌋)",
        assumptions="Envoy's retry_budget: active counts active + pending requests, the product is "
        "truncated to an integer, a retry over the cap is not made",
        inputs=(Input("active", "active + pending requests", "", required=True),
                Input("budget_percent", "budget percent", "%", Domain(0.0, 100.0, high_open=False), default=20.0),
                Input("min_retry_concurrency", "minimum", "", NON_NEGATIVE, int, default=3)),
        outputs=(
            Output("max_active_retries", "max concurrent retries max(min, floor(pct x active))",
                   lambda args: retries.retry_budget_max_active_retries(
                       active_requests=args.active, budget_percent=args.budget_percent,
                       min_retry_concurrency=args.min_retry_concurrency)),
        ),
    ),
    Subcommand(
        "retry-ratio", "SRE book per-client retry budget: retries at most 10% of requests, amplification <= 1.1",
        "Per-client retry ratio budget (Google SRE book)",
        formula="attempts per request 1 + min(a(p, r) − 1, β), a = (1 − p^(r+1))/(1 − p); at most 1 + β",
        assumptions="attempts fail independently with p; the ratio counts retries per original request "
        "over a window long against one request (counted among all attempts it would allow 1/(1 − β))",
        inputs=(Input("p", "probability an attempt fails", "", PROBABILITY, required=True),
                Input("retries", "r, per-request retry limit; 2 is three attempts", "", NON_NEGATIVE, int,
                      default=2),
                Input("budget_ratio", "retries allowed per request, client-wide", "", HALF_OPEN_UNIT,
                      default=0.1),
                Input("arrival_rate", "request rate lambda: adds the offered load", "1/s")),
        outputs=(
            Output("unbudgeted_attempts_per_request", "attempts per request, per-request limit only",
                   _call(retries.retry_attempts_per_request, _retry_policy)),
            Output("attempts_per_request", "attempts per request under the retry ratio", _ratio_attempts),
            Output("max_amplification", "worst case 1 + ratio",
                   lambda args: retries.retry_ratio_budget_max_amplification(budget_ratio=args.budget_ratio)),
            Output("max_amplification_if_counted_among_attempts",
                   "worst case if counted among all attempts 1/(1 - ratio)",
                   lambda args: 1.0 / (1.0 - args.budget_ratio)),
            Output("offered_load_per_second", "offered load under the retry ratio",
                   lambda args: args.arrival_rate * _ratio_attempts(args), "1/s", when=given("arrival_rate")),
        ),
    ),
    Subcommand(
        "throttle", "client-side adaptive throttling rejection probability",
        "Client-side adaptive throttling (Google SRE)",
        formula="P(reject) = max(0, (requests − K·accepts)/(requests + 1))",
        assumptions="counts over the client's trailing window (2 minutes in the SRE book); K = 2 by "
        "default, lower K throttles harder",
        inputs=(Input("requests", "requests in the trailing window", "", required=True),
                Input("accepts", "of those, accepted by the backend", "", required=True),
                Input("k", "multiplier K", "", POSITIVE, default=2.0)),
        rules=(Condition("--accepts <= --requests (a backend cannot accept more than it got)",
                         lambda args: args.accepts <= args.requests),),
        outputs=(
            Output("rejection_probability", "client-side rejection max(0, (req - K acc)/(req + 1))",
                   lambda args: retries.adaptive_throttle_rejection_probability(
                       requests=args.requests, accepts=args.accepts, multiplier=args.k)),
        ),
    ),
    Subcommand(
        "throttle-steady", "adaptive throttling in steady state: local rejections and backend load",
        "Client-side adaptive throttling in steady state (Google SRE)",
        formula="with the backend accepting a share a of the demand: the client rejects max(0, 1 − K·a), "
        "sends min(1, K·a); the backend rejects min(1, K·a) − a and receives min(1/a, K) times what "
        "it accepts",
        assumptions="steady demand and capacity over the window; window counts large enough that the "
        "+1 is negligible; K >= 1",
        inputs=(Input("accept_share", "share a of the demand the backend can accept", "", UNIT_EXCLUDING_ZERO,
                      required=True),
                Input("k", "multiplier K", "", AT_LEAST_ONE, default=2.0),
                Input("arrival_rate", "client demand lambda: adds rates", "1/s")),
        outputs=(
            Output("local_rejection_share", "rejected by the client max(0, 1 - K a)",
                   lambda args: _throttle(args).local_rejection_share),
            Output("sent_share", "sent to the backend min(1, K a)", lambda args: _throttle(args).sent_share),
            Output("accepted_share", "accepted by the backend a", lambda args: _throttle(args).accepted_share),
            Output("backend_rejection_share", "rejected by the backend min(1, K a) - a",
                   lambda args: _throttle(args).backend_rejection_share),
            Output("backend_load_over_capacity", "backend load / what it accepts, min(1/a, K)",
                   lambda args: _throttle(args).backend_load_over_capacity),
            Output("backend_load_per_second", "backend load lambda min(1, K a)",
                   lambda args: args.arrival_rate * _throttle(args).sent_share, "1/s",
                   when=given("arrival_rate")),
            Output("local_rejections_per_second", "client rejections lambda max(0, 1 - K a)",
                   lambda args: args.arrival_rate * _throttle(args).local_rejection_share, "1/s",
                   when=given("arrival_rate")),
        ),
    ),
    Subcommand(
        "cache", "look-aside cache: backend load lambda (1 - h) and the 1/(1 - h) surge when the cache is lost",
        "Look-aside cache: misses are the backend's load",
        formula="backend load λ(1 − h); a lost cache multiplies it by 1/(1 − h); a hit ratio falling "
        "from h to h' by (1 − h')/(1 − h)",
        assumptions="a look-aside (cache-aside) client, so the backend sees exactly the misses; h counted "
        "over requests; a cold cache refills over time (the surge is the moments after a loss)",
        inputs=(Input("hit_ratio", "hit ratio h", "", HALF_OPEN_UNIT, required=True),
                Input("arrival_rate", "request rate lambda: adds backend rates", "1/s"),
                Input("degraded_hit_ratio", "a lower hit ratio h': adds its multiplier", "", HALF_OPEN_UNIT)),
        outputs=(
            Output("miss_ratio", "miss ratio 1 - h", lambda args: 1.0 - args.hit_ratio),
            Output("miss_amplification", "backend load multiplier if the cache is lost 1/(1 - h)",
                   lambda args: queueing.cache_miss_amplification(hit_ratio=args.hit_ratio)),
            Output("backend_rate_per_second", "backend load with the cache lambda (1 - h)",
                   lambda args: queueing.cache_backend_arrival_rate_per_second(
                       arrival_rate_per_second=args.arrival_rate, hit_ratio=args.hit_ratio),
                   "1/s", when=given("arrival_rate")),
            Output("cold_backend_rate_per_second", "backend load without the cache lambda",
                   lambda args: args.arrival_rate, "1/s", when=given("arrival_rate")),
            Output("degradation_amplification", "backend load multiplier at h' (1 - h')/(1 - h)",
                   lambda args: queueing.cache_degradation_amplification(
                       hit_ratio=args.hit_ratio, degraded_hit_ratio=args.degraded_hit_ratio),
                   when=given("degraded_hit_ratio")),
        ),
    ),
    Subcommand(
        "thread-pool", "thread-pool starvation by Little's law: lambda W threads busy against the pool size",
        "Thread pool by Little's law",
        formula="busy threads λ·W; starved when λ·W >= N; max throughput N/W; "
        "P(a task queues) = Erlang C(λW, N)",
        assumptions="W is how long a task holds a thread, downstream waits included; λW holds as a "
        "long-run mean for any distributions; the Erlang C line assumes Poisson arrivals and "
        "exponential hold times and is shown only when the pool is not starved",
        inputs=(Input("arrival_rate", "task rate lambda", "1/s", required=True),
                Input("hold_seconds", "mean time a task holds its thread W", "s", POSITIVE, required=True),
                Input("pool", "threads N", "", AT_LEAST_ONE, int, required=True)),
        outputs=(
            Output("busy_threads", "threads busy on average lambda W",
                   _call(queueing.thread_pool_busy_threads, _thread_pool)),
            Output("pool_utilisation", "pool utilisation lambda W/N",
                   lambda args: queueing.thread_pool_busy_threads(**_thread_pool(args)) / args.pool),
            Output("starved", "starved: lambda W >= N", _call(queueing.thread_pool_is_starved, _pool)),
            Output("max_throughput_per_second", "max throughput N/W",
                   lambda args: queueing.thread_pool_max_throughput_per_second(
                       thread_hold_seconds=args.hold_seconds, pool_threads=args.pool), "1/s"),
            Output("wait_probability", "P(task waits for a thread), Erlang C",
                   _call(queueing.thread_pool_wait_probability, _pool),
                   when=Condition("when not starved",
                                  lambda args: not queueing.thread_pool_is_starved(**_pool(args)))),
        ),
    ),
    Subcommand(
        "downtime", "allowed downtime from an availability SLO, per 30 days, per year and per window",
        "Allowed downtime (error budget in time)",
        formula="downtime = (1 − A)·window; 30 days = 2,592,000 s; a year = 365.25 days",
        assumptions="time-based availability; for a request-based SLO it is the length of a full outage "
        "that spends the whole budget",
        inputs=(Input("slo", "availability objective A, e.g. 0.999", "", PROBABILITY, required=True),
                Input("window_days", "a window of your own", "d", POSITIVE)),
        outputs=(
            Output("error_budget", "error budget 1 - A", lambda args: 1.0 - args.slo),
            Output("per_day_seconds", "allowed downtime per day", _downtime(1.0), "s", _format_duration),
            Output("per_30_days_seconds", "allowed downtime per 30 days", _downtime(30.0), "s", _format_duration),
            Output("per_year_seconds", "allowed downtime per year (365.25 d)", _downtime(tails.DAYS_PER_YEAR),
                   "s", _format_duration),
            Output("per_window_seconds", "allowed downtime per {window_days:g} days", _downtime(None), "s",
                   _format_duration, when=given("window_days")),
        ),
    ),
    Subcommand(
        "hpa-lag", "HPA reaction-lag budget, term by term, against the seed's 30 s",
        "HPA reaction lag: load step -> needed pods Ready",
        formula="T = metric pipeline (φR + R/2 + h/2) + sync pickup (S/2) + stabilization + rate-limit "
        "waits + API and scheduling + container start + readiness (boot rounded up to a probe tick)",
        assumptions="expected values, defaults from docs/hpa-decide.md; nodes with room, "
        "cached images unless given; not modelled: a cluster autoscaler, the Prometheus-adapter path "
        "(pass its delay as --metric-pipeline)",
        inputs=_hpa_inputs(lagmodel.hpa_lag_budget),
        outputs=(
            *_lag_rows(lagmodel.hpa_lag_budget, "total (expected)"),
            Output("seed_lag_seconds", "seed toy constant", _seed_lag, "s"),
            Output("seed_minus_model_seconds", "seed - model",
                   lambda args: _seed_lag(args) - _hpa(lagmodel.hpa_lag_budget, args).total_seconds, "s"),
        ),
    ),
    Subcommand(
        "hpa-lag-bound", "worst-case HPA reaction lag: every term of the lag budget at its maximum",
        "HPA reaction lag, worst case: every term at its maximum",
        formula="T_max = metric pipeline (φR + R + h) + sync pickup (S) + the deterministic terms of "
        "`hpa-lag` at the upper ends of the reference's ranges",
        assumptions="the random phases (metrics-server scrape, kubelet sample age, HPA sync) at their "
        "ends; defaults: housekeeping 15 s, API and scheduling 1 s each, container start 3 s, endpoint "
        "propagation 1 s; not bounded: node provisioning, image pulls unless given",
        inputs=_hpa_inputs(lagmodel.hpa_lag_bound),
        outputs=(
            *_lag_rows(lagmodel.hpa_lag_bound, "total (worst case)"),
            Output("expected_total_seconds", "total (expected, same inputs)",
                   lambda args: _hpa(lagmodel.hpa_lag_budget, args).total_seconds, "s"),
            Output("seed_lag_seconds", "seed toy constant", _seed_lag, "s"),
        ),
    ),
    Subcommand(
        "cascade", "the seed's toy cascade (factor 0.3) against serial composition",
        "Seed toy cascade vs. serial composition (top to bottom)",
        formula="g_n = 1 − f_n, g_i = (1 − f_i)·(1 − k·(1 − g_{i+1})), k = 0.3; serial ∏(1 − f_i)",
        assumptions="the seed's toy: 70% of a callee's failures absorbed by its caller; k = 1 is the "
        "serial chain without fallbacks",
        inputs=(Input("p", "own failure share of each service, top first", "", PROBABILITY, required=True,
                      many=True),
                Input("cascade_factor", "k", "", PROBABILITY, default=seedmodels.SEED_CASCADE_FACTOR)),
        outputs=(
            Output("seed_goodput_fraction", "seed toy cascade (factor {cascade_factor:g}) goodput",
                   lambda args: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=args.p,
                                                                         cascade_factor=args.cascade_factor)),
            Output("serial_goodput_fraction", "serial chain goodput prod(1 - f_i)",
                   lambda args: 1.0 - tails.slo_serial_failure_probability(failure_probabilities=args.p)),
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Evaluating one subcommand: check the domains, then fill the rows.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    """Machine name, the key in ``--json`` output."""
    label: str
    """What a person reads in the table."""
    value: Value
    unit: str = ""
    show: Callable[[Value], str] | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    command: str
    title: str
    inputs: dict[str, object]
    rows: list[Row]


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class DomainError(ValueError):
    """An input outside the domain the table states for it (as opposed to a formula's own check)."""


def check_domains(subcommand: Subcommand, args: argparse.Namespace) -> None:
    """Raise DomainError naming the first option outside its domain, or the first broken rule."""
    for spec in subcommand.inputs:
        given_value = getattr(args, spec.name)
        for value in given_value if spec.many and given_value is not None else [given_value]:
            if value is not None and not spec.domain.contains(value):
                finite = "a finite number " if math.isinf(value) and spec.domain.high == math.inf else ""
                raise DomainError(f"{spec.option} {_number(value)} must be {finite}{spec.allowed}")
    for rule in subcommand.rules:
        if not rule.holds(args):
            raise DomainError(f"need {rule.text}; got {_mentioned_values(rule.text, args)}")


def _mentioned_values(text: str, args: argparse.Namespace) -> str:
    seen = []
    for option in dict.fromkeys(re.findall(r"--[a-z][a-z0-9-]*", text)):
        value = getattr(args, option[2:].replace("-", "_"), None)
        if value is not None:
            shown = " ".join(_number(item) for item in value) if isinstance(value, list) else _number(value)
            seen.append(f"{option} {shown}")
    return ", ".join(seen) or "none of them"


def evaluate(subcommand: Subcommand, args: argparse.Namespace) -> Report:
    """The report of one subcommand.

    Raises DomainError when an input breaks the table's domains, ValueError when a formula refuses.
    """
    check_domains(subcommand, args)
    context = vars(args)
    rows = []
    for output in subcommand.outputs:
        if output.when is not None and not output.when.holds(args):
            continue
        items = getattr(args, output.each) if output.each else [None]
        for item in items:
            fields = {**context, "item": item}
            value = output.value(args, item) if output.each else output.value(args)
            rows.append(
                Row(
                    _TEMPLATE.format(output.key, **fields),
                    _TEMPLATE.format(output.label, **fields),
                    value,
                    output.unit,
                    output.show,
                )
            )
    title = subcommand.title(args) if callable(subcommand.title) else subcommand.title
    inputs = {spec.name: getattr(args, spec.name) for spec in subcommand.inputs}
    inputs = {name: value for name, value in inputs.items() if value is not None}
    return Report(subcommand.name, title, inputs, rows)


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def _format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if math.isinf(value):
        return "inf"
    return f"{value:.7g}"


def _format_input(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_format_input(item) for item in value)
    if isinstance(value, float):
        return _format_value(value)
    return str(value)


def render_table(report: Report) -> str:
    """The human-readable form: a title, the inputs, and an aligned quantity/value/unit table.

    A row with its own ``show`` (a duration) prints that instead of value and unit.
    """
    inputs = ", ".join(f"{name} {_format_input(value)}" for name, value in report.inputs.items())
    header = ("quantity", "value", "unit")
    body = [
        (row.label, row.show(row.value), "") if row.show else (row.label, _format_value(row.value), row.unit)
        for row in report.rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(3)]
    lines = [report.title, f"inputs: {inputs}", ""]
    for label, value, unit in [header, *body]:
        lines.append(f"{label:<{widths[0]}}  {value:>{widths[1]}}  {unit}".rstrip())
    return "\n".join(lines)


def render_json(report: Report) -> str:
    """The machine form: command, title, inputs, results (key → value) and units (key → unit).

    Values are in the unit the ``units`` map names (durations in seconds, whatever the table shows).
    """
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
# The parser, read from the table.
# --------------------------------------------------------------------------------------------


def _option_help(spec: Input) -> str:
    facts = [spec.unit] if spec.unit else []
    facts.append(spec.allowed)
    if spec.required:
        facts.append("required")
    elif spec.default is not None:
        facts.append(f"default {_format_input(spec.default)}")
    return f"{spec.help} ({'; '.join(facts)})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subparser per table entry, which it carries as ``subcommand``."""
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
    for subcommand in TABLE:
        text = subcommand.help.replace("%", "%%")  # argparse expands %-placeholders in help
        sub = subparsers.add_parser(subcommand.name, parents=[common], help=text, description=text)
        sub.set_defaults(subcommand=subcommand)
        for spec in subcommand.inputs:
            sub.add_argument(
                spec.option,
                dest=spec.name,
                type=spec.type,
                nargs="+" if spec.many else None,
                required=spec.required,
                default=spec.default,
                metavar=spec.name.upper(),
                help=_option_help(spec).replace("%", "%%"),
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, evaluate one subcommand, print it; 0 on success, 2 on bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on -h (0) and on malformed arguments (2)
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    subcommand: Subcommand = args.subcommand
    try:
        report = evaluate(subcommand, args)
    except ValueError as error:
        print(f"{PROG} {subcommand.name}: error: {error}", file=sys.stderr)
        return 2
    print(render_json(report) if args.json else render_table(report))
    return 0


# --------------------------------------------------------------------------------------------
# The reference part of docs/formulas.md, generated from the table.
# --------------------------------------------------------------------------------------------

REFERENCE_BEGIN = "<!-- BEGIN reference generated from analysis/calculator.py TABLE; do not edit by hand -->"
REFERENCE_END = "<!-- END reference -->"


def _key_pattern(output: Output) -> str:
    key = re.sub(r"\{item[^}]*\}", f"<{output.each}>", output.key)
    return re.sub(r"\{(\w+)[^}]*\}", r"<\1>", key)


def _reference_entry(subcommand: Subcommand) -> list[str]:
    lines = [
        f"### `{subcommand.name}`",
        "",
        f"{subcommand.help[0].upper()}{subcommand.help[1:]}.",
        "",
        f"- Formula: {subcommand.formula}.",
        f"- Assumptions: {subcommand.assumptions}.",
    ]
    if subcommand.rules:
        lines.append("- Domain across options: " + "; ".join(rule.text for rule in subcommand.rules) + ".")
    lines += ["", "| option | meaning | unit | domain | default |", "|---|---|---|---|---|"]
    for spec in subcommand.inputs:
        values = " ..." if spec.many else ""
        default = "required" if spec.required else "—" if spec.default is None else _format_input(spec.default)
        lines.append(f"| `{spec.option}{values}` | {spec.help} | {spec.unit} | {spec.allowed} | {default} |")
    outputs = []
    for output in subcommand.outputs:
        shown = f"`{_key_pattern(output)}`" + (f" ({output.unit})" if output.unit else "")
        outputs.append(shown + (f" {output.when.text}" if output.when else ""))
    lines += ["", "`--json` results: " + ", ".join(outputs) + ".", ""]
    return lines


def reference_markdown() -> str:
    """Every subcommand with its formula, assumptions, options (unit, domain, default) and outputs."""
    lines = [REFERENCE_BEGIN, ""]
    for subcommand in TABLE:
        lines += _reference_entry(subcommand)
    return "\n".join([*lines, REFERENCE_END])


def write_reference(path: str | pathlib.Path) -> None:
    """Replace the generated reference in ``path`` (docs/formulas.md) with the table's current one."""
    document = pathlib.Path(path)
    text = document.read_text(encoding="utf-8")
    start, end = text.index(REFERENCE_BEGIN), text.index(REFERENCE_END) + len(REFERENCE_END)
    document.write_text(text[:start] + reference_markdown() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
