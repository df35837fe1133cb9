"""inference: the model server; GPU-bound, so it waits rather than burns CPU.

``POST /v1/work`` → formatter. Few servers and the longest service time: the slowest station of
the chain and the one that saturates first in a spike. Its work is ``wait`` (little CPU), so
CPU-based autoscaling does not see its load, as in real LLM serving; with ``work: gpu`` requests
run on the emulated GPU (``gpu_work``), which this service hands to the shared runtime as its work
model. Honours every fault of the shared runtime (``/admin/faults``), and the GPU faults.
"""
from __future__ import annotations

import prometheus_client

from services.common import app as runtime
from services.common import settings as settings_module
from services.inference import gpu_work

DEFAULTS = {"service": "inference", "servers": 4, "queue_limit": 32, "work": "wait",
            "service_time": {"distribution": "exponential", "mean_seconds": 0.04}}


def create_app(settings: settings_module.ServiceSettings | None = None,
               registry: prometheus_client.CollectorRegistry | None = None):
    return runtime.create_app(settings or settings_module.load_settings(defaults=DEFAULTS), registry,
                              work_model=gpu_work.WORK_MODEL)
