"""Branches of ``replica_calculator.go`` the upstream table tests leave implicit.

Built on the upstream fixture (``hpa_builders``: pods ``test-pod-<i>`` with two containers, metric
levels per pod); where upstream has the case, the test is named after it. We test these aspects:

- the Resource AverageValue path (``GetRawResourceReplicas``): average raw usage against the
  target, per container, readiness counting for cpu only, and its error when metrics are missing;
- "no pods returned by selector" from every calculation that lists pods;
- Pods-metric (plain) proposals with unready (Pending) or missing pods: the filled-in values (0 on
  a scale-up, the target on a scale-down, nothing at exactly 1.0) and the tolerance and direction
  rechecks that can throw the proposal away;
- the Utilization path at exactly 1.0 with missing pods above a 100 % target;
- overflow saturation of External sums (Value and per-pod AverageValue), zero replicas and zero
  usage, and the sample timestamps every result carries;
- Go's float division and int64 conversion, the selector text in error messages.
"""
from __future__ import annotations

import dataclasses
import datetime
import math

import pytest

import hpa_builders as b
from controllers.hpa import api, replica_calculator

T, F = api.TRUE, api.FALSE
RUN, PEND = api.RUNNING, api.PENDING
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
TOL = b.DEFAULT_TOLERANCES
levels = b.make_pod_metric_levels


def raw(calc: replica_calculator.ReplicaCalculator, *, current: int, target: int, resource: str = api.CPU,
        container: str = "") -> replica_calculator.UsageReplicas:
    return calc.get_raw_resource_replicas(current_replicas=current, target_usage=target, resource=resource,
                                          tolerances=TOL, container=container)


def plain(calc: replica_calculator.ReplicaCalculator, *, current: int, target: int,
          tolerances: replica_calculator.Tolerances = TOL) -> replica_calculator.UsageReplicas:
    return calc.get_metric_replicas(current_replicas=current, target_usage=target, metric_name=b.METRIC_NAME,
                                    tolerances=tolerances)


# --- Resource metric, AverageValue target ---------------------------------------------------------

def test_raw_resource_scales_on_the_average_usage_per_pod_against_the_average_value_target() -> None:
    # both containers report the level: pods use 600m, 1000m, 1400m; average 1000m against 500m -> 2x
    result = raw(b.calculator(current_replicas=3, levels=levels(300, 500, 700)), current=3, target=500)
    assert (result.replicas, result.usage, result.timestamp) == (6, 1000, b.ZERO_TIME)


def test_raw_resource_within_tolerance_keeps_the_current_replicas() -> None:
    result = raw(b.calculator(current_replicas=3, levels=levels(500, 500, 550)), current=3, target=1000)
    assert (result.replicas, result.usage) == (3, 1033)


def test_raw_resource_of_one_container_uses_only_that_containers_usage() -> None:
    calc = b.calculator(current_replicas=3, levels=[[1000, 100], [1000, 200], [1000, 300]])
    result = raw(calc, current=3, target=100, container="container2")
    assert (result.replicas, result.usage) == (6, 200)


def test_raw_resource_counts_a_not_ready_pods_cpu_as_unready_but_its_memory_as_ready() -> None:
    """For cpu a NotReady pod's sample is dropped (and the scale-up rechecked with it at 0)."""
    calc = b.calculator(current_replicas=3, levels=levels(1000, 1000, 1000), readiness=(F, T, T))
    cpu = raw(calc, current=3, target=500, resource=api.CPU)
    memory = raw(dataclasses.replace(calc, metrics=dataclasses.replace(calc.metrics, resource=tuple(
        dataclasses.replace(m, containers=tuple(api.ContainerMetrics(c.name, {api.MEMORY: 1000}) for c in m.containers))
        for m in calc.metrics.resource))), current=3, target=500, resource=api.MEMORY)
    # cpu: ratio 4 on the two ready pods, unready at 0 -> 4000/3/500 = 2.67 -> ceil(8) = 8
    assert (cpu.replicas, cpu.usage) == (8, 2000)
    # memory: readiness does not matter, all three pods count -> ratio 4 -> 12
    assert (memory.replicas, memory.usage) == (12, 2000)


def test_raw_resource_without_resource_metrics_fails_with_upstreams_message() -> None:
    calc = b.calculator(current_replicas=2, levels=[])
    with pytest.raises(replica_calculator.CalculationError) as raised:
        raw(calc, current=2, target=500)
    assert str(raised.value) == "unable to get metrics for resource cpu: no metrics returned from resource metrics API"


