"""Retry policies as decisions: when to retry, how long to wait, and when not to send at all.

One module for every caller in the testbed: the Locust client (gevent, epoch clock) and each
service's downstream client (asyncio, monotonic clock) drive the same :class:`Attempts`, so a
policy means the same thing at every layer. Pure: the caller passes the clock reading and a
``random.Random``, sends, sleeps and reports back; nothing here does I/O, sleeps or imports a web
framework (the locustfile imports it after gevent's monkey-patching).

The policies (keys documented in ``services/common/settings.py``, ``Retry``):

- *none* (``retries: 0``) and *immediate* retries (``backoff: none``);
- capped exponential back-off with full jitter (``backoff: full_jitter``): retry N waits
  U[0, min(cap, (2^N − 1)·base)), Envoy's ``retry_back_off`` (AWS's "full jitter" draws from
  U[0, min(cap, base·2^N)), the same shape one doubling further);
- the SRE book's per-client retry budget: a retry only while retries ≤ ratio × requests over a
  sliding window, plus a floor (:class:`RetryBudget`);
- the SRE book's client-side adaptive throttling, K = 2 (:class:`AdaptiveThrottle`);
- deadlines: each attempt gets min(per-attempt timeout, time left), and no attempt, nor a back-off
  past the deadline, once the time is up (:meth:`Attempts.next`).

What the policy withholds is named by one of :data:`WITHHELD_REASONS`, which the callers record
(the client's ``requests.csv`` outcome, the services' ``tailstorm_downstream_withheld_total``).
"""
from __future__ import annotations

import collections
import dataclasses
import math
import random

THROTTLED = "throttled"
"""Adaptive throttling rejected the attempt locally: not sent, and its request fails."""
RETRY_BUDGET = "retry_budget"
"""A retry was due but the retry budget was spent: the request fails with its last answer."""
NO_TIME_LEFT = "no_time_left"
"""The deadline leaves no time for the attempt (or for its back-off): nothing is sent."""
WITHHELD_REASONS = (THROTTLED, RETRY_BUDGET, NO_TIME_LEFT)

DEADLINE_HEADER = "x-tailstorm-deadline-ms"
"""The time an attempt's caller still waits, in whole milliseconds: sent by the Locust client and
every downstream client, read by every service (a server drops work whose caller has gone)."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """A retry policy as plain numbers (the ``retries`` and ``retry`` settings of a caller)."""

    retries: int = 0
    backoff: str = "full_jitter"
    base_seconds: float = 0.025
    cap_seconds: float = 0.25
    budget_ratio: float | None = None
    """None: no retry budget."""
    budget_min_retries_per_second: float = 0.0
    budget_window_seconds: float = 10.0
    throttle_multiplier: float | None = None
    """None: no adaptive throttling."""
    throttle_window_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries {self.retries} must be >= 0")
        if self.backoff not in ("none", "full_jitter"):
            raise ValueError(f"backoff {self.backoff!r} must be 'none' or 'full_jitter'")
        if not 0 < self.base_seconds <= self.cap_seconds:
            raise ValueError(f"back-off needs 0 < base ({self.base_seconds}) <= cap ({self.cap_seconds})")

    @classmethod
    def from_settings(cls, *, retries: int, retry: dict | None) -> "Policy":
        """From a caller's settings as plain data: ``retries`` and the ``retry`` block (or None)."""
        retry = retry or {}
        budget, throttle = retry.get("budget"), retry.get("throttle")
        fields = {"retries": retries}
        fields.update({key: retry[key] for key in ("backoff", "base_seconds", "cap_seconds") if key in retry})
        if budget is not None:
            fields.update(budget_ratio=budget.get("ratio", 0.1),
                          budget_min_retries_per_second=budget.get("min_retries_per_second", 0.0),
                          budget_window_seconds=budget.get("window_seconds", 10.0))
        if throttle is not None:
            fields.update(throttle_multiplier=throttle.get("multiplier", 2.0),
                          throttle_window_seconds=throttle.get("window_seconds", 120.0))
        return cls(**fields)


# -- back-off ------------------------------------------------------------------------------------

def backoff_bound_seconds(policy: Policy, retry_number: int) -> float:
    """The upper end of retry N's wait: min(cap, (2^N − 1)·base); 0 without back-off."""
    if retry_number < 1:
        raise ValueError(f"retry number {retry_number} must be >= 1 (attempt 0 is the first try, never delayed)")
    if policy.backoff == "none":
        return 0.0
    if retry_number > 60:  # 2^N·base is past any cap long before a float overflows
        return policy.cap_seconds
    return min(policy.cap_seconds, (2**retry_number - 1) * policy.base_seconds)


def backoff_seconds(policy: Policy, retry_number: int, rng: random.Random) -> float:
    """Retry N's wait, drawn uniformly from [0, bound) ("full jitter")."""
    return backoff_bound_seconds(policy, retry_number) * rng.random()


def longest_request_seconds(policy: Policy, *, timeout_seconds: float, deadline_seconds: float | None) -> float:
    """The longest one request can take: every attempt timing out after its longest back-off,
    or the deadline if that comes first (an attempt started before it may still run its timeout)."""
    waits = sum(backoff_bound_seconds(policy, n) for n in range(1, policy.retries + 1))
    every_attempt = (policy.retries + 1) * timeout_seconds + waits
    return every_attempt if deadline_seconds is None else min(every_attempt, deadline_seconds + timeout_seconds)


# -- counts over a sliding window ----------------------------------------------------------------

