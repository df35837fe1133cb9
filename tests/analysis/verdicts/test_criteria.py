"""A scenario's pass criteria judged on a summary, and the report that opens with them.

Aspects: a path reads a phase's client, server or generator numbers, or the HPA-lag timeline; the
expression's arithmetic follows precedence and parentheses; a value inside the bounds passes,
outside fails, missing is inconclusive naming what is missing, a division by zero is inconclusive;
an invalid run withholds every verdict, a phase whose load generator fell behind those that read
its client side; the sentence is filled with the measured value; the report
puts the question and the criteria first, before the plots and the folded tables.
"""
import pytest

from analysis.presentation import report
from analysis.verdicts import compare, criteria
from schema import expressions

SUMMARY = {
    "run": {"validity": {"status": "valid"}},
    "phases": [
        {"name": "calm", "client": {"offered_rate_per_second": 20.0, "throughput_per_second": 20.0},
         "server": {"inference": {"arrival_rate_per_second": 20.0}}},
        {"name": "slow", "client": {"offered_rate_per_second": 20.0, "throughput_per_second": 4.0},
         "server": {"inference": {"arrival_rate_per_second": 54.0}}},
    ],
    "hpa_lag_timeline": {"scale_ups": [{"service": "inference", "lag_seconds": 31.5}]},
    "scale_events": [{"service": "inference", "from_replicas": 3, "to_replicas": 1}],
    "predictions": [
        {"check": "mmc_mean_response", "subject": "inference", "phase": "slow", "measured": 0.11, "predicted": 0.1,
         "error": 0.1, "verdict": "pass"},
        {"check": "mmc_mean_response", "subject": "inference", "phase": "calm", "measured": 0.2, "predicted": 0.1,
         "error": 1.0, "verdict": "fail"},
        {"check": "retry_amplification", "subject": "Envoy → inference", "phase": "slow", "measured": 1.2,
         "predicted": 1.25, "error": -0.04, "verdict": "inconclusive"},
    ],
}


def criterion(measure, **bounds):
    return {"name": "c", "says": "value {value:.1f}", "measure": measure, **bounds}


@pytest.mark.parametrize("measure, expected", [
    pytest.param("slow.server.inference.arrival_rate_per_second / slow.client.offered_rate_per_second", 2.7,
                 id="ratio"),
    pytest.param("1 + 2 * 3", 7.0, id="precedence"),
    pytest.param("(1 + 2) * 3", 9.0, id="parentheses"),
    pytest.param("max(calm.client.throughput_per_second, slow.client.throughput_per_second) + min(1, 2)", 21.0,
                 id="max-and-min"),
    pytest.param("slow.client.throughput_per_second / calm.client.throughput_per_second - 1", -0.8, id="recovery"),
    pytest.param("hpa.inference.lag_seconds", 31.5, id="hpa-lag"),
    pytest.param("hpa.inference.scale_ups + hpa.inference.scale_downs", 2.0, id="hpa-counts"),
    pytest.param("checks.mmc_mean_response.inference.slow.abs_error", 0.1, id="check-error"),
    pytest.param("checks.retry_amplification.envoy-inference.slow.predicted", 1.25, id="check-slug-subject"),
    pytest.param("checks.mmc_mean_response.fail + checks.mmc_mean_response.pass", 2.0, id="check-verdict-counts"),
    pytest.param("checks.mmc_mean_response.inference.calm.passed", 0.0, id="check-passed-flag"),
])
def test_an_expression_reads_the_summary(measure, expected):
    row = criteria.judge(criterion(measure, at_least=-100), SUMMARY, status="valid")
    assert row["value"] == pytest.approx(expected) and row["verdict"] == compare.PASS


