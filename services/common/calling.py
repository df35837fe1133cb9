"""Downstream calls: per-call timeouts, application retries and deadline propagation.

The caller's remaining budget travels in the ``x-tailstorm-deadline-ms`` header (milliseconds left,
relative, so clocks need not agree across hosts, as in gRPC's ``grpc-timeout``). Each attempt gets
``min(call timeout, time left)``; when nothing is left no attempt is made. Retries back off with
Envoy's fully jittered exponential schedule (base 25 ms).
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time

import aiohttp

from services.common import metrics as metrics_module
from services.common import settings as settings_module

DEADLINE_HEADER = "x-tailstorm-deadline-ms"
RETRY_BASE_SECONDS = 0.025


class DownstreamFailed(Exception):
    """A call step failed after its retries; ``status`` is what this service answers (502/504)."""

    def __init__(self, *, target: str, status: int, detail: str) -> None:
        super().__init__(f"{target}: {detail}")
        self.target = target
        self.status = status
        self.detail = detail


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


async def call_step(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, deadline: Deadline,
    body: dict, metrics: metrics_module.ServiceMetrics, rng: random.Random,
) -> list[list[str]]:
    """Run one call step (``parallel`` identical calls); return each callee's hop list."""
    attempts = [call_with_retries(client, call, service=service, deadline=deadline, body=body,
                                  metrics=metrics, rng=rng) for _ in range(call.parallel)]
    return list(await asyncio.gather(*attempts))


async def call_with_retries(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, deadline: Deadline,
    body: dict, metrics: metrics_module.ServiceMetrics, rng: random.Random,
) -> list[str]:
    failure = DownstreamFailed(target=call.service, status=504, detail="no time left for an attempt")
    for attempt in range(call.retries + 1):
        if attempt:
            await asyncio.sleep(rng.uniform(0, (2**attempt - 1) * RETRY_BASE_SECONDS))
        budget = min(call.timeout_seconds, deadline.remaining_seconds)
        if budget <= 0:
            raise failure
        try:
            return await attempt_call(client, call, service=service, budget_seconds=budget, body=body,
                                      metrics=metrics, attempt=attempt)
        except DownstreamFailed as exc:
            failure = exc
    raise failure


async def attempt_call(
    client: aiohttp.ClientSession, call: settings_module.Call, *, service: str, budget_seconds: float,
    body: dict, metrics: metrics_module.ServiceMetrics, attempt: int,
) -> list[str]:
    started = time.perf_counter()
    code = "error"
    try:
        async with client.post(f"{call.url}/v1/work", json=body,
                               timeout=aiohttp.ClientTimeout(total=budget_seconds),
                               headers={DEADLINE_HEADER: f"{budget_seconds * 1000:.0f}"}) as response:
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
    return list(payload.get("hops", [call.service]))
