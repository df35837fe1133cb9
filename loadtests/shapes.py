"""Load schedules as data: the arrival rate each stage asks for, and the arrival times it makes.

A stage is a plain dict as in a resolved scenario (``schema/scenario.py`` documents the keys): a
``name``, a ``duration_seconds`` and one rate shape — a constant ``arrival_rate_per_second``, or
a ``ramp``, ``spike``, ``sine``, ``square``, ``burst`` or ``trace`` block — with ``arrivals``
``poisson`` or ``constant``. Everything here is a pure function of that data (times are offsets
in seconds from the stage's start), so it is tested without Locust, imported by the locustfile
without pulling anything else in, and used by the schema to validate stages.

How arrival times are made, per stage:

- ``poisson``: a non-homogeneous Poisson process with intensity λ(t), by thinning (Lewis and
  Shedler 1979): candidates of a homogeneous process at the stage's peak rate, each kept with
  probability λ(t)/peak. For a constant rate every candidate is kept (plain exponential gaps).
- ``constant``: the k-th arrival where the expected count Λ(t) = ∫₀ᵗ λ reaches k + ½: evenly spaced
  for a constant rate, denser where λ is higher, and exactly round(Λ(T)) arrivals in the stage.
- ``burst``: its ``requests`` all at ``at_seconds`` (on top of its ``base_per_second``, if any).
- ``trace``: the recorded offsets, as they are (the trace is its own arrival process).

Splitting among W generator processes keeps the merged arrivals the scenario's process: worker w
of W runs an independent thinned Poisson process at λ(t)/W (independent Poisson processes add up to
one at λ(t)); deterministic arrivals (constant spacing, bursts, traces) are dealt out by index,
k ≡ w (mod W), so the interleaved union is exactly the single-process sequence.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
import random
from collections.abc import Iterator

SHAPES = ("ramp", "spike", "sine", "square", "burst", "trace")
"""The time-varying rate blocks a stage may hold instead of a constant ``arrival_rate_per_second``."""
CURVE_POINTS = 1000
"""Most points of a stage's expected-arrivals curve (the analysis interpolates it linearly)."""


@dataclasses.dataclass(frozen=True)
class ActiveStage:
    index: int
    name: str
    arrival_rate_per_second: float | None
    """The stage's mean rate (None for a closed-loop stage, which has no rate)."""
    started_at_seconds: float
    ends_at_seconds: float


def stage_at(stages: list[dict], elapsed_seconds: float) -> ActiveStage | None:
    """The stage running ``elapsed_seconds`` after the start, or None once all have ended."""
    if elapsed_seconds < 0:
        raise ValueError(f"elapsed_seconds must be >= 0, got {elapsed_seconds}")
    start = 0.0
    for index, stage in enumerate(stages):
        end = start + stage["duration_seconds"]
        if elapsed_seconds < end:
            return ActiveStage(index, stage["name"], stage.get("arrival_rate_per_second"), start, end)
        start = end
    return None


def total_duration_seconds(stages: list[dict]) -> float:
    return sum(stage["duration_seconds"] for stage in stages)


def shape_of(stage: dict) -> str:
    """``constant`` or the name of the stage's rate block."""
    return next((name for name in SHAPES if stage.get(name)), "constant")


# -- the rate and its integral -----------------------------------------------------------------------

def rate_at(stage: dict, offset_seconds: float) -> float:
    """λ(t) of the smooth part of the stage (a burst's impulse and a trace's points excluded)."""
    kind, block, t = shape_of(stage), stage.get(shape_of(stage)), offset_seconds
    if kind == "constant":
        return stage["arrival_rate_per_second"]
    if kind == "ramp":
        share = t / stage["duration_seconds"]
        return block["from_per_second"] + (block["to_per_second"] - block["from_per_second"]) * share
    if kind == "spike":
        inside = block["at_seconds"] <= t < block["at_seconds"] + block["length_seconds"]
        return block["peak_per_second"] if inside else block["base_per_second"]
    if kind == "sine":
        angle = 2 * math.pi * (t + block.get("phase_seconds", 0.0)) / block["period_seconds"]
        return block["mean_per_second"] + block["amplitude_per_second"] * math.sin(angle)
    if kind == "square":
        high = (t % block["period_seconds"]) < block["period_seconds"] / 2
        return block["high_per_second"] if high else block["low_per_second"]
    if kind == "burst":
        return block.get("base_per_second", 0.0)
    return 0.0  # a trace has no rate, only its points


