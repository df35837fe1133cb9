"""``work: gpu``: the inference service's requests run on the emulated GPU, not a sampled service time.

``WORK_MODEL`` is the ``services.common.working.WorkModel`` the inference app hands to the shared
runtime (``create_app(..., work_model=...)``); the runtime itself names no service. The engine
(``services/inference/gpu``) does continuous batching in emulated time stretched onto the wall
clock, so the replica's CPU stays low while ``DCGM_FI_DEV_GPU_UTIL`` reads high. Prompt and output
token counts and the priority class come from the request body (defaults when absent). The engine
is imported when a replica starts, so a replica with other work never loads it.
"""
from __future__ import annotations

import prometheus_client

from services.common import faults as faults_module
from services.common import settings as settings_module

DEFAULT_PROMPT_TOKENS = 128
DEFAULT_OUTPUT_TOKENS = 64


class GpuWork:
    """The emulated GPU as a replica's work model (``services.common.working.WorkModel``)."""

    kind = "gpu"

    def start(self, settings: settings_module.ServiceSettings, registry: prometheus_client.CollectorRegistry):
        """The AsyncEngine for this replica, as an async context manager (start on enter, stop on exit)."""
        from services.inference.gpu import engine, hardware, models, serving  # noqa: PLC0415

        gpu = settings.gpu
        engine_settings = engine.EngineSettings(
            tensor_parallel_size=gpu.tensor_parallel_size, policy=engine.AdmissionPolicy(gpu.policy),
            kv_capacity_tokens=gpu.kv_capacity_tokens, seed=settings.seed or 0)
        return serving.AsyncEngine(hardware.get_profile(gpu.profile), models.get_model(gpu.model), engine_settings,
                                   time_scale=gpu.time_scale, registry=registry)

    async def serve(self, engine, body: dict) -> str | None:
        """Serve one request on the GPU; None on success, else why it failed (answered 503)."""
        from services.inference.gpu import engine as engine_module  # noqa: PLC0415
        from services.inference.gpu import errors  # noqa: PLC0415

        priority = (engine_module.Priority.BATCH if body.get("priority") == "batch"
                    else engine_module.Priority.INTERACTIVE)
        try:
            await engine.generate(prompt_tokens=positive(body, "prompt_tokens", DEFAULT_PROMPT_TOKENS),
                                  output_tokens=positive(body, "output_tokens", DEFAULT_OUTPUT_TOKENS),
                                  priority=priority)
        except (errors.EccError, errors.EngineStopped, errors.RequestRejected) as exc:
            return str(exc)
        return None

    def apply_faults(self, engine, faults: faults_module.FaultState) -> None:
        """Make the engine match the fault state just set through the admin API."""
        engine.set_clock_factor(faults.gpu_clock_factor)
        if faults.gpu_stalled:
            engine.stall()
        else:
            engine.clear_stall()
        if faults.gpu_ecc_error and not engine.is_failed:
            engine.inject_ecc_error()
        elif not faults.gpu_ecc_error and engine.is_failed:
            engine.recover()

    def is_failed(self, engine) -> bool:
        """Whether an ECC error has killed the GPU (until the fault is cleared)."""
        return engine.is_failed


def positive(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    return value if isinstance(value, int) and value > 0 else default


WORK_MODEL = GpuWork()
"""The inference service's work model."""
