"""Downstream calls: per-call timeouts, application retries and deadline propagation.

The caller's remaining budget travels in the ``x-tailstorm-deadline-ms`` header (milliseconds left,
relative, so clocks need not agree across hosts, as in gRPC's ``grpc-timeout``). Each attempt gets
``min(call timeout, time left)``; when nothing is left no attempt is made. When to retry, how long
to back off and what to withhold (retry budget, adaptive throttling, the deadline) is the call's
retry policy, decided by ``services/common/retrying.py`` with one :class:`retrying.ClientState`
per call of the replica (one client per caller and callee). Every attempt is observed with its
number (``attempt`` label); every withheld one is counted with its reason. A callee's 4xx (a
tenant bulkhead's 429) is an answer, not a failure: never retried, and passed back unchanged
(:class:`DownstreamRefused`), so the client sees why its request was refused.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time

import aiohttp

from services.common import metrics as metrics_module
from services.common import retrying
from services.common import settings as settings_module


class DownstreamFailed(Exception):
    """A call step failed after its retries; ``status`` is what this service answers (502/504)."""

    def __init__(self, *, target: str, status: int, detail: str) -> None:
        super().__init__(f"{target}: {detail}")
        self.target = target
        self.status = status
        self.detail = detail


class DownstreamRefused(DownstreamFailed):
    """The callee answered a 4xx (a tenant bulkhead's 429, a body it refused): an answer, not a
    failure. Not retried (the same request would be refused again); the caller answers the same
    status, so the refusal reaches the client as the callee gave it."""


@dataclasses.dataclass(frozen=True)
class Deadline:
    """An absolute point on this process's monotonic clock."""

    at_monotonic: float

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_header(cls, value: str | None, *, default_seconds: float) -> "Deadline":
        try:
            seconds = float(value) / 1000 if value is not None else default_seconds
        except ValueError:
            seconds = default_seconds
        return cls.after(max(0.0, seconds))

    @property
    def remaining_seconds(self) -> float:
        return self.at_monotonic - time.monotonic()


def client_state(call: settings_module.Call) -> retrying.ClientState:
    """The retry state of one call of a replica (its budget and throttle live as long as the replica)."""
    return retrying.ClientState(retrying.Policy.from_settings(retries=call.retries, retry=call.retry.model_dump()))


async def call_step(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, deadline: Deadline,
    body: dict, metrics: metrics_module.ServiceMetrics, rng: random.Random, state: retrying.ClientState,
) -> list[list[str]]:
    """Run one call step (``parallel`` identical calls); return each callee's hop list."""
    attempts = [call_with_retries(client, call, service=service, deadline=deadline, body=body,
                                  metrics=metrics, rng=rng, state=state) for _ in range(call.parallel)]
    return list(await asyncio.gather(*attempts))


async def call_with_retries(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, deadline: Deadline,
    body: dict, metrics: metrics_module.ServiceMetrics, rng: random.Random, state: retrying.ClientState,
) -> list[str]:
    """One call with its retries as the policy allows; DownstreamFailed with the last failure."""
    attempts = retrying.Attempts(state, deadline_at=deadline.at_monotonic, rng=rng)
    failure = DownstreamFailed(target=call.service, status=504, detail="no time left for an attempt")
    while (step := attempts.next(time.monotonic())) is not None:
        if step.withheld is None and step.wait_seconds:
            await asyncio.sleep(step.wait_seconds)
        budget = attempts.time_left_seconds(time.monotonic(), call.timeout_seconds)
        withheld = step.withheld or (retrying.NO_TIME_LEFT if budget <= 0 else None)
        if withheld is not None:
            metrics.downstream_withheld.labels(service, call.service, withheld).inc()
            raise withheld_failure(call.service, withheld, failure, attempt=step.attempt)
        try:
            hops = await attempt_call(client, call, service=service, budget_seconds=budget, body=body,
                                      metrics=metrics, attempt=step.attempt)
        except DownstreamRefused:
            attempts.report(time.monotonic(), accepted=True)  # answered below 500, as the throttle counts it
            raise
        except DownstreamFailed as exc:
            attempts.report(time.monotonic(), accepted=False)
            failure = exc
            continue
        attempts.report(time.monotonic(), accepted=True)
        return hops
    raise failure


def withheld_failure(target: str, reason: str, last: DownstreamFailed, *, attempt: int) -> DownstreamFailed:
    """What the caller answers when its policy withholds an attempt: a throttled request 503 (the
    backend is overloaded, as the throttle judged), otherwise the last attempt's failure."""
    if reason == retrying.THROTTLED:
        return DownstreamFailed(target=target, status=503, detail="not sent: adaptive throttling rejected it locally")
    if attempt == 0:
        return last  # no time left for a first attempt: 504
    return DownstreamFailed(target=target, status=last.status, detail=f"{last.detail}; retry withheld ({reason})")


async def attempt_call(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, budget_seconds: float,
    body: dict, metrics: metrics_module.ServiceMetrics, attempt: int,
) -> list[str]:
    started = time.perf_counter()
    code = "error"
    try:
        async with client.post(f"{call.url}/v1/work", json=body,
                               timeout=aiohttp.ClientTimeout(total=budget_seconds),
                               headers={retrying.DEADLINE_HEADER: f"{budget_seconds * 1000:.0f}"}) as response:
            code = str(response.status)
            payload = await response.json(content_type=None) if response.status < 500 else {}
    except asyncio.TimeoutError as exc:
        code = "timeout"
        raise DownstreamFailed(target=call.service, status=504, detail="timed out") from exc
    except (aiohttp.ClientError, ValueError) as exc:
        raise DownstreamFailed(target=call.service, status=502, detail=f"{type(exc).__name__}") from exc
    finally:
        metrics.downstream_duration.labels(service, call.service, code, str(attempt)).observe(
            time.perf_counter() - started)
    if response.status >= 500:
        raise DownstreamFailed(target=call.service, status=504 if response.status == 504 else 502,
                               detail=f"answered {response.status}")
    if response.status >= 400:
        raise DownstreamRefused(target=call.service, status=response.status, detail=f"answered {response.status}")
    return list(payload.get("hops", [call.service]))
