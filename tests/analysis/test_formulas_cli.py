"""The ``tailstorm formulas`` calculator, driven through ``main(argv)``.

We test these aspects:
- ``-h`` lists every subcommand and exits 0;
- every subcommand prints a quantity/value/unit table and exits 0;
- the table and ``--json`` (before or after the subcommand) carry the formulas' values;
- input outside a model's domain exits 2 with the formula's sentence and no traceback;
- malformed arguments, a missing subcommand and an incomplete Little's-law call exit 2;
- every example in docs/formulas.md still prints exactly the output shown there.
"""

import json
import math
import pathlib
import re
import shlex

import pytest

from analysis import formulas_cli

SUBCOMMANDS = [
    "slo",
    "budget",
    "fanout",
    "hedge",
    "mm1",
    "mmc",
    "mmck",
    "erlang",
    "md1",
    "mg1",
    "kingman",
    "little",
    "knee",
    "retry",
    "retry-budget",
    "throttle",
    "hpa-lag",
    "cascade",
]

EXAMPLES = [
    pytest.param("slo --p 0.001 0.002 0.01", id="slo"),
    pytest.param("budget --slo 0.999 --services 5", id="budget"),
    pytest.param("fanout --p 0.01 --k 100", id="fanout"),
    pytest.param("hedge --mean-latency 0.01", id="hedge"),
    pytest.param("mm1 --arrival-rate 80 --service-rate 100", id="mm1"),
    pytest.param("mmc --arrival-rate 150 --service-rate 50 --servers 4", id="mmc"),
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
    pytest.param("retry-budget --active 100", id="retry-budget"),
    pytest.param("throttle --requests 100 --accepts 10", id="throttle"),
    pytest.param("hpa-lag --app-boot 20", id="hpa-lag"),
    pytest.param("cascade --p 0.1 0.1", id="cascade"),
]

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "formulas.md"


def run(capsys: pytest.CaptureFixture[str], command: str) -> tuple[int, str, str]:
    code = formulas_cli.main(shlex.split(command))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-h")
    assert code == 0
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\b", out, flags=re.MULTILINE), name


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
    assert document["inputs"] == {"arrival_rate": 150.0, "service_rate": 50.0, "servers": 4}
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
            "utilisation 1.2 >= 1: no steady state",
            id="mm1-overloaded",
        ),
        pytest.param(
            "mmc --arrival-rate 250 --service-rate 50 --servers 4",
            "utilisation 1.25 >= 1: no steady state",
            id="mmc-overloaded",
        ),
        pytest.param(
            "mmck --arrival-rate 1 --service-rate 1 --servers 4 --capacity 2",
            "capacity 2 must be a whole number >= servers 4",
            id="capacity-below-servers",
        ),
        pytest.param(
            "fanout --p 1.5 --k 3", "leaf slow probability 1.5 must lie in [0, 1]", id="probability"
        ),
        pytest.param("little --arrival-rate 3", "give exactly two of", id="little-needs-two"),
        pytest.param("hpa-lag --probe-period 0", "probe period 0 s must be > 0", id="zero-probe-period"),
    ],
)
def test_bad_input_exits_2_with_the_sentence_and_no_traceback(
    capsys: pytest.CaptureFixture[str], command: str, sentence: str
) -> None:
    code, out, err = run(capsys, command)
    assert code == 2
    assert sentence in err
    assert "Traceback" not in err + out
    assert out == ""


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
    assert shown == set(SUBCOMMANDS)


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


def test_table_formatting_shows_infinity_and_booleans_readably() -> None:
    report = formulas_cli.Report(
        "demo",
        "Demo",
        {"x": 1.5},
        [formulas_cli.Row("a", "a value", math.inf, "s"), formulas_cli.Row("b", "a flag", False)],
    )
    table = formulas_cli.render_table(report)
    assert "inf  s" in table
    assert table.rstrip().endswith("no")