class SlidingCount:
    """Events over the last ``window_seconds``: an event at t counts while now − t < window."""

    def __init__(self, window_seconds: float) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window {window_seconds} s must be > 0")
        self.window_seconds = window_seconds
        self._times: collections.deque[float] = collections.deque()

    def add(self, now: float) -> None:
        self._times.append(now)

    def count(self, now: float) -> int:
        while self._times and self._times[0] <= now - self.window_seconds:
            self._times.popleft()
        return len(self._times)


class RetryBudget:
    """The SRE book's per-client retry budget, with Finagle's floor.

    A retry is allowed while retries + 1 <= ratio × requests + min_retries_per_second × window,
    the counts over the sliding window (requests: first attempts sent; retries: later attempts sent).
    Over a window long against one request it keeps retries per request at most ratio + floor/λ.
    """

    def __init__(self, *, ratio: float, min_retries_per_second: float, window_seconds: float) -> None:
        if ratio < 0 or min_retries_per_second < 0:
            raise ValueError(f"ratio {ratio} and min_retries_per_second {min_retries_per_second} must be >= 0")
        self.ratio = ratio
        self.floor = min_retries_per_second * window_seconds
        self.requests = SlidingCount(window_seconds)
        self.retries = SlidingCount(window_seconds)

    def allows_retry(self, now: float) -> bool:
        return self.retries.count(now) + 1 <= self.ratio * self.requests.count(now) + self.floor

    def record(self, now: float, *, attempt: int) -> None:
        (self.requests if attempt == 0 else self.retries).add(now)


class AdaptiveThrottle:
    """The SRE book's client-side adaptive throttling (Google SRE, "Handling Overload").

    Each attempt is rejected locally with probability max(0, (requests − K·accepts)/(requests + 1)),
    the counts over the sliding window taken before this attempt counts: every attempt asked for is
    a request (rejected ones too), an answer the backend accepted (below 500) is an accept.
    """

    def __init__(self, *, multiplier: float, window_seconds: float) -> None:
        if not multiplier > 0:
            raise ValueError(f"multiplier K = {multiplier} must be > 0")
        self.multiplier = multiplier
        self.requests = SlidingCount(window_seconds)
        self.accepts = SlidingCount(window_seconds)

    def rejection_probability(self, now: float) -> float:
        requests = self.requests.count(now)
        return max(0.0, (requests - self.multiplier * self.accepts.count(now)) / (requests + 1))

    def admit(self, now: float, rng: random.Random) -> bool:
        """Decide one attempt; it counts as a request either way."""
        rejection = self.rejection_probability(now)
        self.requests.add(now)
        return rng.random() >= rejection

    def record_accept(self, now: float) -> None:
        self.accepts.add(now)


class ClientState:
    """What one client keeps across its requests: its budget and its throttle (one per caller and callee)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.budget = None if policy.budget_ratio is None else RetryBudget(
            ratio=policy.budget_ratio, min_retries_per_second=policy.budget_min_retries_per_second,
            window_seconds=policy.budget_window_seconds)
        self.throttle = None if policy.throttle_multiplier is None else AdaptiveThrottle(
            multiplier=policy.throttle_multiplier, window_seconds=policy.throttle_window_seconds)


# -- one request's attempts ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Step:
    """The policy's answer for the next attempt: wait, then send it; or withhold it (``withheld``)."""

    attempt: int
    """0 for the first try, N for retry N."""
    wait_seconds: float = 0.0
    withheld: str | None = None
    """One of WITHHELD_REASONS when the attempt is not to be sent; the request then ends."""


class Attempts:
    """The attempts of one request: the caller asks :meth:`next`, sends, and :meth:`report`\\ s.

    ``deadline_at`` is the request's overall deadline on the caller's clock (None: none). Use as::

        while (step := attempts.next(now())) is not None:
            if step.withheld: record it; give up
            sleep(step.wait_seconds); send with timeout attempts.time_left_seconds(now(), timeout)
            attempts.report(now(), accepted=...); return on success
        give up with the last failure (the retries are spent)
    """

    def __init__(self, state: ClientState, *, deadline_at: float | None, rng: random.Random) -> None:
        self.state = state
        self.deadline_at = deadline_at
        self.rng = rng
        self.sent = 0

    def time_left_seconds(self, now: float, timeout_seconds: float = math.inf) -> float:
        """This attempt's timeout: the per-attempt timeout or the time to the deadline, if shorter."""
        left = math.inf if self.deadline_at is None else self.deadline_at - now
        return min(timeout_seconds, left)

    def next(self, now: float) -> Step | None:
        """The next attempt, or None once the retries are spent. Checks in order: the deadline
        (its back-off must end before it), the retry budget (retries only), adaptive throttling."""
        attempt, policy = self.sent, self.state.policy
        if attempt > policy.retries:
            return None
        wait = backoff_seconds(policy, attempt, self.rng) if attempt else 0.0
        if self.time_left_seconds(now) - wait <= 0:
            return Step(attempt, withheld=NO_TIME_LEFT)
        budget, throttle = self.state.budget, self.state.throttle
        if attempt and budget is not None and not budget.allows_retry(now):
            return Step(attempt, withheld=RETRY_BUDGET)
        if throttle is not None and not throttle.admit(now, self.rng):
            return Step(attempt, withheld=THROTTLED)
        if budget is not None:
            budget.record(now, attempt=attempt)
        self.sent += 1
        return Step(attempt, wait_seconds=wait)

    def report(self, now: float, *, accepted: bool) -> None:
        """The answer to the attempt just sent: ``accepted`` when the backend took it (below 500)."""
        if accepted and self.state.throttle is not None:
            self.state.throttle.record_accept(now)