# --- no pods --------------------------------------------------------------------------------------

NO_PODS = "no pods returned by selector while calculating replica count"


@pytest.mark.parametrize("call", [
    pytest.param(lambda c: c.get_resource_replicas(current_replicas=1, target_utilization=50, resource=api.CPU,
                                                   tolerances=TOL), id="utilization"),
    pytest.param(lambda c: c.get_raw_resource_replicas(current_replicas=1, target_usage=50, resource=api.CPU,
                                                       tolerances=TOL), id="raw-resource"),
    pytest.param(lambda c: c.get_metric_replicas(current_replicas=1, target_usage=50, metric_name=b.METRIC_NAME,
                                                 tolerances=TOL), id="pods-metric"),
    pytest.param(lambda c: c.get_ready_pods_count(), id="ready-pods"),
])
def test_a_selector_matching_no_pods_fails_with_upstreams_message(call) -> None:
    calc = dataclasses.replace(b.calculator(current_replicas=1, levels=levels(100), metric_levels=(100,)), pods=())
    with pytest.raises(replica_calculator.CalculationError) as raised:
        call(calc)
    assert str(raised.value) == NO_PODS


def test_a_value_metric_outside_tolerance_without_pods_cannot_count_ready_pods() -> None:
    calc = dataclasses.replace(b.calculator(current_replicas=1, metric_levels=(5000,)), pods=())
    with pytest.raises(replica_calculator.CalculationError) as raised:
        calc.get_external_metric_replicas(current_replicas=2, target_usage=1000, metric_name=b.METRIC_NAME, tolerances=TOL)
    assert str(raised.value) == f"unable to calculate ready pods: {NO_PODS}"


@pytest.mark.parametrize("phases", [(PEND, PEND), (api.FAILED, api.FAILED)])
def test_pods_without_a_usable_sample_fail_with_upstreams_message(phases) -> None:
    calc = b.calculator(current_replicas=2, levels=levels(100, 100), metric_levels=(100, 100), phases=phases)
    expected = "did not receive metrics for targeted pods (pods might be unready)"
    with pytest.raises(replica_calculator.CalculationError) as raised:
        plain(calc, current=2, target=100)
    assert str(raised.value) == expected
    with pytest.raises(replica_calculator.CalculationError) as raised:
        calc.get_resource_replicas(current_replicas=2, target_utilization=50, resource=api.CPU, tolerances=TOL)
    assert str(raised.value) == expected


# --- Pods metric with unready or missing pods -----------------------------------------------------

def test_pods_metric_scale_up_puts_a_pending_pod_at_zero_not_one() -> None:
    # 2 ready at 3000m, 1 Pending: ratio 3 -> with the Pending pod at 0: 6000/3/1000 = 2.0 -> exactly 6
    calc = b.calculator(current_replicas=3, metric_levels=(3000, 3000), phases=(RUN, RUN, PEND))
    result = plain(calc, current=3, target=1000)
    assert (result.replicas, result.usage) == (6, 3000)


def test_pods_metric_scale_up_puts_a_missing_pod_at_zero_not_one() -> None:
    calc = b.calculator(current_replicas=3, metric_levels=(3000, 3000))
    assert plain(calc, current=3, target=1000).replicas == 6


def test_pods_metric_scale_up_is_dropped_when_the_missing_pod_at_zero_brings_it_within_tolerance() -> None:
    """Missing pod at 0 on a scale-up: 3150/3/1000 = 1.05, inside the band -> keep 3 (fast path would say 4)."""
    calc = b.calculator(current_replicas=3, metric_levels=(1575, 1575))
    assert plain(calc, current=3, target=1000).replicas == 3


def test_pods_metric_scale_up_is_dropped_when_the_pending_pod_at_zero_brings_it_within_tolerance() -> None:
    calc = b.calculator(current_replicas=3, metric_levels=(1575, 1575), phases=(RUN, RUN, PEND))
    assert plain(calc, current=3, target=1000).replicas == 3


def test_pods_metric_scale_up_with_unready_pods_is_dropped_when_they_flip_it_to_a_scale_down() -> None:
    """Ratio 1.5 on one ready pod; three Pending pods at 0 -> 0.375 < 1: direction flips, keep 4."""
    calc = b.calculator(current_replicas=4, metric_levels=(1500,), phases=(RUN, PEND, PEND, PEND))
    assert plain(calc, current=4, target=1000).replicas == 4


