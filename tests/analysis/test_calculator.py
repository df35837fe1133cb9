"""The ``tailstorm formulas`` calculator, driven through ``main(argv)`` and its table.

We test these aspects:
- ``-h`` lists every subcommand of the table, in the table's order, and exits 0;
- every subcommand prints a quantity/value/unit table and exits 0;
- the table and ``--json`` (before or after the subcommand) carry the formulas' values, and the
  JSON inputs echo every input used, defaults included;
- input outside a model's domain exits 2 with one sentence naming the option and the allowed
  range, no traceback: for hand-picked cases and, from the table, for each bounded option just
  past each end;
- the table states each formula's whole domain: every option at the edges of its stated domain
  either breaks a stated rule or evaluates without the formula refusing;
- malformed arguments, a missing subcommand and an incomplete Little's-law call exit 2;
- every example in docs/formulas.md still prints exactly the output shown there, there is one
  for every subcommand, and the generated reference there matches the table;
- durations print as a person reads them while JSON keeps seconds.
"""

import argparse
import json
import math
import pathlib
import re
import shlex

import pytest

from analysis import calculator

SUBCOMMANDS = [
    "slo",
    "budget",
    "fanout",
    "hedge",
    "mm1",
    "mmc",
    "service-level",
    "tandem",
    "mmck",
    "erlang",
    "md1",
    "mg1",
    "kingman",
    "little",
    "knee",
    "retry",
    "metastability",
    "retry-budget",
    "retry-ratio",
    "throttle",
    "throttle-steady",
    "cache",
    "thread-pool",
    "downtime",
    "hpa-lag",
    "hpa-lag-bound",
    "cascade",
]

EXAMPLES = [
    pytest.param("slo --p 0.001 0.002 0.01", id="slo"),
    pytest.param("budget --slo 0.999 --services 5", id="budget"),
    pytest.param("fanout --p 0.01 --k 100", id="fanout"),
    pytest.param("hedge --mean-latency 0.01", id="hedge"),
    pytest.param("mm1 --arrival-rate 80 --service-rate 100", id="mm1"),
    pytest.param("mmc --arrival-rate 150 --service-rate 50 --servers 4", id="mmc"),
    pytest.param("service-level --arrival-rate 150 --service-rate 50 --servers 4 --threshold-seconds 0.02", id="sl"),
    pytest.param("tandem --arrival-rate 80 --service-rates 100 200", id="tandem"),
    pytest.param("mmck --arrival-rate 300 --service-rate 50 --servers 4 --capacity 8", id="mmck-overloaded"),
    pytest.param("erlang --load 2 --servers 3", id="erlang"),
    pytest.param("md1 --arrival-rate 80 --service-rate 100", id="md1"),
    pytest.param("mg1 --arrival-rate 80 --service-rate 100 --cs2 4", id="mg1"),
    pytest.param(
        "kingman --arrival-rate 150 --service-rate 50 --servers 4 --ca2 1 --cs2 0", id="allen-cunneen"
    ),
    pytest.param("little --arrival-rate 80 --mean-time 0.05", id="little"),
    pytest.param("knee --service-time 0.01 --utilisation 0.8", id="knee"),
    pytest.param("retry --arrival-rate 100 --p 1 --retries 3 --depth 3", id="retry"),
    pytest.param("metastability --capacity 100 --retries 3 --arrival-rate 40", id="metastability"),
    pytest.param("retry-budget --active 100", id="retry-budget"),
    pytest.param("retry-ratio --p 1", id="retry-ratio"),
    pytest.param("throttle --requests 100 --accepts 10", id="throttle"),
    pytest.param("throttle-steady --accept-share 0.25", id="throttle-steady"),
    pytest.param("cache --hit-ratio 0.9", id="cache"),
    pytest.param("thread-pool --arrival-rate 200 --hold-seconds 0.05 --pool 16", id="thread-pool"),
    pytest.param("downtime --slo 0.999", id="downtime"),
    pytest.param("hpa-lag --app-boot 20", id="hpa-lag"),
    pytest.param("hpa-lag-bound", id="hpa-lag-bound"),
    pytest.param("cascade --p 0.1 0.1", id="cascade"),
]

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "formulas.md"


