"""What one metric contributes to a sync: ``computeReplicasForMetric`` and its ``computeStatusFor*``.

``test_hpa_horizontal.py`` checks the replica counts of whole syncs; this module checks each metric's
full outcome as the decision reports it — type, description, proposal, timestamp, current value,
and on failure the reason, the ScalingActive=False condition and the reconcile error, with
upstream's wording. We test these aspects:

- Resource and ContainerResource metrics with Utilization and AverageValue targets, success and
  failure, and a target with neither set;
- Pods metrics; Object and External metrics with Value (spec replicas) and AverageValue (status
  replicas) targets, success and failure, and neither set;
- an unknown source type; and the small modules beside them: the metrics client's reads, Go's
  integer division, quantity formatting, the settings' checks, replay's carried-over state and
  the command's help.
"""
from __future__ import annotations

import dataclasses
import datetime
import io

import pytest

import hpa_builders as b
from controllers.hpa import api, cli, horizontal, metrics_client, quantity, replaying, settings, utilization

TOL = b.DEFAULT_TOLERANCES
levels = b.make_pod_metric_levels
SELECTOR = api.LabelSelector(match_labels=(("a", "b"),))
SELECTOR_TEXT = "&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}"
DEPLOYMENT = api.CrossVersionObjectReference(kind="Deployment", name="web", api_version="apps/v1")


def calculator(*, empty: bool = False):
    calc = b.calculator(current_replicas=3, requests=("1.0",) * 3, levels=levels(300, 500, 700),
                        metric_levels=(20000, 10000, 30000), timestamp=b.NOW)
    return dataclasses.replace(calc, metrics=api.MetricsSnapshot()) if empty else calc


def outcome(spec: api.MetricSpec, *, empty: bool = False, spec_replicas: int = 3, status_replicas: int = 4):
    return horizontal.compute_replicas_for_metric(calculator=calculator(empty=empty), metric_spec=spec,
                                                  spec_replicas=spec_replicas, status_replicas=status_replicas,
                                                  tolerances=TOL)


def proposed(source_type, metric, replicas, current, resource=None):
    return horizontal._MetricOutcome(api.MetricProposal(source_type, metric, replicas, b.NOW, current, resource=resource))


def failed(source_type, metric, reason, cause, error, resource=None):
    return horizontal._MetricOutcome(
        api.MetricProposal(source_type, metric, resource=resource, reason=reason, error=cause),
        api.Condition("ScalingActive", "False", reason, f"the HPA was unable to compute the replica count: {cause}"),
        error,
    )


def resource(target: api.MetricTarget, name: str = "cpu") -> api.MetricSpec:
    return api.MetricSpec(type="Resource", resource=api.ResourceMetricSource(name, target))


def container(target: api.MetricTarget) -> api.MetricSpec:
    return api.MetricSpec(type="ContainerResource",
                          container_resource=api.ContainerResourceMetricSource("cpu", "container2", target))


def pods(target: api.MetricTarget) -> api.MetricSpec:
    return api.MetricSpec(type="Pods", pods=api.PodsMetricSource(api.MetricIdentifier("qps"), target))


def obj(target: api.MetricTarget) -> api.MetricSpec:
    return api.MetricSpec(type="Object", object=api.ObjectMetricSource(DEPLOYMENT, api.MetricIdentifier("qps"), target))


def external(target: api.MetricTarget) -> api.MetricSpec:
    return api.MetricSpec(type="External", external=api.ExternalMetricSource(api.MetricIdentifier("qps", SELECTOR), target))


UTIL30 = api.MetricTarget("Utilization", average_utilization=30)
NO_RESOURCE_METRICS = "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
NO_PODS_METRIC = "unable to get metric qps: unable to fetch metrics from custom metrics API: no values for pods metric qps"
NO_OBJECT_METRIC = ("unable to get metric qps: Deployment on test-namespace web/unable to fetch metrics from custom "
                    "metrics API: no value for object metric qps")
NO_EXTERNAL_METRIC = (f"unable to get external metric test-namespace/qps/{SELECTOR_TEXT}: unable to fetch metrics "
                      "from external metrics API: no values for external metric qps")
