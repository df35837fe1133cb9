"""The HPA-lag model's defaults and domain, term by term.

``test_lagmodel.py`` checks the model against the reference's figures; this module pins each
function's defaults (the upstream values the module docstring lists), that every argument reaches
its term, and the exact sentence for each argument outside its domain.
"""
from __future__ import annotations

import pytest

from analysis.formulas import lagmodel


def test_each_function_uses_the_upstream_defaults() -> None:
    assert lagmodel.hpa_metric_pipeline_seconds() == 12.5          # 0·15 + 15/2 + 10/2
    assert lagmodel.hpa_sync_pickup_seconds() == 7.5                # 15/2
    assert lagmodel.hpa_readiness_seconds() == 10.5                 # 0 + ⌈5/10⌉·10 + 0.5
    assert lagmodel.hpa_scale_down_lag_seconds() == 365.0           # 27.5 + 300 + 7.5 + 30
    assert lagmodel.hpa_lag_budget().terms() == {
        "metric_pipeline_seconds": 12.5, "sync_pickup_seconds": 7.5, "stabilization_seconds": 0.0,
        "rate_limit_seconds": 0.0, "api_scheduling_seconds": 1.0, "container_start_seconds": 2.0,
        "readiness_seconds": 10.5,
    }


@pytest.mark.parametrize("current, desired, steps", [
    (1, 6, 2),    # +4 pods beats doubling at 1: 1 → 5 → 10
    (4, 9, 2),    # doubling beats +4 at 4: 4 → 8 → 16
    (4, 8, 1),
    (3, 3, 0),
    (5, 2, 0),
])
def test_scale_up_steps_with_the_default_policies_double_or_add_four(current, desired, steps) -> None:
    assert lagmodel.hpa_scale_up_steps(current_replicas=current, desired_replicas=desired) == steps
    wait = lagmodel.hpa_rate_limit_wait_seconds(current_replicas=current, desired_replicas=desired)
    assert wait == max(0, steps - 1) * 15.0


def test_rate_limit_wait_passes_each_policy_on() -> None:
    # +1 pod, no percent: 1 → 2 → 3 is two steps, one extra 15 s round
    assert lagmodel.hpa_rate_limit_wait_seconds(current_replicas=1, desired_replicas=3, scale_up_pods=1,
                                                scale_up_percent=0) == 15.0
    # +50 %, no pods: 2 → 3 → 5 is two steps
    assert lagmodel.hpa_rate_limit_wait_seconds(current_replicas=2, desired_replicas=4, scale_up_pods=0,
                                                scale_up_percent=50) == 15.0
    # a 20 s policy period with a 15 s sync waits two syncs per extra step
    assert lagmodel.hpa_rate_limit_wait_seconds(current_replicas=1, desired_replicas=6, policy_period_seconds=20,
                                                sync_period_seconds=15) == 30.0


def test_lag_budget_passes_every_argument_to_its_term() -> None:
    budget = lagmodel.hpa_lag_budget(
        metric_resolution_seconds=20, housekeeping_interval_seconds=4, crossing_fraction=0.5, sync_period_seconds=10,
        scale_up_stabilization_seconds=3, current_replicas=2, desired_replicas=9, scale_up_pods=1,
        scale_up_percent=50, policy_period_seconds=25, api_seconds=0.25, scheduling_seconds=0.75,
        image_pull_seconds=4, container_start_seconds=1.5, app_boot_seconds=7, readiness_initial_delay_seconds=2,
        readiness_period_seconds=3, endpoint_propagation_seconds=0.125,
    )
    assert budget.terms() == {
        "metric_pipeline_seconds": 0.5 * 20 + 10 + 2,
        "sync_pickup_seconds": 5.0,
        "stabilization_seconds": 3.0,
        # +1 pod or +50 %: 2 → 3 → 5 → 8 → 12: four steps, three extra rounds of ⌈25/10⌉·10 s
        "rate_limit_seconds": 3 * 30.0,
        "api_scheduling_seconds": 1.0,
        "container_start_seconds": 5.5,
        # 2 + ⌈(7 − 2)/3⌉·3 + 0.125
        "readiness_seconds": 8.125,
    }
    assert budget.total_seconds == pytest.approx(22 + 5 + 3 + 90 + 1 + 5.5 + 8.125)
    assert lagmodel.hpa_lag_budget(metric_pipeline_seconds=4.0).metric_pipeline_seconds == 4.0