def test_pods_metric_scale_down_puts_a_missing_pod_at_the_target() -> None:
    # ratio 0.5 on two pods; two missing at the target: (1000 + 2000) / 4 / 1000 = 0.75 -> ceil(3) = 3
    calc = b.calculator(current_replicas=4, metric_levels=(500, 500))
    result = plain(calc, current=4, target=1000)
    assert (result.replicas, result.usage) == (3, 500)


def test_pods_metric_scale_down_is_dropped_when_missing_pods_at_the_target_flip_it() -> None:
    """Surge: ratio 0.8 on one pod but a fourth pod is counted -> the rounded count would rise: keep 3."""
    calc = b.calculator(current_replicas=3, metric_levels=(800,), phases=(RUN, RUN, RUN, RUN))
    assert plain(calc, current=3, target=1000).replicas == 3


def test_pods_metric_at_exactly_the_target_with_unready_pods_keeps_the_replicas() -> None:
    """A ratio of exactly 1.0 is no scale-up: Pending pods are not filled in at 0."""
    calc = b.calculator(current_replicas=4, metric_levels=(1000, 1000, 1000), phases=(RUN, RUN, RUN, PEND))
    assert plain(calc, current=4, target=1000).replicas == 4


def test_pods_metric_scale_up_with_an_unready_pod_rounds_the_recomputed_ratio_over_all_pods() -> None:
    """TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale-like, with a Pending pod: 90000/4/15000 -> ceil(6)."""
    calc = b.calculator(current_replicas=4, metric_levels=(30000, 30000, 30000), phases=(RUN, RUN, RUN, PEND))
    result = plain(calc, current=4, target=15000, tolerances=replica_calculator.Tolerances(0.0, 0.0))
    assert (result.replicas, result.usage) == (6, 30000)


def test_plain_recheck_keeps_the_current_count_when_the_pod_count_would_reverse_the_direction() -> None:
    assert replica_calculator._rebalanced_replicas(current_replicas=5, usage_ratio=1.5, new_usage_ratio=1.2,
                                                   metric_count=3, tolerances=TOL) == 5
    assert replica_calculator._rebalanced_replicas(current_replicas=2, usage_ratio=0.5, new_usage_ratio=0.8,
                                                   metric_count=3, tolerances=TOL) == 2
    assert replica_calculator._rebalanced_replicas(current_replicas=3, usage_ratio=1.5, new_usage_ratio=1.2,
                                                   metric_count=3, tolerances=TOL) == 4
    assert replica_calculator._rebalanced_replicas(current_replicas=3, usage_ratio=0.5, new_usage_ratio=0.8,
                                                   metric_count=3, tolerances=TOL) == 3
    assert replica_calculator._rebalanced_replicas(current_replicas=4, usage_ratio=0.5, new_usage_ratio=0.8,
                                                   metric_count=3, tolerances=TOL) == 3


@pytest.mark.parametrize("usage_ratio, new_usage_ratio, current, count, expected", [
    pytest.param(0.5, 1.5, 3, 3, 3, id="scale-down-turned-scale-up"),
    pytest.param(1.5, 0.5, 3, 3, 3, id="scale-up-turned-scale-down"),
    pytest.param(1.0, 1.5, 3, 3, 5, id="from-exactly-one-up-is-no-flip"),
    pytest.param(1.0, 0.5, 3, 3, 2, id="from-exactly-one-down-is-no-flip"),
    pytest.param(0.5, 1.0, 3, 3, 3, id="landing-on-one-is-within-tolerance"),
    pytest.param(1.5, 1.0 + 1e-9, 3, 2, 3, id="just-above-one-is-within-tolerance"),
    pytest.param(1.5, 1.5, 3, 2, 3, id="same-count-up"),
    pytest.param(0.5, 0.5, 3, 6, 3, id="same-count-down"),
    pytest.param(1.5, 1.5, 4, 2, 4, id="fewer-metrics-would-scale-down-on-a-scale-up"),
    pytest.param(0.5, 0.5, 2, 6, 2, id="more-metrics-would-scale-up-on-a-scale-down"),
])
def test_recheck_throws_a_proposal_away_when_tolerance_or_direction_says_so(usage_ratio, new_usage_ratio, current,
                                                                            count, expected) -> None:
    assert replica_calculator._rebalanced_replicas(current_replicas=current, usage_ratio=usage_ratio,
                                                   new_usage_ratio=new_usage_ratio, metric_count=count,
                                                   tolerances=TOL) == expected