def run(capsys: pytest.CaptureFixture[str], command: str) -> tuple[int, str, str]:
    code = calculator.main(shlex.split(command))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_subcommand_of_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert [subcommand.name for subcommand in calculator.TABLE] == SUBCOMMANDS
    code, out, _ = run(capsys, "-h")
    assert code == 0
    listed = re.findall(r"^    (\S+)", out, flags=re.MULTILINE)
    assert listed == SUBCOMMANDS


@pytest.mark.parametrize("command", EXAMPLES)
def test_every_subcommand_prints_a_table_and_exits_zero(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run(capsys, command)
    assert code == 0, err
    assert re.search(r"^quantity\s+value\s+unit$", out, flags=re.MULTILINE)


def test_mm1_table_shows_the_p99_and_the_seed_row(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "mm1 --arrival-rate 80 --service-rate 100")
    assert re.search(r"response time p99\s+0\.2302585\s+s", out)
    assert re.search(r"seed toy p99 = 4\.6 x W\s+0\.23\s+s", out)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("--json mmc --arrival-rate 150 --service-rate 50 --servers 4", id="json-before"),
        pytest.param("mmc --arrival-rate 150 --service-rate 50 --servers 4 --json", id="json-after"),
    ],
)
def test_json_output_carries_the_formula_values(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command)
    document = json.loads(out)
    assert code == 0
    assert document["command"] == "mmc"
    assert document["inputs"] == {
        "arrival_rate": 150.0,
        "service_rate": 50.0,
        "servers": 4,
        "quantiles": [0.5, 0.95, 0.99],  # defaults are inputs too
    }
    assert document["results"]["wait_probability"] == pytest.approx(0.509434, rel=1e-6)
    assert document["results"]["response_time_p99_seconds"] == pytest.approx(0.120126, rel=1e-5)
    assert document["units"]["mean_wait_seconds"] == "s"


def test_fanout_json_reproduces_the_tail_at_scale_63_percent(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "fanout --p 0.01 --k 100 --json")
    assert json.loads(out)["results"]["request_slow_probability"] == pytest.approx(1 - 0.99**100)


def test_retry_json_reports_the_worst_case_and_metastability(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "retry --arrival-rate 100 --p 0.5 --retries 3 --depth 5 --capacity 150 --json")
    results = json.loads(out)["results"]
    assert results["worst_case_amplification"] == 1024
    assert results["offered_load_per_second"] == pytest.approx(187.5)
    assert results["self_sustaining_storm"] is True


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        pytest.param(
            "mm1 --arrival-rate 120 --service-rate 100",
            "need --arrival-rate < --service-rate (utilisation below 1, else there is no steady state); "
            "got --arrival-rate 120, --service-rate 100",
            id="mm1-overloaded",
        ),
        pytest.param(
            "mmc --arrival-rate 250 --service-rate 50 --servers 4",
            "need --arrival-rate < --servers x --service-rate (utilisation below 1, else there is no steady "
            "state); got --arrival-rate 250, --servers 4, --service-rate 50",
            id="mmc-overloaded",
        ),
        pytest.param(
            "mmck --arrival-rate 1 --service-rate 1 --servers 4 --capacity 2",
            "need --capacity >= --servers (K counts the requests in service); got --capacity 2, --servers 4",
            id="capacity-below-servers",
        ),
        pytest.param("fanout --p 1.5 --k 3", "--p 1.5 must be in [0, 1]", id="probability"),
        pytest.param("mmc --arrival-rate 1 --service-rate 1 --servers 0", "--servers 0 must be a whole number >= 1",
                     id="whole-number"),
        pytest.param("mm1 --arrival-rate inf --service-rate 1", "--arrival-rate inf must be a finite number >= 0",
                     id="infinite"),
        pytest.param("mm1 --arrival-rate nan --service-rate 1", "--arrival-rate nan must be >= 0", id="not-a-number"),
        pytest.param("knee --service-time 0.01 --utilisation 0.5 1", "--utilisation 1 must be in [0, 1)",
                     id="one-of-many"),
        pytest.param(
            "little --arrival-rate 3",
            "need exactly two of --arrival-rate, --mean-time and --mean-number (Little's law finds the third); "
            "got --arrival-rate 3",
            id="little-needs-two",
        ),
        pytest.param(
            "little --arrival-rate 0 --mean-number 3",
            "need --arrival-rate > 0 to find --mean-time; got --arrival-rate 0",
            id="little-zero-rate",
        ),
        pytest.param("hpa-lag --probe-period 0", "--probe-period 0 must be > 0", id="zero-probe-period"),
        pytest.param(
            "tandem --arrival-rate 150 --service-rates 50 100 --servers 2 2",
            "need --arrival-rate < --servers x --service-rates at every station (utilisation below 1); "
            "got --arrival-rate 150, --servers 2 2, --service-rates 50 100",
            id="tandem-unstable-station",
        ),
        pytest.param(
            "throttle --requests 5 --accepts 6",
            "need --accepts <= --requests (a backend cannot accept more than it got); got --accepts 6, --requests 5",
            id="accepts-above-requests",
        ),
        pytest.param("metastability --capacity 100 --retries 3 --p 0", "--p 0 must be in (0, 1]", id="storm-p"),
        pytest.param("downtime --slo 99.9", "--slo 99.9 must be in [0, 1]", id="slo-as-percent"),
    ],
)
def test_bad_input_exits_2_with_one_sentence_naming_the_option_and_no_traceback(
    capsys: pytest.CaptureFixture[str], command: str, sentence: str
) -> None:
    code, out, err = run(capsys, command)
    assert code == 2
    assert err == f"tailstorm formulas {shlex.split(command)[0]}: error: {sentence}\n"
    assert out == ""


