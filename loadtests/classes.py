"""Request classes: which class each arrival belongs to, and the body a request of that class sends.

A resolved scenario's ``client.classes`` (schema/scenario.py ``RequestClass``) is a list of classes,
each with a ``share`` of the arrivals, an optional ``tenant``, ``priority`` and token counts; a
stage may replace the shares for its arrivals (``stages[].classes``: class name → share). Each
arrival draws its class on its own, from a seeded generator of its own, so:

- the arrival times are the same with classes as without (the class draws use another stream);
- each class's arrivals are the stage's arrivals thinned by its share: for a Poisson stage,
  independent Poisson processes at rate × share (the splitting property), so one tenant surges
  while another's rate stays what it was;
- a run is reproducible from the scenario's seed, and each worker process draws its own stream.

Pure functions of plain data (stdlib only), as ``loadtests/shapes.py``: tested without Locust.
"""
from __future__ import annotations

import bisect
import random


class Mix:
    """The scenario's classes with each stage's cumulative shares, ready to draw from."""

    def __init__(self, client: dict, stages: list[dict]) -> None:
        self.client = client
        self.classes: list[dict] = list(client.get("classes") or [])
        self._cumulative = [cumulative_shares(self.classes, stage) for stage in stages] if self.classes else []

    def draw(self, stage_index: int, rng: random.Random) -> dict | None:
        """The class of one arrival in stage ``stage_index``; None when the scenario has no classes."""
        if not self.classes:
            return None
        index = bisect.bisect_right(self._cumulative[stage_index], rng.random())
        return self.classes[index]

    def body(self, request_class: dict | None) -> dict:
        """The ``POST /v1/work`` body of a request of this class. Without classes it is the client's
        token counts alone, exactly what a scenario without classes sends."""
        body = {"prompt_tokens": self.client["prompt_tokens"], "output_tokens": self.client["output_tokens"]}
        if request_class is None:
            return body
        for key in ("prompt_tokens", "output_tokens"):
            if request_class.get(key) is not None:
                body[key] = request_class[key]
        for key in ("priority", "tenant"):
            if request_class.get(key) is not None:
                body[key] = request_class[key]
        return body


def stage_shares(classes: list[dict], stage: dict) -> list[float]:
    """Each class's share of the stage's arrivals: the stage's override (a class it leaves out gets
    none), else the class's own share."""
    override = stage.get("classes")
    if override is None:
        return [c["share"] for c in classes]
    return [override.get(c["name"], 0.0) for c in classes]


def cumulative_shares(classes: list[dict], stage: dict) -> list[float]:
    """Running sums of the stage's shares, scaled so the last is exactly 1: a uniform draw u in [0, 1)
    falls in class k where cumulative[k − 1] ≤ u < cumulative[k]; a class of share 0 spans nothing."""
    shares = stage_shares(classes, stage)
    total = sum(shares)
    if total <= 0:
        raise ValueError(f"stage {stage.get('name')!r}: the class shares sum to {total:g}; they must sum to 1")
    running, sums = 0.0, []
    for share in shares:
        running += share
        sums.append(running / total)
    sums[-1] = 1.0
    return sums


def class_rng(seed: int, worker: int, *user: int) -> random.Random:
    """The class draws of one Locust process (or of one closed-loop user in it): seeded by the
    scenario, apart from its arrival times."""
    return random.Random("-".join(map(str, (seed, "classes", worker, *user))))
