"""The worst-case HPA reaction lag: every term of the lag budget at its maximum.

We test these aspects:
- a brute-force enumeration of the pipeline's random phases (metrics-server scrape phase,
  kubelet sample age, HPA sync phase), replaying the mechanism of the reaction-lag
  stages (docs/hpa-decide.md) step by step, never exceeds the bound and comes within a grid step of it;
  its average is the expected budget's φ·R + R/2 + h/2 + S/2;
- the bound reproduces the reference's ranges: [0, R + H] for a partial rise, [R, 2R + H] for
  the full step, U[0, S) for the pickup;
- the defaults give 61 s (the top of the reference's 20–60 s), every term is at least the
  expected one, and a measured metric pipeline passes through unchanged;
- the maximum pipeline and pickup default to the reference's intervals (25 s, 15 s); the bound's
  defaults are the upper ends it documents, and it keeps the expected budget's deterministic
  terms (rate-limit rounds, readiness ticks, …) for any input;
- inputs outside the domain raise ValueError with a sentence.
"""

import itertools
import math

import pytest

from analysis.formulas import lagmodel


def _first_crossing_seconds(*, scrape_phase: float, sample_age: float, resolution: float, fraction: float) -> float:
    """Seconds from the step (at 0) to the first scrape whose served value has risen by ``fraction``.

    Scrapes run at phase + k·R. Each serves the rate over the kubelet's last interval
    (s_last − R, s_last], s_last = scrape − sample age, so the share of the new level in it is
    clamp(s_last/R, 0, 1); a partial rise (fraction 0) needs any share above zero.
    """
    for k in itertools.count():
        scrape = scrape_phase + k * resolution
        share = min(1.0, max(0.0, (scrape - sample_age) / resolution))
        if share > 0.0 and share >= fraction:
            return scrape
    raise AssertionError("unreachable")


def _first_sync_after(time_seconds: float, *, sync_phase: float, sync_period: float) -> float:
    return sync_phase + math.ceil(max(0.0, time_seconds - sync_phase) / sync_period) * sync_period


def _grid(length: float, points: int) -> list[float]:
    """Points covering [0, length) evenly; the last is one step short of the open end."""
    return [length * i / points for i in range(points)]


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
@pytest.mark.parametrize(("resolution", "housekeeping", "sync_period"), [(15.0, 15.0, 15.0), (60.0, 10.0, 15.0)])
def test_enumerated_phases_stay_under_the_bound_and_average_to_the_expected_budget(
    fraction: float, resolution: float, housekeeping: float, sync_period: float
) -> None:
    points = 40
    lags = []
    for scrape_phase, sync_phase in itertools.product(_grid(resolution, points), _grid(sync_period, points)):
        # Sample ages uniform on [0, h]: midpoints of h/points-wide cells.
        for sample_age in (housekeeping * (i + 0.5) / points for i in range(points)):
            crossing = _first_crossing_seconds(
                scrape_phase=scrape_phase, sample_age=sample_age, resolution=resolution, fraction=fraction
            )
            lags.append(_first_sync_after(crossing, sync_phase=sync_phase, sync_period=sync_period))
    inputs = {"metric_resolution_seconds": resolution, "housekeeping_interval_seconds": housekeeping}
    bound = lagmodel.hpa_metric_pipeline_max_seconds(crossing_fraction=fraction, **inputs) + (
        lagmodel.hpa_sync_pickup_max_seconds(sync_period_seconds=sync_period)
    )
    expected = lagmodel.hpa_metric_pipeline_seconds(crossing_fraction=fraction, **inputs) + (
        lagmodel.hpa_sync_pickup_seconds(sync_period_seconds=sync_period)
    )
    grid_step = (resolution + housekeeping + sync_period) / points
    assert max(lags) <= bound
    assert max(lags) >= bound - 2 * grid_step  # the supremum is approached: not a loose cap
    assert sum(lags) / len(lags) == pytest.approx(expected, abs=grid_step)


@pytest.mark.parametrize(
    ("fraction", "low", "high"),
    [pytest.param(0.0, 0.0, 15.0 + 10.0, id="partial-rise-0-to-R-plus-H"),
     pytest.param(1.0, 15.0, 2 * 15.0 + 10.0, id="full-step-R-to-2R-plus-H")],
)
def test_bound_is_the_top_of_the_reference_ranges(fraction: float, low: float, high: float) -> None:
    maximum = lagmodel.hpa_metric_pipeline_max_seconds(
        metric_resolution_seconds=15.0, housekeeping_interval_seconds=10.0, crossing_fraction=fraction
    )
    assert maximum == high
    assert low <= lagmodel.hpa_metric_pipeline_seconds(
        metric_resolution_seconds=15.0, housekeeping_interval_seconds=10.0, crossing_fraction=fraction
    ) <= high
    assert lagmodel.hpa_sync_pickup_max_seconds(sync_period_seconds=15.0) == 15.0


