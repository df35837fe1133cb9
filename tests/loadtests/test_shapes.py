"""Load schedules: which stage runs when, the rate each shape asks for, and the arrivals it makes (no Locust).

Aspects: stage boundaries are half-open, the schedule ends after the last stage, negative time is
refused; each shape's closed-form expected count equals the numerical integral of its rate, and its
mean rate is that count over the duration; Poisson arrivals (thinned for time-varying rates) come in
the numbers Λ predicts, also where the rate is high and where it is low; constant spacing makes
exactly round(Λ) arrivals, evenly spaced for a constant rate; a burst's requests arrive at one
instant; a trace is replayed as recorded; split over workers, deterministic arrivals interleave into
exactly the single-process sequence and Poisson ones add up to the scenario's count; the expected
curve the analysis reads agrees with Λ.
"""
import math
import random

import pytest

from loadtests import shapes

STAGES = [{"name": "baseline", "duration_seconds": 10, "arrival_rate_per_second": 5},
          {"name": "spike", "duration_seconds": 5, "arrival_rate_per_second": 50}]


def stage(duration=60.0, arrivals="poisson", **block):
    (kind, params), = block.items()
    if kind == "rate":
        return {"name": "s", "duration_seconds": duration, "arrival_rate_per_second": params, "arrivals": arrivals}
    return {"name": "s", "duration_seconds": duration, "arrivals": arrivals, kind: params}


RAMP = stage(ramp={"from_per_second": 10, "to_per_second": 70})
SPIKE = stage(spike={"base_per_second": 20, "peak_per_second": 100, "at_seconds": 20, "length_seconds": 5})
SINE = stage(sine={"mean_per_second": 40, "amplitude_per_second": 30, "period_seconds": 25, "phase_seconds": 3})
SQUARE = stage(square={"low_per_second": 5, "high_per_second": 60, "period_seconds": 16})
BURST = stage(burst={"requests": 300, "at_seconds": 12.5, "base_per_second": 10})
TRACE = stage(duration=5.0, trace={"path": "t.csv", "offsets_seconds": [0.0, 0.5, 0.5, 1.25, 3.0, 4.75]})
SMOOTH = [pytest.param(RAMP, id="ramp"), pytest.param(SPIKE, id="spike"), pytest.param(SINE, id="sine"),
          pytest.param(SQUARE, id="square"), pytest.param(stage(rate=25.0), id="constant")]


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
    stage_ = shapes.stage_at(STAGES, 12)
    assert (stage_.index, stage_.started_at_seconds, stage_.ends_at_seconds, stage_.arrival_rate_per_second) == (1, 10, 15, 50)


def test_negative_time_is_refused():
    with pytest.raises(ValueError, match="elapsed_seconds"):
        shapes.stage_at(STAGES, -1)


@pytest.mark.parametrize("stage_", SMOOTH)
@pytest.mark.parametrize("start, end", [(0, 60), (3.3, 21.7), (19.5, 25.5), (40.1, 40.2)])
def test_the_expected_count_is_the_integral_of_the_rate(stage_, start, end):
    steps = 20_000  # midpoint rule
    width = (end - start) / steps
    numeric = sum(shapes.rate_at(stage_, start + (i + 0.5) * width) for i in range(steps)) * width
    assert shapes.expected_arrivals(stage_, start, end) == pytest.approx(numeric, rel=1e-3, abs=0.05)


@pytest.mark.parametrize("stage_, mean", [
    pytest.param(RAMP, 40.0, id="ramp"),
    pytest.param(SPIKE, 20 + 80 * 5 / 60, id="spike"),
    pytest.param(SQUARE, (60 * 32 + 5 * 28) / 60, id="square-with-a-partial-period"),  # 3 periods, then 12 s: 8 high 4 low
    pytest.param(BURST, 10 + 300 / 60, id="burst"),
    pytest.param(TRACE, 6 / 5, id="trace"),
])
def test_the_mean_rate_is_the_expected_count_over_the_duration(stage_, mean):
    assert shapes.mean_rate_per_second(stage_) == pytest.approx(mean)


def test_the_peak_rate_bounds_the_rate_everywhere():
    for stage_ in (RAMP, SPIKE, SINE, SQUARE):
        assert max(shapes.rate_at(stage_, t / 10) for t in range(600)) <= shapes.peak_rate_per_second(stage_) + 1e-9
    assert shapes.peak_rate_per_second(TRACE) == 3  # 0.0, 0.5, 0.5 within one second


def counts(offsets, edges):
    return [sum(1 for t in offsets if a <= t < b) for a, b in zip(edges, edges[1:])]


@pytest.mark.parametrize("stage_", SMOOTH)
def test_poisson_arrivals_come_in_the_numbers_the_rate_predicts_where_it_is_high_and_where_low(stage_):
    edges = [0, 10, 20, 25, 40, 60]
    totals = [0] * (len(edges) - 1)
    for seed in range(20):
        offsets = list(shapes.stage_offsets(stage_, random.Random(seed)))
        assert offsets == sorted(offsets) and all(0 <= t < 60 for t in offsets)
        totals = [a + b for a, b in zip(totals, counts(offsets, edges))]
    for (a, b), observed in zip(zip(edges, edges[1:]), totals):
        expected = 20 * shapes.expected_arrivals(stage_, a, b)
        assert abs(observed - expected) <= 5 * math.sqrt(expected) + 1, (a, b, observed, expected)


