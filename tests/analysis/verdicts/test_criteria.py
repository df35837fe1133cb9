"""A scenario's pass criteria judged on a summary, and the report that opens with them.

Aspects: a path reads a phase's client (one request class's too), server (a tenant's bulkhead
refusals too) or generator numbers, or the HPA-lag timeline (its
first scale-up's lag and measured stages, every scale-up's mean and largest lag, the counts of
scale-ups and downs, the replicas paid for), over the run or within one phase; the
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
        {"name": "calm", "start": 0.0, "end": 60.0,
         "client": {"offered_rate_per_second": 20.0, "throughput_per_second": 20.0,
                    "classes": {"a": {"p99_ms": 100.0, "rejected": 0}}},
         "server": {"inference": {"arrival_rate_per_second": 20.0}}},
        {"name": "slow", "start": 60.0, "end": 120.0,
         "client": {"offered_rate_per_second": 20.0, "throughput_per_second": 4.0,
                    "classes": {"a": {"p99_ms": 300.0, "rejected": 0}, "b": {"rejected": 40}}},
         "server": {"inference": {"arrival_rate_per_second": 54.0, "tenant_rejected": {"b": 38.0}}}},
    ],
    "hpa_lag_timeline": {"scale_ups": [
        {"service": "inference", "lag_seconds": 31.5, "times": {"hpa_decision": 30.0},
         "comparison": [{"term": "sync_pickup_seconds", "measured_seconds": 6.0},
                        {"term": "readiness_seconds", "measured_seconds": 20.5},
                        {"term": "stabilization_seconds", "measured_seconds": None}]},
        {"service": "inference", "lag_seconds": 99.0, "times": {"hpa_decision": 100.0},
         "comparison": [{"term": "readiness_seconds", "measured_seconds": 99.0}]}]},
    "scale_events": [{"time": 110.0, "service": "inference", "from_replicas": 3, "to_replicas": 1}],
    "cost": {"span_seconds": 120.0, "services": {"inference": {
        "replica_seconds": 240.0, "peak_replicas": 3, "by_phase": {"calm": 60.0, "slow": 180.0}}}},
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
    pytest.param("slow.client.classes.a.p99_ms / calm.client.classes.a.p99_ms", 3.0, id="class-ratio"),
    pytest.param("slow.client.classes.a.rejected", 0.0, id="class-zero-count"),
    pytest.param("slow.server.inference.tenant_rejected.b / slow.client.classes.b.rejected", 0.95,
                 id="tenant-refusals"),
    pytest.param("hpa.inference.lag_seconds", 31.5, id="hpa-lag"),
    pytest.param("hpa.inference.scale_ups + hpa.inference.scale_downs", 3.0, id="hpa-counts"),
    pytest.param("hpa.inference.readiness_seconds / hpa.inference.lag_seconds", 20.5 / 31.5, id="hpa-lag-stage"),
    pytest.param("hpa.inference.mean_lag_seconds", (31.5 + 99.0) / 2, id="hpa-mean-lag"),
    pytest.param("hpa.inference.max_lag_seconds", 99.0, id="hpa-max-lag"),
    pytest.param("slow.hpa.inference.lag_seconds + slow.hpa.inference.readiness_seconds", 198.0,
                 id="phase-first-lag-is-the-first-decided-in-it"),
    pytest.param("calm.hpa.inference.scale_ups * 10 + slow.hpa.inference.scale_ups", 11.0, id="phase-scale-ups"),
    pytest.param("calm.hpa.inference.scale_downs * 10 + slow.hpa.inference.scale_downs", 1.0, id="phase-scale-downs"),
    pytest.param("hpa.inference.mean_replicas", 2.0, id="run-mean-replicas"),
    pytest.param("slow.hpa.inference.mean_replicas / calm.hpa.inference.mean_replicas", 3.0, id="phase-mean-replicas"),
    pytest.param("hpa.inference.peak_replicas", 3.0, id="peak-replicas"),
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
    absent = criteria.judge(criterion("calm.client.classes.b.p99_ms", at_most=1), SUMMARY, status="valid")
    assert absent["verdict"] == compare.INCONCLUSIVE and "calm.client.classes.b.p99_ms is not in" in absent["says"]


def test_a_lag_stage_the_first_scale_up_did_not_measure_is_inconclusive():
    for measure in ("hpa.inference.metric_pipeline_seconds", "hpa.formatter.readiness_seconds"):
        row = criteria.judge(criterion(measure, at_most=60), SUMMARY, status="valid")
        assert row["verdict"] == compare.INCONCLUSIVE and "no scale-up of" in row["says"]
    for field in ("boot_seconds", "times"):  # not a number of the timeline, or no number at all
        unknown = criteria.judge(criterion(f"hpa.inference.{field}", at_most=60), SUMMARY, status="valid")
        assert unknown["verdict"] == compare.INCONCLUSIVE and "is no HPA measurement" in unknown["says"]


def test_hpa_figures_a_phase_or_the_run_lacks_are_inconclusive_and_say_which():
    cases = {"slow.hpa.inference.sync_pickup_seconds": "no scale-up of inference in slow with a sync_pickup",
             "calm.hpa.inference.peak_replicas": "counted over the whole run",
             "hpa.formatter.mean_replicas": "no replica count of formatter",
             "slow.hpa.formatter.lag_seconds": "no scale-up of formatter in slow",
             "slow.hpa.inference": "an hpa path is [<phase>.]hpa.<service>."}
    for measure, says in cases.items():
        row = criteria.judge(criterion(measure, at_most=60), SUMMARY, status="valid")
        assert row["verdict"] == compare.INCONCLUSIVE, measure
        assert says in row["says"], row["says"]


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