def peak_rate_per_second(stage: dict) -> float:
    """The highest λ(t) of the stage: the thinning bound, and what the client must carry.

    A burst counts as its requests arriving within one second on top of its base rate; a trace as
    the most arrivals it has within any one second."""
    kind, block = shape_of(stage), stage.get(shape_of(stage))
    if kind == "constant":
        return stage["arrival_rate_per_second"]
    if kind == "ramp":
        return max(block["from_per_second"], block["to_per_second"])
    if kind == "spike":
        return max(block["base_per_second"], block["peak_per_second"])
    if kind == "sine":
        return block["mean_per_second"] + block["amplitude_per_second"]
    if kind == "square":
        return max(block["low_per_second"], block["high_per_second"])
    if kind == "burst":
        return block.get("base_per_second", 0.0) + block["requests"]
    offsets = block["offsets_seconds"]
    return float(max((bisect.bisect_left(offsets, t + 1.0) - i for i, t in enumerate(offsets)), default=0))


def expected_arrivals(stage: dict, start_seconds: float, end_seconds: float) -> float:
    """Λ over [start, end): the expected number of arrivals in that part of the stage (exact, closed form)."""
    a, b = max(0.0, start_seconds), min(stage["duration_seconds"], end_seconds)
    if b <= a:
        return 0.0
    kind, block = shape_of(stage), stage.get(shape_of(stage))
    if kind == "trace":
        offsets = block["offsets_seconds"]
        return float(bisect.bisect_left(offsets, b) - bisect.bisect_left(offsets, a))
    if kind == "burst":
        at = block["at_seconds"]
        return block.get("base_per_second", 0.0) * (b - a) + (block["requests"] if a <= at < b else 0)
    return _integral(kind, block, stage, b) - _integral(kind, block, stage, a)


def _integral(kind: str, block: dict | None, stage: dict, t: float) -> float:
    """∫₀ᵗ λ for the smooth shapes."""
    if kind == "constant":
        return stage["arrival_rate_per_second"] * t
    if kind == "ramp":
        slope = (block["to_per_second"] - block["from_per_second"]) / stage["duration_seconds"]
        return block["from_per_second"] * t + slope * t * t / 2
    if kind == "spike":
        inside = max(0.0, min(t, block["at_seconds"] + block["length_seconds"]) - block["at_seconds"])
        return block["base_per_second"] * t + (block["peak_per_second"] - block["base_per_second"]) * inside
    if kind == "sine":
        omega, shift = 2 * math.pi / block["period_seconds"], block.get("phase_seconds", 0.0)
        swing = (math.cos(omega * shift) - math.cos(omega * (t + shift))) / omega
        return block["mean_per_second"] * t + block["amplitude_per_second"] * swing
    period = block["period_seconds"]
    high_time = math.floor(t / period) * period / 2 + min(t % period, period / 2)
    return block["high_per_second"] * high_time + block["low_per_second"] * (t - high_time)


def mean_rate_per_second(stage: dict) -> float:
    """Expected arrivals of the whole stage over its duration."""
    return expected_arrivals(stage, 0.0, stage["duration_seconds"]) / stage["duration_seconds"]


def expected_curve(stage: dict) -> list[list[float]]:
    """[[offset, Λ(offset)], …]: the expected arrivals before each offset, for the analysis.

    Read by linear interpolation (the count before t is taken just below t, so a burst at exactly
    t belongs to the interval that starts there). Exact at every breakpoint of a piecewise-constant
    shape; a smooth shape is sampled at ``duration / CURVE_POINTS`` steps (the interpolation error
    is below λ'·h²/8 arrivals, a small fraction of one for any schedule the schema accepts); a burst
    is a jump (two points at its time); so is each recorded time of a trace, unless the trace has
    more than CURVE_POINTS / 2 of them: then it is sampled at every k-th arrival, off by at most k
    arrivals at either end of a window.
    """
    duration, kind, block = stage["duration_seconds"], shape_of(stage), stage.get(shape_of(stage))
    if kind == "trace":
        offsets = block["offsets_seconds"]
        times = sorted(set(offsets))
        if 2 * len(times) <= CURVE_POINTS:  # exact: a jump at every recorded time
            points = [[t, float(c)] for t in times
                      for c in (bisect.bisect_left(offsets, t), bisect.bisect_right(offsets, t))]
        else:
            step = math.ceil(len(offsets) / CURVE_POINTS)
            points = [[offsets[i], float(i)] for i in range(0, len(offsets), step)]
        return [[0.0, 0.0]] + points + [[duration, float(len(offsets))]]
    if kind == "burst":
        at, base = block["at_seconds"], block.get("base_per_second", 0.0)
        return [[0.0, 0.0], [at, base * at], [at, base * at + block["requests"]],
                [duration, base * duration + block["requests"]]]
    if kind in ("constant", "spike", "square"):
        times = sorted({0.0, duration, *_breakpoints(kind, block, duration)})
    else:
        times = [duration * i / CURVE_POINTS for i in range(CURVE_POINTS + 1)]
    return [[t, expected_arrivals(stage, 0.0, t)] for t in times]