# --- Utilization at exactly the target with missing pods -------------------------------------------

def test_utilization_at_exactly_the_target_leaves_missing_pods_out_even_below_a_100_percent_fallback() -> None:
    """Two pods at 50 % of a 50 % target, one missing: at exactly 1.0 nothing is filled in -> keep 3.

    (Filling it at the 100 % fallback would give 66.7 % -> 4 replicas.) Each pod requests 2 cpu (two
    containers of 1 cpu, as upstream's fixture), so 500m per container is 50 %."""
    calc = b.calculator(current_replicas=3, requests=("1.0",) * 3, levels=levels(500, 500))
    result = calc.get_resource_replicas(current_replicas=3, target_utilization=50, resource=api.CPU, tolerances=TOL)
    assert (result.replicas, result.utilization) == (3, 50)


def test_utilization_scale_down_fills_missing_pods_at_the_target_when_it_is_above_100_percent() -> None:
    """TestReplicaCalcMissingMetricsScaleDownTargetOver100 with the fallback spelled out: 300 % of 1 cpu."""
    calc = b.calculator(current_replicas=3, requests=("1.0",) * 3, levels=levels(500, 500))
    result = calc.get_resource_replicas(current_replicas=3, target_utilization=300, resource=api.CPU, tolerances=TOL)
    # 50 % of 2 cpu on two pods, ratio 1/6; the missing pod at 300 % (6 cpu) -> 8000 / 6000 = 133 % -> 0.44 -> 2
    assert (result.replicas, result.utilization) == (2, 50)


def test_utilization_scale_up_with_an_unready_and_a_missing_pod_puts_both_at_zero() -> None:
    calc = b.calculator(current_replicas=4, requests=("1.0",) * 4, levels=levels(1000, 1000, 1000),
                        readiness=(T, T, F, T))
    result = calc.get_resource_replicas(current_replicas=4, target_utilization=50, resource=api.CPU, tolerances=TOL)
    # two ready at 100 % of a 50 % target (ratio 2); unready and missing at 0: 4000 / 8000 = 50 % -> ratio 1.0,
    # inside the band: keep 4 (either pod above 0 would have scaled up)
    assert (result.replicas, result.utilization) == (4, 100)


# --- Object and External: overflow, zero replicas, timestamps --------------------------------------

def test_external_value_sum_saturates_at_max_int64_on_overflow_and_keeps_adding_negatives() -> None:
    calc = b.calculator(current_replicas=3, metric_levels=(INT64_MAX, 1, 5))
    assert calc.get_external_metric_replicas(current_replicas=3, target_usage=INT64_MAX, metric_name=b.METRIC_NAME,
                                             tolerances=TOL).usage == INT64_MAX
    calc = b.calculator(current_replicas=3, metric_levels=(5000, -2000, 0, 3000))
    result = calc.get_external_metric_replicas(current_replicas=3, target_usage=2000, metric_name=b.METRIC_NAME,
                                               tolerances=TOL)
    assert (result.usage, result.replicas, result.timestamp) == (6000, 9, b.ZERO_TIME)


def test_external_value_sum_just_below_max_int64_is_not_saturated() -> None:
    calc = b.calculator(current_replicas=1, metric_levels=(INT64_MAX - 10, 10))
    assert calc.get_external_metric_replicas(current_replicas=1, target_usage=INT64_MAX, metric_name=b.METRIC_NAME,
                                             tolerances=TOL).usage == INT64_MAX
    calc = b.calculator(current_replicas=1, metric_levels=(INT64_MAX - 10, 9))
    assert calc.get_external_metric_replicas(current_replicas=1, target_usage=INT64_MAX, metric_name=b.METRIC_NAME,
                                             tolerances=TOL).usage == INT64_MAX - 1