def _example_of(name: str) -> str:
    return next(command for command, _ in _documented_examples() if shlex.split(command)[0] == name)


def _outside(spec: calculator.Input) -> list[float]:
    """Values just past each finite end of an option's domain."""
    domain, step = spec.domain, 1 if spec.type is int else 0.5
    values = []
    if domain.low != -math.inf:
        values.append(domain.low if domain.low_open else domain.low - step)
    if domain.high != math.inf:
        values.append(domain.high if domain.high_open else domain.high + step)
    return values


OPTIONS_OUTSIDE = [
    pytest.param(subcommand.name, spec.option, value, id=f"{subcommand.name}{spec.option}={value:g}")
    for subcommand in calculator.TABLE
    for spec in subcommand.inputs
    for value in _outside(spec)
]


@pytest.mark.parametrize(("name", "option", "value"), OPTIONS_OUTSIDE)
def test_every_option_past_its_domain_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], name: str, option: str, value: float
) -> None:
    code, out, err = run(capsys, f"{_example_of(name)} {option} {value:g}")
    assert code == 2
    assert err.startswith(f"tailstorm formulas {name}: error: {option} {value:g} must be "), err
    assert "Traceback" not in err + out


def _inside_edges(spec: calculator.Input) -> list[float]:
    """Values at (or, for an open end, just inside) each end of an option's domain, or a large one.

    "Large" is 1e6 for a real number and 1000 for a whole one (servers, retries, depth: the
    Erlang recursions are linear in c, so a million servers is slow, not wrong).
    """
    domain = spec.domain
    tiny = 1e-9
    values = []
    if domain.low != -math.inf:
        values.append(domain.low + (1 if spec.type is int else tiny) * domain.low_open)
    if domain.high != math.inf:
        values.append(domain.high - tiny * domain.high_open)
    else:
        values.append(1000 if spec.type is int else 1e6)
    return [int(value) if spec.type is int else value for value in values]