def test_default_bound_is_61_seconds_term_by_term() -> None:
    bound = lagmodel.hpa_lag_bound()
    assert bound.terms() == {
        "metric_pipeline_seconds": 30.0,  # R + h with housekeeping stretched to 15 s
        "sync_pickup_seconds": 15.0,  # a whole sync period
        "stabilization_seconds": 0.0,
        "rate_limit_seconds": 0.0,
        "api_scheduling_seconds": 2.0,  # the reference's 0.1–1 s each, at the top
        "container_start_seconds": 3.0,  # 1–3 s, at the top
        "readiness_seconds": 11.0,  # 5 s boot → the 10 s probe tick, plus 1 s propagation
    }
    assert bound.total_seconds == 61.0


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"metric_resolution_seconds": 60.0, "crossing_fraction": 1.0}, id="slow-metrics-full-step"),
        pytest.param({"current_replicas": 1, "desired_replicas": 20, "app_boot_seconds": 25.0}, id="big-step"),
        pytest.param({"scale_up_stabilization_seconds": 60.0, "image_pull_seconds": 8.0}, id="window-and-pull"),
    ],
)
def test_every_bound_term_is_at_least_the_expected_term(inputs: dict[str, float]) -> None:
    bound = lagmodel.hpa_lag_bound(**inputs).terms()
    expected = lagmodel.hpa_lag_budget(**inputs).terms()  # the same inputs, the budget's own defaults
    assert all(bound[name] >= expected[name] for name in expected), (bound, expected)
    same_inputs = lagmodel.hpa_lag_budget(
        **{"housekeeping_interval_seconds": 15.0, "api_seconds": 1.0, "scheduling_seconds": 1.0,
           "container_start_seconds": 3.0, "endpoint_propagation_seconds": 1.0, **inputs}
    ).terms()
    # With identical inputs only the two random terms differ.
    differing = {name for name in same_inputs if same_inputs[name] != bound[name]}
    assert differing == {"metric_pipeline_seconds", "sync_pickup_seconds"}


def test_a_measured_metric_pipeline_is_used_as_given() -> None:
    assert lagmodel.hpa_lag_bound(metric_pipeline_seconds=42.0).metric_pipeline_seconds == 42.0


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({"metric_resolution_seconds": 0.0}, "metric resolution 0 s must be > 0", id="zero-resolution"),
        pytest.param({"crossing_fraction": 1.5}, "crossing fraction 1.5 must lie in [0, 1]", id="fraction"),
        pytest.param({"sync_period_seconds": -1.0}, "sync period -1 s must be a finite number >= 0", id="sync"),
        pytest.param({"readiness_period_seconds": 0.0}, "probe period 0 s must be > 0", id="probe-period"),
    ],
)
def test_bound_refuses_inputs_outside_the_domain(inputs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lagmodel.hpa_lag_bound(**inputs)


def test_the_maximum_pipeline_and_pickup_default_to_the_references_intervals() -> None:
    # φ·R + R + h with R = 15 s, h = 10 s, φ = 0; the pickup's supremum is the sync period.
    assert lagmodel.hpa_metric_pipeline_max_seconds() == 25.0
    assert lagmodel.hpa_sync_pickup_max_seconds() == 15.0


def test_the_expected_budget_scales_up_from_one_replica_by_default() -> None:
    # 1 → 5 → 10 takes two policy rounds (+4 pods, then +100%): one extra 15 s round
    assert lagmodel.hpa_lag_budget(desired_replicas=6).rate_limit_seconds == 15.0


def test_the_bound_keeps_the_expected_budget_s_deterministic_terms_for_any_input() -> None:
    inputs = {"current_replicas": 3, "desired_replicas": 20, "scale_up_pods": 3, "scale_up_percent": 10.0,
              "policy_period_seconds": 60.0, "sync_period_seconds": 25.0, "scale_up_stabilization_seconds": 30.0,
              "api_seconds": 0.2, "scheduling_seconds": 0.3, "image_pull_seconds": 4.0,
              "container_start_seconds": 1.5, "app_boot_seconds": 11.0, "readiness_initial_delay_seconds": 7.0,
              "readiness_period_seconds": 3.0, "endpoint_propagation_seconds": 0.25}
    bound, budget = lagmodel.hpa_lag_bound(**inputs), lagmodel.hpa_lag_budget(**inputs)
    deterministic = ("stabilization_seconds", "rate_limit_seconds", "api_scheduling_seconds",
                     "container_start_seconds", "readiness_seconds")
    assert {name: bound.terms()[name] for name in deterministic} == {name: budget.terms()[name]
                                                                      for name in deterministic}
    # 3 → 6 → 9 → 12 → 15 → 18 → 21 (+3 pods beats +10 %): six steps, five waits of ⌈60/25⌉ syncs
    assert budget.rate_limit_seconds == 5 * 75.0
    assert budget.readiness_seconds == 7.0 + 2 * 3.0 + 0.25
    assert bound.sync_pickup_seconds == 25.0


def test_the_bound_s_defaults_are_the_upper_ends_it_documents() -> None:
    documented = {"metric_resolution_seconds": 15.0, "housekeeping_interval_seconds": 15.0, "crossing_fraction": 0.0,
                  "sync_period_seconds": 15.0, "scale_up_stabilization_seconds": 0.0, "current_replicas": 1,
                  "scale_up_pods": 4, "scale_up_percent": 100.0, "policy_period_seconds": 15.0, "api_seconds": 1.0,
                  "scheduling_seconds": 1.0, "image_pull_seconds": 0.0, "container_start_seconds": 3.0,
                  "app_boot_seconds": 5.0, "readiness_initial_delay_seconds": 0.0,
                  "endpoint_propagation_seconds": 1.0}
    # a fine probe period and a larger scale-up make every default show in some term
    probe = {"desired_replicas": 11, "readiness_period_seconds": 0.5}  # 1 → 5 → 10 → 20: 100 %, not 101 %
    assert lagmodel.hpa_lag_bound(**probe) == lagmodel.hpa_lag_bound(**probe, **documented)
    assert lagmodel.hpa_lag_bound(desired_replicas=6).rate_limit_seconds == 15.0