@pytest.mark.parametrize("values, usage", [
    pytest.param((INT64_MAX, 1), INT64_MAX, id="positive-overflow-saturates"),
    pytest.param((3000, -5000, 4000), INT64_MAX, id="a-negative-running-sum-saturates-like-go"),
    pytest.param((0, 2000, 4000), 6000, id="zero-values-add-nothing"),
    pytest.param((INT64_MAX - 1, 1), INT64_MAX, id="exactly-max-is-max"),
])
def test_external_per_pod_sum_saturates_when_it_overflows_or_goes_negative(values, usage) -> None:
    calc = b.calculator(current_replicas=3, metric_levels=values)
    result = calc.get_external_per_pod_metric_replicas(status_replicas=3, target_usage_per_pod=1000,
                                                       metric_name=b.METRIC_NAME, tolerances=TOL)
    expected_average = INT64_MAX if usage == INT64_MAX else math.ceil(usage / 3)
    assert (result.usage, result.timestamp) == (expected_average, b.ZERO_TIME)


def test_external_per_pod_overflow_caps_the_proposal_at_max_int32() -> None:
    """TestExternalPerPodMetricReplicaOverflow: usage / target beyond int32 is capped."""
    calc = b.calculator(current_replicas=1, metric_levels=(INT64_MAX,))
    result = calc.get_external_per_pod_metric_replicas(status_replicas=2, target_usage_per_pod=1,
                                                       metric_name=b.METRIC_NAME, tolerances=TOL)
    assert (result.replicas, result.usage) == (INT32_MAX, INT64_MAX)
    calc = b.calculator(current_replicas=1, metric_levels=(INT32_MAX * 1000,))
    result = calc.get_external_per_pod_metric_replicas(status_replicas=2, target_usage_per_pod=1000,
                                                       metric_name=b.METRIC_NAME, tolerances=TOL)
    assert result.replicas == INT32_MAX


def test_external_per_pod_ratio_divides_by_target_times_replicas() -> None:
    # 9000 over 3 replicas at 1000 per pod: ratio 3 -> 9 replicas; over 9 replicas: ratio 1 -> keep 9
    calc = b.calculator(current_replicas=3, metric_levels=(9000,))
    assert calc.get_external_per_pod_metric_replicas(status_replicas=3, target_usage_per_pod=1000,
                                                     metric_name=b.METRIC_NAME, tolerances=TOL).replicas == 9
    assert calc.get_external_per_pod_metric_replicas(status_replicas=9, target_usage_per_pod=1000,
                                                     metric_name=b.METRIC_NAME, tolerances=TOL).replicas == 9


def test_per_pod_metrics_at_zero_status_replicas_propose_the_ceiling_and_saturate_the_average() -> None:
    """Go divides by zero replicas into +Inf: the ratio is out of tolerance, the average saturates."""
    ref = api.CrossVersionObjectReference(kind="Deployment", name="d")
    calc = b.calculator(current_replicas=1, metric_levels=(2500,))
    external = calc.get_external_per_pod_metric_replicas(status_replicas=0, target_usage_per_pod=1000,
                                                         metric_name=b.METRIC_NAME, tolerances=TOL)
    obj = calc.get_object_per_pod_metric_replicas(status_replicas=0, target_average_usage=1000,
                                                  metric_name=b.METRIC_NAME, tolerances=TOL, object_ref=ref)
    assert (external.replicas, external.usage) == (3, INT64_MAX)
    assert (obj.replicas, obj.usage, obj.timestamp) == (3, INT64_MAX, b.ZERO_TIME)


def test_value_metrics_from_zero_replicas_cap_at_max_int32() -> None:
    calc = b.calculator(current_replicas=0, metric_levels=(INT64_MAX,))
    result = calc.get_external_metric_replicas(current_replicas=0, target_usage=1, metric_name=b.METRIC_NAME,
                                               tolerances=TOL)
    assert result.replicas == INT32_MAX


def test_object_value_result_keeps_the_samples_timestamp() -> None:
    stamp = b.NOW
    calc = b.calculator(current_replicas=3, metric_levels=(20000,), timestamp=stamp)
    ref = api.CrossVersionObjectReference(kind="Deployment", name="d")
    result = calc.get_object_metric_replicas(current_replicas=3, target_usage=15000, metric_name=b.METRIC_NAME,
                                             tolerances=TOL, object_ref=ref)
    assert (result.replicas, result.timestamp) == (4, stamp)
    external = calc.get_external_metric_replicas(current_replicas=3, target_usage=15000, metric_name=b.METRIC_NAME,
                                                 tolerances=TOL)
    assert external.timestamp == stamp
    per_pod = calc.get_external_per_pod_metric_replicas(status_replicas=3, target_usage_per_pod=5000,
                                                        metric_name=b.METRIC_NAME, tolerances=TOL)
    assert per_pod.timestamp == stamp