CPU_UTIL = "cpu resource utilization (percentage of request)"
CASES = [
    # pods use 600m, 1000m, 1400m of 2 cpu each (50 % on average); container2 alone 300m/500m/700m of 1 cpu
    pytest.param(resource(UTIL30), False,
                 proposed("Resource", CPU_UTIL, 5, api.MetricValueStatus(average_value=1000, average_utilization=50), "cpu"),
                 id="resource-utilization"),
    pytest.param(resource(api.MetricTarget("AverageValue", average_value=500)), False,
                 proposed("Resource", "cpu resource", 6, api.MetricValueStatus(average_value=1000), "cpu"),
                 id="resource-average-value"),
    pytest.param(container(UTIL30), False,
                 proposed("ContainerResource", "cpu container resource utilization (percentage of request)", 5,
                          api.MetricValueStatus(average_value=500, average_utilization=50), "cpu"),
                 id="container-utilization"),
    pytest.param(container(api.MetricTarget("AverageValue", average_value=250)), False,
                 proposed("ContainerResource", "cpu resource", 6, api.MetricValueStatus(average_value=500), "cpu"),
                 id="container-average-value"),
    pytest.param(resource(UTIL30), True,
                 failed("Resource", CPU_UTIL, "FailedGetResourceMetric", f"failed to get cpu utilization: {NO_RESOURCE_METRICS}",
                        f"failed to get cpu resource metric value: failed to get cpu utilization: {NO_RESOURCE_METRICS}", "cpu"),
                 id="resource-utilization-failure"),
    pytest.param(resource(api.MetricTarget("AverageValue", average_value=500)), True,
                 failed("Resource", "cpu resource", "FailedGetResourceMetric", f"failed to get cpu usage: {NO_RESOURCE_METRICS}",
                        f"failed to get cpu resource metric value: failed to get cpu usage: {NO_RESOURCE_METRICS}", "cpu"),
                 id="resource-average-value-failure"),
    pytest.param(container(UTIL30), True,
                 failed("ContainerResource", "cpu container resource utilization (percentage of request)",
                        "FailedGetContainerResourceMetric", f"failed to get cpu utilization: {NO_RESOURCE_METRICS}",
                        f"failed to get container2 container metric value: failed to get cpu utilization: {NO_RESOURCE_METRICS}",
                        "cpu"),
                 id="container-failure"),
    pytest.param(resource(api.MetricTarget("Utilization")), False,
                 failed("Resource", CPU_UTIL, "FailedGetResourceMetric",
                        "invalid resource metric source: neither an average utilization target nor an average value "
                        "(usage) target was set",
                        "failed to get cpu resource metric value: invalid resource metric source: neither an average "
                        "utilization target nor an average value (usage) target was set", "cpu"),
                 id="resource-without-target"),
    # Pods: (20000 + 10000 + 30000) / 3 = 20000 against 15000 -> ceil(1.33 * 3) = 4
    pytest.param(pods(api.MetricTarget("AverageValue", average_value=15000)), False,
                 proposed("Pods", "pods metric qps", 4, api.MetricValueStatus(average_value=20000)), id="pods"),
    pytest.param(pods(api.MetricTarget("AverageValue", average_value=15000)), True,
                 failed("Pods", "pods metric qps", "FailedGetPodsMetric", NO_PODS_METRIC,
                        f"failed to get pods metric value: {NO_PODS_METRIC}"), id="pods-failure"),
    # Object Value: 20000 against 15000 on 3 ready pods -> 4
    pytest.param(obj(api.MetricTarget("Value", value=15000)), False,
                 proposed("Object", "Deployment metric qps", 4, api.MetricValueStatus(value=20000)), id="object-value"),
    # Object AverageValue over 4 status replicas: 20000 / (5000 * 4) = 1.0 -> keep 4; average 5000
    pytest.param(obj(api.MetricTarget("AverageValue", average_value=5000)), False,
                 proposed("Object", "external metric qps(nil)", 4, api.MetricValueStatus(average_value=5000)),
                 id="object-average-value-uses-status-replicas"),
    pytest.param(obj(api.MetricTarget("Value", value=15000)), True,
                 failed("Object", "Deployment metric qps", "FailedGetObjectMetric", NO_OBJECT_METRIC,
                        f"failed to get object metric value: {NO_OBJECT_METRIC}"), id="object-value-failure"),
    pytest.param(obj(api.MetricTarget("AverageValue", average_value=5000)), True,
                 failed("Object", "external metric qps(nil)", "FailedGetObjectMetric", NO_OBJECT_METRIC,
                        f"failed to get object metric value: failed to get qps object metric: {NO_OBJECT_METRIC}"),
                 id="object-average-value-failure"),
    pytest.param(obj(api.MetricTarget("Value")), False,
                 failed("Object", "Deployment metric qps", "FailedGetObjectMetric",
                        "invalid object metric source: neither a value target nor an average value target was set",
                        "failed to get object metric value: invalid object metric source: neither a value target nor an "
                        "average value target was set"), id="object-without-target"),
    # External Value: 60000 against 30000 on 3 ready pods -> 6
    pytest.param(external(api.MetricTarget("Value", value=30000)), False,
                 proposed("External", f"external metric qps({SELECTOR_TEXT})", 6, api.MetricValueStatus(value=60000)),
                 id="external-value"),
    # External AverageValue over 4 status replicas: 60000 / (2150 * 4) = 6.98 -> ceil(60000 / 2150) = 28
    pytest.param(external(api.MetricTarget("AverageValue", average_value=2150)), False,
                 proposed("External", f"external metric qps({SELECTOR_TEXT})", 28, api.MetricValueStatus(average_value=15000)),
                 id="external-average-value-uses-status-replicas"),
    pytest.param(external(api.MetricTarget("Value", value=30000)), True,
                 failed("External", f"external metric qps({SELECTOR_TEXT})", "FailedGetExternalMetric", NO_EXTERNAL_METRIC,
                        f"failed to get qps external metric value: failed to get external metric qps: {NO_EXTERNAL_METRIC}"),
                 id="external-value-failure"),
    pytest.param(external(api.MetricTarget("AverageValue", average_value=2150)), True,
                 failed("External", f"external metric qps({SELECTOR_TEXT})", "FailedGetExternalMetric", NO_EXTERNAL_METRIC,
                        f"failed to get qps external metric value: failed to get qps external metric: {NO_EXTERNAL_METRIC}"),
                 id="external-average-value-failure"),
    pytest.param(external(api.MetricTarget("Value")), False,
                 failed("External", f"external metric qps({SELECTOR_TEXT})", "FailedGetExternalMetric",
                        "invalid external metric source: neither a value target nor an average value target was set",
                        "failed to get qps external metric value: invalid external metric source: neither a value target "
                        "nor an average value target was set"), id="external-without-target"),
    pytest.param(api.MetricSpec(type="Object"), False,
                 failed("Object", "", "InvalidMetricSourceType", 'unknown metric source type "Object"',
                        'unknown metric source type "Object"'), id="type-without-its-source"),
    pytest.param(api.MetricSpec(type="Custom"), False,
                 failed("Custom", "", "InvalidMetricSourceType", 'unknown metric source type "Custom"',
                        'unknown metric source type "Custom"'), id="unknown-type"),
]


