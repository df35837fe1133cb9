"""The HPA reaction-lag model (docs/hpa-decide.md: the defaults and the reaction-lag stages).

We test these aspects:
- each term's default comes from the reference (15 s resolution, 10 s housekeeping, 15 s sync,
  0 s scale-up window, 10 s probe period, +4 pods / +100% per 15 s);
- the metric pipeline spans the reference's partial [0, R + H] and full [R, 2R + H] ranges;
- readiness rounds the boot time up to the next probe tick;
- rate-limit waits count the extra policy periods a large step needs;
- the default total lies in the reference's 20–60 s range, near its 35 s median, and beside the
  seed's 30 s constant; the scale-down lag matches "5.5–6 min plus the grace period";
- the budget lists its terms in pipeline order and sums them;
- inputs outside the domain raise ValueError with a sentence.
"""

import pytest

from analysis.formulas import lagmodel, seedmodels


def test_default_terms_follow_the_reference() -> None:
    budget = lagmodel.hpa_lag_budget()
    assert budget.terms() == {
        "metric_pipeline_seconds": 12.5,  # R/2 + h/2: a big step crosses on the first partial rise
        "sync_pickup_seconds": 7.5,  # U[0, 15 s) on average
        "stabilization_seconds": 0.0,  # scale-up window defaults to 0
        "rate_limit_seconds": 0.0,  # one step brings the first new pods
        "api_scheduling_seconds": 1.0,  # 0.1–1 s each
        "container_start_seconds": 2.0,  # cached image, 1–3 s
        "readiness_seconds": 10.5,  # 5 s boot -> the 10 s probe tick, plus propagation
    }
    assert budget.total_seconds == pytest.approx(33.5)


def test_default_total_lies_in_the_reference_range_near_the_seed_constant() -> None:
    total = lagmodel.hpa_lag_budget().total_seconds
    assert 20.0 <= total <= 60.0
    assert total == pytest.approx(35.0, abs=5.0)
    assert abs(total - seedmodels.seed_hpa_lag_seconds()) < 5.0


@pytest.mark.parametrize(
    ("crossing_fraction", "expected_seconds", "low", "high"),
    [
        # Partial rise visible after U[0, R] + O(H): mean R/2 + h/2, range [0, R + H].
        pytest.param(0.0, 12.5, 0.0, 25.0, id="partial-step"),
        # Full step visible after R … 2R + H: mean 1.5 R + h/2.
        pytest.param(1.0, 27.5, 15.0, 40.0, id="full-step"),
    ],
)
def test_metric_pipeline_sits_inside_the_reference_range(
    crossing_fraction: float, expected_seconds: float, low: float, high: float
) -> None:
    value = lagmodel.hpa_metric_pipeline_seconds(crossing_fraction=crossing_fraction)
    assert value == pytest.approx(expected_seconds)
    assert low <= value <= high


def test_slower_metric_resolution_lengthens_the_pipeline() -> None:
    # metrics-server without the 15 s flag scrapes every 60 s: 60/2 + 5 = 35 s instead of 12.5 s.
    assert lagmodel.hpa_metric_pipeline_seconds(metric_resolution_seconds=60) == pytest.approx(35.0)


@pytest.mark.parametrize(
    ("boot", "initial_delay", "expected"),
    [
        pytest.param(5.0, 0.0, 10.0, id="boot-between-ticks-waits-for-the-next"),
        pytest.param(10.0, 0.0, 10.0, id="boot-on-a-tick"),
        pytest.param(10.1, 0.0, 20.0, id="just-missed-a-tick"),
        pytest.param(0.0, 0.0, 0.0, id="ready-at-the-first-probe"),
        pytest.param(5.0, 15.0, 15.0, id="initial-delay-dominates"),
    ],
)
def test_readiness_rounds_boot_up_to_the_next_probe_tick(
    boot: float, initial_delay: float, expected: float
) -> None:
    assert lagmodel.hpa_readiness_seconds(
        app_boot_seconds=boot, initial_delay_seconds=initial_delay, endpoint_propagation_seconds=0.0
    ) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("current", "desired", "steps", "wait"),
    [
        pytest.param(2, 2, 0, 0.0, id="no-change"),
        pytest.param(2, 6, 1, 0.0, id="plus-four-in-one-step"),
        pytest.param(1, 20, 3, 30.0, id="one-to-twenty-1-5-10-20"),
        pytest.param(10, 100, 4, 45.0, id="doubling-10-20-40-80-160"),
    ],
)
def test_rate_limit_counts_policy_periods_for_large_steps(
    current: int, desired: int, steps: int, wait: float
) -> None:
    assert lagmodel.hpa_scale_up_steps(current_replicas=current, desired_replicas=desired) == steps
    assert lagmodel.hpa_rate_limit_wait_seconds(current_replicas=current, desired_replicas=desired) == wait


def test_longer_policy_period_waits_for_whole_sync_periods() -> None:
    # A 20 s policy period is first free at the second 15 s sync: 30 s per extra step.
    assert lagmodel.hpa_rate_limit_wait_seconds(
        current_replicas=1, desired_replicas=20, policy_period_seconds=20
    ) == pytest.approx(60.0)


def test_metric_pipeline_override_replaces_the_metrics_server_term() -> None:
    budget = lagmodel.hpa_lag_budget(metric_pipeline_seconds=40.0, desired_replicas=20)
    assert budget.metric_pipeline_seconds == 40.0
    assert budget.rate_limit_seconds == 30.0
    assert budget.total_seconds == pytest.approx(40.0 + 7.5 + 30.0 + 1.0 + 2.0 + 10.5)


def test_scale_down_lag_is_five_and_a_half_to_six_minutes_plus_grace() -> None:
    without_grace = lagmodel.hpa_scale_down_lag_seconds(termination_grace_seconds=0)
    assert 330.0 <= without_grace <= 360.0
    assert lagmodel.hpa_scale_down_lag_seconds() == pytest.approx(without_grace + 30.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: lagmodel.hpa_sync_pickup_seconds(sync_period_seconds=0),
            "sync period 0 s must be > 0",
            id="zero-sync-period",
        ),
        pytest.param(
            lambda: lagmodel.hpa_metric_pipeline_seconds(crossing_fraction=1.5),
            "crossing fraction 1.5 must lie in",
            id="crossing-above-one",
        ),
        pytest.param(
            lambda: lagmodel.hpa_readiness_seconds(app_boot_seconds=-1),
            "app boot time -1 s must be",
            id="negative-boot",
        ),
        pytest.param(
            lambda: lagmodel.hpa_scale_up_steps(current_replicas=0, desired_replicas=3),
            "current replicas 0 must be a whole number >= 1",
            id="zero-replicas",
        ),
        pytest.param(
            lambda: lagmodel.hpa_scale_up_steps(
                current_replicas=1, desired_replicas=3, scale_up_pods=0, scale_up_percent=0
            ),
            "could never scale up",
            id="no-scale-up-policy",
        ),
        pytest.param(
            lambda: lagmodel.hpa_lag_budget(metric_pipeline_seconds=-5),
            "metric pipeline -5 s must be",
            id="negative-override",
        ),
    ],
)
def test_lag_model_rejects_inputs_outside_its_domain_with_a_sentence(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