def test_object_per_pod_error_names_the_described_object() -> None:
    calc = dataclasses.replace(b.calculator(current_replicas=3), metrics=api.MetricsSnapshot())
    ref = api.CrossVersionObjectReference(kind="Service", name="front")
    with pytest.raises(replica_calculator.CalculationError) as raised:
        calc.get_object_per_pod_metric_replicas(status_replicas=3, target_average_usage=1, metric_name="qps",
                                                tolerances=TOL, object_ref=ref)
    assert str(raised.value).startswith("unable to get metric qps: Service on test-namespace front/")


def test_missing_pod_level_request_fails_naming_the_resource_and_pod() -> None:
    pod = api.Pod("p", requests={api.MEMORY: 5})
    with pytest.raises(replica_calculator.CalculationError) as raised:
        replica_calculator.calculate_requests((pod,), container="", resource=api.CPU)
    assert str(raised.value) == "missing pod-level request for cpu in Pod p"


# --- helpers with Go semantics ----------------------------------------------------------------------

@pytest.mark.parametrize("numerator, denominator, expected", [
    (6.0, 3.0, 2.0), (6.0, 1.0, 6.0), (5.0, 0.0, math.inf), (-5.0, 0.0, -math.inf), (5.0, -0.0, -math.inf),
    (-5.0, -0.0, math.inf),
])
def test_go_float_division_returns_signed_infinity_on_a_zero_denominator(numerator, denominator, expected) -> None:
    assert replica_calculator._go_float_division(numerator, denominator) == expected


@pytest.mark.parametrize("numerator", [0.0, math.nan])
def test_go_float_division_of_zero_or_nan_by_zero_is_nan(numerator) -> None:
    assert math.isnan(replica_calculator._go_float_division(numerator, 0.0))


@pytest.mark.parametrize("value, expected", [
    (2.1, 3), (-2.9, -2), (math.inf, INT64_MAX), (math.nan, INT64_MAX), (1e30, INT64_MAX), (-1e30, -INT64_MAX - 1),
])
def test_ceil_int64_saturates_outside_the_int64_range(value, expected) -> None:
    assert replica_calculator._ceil_int64(value) == expected


def test_selectors_print_like_gos_plus_v_in_messages() -> None:
    selector = api.LabelSelector(
        match_labels=(("tier", "gpu"), ("app", "web")),
        match_expressions=(api.LabelSelectorRequirement("q", "In", ("a", "b")), api.LabelSelectorRequirement("z", "Exists")),
    )
    assert replica_calculator.format_label_selector(selector) == (
        "&LabelSelector{MatchLabels:map[string]string{app: web,tier: gpu,},"
        "MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:q,Operator:In,Values:[a b],},"
        "LabelSelectorRequirement{Key:z,Operator:Exists,Values:[],},},}"
    )
    assert replica_calculator.format_label_selector(None) == "nil"


def test_external_error_prints_a_nil_selector_as_nil() -> None:
    calc = dataclasses.replace(b.calculator(current_replicas=3), metrics=api.MetricsSnapshot())
    with pytest.raises(replica_calculator.CalculationError) as raised:
        calc.get_external_per_pod_metric_replicas(status_replicas=3, target_usage_per_pod=1, metric_name="qps",
                                                  tolerances=TOL, selector=None)
    assert str(raised.value).startswith("unable to get external metric test-namespace/qps/nil: ")


def test_group_pods_keeps_sorting_after_an_ignored_pod() -> None:
    pods = (api.Pod("gone", phase=api.FAILED), api.Pod("ok"), api.Pod("new", phase=PEND), api.Pod("quiet"))
    groups = replica_calculator.group_pods(pods, {"ok": replica_calculator.metrics_client.PodMetric(1)},
                                           resource="", cpu_initialization_period_seconds=0,
                                           delay_of_initial_readiness_status_seconds=0, now=b.NOW)
    assert groups == replica_calculator.GroupedPods(1, frozenset({"new"}), frozenset({"quiet"}), frozenset({"gone"}))


# --- the filled-in values, where one milli-unit more would change the count ---------------------------

def utilization_result(calc, *, current: int, target: int, container: str = ""):
    result = calc.get_resource_replicas(current_replicas=current, target_utilization=target, resource=api.CPU,
                                        tolerances=TOL, container=container)
    return result.replicas, result.utilization


