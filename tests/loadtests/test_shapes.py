"""Load schedules: which stage runs when (no Locust needed).

Aspects: stage boundaries are half-open; the schedule ends after the last stage; negative time is
refused.
"""
import pytest

from loadtests import shapes

STAGES = [{"name": "baseline", "duration_seconds": 10, "arrival_rate_per_second": 5},
          {"name": "spike", "duration_seconds": 5, "arrival_rate_per_second": 50}]


@pytest.mark.parametrize("elapsed, name", [
    pytest.param(0, "baseline", id="start"),
    pytest.param(9.99, "baseline", id="just-before-boundary"),
    pytest.param(10, "spike", id="on-boundary"),
    pytest.param(14.99, "spike", id="last-moment"),
])
def test_the_stage_at_a_time_is_the_one_whose_interval_holds_it(elapsed, name):
    assert shapes.stage_at(STAGES, elapsed).name == name


def test_the_schedule_ends_after_the_last_stage():
    assert shapes.stage_at(STAGES, 15) is None
    assert shapes.total_duration_seconds(STAGES) == 15


def test_an_active_stage_knows_its_interval_and_rate():
    stage = shapes.stage_at(STAGES, 12)
    assert (stage.index, stage.started_at_seconds, stage.ends_at_seconds, stage.arrival_rate_per_second) == (1, 10, 15, 50)


def test_negative_time_is_refused():
    with pytest.raises(ValueError, match="elapsed_seconds"):
        shapes.stage_at(STAGES, -1)