@pytest.mark.parametrize("spec, empty, expected", CASES)
def test_each_metric_reports_its_full_outcome_with_upstreams_wording(spec, empty, expected) -> None:
    assert outcome(spec, empty=empty) == expected


# --- metrics client ---------------------------------------------------------------------------------

def snapshot(**kwargs) -> api.MetricsSnapshot:
    return api.MetricsSnapshot(**kwargs)


def test_resource_metrics_sum_containers_and_keep_the_samples_time_and_window() -> None:
    sample = api.PodMetrics("p", b.NOW, 30.0, (api.ContainerMetrics("a", {"cpu": 100}), api.ContainerMetrics("b", {"cpu": 50})))
    incomplete = api.PodMetrics("q", b.NOW, 30.0, (api.ContainerMetrics("a", {"cpu": 100}), api.ContainerMetrics("b", {})))
    empty = api.PodMetrics("r", b.NOW, 30.0, ())
    metrics, stamp = metrics_client.get_resource_metric(snapshot(resource=(sample, incomplete, empty)), resource="cpu")
    assert metrics == {"p": metrics_client.PodMetric(150, b.NOW, 30.0)}
    assert stamp == b.NOW
    metrics, _ = metrics_client.get_resource_metric(snapshot(resource=(sample, incomplete)), resource="cpu", container="b")
    assert metrics == {"p": metrics_client.PodMetric(50, b.NOW, 30.0)}