@pytest.mark.parametrize("bounds, verdict", [
    pytest.param({"at_least": 2.5}, compare.PASS, id="above-the-floor"),
    pytest.param({"at_least": 2.9}, compare.FAIL, id="below-the-floor"),
    pytest.param({"at_most": 2.0}, compare.FAIL, id="above-the-ceiling"),
    pytest.param({"at_least": 2.0, "at_most": 3.0}, compare.PASS, id="inside-the-band"),
])
def test_the_bound_decides(bounds, verdict):
    row = criteria.judge(criterion("slow.server.inference.arrival_rate_per_second / 20", **bounds), SUMMARY,
                         status="valid")
    assert row["verdict"] == verdict and row["says"] == "value 2.7"


def test_a_missing_value_or_a_zero_division_is_inconclusive_and_says_why():
    missing = criteria.judge(criterion("storm.client.p99_ms", at_most=1), SUMMARY, status="valid")
    assert missing["verdict"] == compare.INCONCLUSIVE and "phase 'storm' did not run" in missing["says"]
    zero = criteria.judge(criterion("calm.client.p99_ms / 0", at_most=1), SUMMARY, status="valid")
    assert zero["verdict"] == compare.INCONCLUSIVE  # calm.client.p99_ms is missing too: either way, no verdict
    divide = criteria.judge(criterion("calm.client.throughput_per_second / 0", at_most=1), SUMMARY, status="valid")
    assert divide["verdict"] == compare.INCONCLUSIVE and "divides by zero" in divide["says"]


def test_an_invalid_run_withholds_the_verdict_but_keeps_the_measurement():
    row = criteria.judge(criterion("hpa.inference.lag_seconds", at_most=60), SUMMARY, status="invalid")
    assert row["verdict"] == compare.WITHHELD and row["value"] == 31.5


def test_a_phase_whose_generator_fell_behind_withholds_only_its_client_side_criteria():
    behind = {**SUMMARY, "run": {"validity": {"status": "degraded", "generator_behind_phases": ["slow"]}}}
    client = criteria.judge(criterion("slow.client.throughput_per_second / calm.client.throughput_per_second",
                                      at_most=1), behind, status="degraded")
    assert client["verdict"] == compare.WITHHELD and client["value"] == pytest.approx(0.2)
    assert client["says"] == "value 0.2 (withheld: the load generator fell behind in slow)"
    server = criteria.judge(criterion("slow.server.inference.arrival_rate_per_second", at_least=1), behind,
                            status="degraded")
    assert server["verdict"] == compare.PASS  # what the servers measured does not depend on the send times
    calm = criteria.judge(criterion("calm.client.throughput_per_second", at_least=1), behind, status="degraded")
    assert calm["verdict"] == compare.PASS


@pytest.mark.parametrize("text, message", [
    pytest.param("slow.client.p99 >", "cannot read '>'", id="operator"),
    pytest.param("(1 + 2", "a parenthesis is not closed", id="parenthesis"),
    pytest.param("1 +", "ends where a number or a path should be", id="dangling"),
    pytest.param("p99", "cannot read 'p99'", id="bare-name"),
    pytest.param("max(1, 2", r"max\( is not closed", id="open-call"),
])
def test_a_malformed_expression_is_refused_saying_where(text, message):
    with pytest.raises(expressions.ExpressionError, match=message):
        expressions.parse(text)


def test_the_report_opens_with_the_question_and_its_criteria():
    summary = {**SUMMARY, "story": criteria.story(
        {"story": {"question": "Do retries turn a slowdown into an outage?", "teaches": "They multiply load.",
                   "criteria": [{"name": "amplification", "says": "offered load at inference reached {value:.1f}×",
                                 "measure": "slow.server.inference.arrival_rate_per_second / 20", "at_least": 2}]}},
        SUMMARY)}
    question, rows = report.story_lines(summary)
    assert question == ["**Do retries turn a slowdown into an outage?**", "They multiply load."]
    assert rows == [["amplification", "offered load at inference reached 2.7×", "2.7", "≥ 2", "PASS"]]
    assert criteria.story({}, SUMMARY) is None
