"""Load schedules as data: which stage is active at a given time.

Pure functions of the stage list (plain dicts with ``name``, ``duration_seconds`` and
``arrival_rate_per_second``, as in a resolved scenario), so they are tested without Locust and
imported by the locustfile without pulling in anything else.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ActiveStage:
    index: int
    name: str
    arrival_rate_per_second: float
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
            return ActiveStage(index, stage["name"], stage["arrival_rate_per_second"], start, end)
        start = end
    return None


def total_duration_seconds(stages: list[dict]) -> float:
    return sum(stage["duration_seconds"] for stage in stages)