def test_pods_metric_values_carry_their_window_or_the_metrics_server_default() -> None:
    values = api.PodsMetricValues(b.NOW, (("p", 7),), window_seconds=15.0)
    metrics, stamp = metrics_client.get_raw_metric(snapshot(pods={"m": values}), metric_name="m")
    assert (metrics, stamp) == ({"p": metrics_client.PodMetric(7, b.NOW, 15.0)}, b.NOW)
    values = api.PodsMetricValues(b.NOW, (("p", 7),))
    metrics, _ = metrics_client.get_raw_metric(snapshot(pods={"m": values}), metric_name="m")
    assert metrics == {"p": metrics_client.PodMetric(7, b.NOW, metrics_client.METRIC_SERVER_DEFAULT_METRIC_WINDOW_SECONDS)}


@pytest.mark.parametrize("read, message", [
    (lambda: metrics_client.get_raw_metric(snapshot(pods={"m": api.PodsMetricValues(b.NOW, ())}), metric_name="m"),
     "no metrics returned from custom metrics API"),
    (lambda: metrics_client.get_external_metric(snapshot(external={"m": api.ExternalMetricValues(b.NOW, ())}),
                                                metric_name="m"),
     "no metrics returned from external metrics API"),
])
def test_an_empty_answer_fails_with_upstreams_message(read, message: str) -> None:
    with pytest.raises(metrics_client.MetricsError) as raised:
        read()
    assert str(raised.value) == message


# --- Go arithmetic, quantities, settings ---------------------------------------------------------------

@pytest.mark.parametrize("numerator, denominator, expected", [
    (7, 2, 3), (-7, 2, -3), (7, -2, -3), (-7, -2, 3), (0, 5, 0), (0, -5, 0), (6, 3, 2),
])
def test_go_integer_division_truncates_toward_zero(numerator: int, denominator: int, expected: int) -> None:
    assert utilization.go_quotient(numerator, denominator) == expected


@pytest.mark.parametrize("milli, binary, text", [
    (1024 * 1000, True, "1Ki"), (1023 * 1000, True, "1023"), (1025 * 1000, True, "1025"), (2048 * 1000, False, "2048"),
    (2**60 * 1000, True, "1Ei"), (2**70 * 1000, True, "1024Ei"), (1500, True, "1500m"), (10**21, False, "1E"),
    (10**24, False, "1000E"), (3 * 2**20 * 1000 + 1, True, "3145728001m"),
])
def test_quantities_print_in_canonical_decimal_or_binary_form(milli: int, binary: bool, text: str) -> None:
    assert quantity.format_milli(milli, binary=binary) == text
    if not binary:
        assert quantity.format_milli(milli) == text


@pytest.mark.parametrize("value, message", [
    (True, "True is not a quantity"), (float("inf"), "inf is not a quantity"), (None, "None is not a quantity"),
])
def test_non_quantities_are_refused_naming_the_value(value, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        quantity.parse(value)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(settings.ControllerSettings)])
def test_every_controller_setting_may_be_zero_except_the_sync_period(field: str) -> None:
    if field == "sync_period_seconds":
        with pytest.raises(ValueError) as raised:
            settings.ControllerSettings(sync_period_seconds=0)
        assert str(raised.value) == "sync_period_seconds must be positive: a zero period never advances time"
    else:
        assert getattr(settings.ControllerSettings(**{field: 0}), field) == 0
    assert settings.ControllerSettings(sync_period_seconds=1).sync_period_seconds == 1


# --- replay carries state over ------------------------------------------------------------------------

