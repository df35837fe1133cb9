"""Fault injection, set at run time through a token-protected admin API.

``POST /admin/faults`` with header ``x-tailstorm-admin-token`` sets the active faults (body:
``FaultState`` fields), ``GET`` reads them, ``DELETE`` clears them. With no token configured the
API answers 404, so a replica started without one cannot be faulted. Injected failures answer 503
with ``x-tailstorm-fault: injected`` so analysis tells them from real ones.
"""
from __future__ import annotations

import hmac
import random
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

    def injects_error(self, rng: random.Random) -> bool:
        return self.error_probability > 0 and rng.random() < self.error_probability


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
