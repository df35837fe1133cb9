"""Allowed downtime from an availability objective, against the published "nines" tables.

We test these aspects:
- the usual figures for the 30-day window SRE practice uses (99.9% → 43.2 min, 99.99% → 4.32 min);
- the "nines" table of the Wikipedia article on high availability, whose year is 365.25 days
  (99.9% → 8.77 h, 99.99% → 52.60 min, 99.999% → 5.26 min a year; 10.08 min a week at 99.9%);
- the end points: 100% allows nothing, 0% the whole window;
- a window may be shorter than a second; an infinite window is refused;
- inputs outside the domain raise ValueError with a sentence.
"""

import pytest

from analysis.formulas import tails

DAY = tails.SECONDS_PER_DAY
YEAR = tails.DAYS_PER_YEAR * DAY


@pytest.mark.parametrize(
    ("availability", "window_seconds", "published_seconds", "tolerance_seconds"),
    [
        pytest.param(0.999, 30 * DAY, 43.2 * 60, 1e-6, id="three-nines-30-days-43.2-min"),
        pytest.param(0.9999, 30 * DAY, 4.32 * 60, 1e-6, id="four-nines-30-days-4.32-min"),
        # Tables print hours and minutes to two decimals: the tolerance is half the last digit.
        pytest.param(0.999, YEAR, 8.77 * 3600, 0.005 * 3600, id="three-nines-year-8.77-h"),
        pytest.param(0.9999, YEAR, 52.60 * 60, 0.005 * 60, id="four-nines-year-52.60-min"),
        pytest.param(0.99999, YEAR, 5.26 * 60, 0.005 * 60, id="five-nines-year-5.26-min"),
        pytest.param(0.999, 7 * DAY, 10.08 * 60, 0.005 * 60, id="three-nines-week-10.08-min"),
        pytest.param(0.99, DAY, 14.4 * 60, 1e-6, id="two-nines-day-14.4-min"),
    ],
)
def test_allowed_downtime_matches_the_published_tables(
    availability: float, window_seconds: float, published_seconds: float, tolerance_seconds: float
) -> None:
    allowed = tails.slo_allowed_downtime_seconds(availability=availability, window_seconds=window_seconds)
    assert allowed == pytest.approx(published_seconds, abs=tolerance_seconds)


def test_a_365_day_year_would_miss_the_table_by_more_than_its_rounding() -> None:
    # 99.9% of 365 days leaves 8.76 h, not the table's 8.77 h: the table's year is 365.25 days.
    assert tails.slo_allowed_downtime_seconds(availability=0.999, window_seconds=365 * DAY) / 3600 == pytest.approx(
        8.76, abs=1e-9
    )


@pytest.mark.parametrize(("availability", "share"), [(1.0, 0.0), (0.0, 1.0)])
def test_end_points_allow_nothing_or_everything(availability: float, share: float) -> None:
    assert tails.slo_allowed_downtime_seconds(availability=availability, window_seconds=DAY) == share * DAY


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({"availability": 1.5, "window_seconds": DAY}, r"availability 1.5 must lie in \[0, 1\]", id="above-1"),
        pytest.param({"availability": 0.99, "window_seconds": 0.0}, "window 0 s must be a finite number > 0", id="no-window"),
    ],
)
def test_downtime_refuses_inputs_outside_the_domain(inputs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tails.slo_allowed_downtime_seconds(**inputs)


def test_a_window_under_a_second_is_a_window_and_an_infinite_one_is_refused() -> None:
    assert tails.slo_allowed_downtime_seconds(availability=0.9, window_seconds=0.5) == pytest.approx(0.05)
    with pytest.raises(ValueError) as raised:
        tails.slo_allowed_downtime_seconds(availability=0.9, window_seconds=float("inf"))
    assert str(raised.value) == "window inf s must be a finite number > 0"