def test_the_first_sync_of_a_replay_keeps_every_field_the_observation_leaves_unset() -> None:
    start = horizontal.HPAState(
        spec=api.HorizontalPodAutoscalerSpec(max_replicas=5, metrics=(pods(api.MetricTarget("AverageValue", average_value=1)),)),
        current_replicas=2, now=b.NOW, status_replicas=3, pods=(api.Pod("p"),),
        metrics=api.MetricsSnapshot(resource=(api.PodMetrics("p", b.NOW, 1.0, ()),),
                                    pods={"m": api.PodsMetricValues(b.NOW, (("p", 1),))},
                                    object={"o": api.ObjectMetricValue(b.NOW, 1)},
                                    external={"e": api.ExternalMetricValues(b.NOW, (1,))}),
    )
    assert replaying.next_state(start, replaying.SyncObservation(), previous=None) == start
    later = b.NOW + datetime.timedelta(seconds=1)
    changed = replaying.SyncObservation(
        now=later, current_replicas=4, status_replicas=5, pods=(api.Pod("q"),), resource_metrics=(),
        pods_metrics={}, object_metrics={"o": api.ObjectMetricValue(later, 2)}, external_metrics={},
    )
    assert replaying.next_state(start, changed, previous=None) == dataclasses.replace(
        start, now=later, current_replicas=4, status_replicas=5, pods=(api.Pod("q"),),
        metrics=api.MetricsSnapshot(resource=(), pods={}, object={"o": api.ObjectMetricValue(later, 2)}, external={}),
    )


def test_a_later_sync_takes_the_previous_decision_and_resets_status_replicas() -> None:
    start = horizontal.HPAState(spec=api.HorizontalPodAutoscalerSpec(max_replicas=5, metrics=(
        pods(api.MetricTarget("AverageValue", average_value=1)),)), current_replicas=2, now=b.NOW, status_replicas=3)
    previous = horizontal.Decision(2, 4, True, "r", (), (), api.History(recommendations=()))
    state = replaying.next_state(start, replaying.SyncObservation(), previous=previous)
    assert (state.now, state.current_replicas, state.status_replicas, state.history) == (
        b.NOW + datetime.timedelta(seconds=15), 4, None, api.History(recommendations=()))


# --- the command's help ---------------------------------------------------------------------------------

def help_text(argv: list[str], monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    with pytest.raises(SystemExit) as raised:
        cli.main(argv, stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO())
    assert raised.value.code == 0
    return stdout.getvalue()


def test_help_names_the_program_and_both_commands(monkeypatch) -> None:
    text = help_text(["--help"], monkeypatch)
    assert text.startswith("usage: tailstorm hpa [-h] COMMAND ...\n\nThe Kubernetes HPA algorithm as a JSON filter.\n")
    assert "    decide    decide one sync: an HPA state on stdin (or --file), the decision on stdout\n" in text
    assert '    replay    replay syncs: {"start": state, "syncs": [...]} in, the decisions in order out\n' in text


@pytest.mark.parametrize("command, summary", [
    ("decide", "decide one sync: an HPA state on stdin (or --file), the decision on stdout"),
    ("replay", 'replay syncs: {"start": state, "syncs": [...]} in, the decisions in order out'),
])
def test_each_command_documents_its_file_option(command: str, summary: str, monkeypatch) -> None:
    text = help_text([command, "--help"], monkeypatch)
    assert text.startswith(f"usage: tailstorm hpa {command} [-h] [--file PATH]\n\n{summary}\n")
    assert "  --file PATH  read the JSON input from PATH instead of stdin\n" in text


def test_a_missing_command_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with pytest.raises(SystemExit) as raised:
        cli.main([], stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.code == 2


def test_an_invariant_broken_on_construction_is_reported_as_bad_input(monkeypatch) -> None:
    """The codec's checks come first; a ValueError from a constructor behind them is still bad input."""
    def refuse(state):
        raise ValueError("now must be timezone-aware (UTC)")

    monkeypatch.setattr(horizontal, "reconcile", refuse)
    stderr = io.StringIO()
    document = '{"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}'
    code = cli.main(["decide"], stdin=io.StringIO(document), stdout=io.StringIO(), stderr=stderr)
    assert (code, stderr.getvalue()) == (2, "error: input: now must be timezone-aware (UTC)\n")


def test_a_file_is_read_as_utf8(tmp_path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes('{"now": 0, "currentReplicas": 1, "namespace": "café", "spec": {"maxReplicas": 1}}'.encode())
    stdout = io.StringIO()
    assert cli.main(["decide", "--file", str(path)], stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO()) == 0
    assert '"desiredReplicas": 1' in stdout.getvalue()
