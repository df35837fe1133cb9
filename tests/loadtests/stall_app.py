"""A tiny real target for the stall test: answers ``POST /v1/work`` at once, except during a stall.

``POST /stall?seconds=S`` starts a stall of S seconds (a GC pause, a lock held): every request
that is in the handler before it ends waits until it ends, then answers. The reply says when the
stall began and ends (epoch seconds on this machine's clock, the one the load generator uses).
``GET /served`` counts the answered requests.
Run with ``uvicorn stall_app:app --app-dir tests/loadtests``.
"""
import asyncio
import time

import fastapi

app = fastapi.FastAPI()
STALL = {"until": 0.0}
SERVED = {"requests": 0}


@app.post("/v1/work")
async def work() -> dict:
    """Answer now, or when the stall ends."""
    remaining = STALL["until"] - time.time()
    while remaining > 0:
        await asyncio.sleep(remaining)
        remaining = STALL["until"] - time.time()
    SERVED["requests"] += 1
    return {"ok": True}


@app.post("/stall")
async def stall(seconds: float) -> dict:
    """Stall every request until ``seconds`` from now."""
    start = time.time()
    STALL["until"] = start + seconds
    return {"start": start, "end": STALL["until"]}


@app.get("/served")
async def served() -> dict:
    """How many ``/v1/work`` requests were answered so far."""
    return SERVED


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}