def test_poisson_gaps_at_a_constant_rate_are_exponential():
    offsets = list(shapes.stage_offsets(stage(duration=600.0, rate=50.0), random.Random(7)))
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    mean = sum(gaps) / len(gaps)
    cv = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean
    assert mean == pytest.approx(1 / 50, rel=0.03) and cv == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("stage_", SMOOTH)
def test_constant_spacing_makes_exactly_the_expected_count_dense_where_the_rate_is_high(stage_):
    spaced = dict(stage_, arrivals="constant")
    offsets = list(shapes.stage_offsets(spaced, random.Random(0)))
    assert len(offsets) == round(shapes.expected_arrivals(spaced, 0, 60))
    for k, t in enumerate(offsets):  # the k-th arrival sits where Λ reaches k + ½
        assert shapes.expected_arrivals(spaced, 0, t) == pytest.approx(k + 0.5, abs=1e-6)


def test_constant_spacing_at_a_constant_rate_is_even():
    offsets = list(shapes.stage_offsets(stage(duration=2.0, arrivals="constant", rate=5.0), random.Random(0)))
    assert offsets == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9])


def test_a_burst_sends_all_its_requests_at_one_instant_over_its_base_rate():
    offsets = list(shapes.stage_offsets(BURST, random.Random(1)))
    assert offsets.count(12.5) == 300
    assert offsets == sorted(offsets)
    assert abs((len(offsets) - 300) - 600) <= 5 * math.sqrt(600)


def test_a_trace_is_replayed_as_recorded():
    assert list(shapes.stage_offsets(TRACE, random.Random(0))) == [0.0, 0.5, 0.5, 1.25, 3.0, 4.75]


@pytest.mark.parametrize("stage_", [pytest.param(dict(RAMP, arrivals="constant"), id="constant-ramp"),
                                    pytest.param(dict(BURST, arrivals="constant"), id="burst"),
                                    pytest.param(TRACE, id="trace")])
@pytest.mark.parametrize("workers", [2, 3, 4])
def test_deterministic_arrivals_split_over_workers_interleave_into_the_single_process_sequence(stage_, workers):
    single = list(shapes.stage_offsets(stage_, random.Random(0)))
    split = [list(shapes.stage_offsets(stage_, random.Random(w), worker=w, workers=workers)) for w in range(workers)]
    assert sorted(t for part in split for t in part) == pytest.approx(single)
    assert max(map(len, split)) - min(map(len, split)) <= 1


def test_poisson_arrivals_split_over_workers_add_up_to_the_scenarios_count():
    merged = []
    for seed in range(10):
        for w in range(4):
            merged += shapes.stage_offsets(SQUARE, random.Random(100 * seed + w), worker=w, workers=4)
    edges = [0, 8, 16, 60]  # high half, low half, the rest
    for (a, b), observed in zip(zip(edges, edges[1:]), counts(merged, edges)):
        expected = 10 * shapes.expected_arrivals(SQUARE, a, b)
        assert abs(observed - expected) <= 5 * math.sqrt(expected)


def test_a_worker_outside_the_split_is_refused():
    with pytest.raises(ValueError, match="worker 2 is not one of 0..1"):
        shapes.stage_offsets(RAMP, random.Random(0), worker=2, workers=2)


def test_arrivals_run_through_the_stages_in_order_with_offsets_from_each_stages_start():
    two = [stage(duration=10.0, arrivals="constant", rate=1.0), dict(stage(duration=5.0, arrivals="constant", rate=2.0), name="t")]
    got = [(s.name, s.started_at_seconds, t) for s, t in shapes.arrivals(two, random.Random(0))]
    assert got == [("s", 0.0, 0.5 + k) for k in range(10)] + [("t", 10.0, 0.25 + k / 2) for k in range(10)]


def interpolate(curve, t):
    """The analysis' reading of the curve (the count just below t)."""
    for (t0, c0), (t1, c1) in zip(curve, curve[1:]):
        if t0 < t <= t1:
            return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c0
    return curve[0][1] if t <= curve[0][0] else curve[-1][1]


@pytest.mark.parametrize("stage_", SMOOTH + [pytest.param(BURST, id="burst"), pytest.param(TRACE, id="trace")])
def test_the_expected_curve_reads_back_the_expected_count_of_any_window(stage_):
    curve = shapes.expected_curve(stage_)
    assert len(curve) <= shapes.CURVE_POINTS + 2
    duration = stage_["duration_seconds"]
    for a, b in [(0, duration), (duration * 0.1, duration * 0.9), (duration * 0.2, duration * 0.5)]:
        assert interpolate(curve, b) - interpolate(curve, a) == pytest.approx(shapes.expected_arrivals(stage_, a, b),
                                                                            abs=0.05)
    at = BURST["burst"]["at_seconds"]
    if stage_ is BURST:  # a window that starts at the burst holds it; one that ends there does not
        assert interpolate(curve, at + 1) - interpolate(curve, at) == pytest.approx(310)
        assert interpolate(curve, at) - interpolate(curve, at - 1) == pytest.approx(10)
