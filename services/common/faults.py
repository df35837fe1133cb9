"""Fault injection, set at run time through a token-protected admin API.

``POST /admin/faults`` with header ``x-tailstorm-admin-token`` sets the active faults (body:
``FaultState`` fields), ``GET`` reads them, ``DELETE`` clears them. With no token configured the
API answers 404, so a replica started without one cannot be faulted. Injected failures answer 503
with ``x-tailstorm-fault: injected`` so analysis tells them from real ones. The fault schedule
(controllers/chaos.py) sets these fields at scenario times; ``cpu_hog_cores`` is kept by a
:class:`CpuHog` that the runtime switches on and off.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import random
import threading
import time
from collections.abc import Callable

import fastapi
import pydantic

TOKEN_HEADER = "x-tailstorm-admin-token"
FAULT_HEADER = "x-tailstorm-fault"


class FaultState(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    error_probability: float = pydantic.Field(0.0, ge=0, le=1)
    """Share of admitted requests answered 503 at once (a crashing dependency)."""
    extra_latency_seconds: float = pydantic.Field(0.0, ge=0, le=60)
    """Added to every request's work, holding its server (a slow disk, a GC pause)."""
    slowdown_factor: float = pydantic.Field(1.0, ge=1, le=100)
    """Multiplies every sampled service time (a throttled CPU or GPU)."""
    unready: bool = False
    """Fail the readiness probe so the proxy stops sending traffic."""
    gpu_clock_factor: float = pydantic.Field(1.0, gt=0, le=1)
    """``work: gpu`` only: thermal throttling, the share of full clocks the GPU runs at."""
    gpu_stalled: bool = False
    """``work: gpu`` only: the GPU makes no progress (a hung kernel) while this is set."""
    gpu_ecc_error: bool = False
    """``work: gpu`` only: an uncorrectable ECC error: in-flight requests fail, the replica turns
    unready and not live until the faults are cleared (which stands for the pod's restart)."""
    cpu_hog_cores: float = pydantic.Field(0.0, ge=0, le=8)
    """A noisy neighbour in the pod: background threads burn this many cores of CPU, whether or not
    requests arrive (it shows in ``process_cpu_seconds_total``, so CPU autoscaling sees it)."""

    def injects_error(self, rng: random.Random) -> bool:
        return self.error_probability > 0 and rng.random() < self.error_probability


HOG_PERIOD_SECONDS = 0.1
"""Each hog thread burns its share of every period of this length, then sleeps the rest."""
HOG_CHUNK = bytes(256 * 1024)
"""Hashing this releases the GIL (CPython does for inputs over 2 KiB): the hog takes cores, as a
neighbouring process would, not the interpreter lock the replica's event loop needs."""


class CpuHog:
    """Burns ``cores`` of CPU in ``ceil(cores)`` daemon threads until set to 0 (a cooperative fault)."""

    def __init__(self) -> None:
        self.cores = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def set(self, cores: float) -> None:
        """Replace the running hog (if any) with one burning ``cores``; 0 stops it."""
        if cores == self.cores:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2 * HOG_PERIOD_SECONDS)
        self.cores, self._stop, self._threads = cores, threading.Event(), []
        if cores <= 0:
            return
        count = math.ceil(cores)
        for index in range(count):
            thread = threading.Thread(target=burn_share, args=(cores / count, self._stop), daemon=True,
                                      name=f"cpu-hog-{index}")
            thread.start()
            self._threads.append(thread)


def burn_share(share: float, stop: threading.Event) -> None:
    """Until ``stop``: in every period use ``share`` of it as this thread's CPU time, then sleep."""
    while not stop.is_set():
        began = time.monotonic()
        until = time.thread_time() + share * HOG_PERIOD_SECONDS
        while time.thread_time() < until:
            hashlib.sha256(HOG_CHUNK).digest()
        stop.wait(max(0.0, began + HOG_PERIOD_SECONDS - time.monotonic()))


def create_router(*, state_holder: dict, token: str,
                  on_change: Callable[[FaultState], None] = lambda faults: None) -> fastapi.APIRouter:
    """Admin routes acting on ``state_holder["faults"]``; ``on_change`` applies them at once."""
    router = fastapi.APIRouter(prefix="/admin", include_in_schema=False)

    def check_token(request: fastapi.Request) -> None:
        given = request.headers.get(TOKEN_HEADER, "")
        if not token:
            raise fastapi.HTTPException(status_code=404, detail="fault injection is disabled on this replica")
        if not hmac.compare_digest(given, token):
            raise fastapi.HTTPException(status_code=403, detail=f"missing or wrong {TOKEN_HEADER}")

    @router.get("/faults", dependencies=[fastapi.Depends(check_token)])
    async def read_faults() -> FaultState:
        """Read the active faults."""
        return state_holder["faults"]

    @router.post("/faults", dependencies=[fastapi.Depends(check_token)])
    async def set_faults(faults: FaultState) -> FaultState:
        """Replace the active faults."""
        state_holder["faults"] = faults
        on_change(faults)
        return faults

    @router.delete("/faults", dependencies=[fastapi.Depends(check_token)])
    async def clear_faults() -> FaultState:
        """Clear all faults."""
        state_holder["faults"] = FaultState()
        on_change(state_holder["faults"])
        return state_holder["faults"]

    return router