@pytest.mark.parametrize("subcommand", calculator.TABLE, ids=lambda subcommand: subcommand.name)
def test_the_table_states_each_formulas_whole_domain(subcommand: calculator.Subcommand) -> None:
    # At the edges of every stated domain, either a stated rule refuses (a DomainError naming
    # options) or every formula evaluates: a bare ValueError here would be a domain the table
    # does not state, whose message names no option.
    base = calculator.build_parser().parse_args(shlex.split(_example_of(subcommand.name)))
    for spec in subcommand.inputs:
        for value in _inside_edges(spec):
            args = argparse.Namespace(**vars(base))
            setattr(args, spec.name, [value] if spec.many else value)
            try:
                calculator.evaluate(subcommand, args)
            except calculator.DomainError:
                continue
            except ValueError as error:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{subcommand.name} {spec.option} {value}: the formula refused: {error}")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("", id="no-subcommand"),
        pytest.param("mm1 --arrival-rate eighty --service-rate 100", id="not-a-number"),
        pytest.param("mm1 --arrival-rate 80", id="missing-option"),
        pytest.param("warp-drive", id="unknown-subcommand"),
    ],
)
def test_malformed_arguments_exit_2(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, _, err = run(capsys, command)
    assert code == 2
    assert "Traceback" not in err


def _documented_examples() -> list[tuple[str, str]]:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n\$ tailstorm formulas (.*?)\n(.*?)\n```", text, flags=re.DOTALL)
    return [(command, output) for command, output in blocks]


def test_docs_show_an_example_for_every_subcommand() -> None:
    shown = {shlex.split(command)[0] for command, _ in _documented_examples()}
    assert shown == {subcommand.name for subcommand in calculator.TABLE}


def test_docs_reference_is_the_one_the_table_generates() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.find(calculator.REFERENCE_BEGIN)
    end = text.find(calculator.REFERENCE_END) + len(calculator.REFERENCE_END)
    assert start >= 0 and end > start, "docs/formulas.md lacks the generated reference markers"
    assert text[start:end] == calculator.reference_markdown(), (
        "docs/formulas.md's reference is stale: run "
        ".venv/bin/python -c 'from analysis import calculator; calculator.write_reference(\"docs/formulas.md\")'"
    )
    for subcommand in calculator.TABLE:
        assert f"### `{subcommand.name}`" in text[start:end]
        assert subcommand.formula in text[start:end] and subcommand.assumptions in text[start:end]


@pytest.mark.parametrize(
    ("command", "expected"),
    [pytest.param(command, output, id=command) for command, output in _documented_examples()],
)
def test_documented_example_output_is_current(
    capsys: pytest.CaptureFixture[str], command: str, expected: str
) -> None:
    code, out, _ = run(capsys, command)
    assert code == 0
    assert out.rstrip("\n") == expected


def test_table_formatting_shows_infinity_booleans_and_words_readably() -> None:
    report = calculator.Report(
        "demo",
        "Demo",
        {"x": 1.5},
        [
            calculator.Row("a", "a value", math.inf, "s"),
            calculator.Row("c", "a regime", "metastable"),
            calculator.Row("b", "a flag", False),
        ],
    )
    table = calculator.render_table(report)
    assert "inf  s" in table
    assert re.search(r"^a regime\s+metastable$", table, flags=re.MULTILINE)
    assert table.rstrip().endswith("no")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(0.864, "0.864 s", id="under-a-minute"),
        pytest.param(2592.0, "43 min 12 s", id="three-nines-30-days"),
        pytest.param(31557.6, "8 h 45 min 57.6 s", id="three-nines-year"),
        pytest.param(3600.0, "1 h 0 min 0 s", id="an-hour"),
        pytest.param(90061.0, "1 d 1 h 1 min 1 s", id="over-a-day"),
        pytest.param(59.99, "59.99 s", id="just-under-a-minute"),
    ],
)
def test_durations_print_as_a_person_reads_them(seconds: float, shown: str) -> None:
    assert calculator._format_duration(seconds) == shown


def test_downtime_table_shows_minutes_while_json_keeps_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "downtime --slo 0.999")
    assert re.search(r"^allowed downtime per 30 days\s+43 min 12 s$", out, flags=re.MULTILINE)
    document = json.loads(run(capsys, "downtime --slo 0.999 --json")[1])
    assert document["results"]["per_30_days_seconds"] == pytest.approx(2592.0)
    assert document["units"]["per_30_days_seconds"] == "s"


def test_metastability_json_reports_threshold_band_and_regime(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "metastability --capacity 100 --retries 3 --arrival-rate 40 --budget-ratio 0.1 --json")
    results = json.loads(out)["results"]
    assert results["threshold_per_second"] == pytest.approx(25.0)
    assert (results["band_low_per_second"], results["band_high_per_second"]) == (pytest.approx(25.0), 100.0)
    assert results["storm_offered_load_per_second"] == pytest.approx(160.0)
    assert results["regime"] == "metastable"
    assert results["budgeted_threshold_per_second"] == pytest.approx(100.0 / 1.1)


def test_tandem_json_of_one_station_is_the_mmc_p99(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "tandem --arrival-rate 150 --service-rates 50 --servers 4 --quantiles 0.99 --json")
    results = json.loads(out)["results"]
    assert results["response_time_p99_seconds"] == pytest.approx(0.120126, rel=1e-5)  # as mmc above
    assert results["sum_of_station_p99_seconds"] == pytest.approx(results["response_time_p99_seconds"])
    assert results["exact"] is False