def test_scale_down_lag_passes_every_argument_on() -> None:
    assert lagmodel.hpa_scale_down_lag_seconds(metric_resolution_seconds=10, housekeeping_interval_seconds=2,
                                               sync_period_seconds=6, scale_down_stabilization_seconds=60,
                                               termination_grace_seconds=5) == 10 + 5 + 1 + 60 + 3 + 5


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: lagmodel.hpa_metric_pipeline_seconds(metric_resolution_seconds=0),
                 "metric resolution 0 s must be > 0", id="resolution-zero"),
    pytest.param(lambda: lagmodel.hpa_metric_pipeline_seconds(metric_resolution_seconds=float("inf")),
                 "metric resolution inf s must be a finite number >= 0", id="resolution-infinite"),
    pytest.param(lambda: lagmodel.hpa_metric_pipeline_seconds(housekeeping_interval_seconds=-1),
                 "housekeeping interval -1 s must be a finite number >= 0", id="housekeeping"),
    pytest.param(lambda: lagmodel.hpa_metric_pipeline_seconds(crossing_fraction=1.5),
                 "crossing fraction 1.5 must lie in [0, 1]", id="crossing"),
    pytest.param(lambda: lagmodel.hpa_sync_pickup_seconds(sync_period_seconds=0), "sync period 0 s must be > 0",
                 id="sync"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=True, desired_replicas=2),
                 "current replicas True must be a whole number >= 1", id="current-boolean"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=0),
                 "desired replicas 0 must be a whole number >= 1", id="desired"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=2, scale_up_pods=-1),
                 "scale-up pods -1 must be a whole number >= 0", id="pods-negative"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=2, scale_up_pods=1.5),
                 "scale-up pods 1.5 must be a whole number >= 0", id="pods-fractional"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=2, scale_up_pods=True),
                 "scale-up pods True must be a whole number >= 0", id="pods-boolean"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=2, scale_up_percent=float("inf")),
                 "scale-up percent inf must be a finite number >= 0", id="percent-infinite"),
    pytest.param(lambda: lagmodel.hpa_scale_up_steps(current_replicas=1, desired_replicas=2, scale_up_pods=0,
                                                     scale_up_percent=0),
                 "scale-up pods and percent are both 0: the HPA could never scale up", id="no-policy"),
    pytest.param(lambda: lagmodel.hpa_rate_limit_wait_seconds(current_replicas=1, desired_replicas=2,
                                                              policy_period_seconds=0),
                 "policy period 0 s must be > 0", id="policy-period"),
    pytest.param(lambda: lagmodel.hpa_rate_limit_wait_seconds(current_replicas=1, desired_replicas=2,
                                                              sync_period_seconds=-5),
                 "sync period -5 s must be a finite number >= 0", id="rate-limit-sync"),
    pytest.param(lambda: lagmodel.hpa_readiness_seconds(app_boot_seconds=-1), "app boot time -1 s must be a finite number >= 0",
                 id="boot"),
    pytest.param(lambda: lagmodel.hpa_readiness_seconds(initial_delay_seconds=-1),
                 "initial delay -1 s must be a finite number >= 0", id="initial-delay"),
    pytest.param(lambda: lagmodel.hpa_readiness_seconds(period_seconds=0), "probe period 0 s must be > 0", id="probe-period"),
    pytest.param(lambda: lagmodel.hpa_readiness_seconds(endpoint_propagation_seconds=-1),
                 "endpoint propagation -1 s must be a finite number >= 0", id="propagation"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(metric_pipeline_seconds=-1),
                 "metric pipeline -1 s must be a finite number >= 0", id="pipeline"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(scale_up_stabilization_seconds=-1),
                 "scale-up stabilization -1 s must be a finite number >= 0", id="stabilization"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(api_seconds=-1), "API -1 s must be a finite number >= 0", id="api"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(scheduling_seconds=-1), "scheduling -1 s must be a finite number >= 0",
                 id="scheduling"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(image_pull_seconds=-1), "image pull -1 s must be a finite number >= 0",
                 id="image-pull"),
    pytest.param(lambda: lagmodel.hpa_lag_budget(container_start_seconds=-1),
                 "container start -1 s must be a finite number >= 0", id="container-start"),
    pytest.param(lambda: lagmodel.hpa_scale_down_lag_seconds(scale_down_stabilization_seconds=-1),
                 "scale-down stabilization -1 s must be a finite number >= 0", id="scale-down-window"),
    pytest.param(lambda: lagmodel.hpa_scale_down_lag_seconds(termination_grace_seconds=-1),
                 "termination grace -1 s must be a finite number >= 0", id="grace"),
])
def test_each_argument_outside_its_domain_is_refused_with_a_sentence_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_zero_pods_or_zero_percent_alone_still_scale() -> None:
    assert lagmodel.hpa_scale_up_steps(current_replicas=2, desired_replicas=4, scale_up_pods=0) == 1
    assert lagmodel.hpa_scale_up_steps(current_replicas=2, desired_replicas=4, scale_up_percent=0) == 1


def test_readiness_and_budget_default_to_a_five_second_boot() -> None:
    assert lagmodel.hpa_readiness_seconds(period_seconds=1) == 5.5
    assert lagmodel.hpa_lag_budget(readiness_period_seconds=1).readiness_seconds == 5.5


def test_budget_rate_limit_uses_the_default_policies_and_the_given_sync_period() -> None:
    # +4 pods beats doubling at 1: 1 → 5 → 10 is two steps
    assert lagmodel.hpa_lag_budget(current_replicas=1, desired_replicas=6).rate_limit_seconds == 15.0
    # doubling beats +4 at 4: 4 → 8 → 16 is two steps
    assert lagmodel.hpa_lag_budget(current_replicas=4, desired_replicas=9).rate_limit_seconds == 15.0
    # a 20 s policy period with a 10 s sync: each extra step waits two syncs
    assert lagmodel.hpa_lag_budget(current_replicas=1, desired_replicas=6, policy_period_seconds=20,
                                   sync_period_seconds=10).rate_limit_seconds == 20.0


def test_a_percent_policy_rounds_the_product_up() -> None:
    # 101 + 100 % = 202 exactly: one step
    assert lagmodel.hpa_scale_up_steps(current_replicas=101, desired_replicas=202, scale_up_pods=0,
                                       scale_up_percent=100) == 1