def _breakpoints(kind: str, block: dict | None, duration: float) -> list[float]:
    if kind == "spike":
        return [t for t in (block["at_seconds"], block["at_seconds"] + block["length_seconds"]) if 0 < t < duration]
    if kind == "square":
        half = block["period_seconds"] / 2
        return [k * half for k in range(1, math.ceil(duration / half))]
    return []


# -- arrival times -----------------------------------------------------------------------------------

def stage_offsets(stage: dict, rng: random.Random, *, worker: int = 0, workers: int = 1) -> Iterator[float]:
    """This worker's arrival offsets in the stage, in time order (see the module docstring)."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not one of 0..{workers - 1}")
    kind, block = shape_of(stage), stage.get(shape_of(stage))
    if kind == "trace":
        return iter(block["offsets_seconds"][worker::workers])
    smooth = smooth_part(stage)
    spread = _constant_spaced(smooth, worker, workers) if stage.get("arrivals") == "constant" else \
        _thinned(smooth, rng, workers)
    if kind != "burst":
        return spread
    mine = len(range(worker, block["requests"], workers))
    return _merged(spread, [block["at_seconds"]] * mine)


def smooth_part(stage: dict) -> dict:
    """The stage without a burst's impulse: a burst's base rate as a constant-rate stage."""
    if shape_of(stage) != "burst":
        return stage
    return {"name": stage["name"], "duration_seconds": stage["duration_seconds"],
            "arrival_rate_per_second": stage["burst"].get("base_per_second", 0.0)}


def _thinned(stage: dict, rng: random.Random, workers: int) -> Iterator[float]:
    """Non-homogeneous Poisson arrivals at λ(t)/workers by thinning."""
    peak = peak_rate_per_second(stage) / workers
    if peak <= 0:
        return
    t, duration, varying = 0.0, stage["duration_seconds"], shape_of(stage) != "constant"
    while True:
        t += rng.expovariate(peak)
        if t >= duration:
            return
        if not varying or rng.random() * peak < rate_at(stage, t) / workers:
            yield t


def _constant_spaced(stage: dict, worker: int, workers: int) -> Iterator[float]:
    """Arrival k (of the whole stage) where Λ(t) = k + ½; this worker's are k ≡ worker (mod workers)."""
    total = expected_arrivals(stage, 0.0, stage["duration_seconds"])
    constant_rate = stage["arrival_rate_per_second"] if shape_of(stage) == "constant" else None
    t = 0.0
    for k in range(worker, math.floor(total + 0.5), workers):
        t = (k + 0.5) / constant_rate if constant_rate else inverse_expected(stage, k + 0.5, after=t)
        yield t


def inverse_expected(stage: dict, count: float, *, after: float = 0.0) -> float:
    """The offset t ≥ ``after`` where Λ(0, t) reaches ``count`` (safeguarded Newton on a monotone Λ)."""
    lo, hi = after, stage["duration_seconds"]
    t = after
    for _ in range(100):
        gap = count - expected_arrivals(stage, 0.0, t)
        if abs(gap) < 1e-9:
            return t
        lo, hi = (t, hi) if gap > 0 else (lo, t)
        rate = rate_at(stage, t)
        step = t + gap / rate if rate > 0 else math.nan
        t = step if lo < step < hi else (lo + hi) / 2
    return t


def _merged(first: Iterator[float], second: list[float]) -> Iterator[float]:
    """Two sorted offset sequences as one sorted sequence."""
    taken = 0
    for t in first:
        while taken < len(second) and second[taken] <= t:
            yield second[taken]
            taken += 1
        yield t
    yield from second[taken:]


def arrivals(stages: list[dict], rng: random.Random, *, worker: int = 0,
             workers: int = 1) -> Iterator[tuple[ActiveStage, float]]:
    """(stage, offset from the *stage's* start) of every arrival of this worker, in time order.

    The caller adds the offset to the stage's start time, the very number recorded as the phase's
    start, so an arrival placed at a window's edge (a burst at the end of the warm-up) is on the
    same side of it in the log as in the schedule."""
    start = 0.0
    for index, stage in enumerate(stages):
        active = ActiveStage(index, stage["name"], stage.get("arrival_rate_per_second"), start,
                             start + stage["duration_seconds"])
        for offset in stage_offsets(stage, rng, worker=worker, workers=workers):
            yield active, offset
        start = active.ends_at_seconds