def test_utilization_scale_up_puts_a_missing_pod_at_exactly_zero() -> None:
    # container2 of pod 0 uses 60m of 50m (120 %, ratio 3 against 40 %); pod 1 has no sample:
    # at 0 the pair is at 60 % -> 1.5 -> 3 replicas; at 1m it would be 61 % -> 4
    calc = b.calculator(current_replicas=2, requests=("0.05", "0.05"), levels=[[0, 60]])
    assert utilization_result(calc, current=2, target=40, container="container2") == (3, 120)


def test_utilization_scale_up_puts_an_unready_pod_at_exactly_zero() -> None:
    calc = b.calculator(current_replicas=2, requests=("0.05", "0.05"), levels=[[0, 60], [0, 60]], readiness=(T, F))
    assert utilization_result(calc, current=2, target=40, container="container2") == (3, 120)


def test_utilization_scale_up_below_twice_the_target_still_fills_missing_pods() -> None:
    # two pods at 80 % of a 50 % target (ratio 1.6), one missing at 0: 53 % -> 1.06, inside the band
    calc = b.calculator(current_replicas=3, requests=("0.05",) * 3, levels=levels(40, 40))
    assert utilization_result(calc, current=3, target=50) == (3, 80)


def test_utilization_exactly_at_the_target_with_an_unready_pod_is_no_scale_up() -> None:
    calc = b.calculator(current_replicas=4, requests=("0.05",) * 4, levels=levels(25, 25, 25, 25), readiness=(T, T, T, F))
    assert utilization_result(calc, current=4, target=50) == (4, 50)


@pytest.mark.parametrize("phases", [None, (RUN, RUN, PEND)], ids=["missing", "pending"])
def test_pods_metric_scale_up_fills_at_exactly_zero_where_one_milli_more_would_add_a_replica(phases) -> None:
    # (3001 + 3001 + 0) / 3 = 2000 (Go's integer division) -> ratio 2.0 -> 6; with 1m it would be 2001 -> 7
    calc = b.calculator(current_replicas=3, metric_levels=(3001, 3001), phases=phases)
    assert plain(calc, current=3, target=1000).replicas == 6


def test_external_sum_adds_up_to_exactly_max_int64_and_keeps_adding_after_it() -> None:
    calc = b.calculator(current_replicas=1, metric_levels=(INT64_MAX - 5, 5, -10))
    assert calc.get_external_metric_replicas(current_replicas=1, target_usage=INT64_MAX, metric_name=b.METRIC_NAME,
                                             tolerances=TOL).usage == INT64_MAX - 10
    calc = b.calculator(current_replicas=1, metric_levels=(INT64_MAX, 1))
    assert calc.get_external_metric_replicas(current_replicas=1, target_usage=INT64_MAX, metric_name=b.METRIC_NAME,
                                             tolerances=TOL).usage == INT64_MAX


def test_a_cpu_sample_at_the_exact_end_of_the_initialization_period_counts() -> None:
    """The period is over when start + period is not after now (Go's ``After``)."""
    start = b.NOW - datetime.timedelta(seconds=120)
    pod = api.Pod("p", ready=api.PodCondition(T, start), start_time=start)
    metric = replica_calculator.metrics_client.PodMetric(100, start + datetime.timedelta(seconds=30), 60.0)
    groups = replica_calculator.group_pods((pod,), {"p": metric}, resource=api.CPU, cpu_initialization_period_seconds=120,
                                           delay_of_initial_readiness_status_seconds=10, now=b.NOW)
    assert (groups.ready_pod_count, groups.unready_pods) == (1, frozenset())


def test_raw_resource_without_a_container_sums_every_container() -> None:
    calc = b.calculator(current_replicas=2, levels=[[100, 300], [100, 300]])
    result = calc.get_raw_resource_replicas(current_replicas=2, target_usage=200, resource=api.CPU, tolerances=TOL)
    assert (result.replicas, result.usage) == (4, 400)


def test_metrics_of_pods_unknown_to_the_lister_fail_with_upstreams_exact_message() -> None:
    calc = b.calculator(current_replicas=1, requests=("1.0",), levels=levels(100), pod_names=("an-older-pod-name",))
    with pytest.raises(replica_calculator.CalculationError) as raised:
        calc.get_resource_replicas(current_replicas=1, target_utilization=100, resource=api.CPU, tolerances=TOL)
    assert str(raised.value) == "no metrics returned matched known pods"
